//! The seam's data types, re-exported so the backend and its callers name them in one place.

pub use crate::writer::OpenOptions;
pub use mailkeep_store_api::model::*;
