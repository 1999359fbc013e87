// The tests embed schema/migrations with `sqlx::migrate!`, which does not tell cargo to
// watch the folder: without this, a new migration would not be picked up until
// something else in this crate changed.
fn main() {
    println!("cargo:rerun-if-changed=../schema/migrations");
}
