//! `eval:` functions, one file per family. Each takes the scan context and
//! the rule's arguments and returns how many times it hit (0 = no hit).

mod welcomelist;

use crate::config::Config;
use crate::message::Message;

/// What an eval function may read.
pub struct EvalCtx<'a> {
    pub msg: &'a Message,
    pub conf: &'a Config,
}

/// An eval function.
pub type EvalFn = fn(&EvalCtx<'_>, &[String]) -> u32;

/// Look an eval function up by the name rules use. None means we do not
/// implement it: the rule never hits, and `--lint` says so.
pub fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_from_in_welcomelist" | "check_from_in_whitelist" => welcomelist::from_in_welcomelist,
        "check_from_in_blocklist" | "check_from_in_blacklist" => welcomelist::from_in_blocklist,
        "check_to_in_welcomelist" | "check_to_in_whitelist" => welcomelist::to_in_welcomelist,
        "check_to_in_blocklist" | "check_to_in_blacklist" => welcomelist::to_in_blocklist,
        _ => return None,
    })
}
