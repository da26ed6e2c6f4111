//! Sans-IO IMAP server codec for mailkeep.
//!
//! This crate implements the wire side of an IMAP4rev2 server (RFC 9051) with
//! IMAP4rev1 (RFC 3501) compatibility, without doing any I/O, storage access or
//! clock reading. A network runtime uses it like this:
//!
//! 1. Push received bytes into a [`Framer`] and pull [`Frame`]s out of it. The
//!    framer handles line splitting, synchronising (`{n}`) and
//!    non-synchronising (`{n+}`, LITERAL+) literals, and all size limits.
//! 2. Parse each complete command with [`parse_command`] (or
//!    [`parse_command_with`] once UTF-8 mailbox names are enabled). Answer a
//!    [`ParseError`] with [`ParseError::response`] (usually `BAD`; a tagged
//!    `NO [BADCHARSET ...]` for an unsupported SEARCH charset). After `IDLE`,
//!    read lines with [`Framer::next_line`] until [`is_done_line`].
//! 3. Check the command against the connection [`State`] with [`allowed`].
//! 4. Execute it against the store and answer with the helpers of
//!    [`encode`] ([`status_response`], [`write_astring`],
//!    [`esearch_response`], [`compress_set`], [`vanished_response`],
//!    [`list_response`], ...) and [`render_fetch`] for FETCH results.
//!
//! The inverse of the parser, [`encode_command`], writes a [`Command`] in
//! canonical wire form (for tests, tools and clients).
//!
//! Everything that reads peer-supplied bytes (commands, messages) is written
//! to never panic: all indexing is checked, literal sizes are checked against
//! [`Limits`] before anything is buffered, and nesting is depth-bounded.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod author;
pub mod capability;
pub mod command;
pub mod datetime;
pub mod encode;
mod encode_command;
pub mod envelope;
pub mod fetch;
pub mod framer;
mod header;
pub use header::{field_values, header_fields_len, header_len};
mod mime;
pub mod mutf7;
pub mod parse;
pub mod parsed;
pub mod sequence;
pub mod state;

mod bodystructure;

pub use capability::{EXTRA_CAPABILITIES, capabilities, capabilities_with};
pub use command::{
    Command, CommandBody, FetchItem, InvalidMailboxName, ListReturn, ListSelection, MailboxName,
    QresyncParams, QuotaResource, SearchKey, SearchReturn, Secret, Section, SectionSpec,
    SortCriterion, SortKey, StatusItem, StoreAction, ThreadAlgorithm,
};
pub use encode::{
    Status, compress_set, esearch_response, list_response, status_response, vanished_response,
    write_astring, write_flag_list, write_nstring, write_string,
};
pub use encode_command::encode_command;
pub use fetch::{FetchError, MessageMeta, needs_body, render_fetch, sets_seen};

pub use framer::{Frame, Framer, Limits};
pub use parse::{ParseError, ParseOptions, is_done_line, parse_command, parse_command_with};
pub use sequence::{SeqNum, SeqRange, SequenceSet};
pub use state::{State, allowed};
