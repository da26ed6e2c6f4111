//! The mail layer every front end calls: a selected mailbox's view and how it follows
//! changes (sequence numbers, `\Seen` on reading, flags stored), `\Recent`, SEARCH evaluation,
//! SORT and THREAD (delivery plans are in [`crate::delivery`]).
//! Pure functions over what the seam hands out; no sockets, no runtime.

pub mod recent;
pub mod search;
pub mod thread;
pub mod view;
