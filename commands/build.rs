// `sqlx::migrate!` embeds schema/migrations at compile time but does not tell cargo to
// watch the folder: without this, a new migration file would not be picked up until
// something else in this crate changed.
fn main() {
    println!("cargo:rerun-if-changed=../schema/migrations");
}
