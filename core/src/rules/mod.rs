//! Compiling rule definitions into matchers and evaluating them.

pub mod perlre;
pub mod translate;
