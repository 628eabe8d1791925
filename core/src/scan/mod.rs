//! The pipeline: message + compiled rules -> verdict.

mod verdict;

pub use verdict::*;
