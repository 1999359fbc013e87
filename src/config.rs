//! All configuration, from the environment, each with a default that works on a local
//! machine set up by `ops/up`.

use std::env;

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub nats_url: String,
    pub port: u16,
}

impl Config {
    pub fn from_env() -> Result<Config, String> {
        let port = match env::var("MAESTRO_PORT") {
            Ok(raw) => raw
                .parse()
                .map_err(|_| format!("MAESTRO_PORT=`{raw}` is not a port number (1-65535)"))?,
            Err(_) => 8888,
        };
        Ok(Config {
            database_url: env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/maestro".to_string()),
            nats_url: env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string()),
            port,
        })
    }
}
