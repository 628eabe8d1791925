//! `eval:` functions, one file per family (named after the SpamAssassin
//! plugin that defines them). Each takes the scan context and the rule's
//! arguments and returns how many times it hit (0 = no hit).
//!
//! Adding a function: implement it in its family file and add it to that
//! file's `lookup`. Nothing else needs to change.

mod auth;
mod bayes;
mod body;
mod freemail;
mod headers;
mod html;
mod image;
mod locales;
mod mime;
mod net;
pub(crate) mod registry;
mod relay_headers;
mod relays;
mod uri;
mod wlbl;

use crate::config::Config;
use crate::message::Message;

/// What an eval function may read.
pub struct EvalCtx<'a> {
    pub msg: &'a Message,
    pub conf: &'a Config,
    /// The message's Bayes probability, when Bayes answered (check_bayes).
    pub bayes: Option<f64>,
}

/// An eval function.
pub type EvalFn = fn(&EvalCtx<'_>, &[String]) -> u32;

/// Look an eval function up by the name rules use. None means we do not
/// implement it: the rule never hits, and `--lint` says so.
pub fn lookup(name: &str) -> Option<EvalFn> {
    wlbl::lookup(name)
        .or_else(|| headers::lookup(name))
        .or_else(|| relays::lookup(name))
        .or_else(|| relay_headers::lookup(name))
        .or_else(|| freemail::lookup(name))
        .or_else(|| html::lookup(name))
        .or_else(|| mime::lookup(name))
        .or_else(|| body::lookup(name))
        .or_else(|| uri::lookup(name))
        .or_else(|| image::lookup(name))
        .or_else(|| auth::lookup(name))
        .or_else(|| net::lookup(name))
        .or_else(|| bayes::lookup(name))
}

pub use net::dnsbl;
pub use net::is_network;

/// Tests: run eval `f` on `raw` with `conf` and string arguments.
#[cfg(test)]
pub(crate) fn run_for_test(f: EvalFn, conf: &Config, raw: &str, args: &[&str]) -> u32 {
    let msg = Message::parse(raw.as_bytes());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    f(
        &EvalCtx {
            msg: &msg,
            conf,
            bayes: None,
        },
        &args,
    )
}
