//! spamcore: everything that judges a message.
//!
//! `protocol` is always built (spamc links only it). The rest is the engine,
//! behind the default `engine` feature; see `ARCHITECTURE.md` at the repository root for the data
//! flow: `message::Message::parse` -> `scan::scan` -> `report` -> `protocol`.

pub mod protocol;

/// Fuzzing entry points (issue 10): `fuzz/` and `core/tests/fuzzish.rs`.
#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "engine")]
pub mod auth;
#[cfg(feature = "engine")]
pub mod bayes;

#[cfg(feature = "engine")]
pub mod config;
#[cfg(feature = "engine")]
pub mod dns;
#[cfg(feature = "engine")]
pub mod eval;
#[cfg(feature = "engine")]
pub mod message;
#[cfg(feature = "engine")]
pub mod report;
#[cfg(feature = "engine")]
pub mod rules;
#[cfg(feature = "engine")]
pub mod scan;

/// The SpamAssassin version we are compatible with and report in headers.
pub const SA_VERSION: &str = "4.0.1";
/// `_SUBVERSION_`: SpamAssassin's release date string.
pub const SA_SUBVERSION: &str = "2024-03-25";
/// `version` in `if (version >= ...)` conditions.
pub const SA_VERSION_NUM: f64 = 4.000001;
