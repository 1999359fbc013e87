//! The read side of Maestro: projections fold the event log into tables people query.
//!
//! Each projection owns its tables and a checkpoint; both move in one transaction, so an
//! event is applied exactly once however a projector dies. Any projection can be thrown
//! away and rebuilt from the log into fresh tables, which are swapped in while queries
//! keep reading the old ones.

mod audit;
pub mod changes;
mod inventory;
mod projection;
mod runner;

pub use audit::AuditTrail;
pub use inventory::{Inventory, RELATIONS_TABLE};
pub use projection::{Projection, ProjectionError, Table, Tables};
pub use runner::{ensure, rebuild, run, run_once, RebuildReport};

/// Every projection, by name, for `maestro rebuild --all` and `maestro serve`.
pub const ALL: [&str; 2] = [Inventory::NAME, AuditTrail::NAME];
