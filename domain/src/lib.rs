//! The Maestro inventory as pure code: what an item is, which commands change it, which
//! events those commands produce, and how events fold back into state.
//!
//! Nothing here does I/O. The `commands` crate loads streams and appends events; the
//! `projections` crate folds them into read models. Both lean on [`Item::handle`] and
//! [`Item::apply`], which is why every rule about what may change lives here.

mod access;
mod error;
mod event;
mod fields;
mod item;
mod kind;
mod metadata;
mod relation;
pub mod rule;
pub mod schedule;
mod tags;
mod values;

pub use access::{holders, Access, Acl, Level, Membership, Viewer};
pub use error::{DomainError, EventDecodeError};
pub use event::{Event, EVENT_TYPES};
pub use fields::{grants, FieldSpec, FieldType, Fields, Guard};
pub use item::{Command, Item, ItemRef, Lifecycle, Link, Provenance};
pub use kind::Kind;
pub use metadata::{ActorKind, Metadata};
pub use relation::Relation;
pub use tags::{ProviderTags, Tag, TagFields, TagSource};
pub use values::{Cidr, Environment, Family, Hostname, Protocol, Provider, Source, Status, TagKey};
