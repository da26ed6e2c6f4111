//! The mail layer every front end calls: SEARCH evaluation and SORT/THREAD today (views,
//! flags and delivery plans live in [`crate::delivery`] and the IMAP driver for now).
//! Pure functions over what the seam hands out; no sockets, no runtime.

pub mod search;
pub mod thread;
