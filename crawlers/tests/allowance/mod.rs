//! What the provider tests allow crawls to reach, explicitly, as an operator would with
//! `MAESTRO_SOURCE_DIRS` and `MAESTRO_PRIVATE_ENDPOINTS`: the fixtures and temporary
//! folders, and this machine, where the stand-ins run (replay servers, moto, sshd).

use std::path::Path;
use std::sync::OnceLock;

use crawlers::Reach;

pub fn reach() -> &'static Reach {
    static REACH: OnceLock<Reach> = OnceLock::new();
    REACH.get_or_init(|| {
        Reach::new(
            vec![
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
                std::env::temp_dir(),
            ],
            vec!["127.0.0.0/8".parse().unwrap()],
            crawlers::DEFAULT_MAX_BYTES,
        )
    })
}
