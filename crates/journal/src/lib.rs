//! mailkeep's tamper-evident journal, as pure functions: the Merkle tree of RFC 9162 §2.1
//! with inclusion and consistency proofs ([`merkle`]), the canonical encoding of one event
//! ([`leaf`]), and signed checkpoints in the C2SP signed-note form ([`checkpoint`]). No I/O:
//! the store keeps leaves and node hashes; this crate computes and checks.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checkpoint;
pub mod leaf;
pub mod merkle;

pub use checkpoint::{Checkpoint, NoteError, Signer};
pub use leaf::{ActorKind, Event, Kind};
pub use merkle::{Hash, Nodes, TreeError};
