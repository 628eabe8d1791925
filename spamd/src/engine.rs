//! The loaded rule set and the work done per request: parse, scan, render.

use std::path::PathBuf;
use std::sync::Arc;

use spamcore::config::{Config, Diagnostic, Sources, default_rules_dir, default_site_dir};
use spamcore::message::Message;
use spamcore::protocol::{Command, SpamHeader};
use spamcore::report::{self, TagContext};
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan::{self, Verdict, format_required, format_score};

use crate::cli::Cli;

/// The project's own default configuration and rules, used when the machine
/// has no SpamAssassin rules directory.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "(embedded)/10_default_prefs.cf",
        include_str!("../../rules/10_default_prefs.cf"),
    ),
    (
        "(embedded)/20_gtube.cf",
        include_str!("../../rules/20_gtube.cf"),
    ),
    (
        "(embedded)/30_welcomelist.cf",
        include_str!("../../rules/30_welcomelist.cf"),
    ),
    (
        "(embedded)/50_heuristics.cf",
        include_str!("../../rules/50_heuristics.cf"),
    ),
    (
        "(embedded)/60_japanese.cf",
        include_str!("../../rules/60_japanese.cf"),
    ),
];

/// Everything a scan needs, immutable once built; swapped whole on reload.
pub struct Engine {
    pub rules: CompiledRules,
    pub hostname: String,
    /// Where the rules came from, for the start-up log line.
    pub origin: String,
}

/// What one scanning request produced.
pub struct Outcome {
    pub verdict: Verdict,
    pub spam: SpamHeader,
    pub body: Vec<u8>,
    pub msgid: Option<String>,
    pub rmsgid: Option<String>,
}

/// Decide where configuration comes from, as SpamAssassin does: `-C` or the
/// first existing rules directory; `--siteconfigpath` or /etc/spamassassin.
/// With no rules directory at all, our embedded rules.
pub fn sources(cli: &Cli) -> Sources {
    let rules_dir = match &cli.configpath {
        Some(p) => Some(PathBuf::from(p)),
        None => default_rules_dir(),
    };
    let site_dir = match &cli.siteconfigpath {
        Some(p) => Some(PathBuf::from(p)),
        None => default_site_dir(),
    };
    let mut extra = cli.pre.clone();
    extra.extend(cli.cf.iter().cloned());
    Sources {
        embedded: if rules_dir.is_none() {
            EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect()
        } else {
            Vec::new()
        },
        rules_dir,
        site_dir,
        extra_lines: extra,
        local_tests_only: cli.local,
    }
}

impl Engine {
    /// Load and compile. Returns the engine and every diagnostic.
    pub fn load(cli: &Cli) -> (Engine, Vec<Diagnostic>) {
        let src = sources(cli);
        let origin = match &src.rules_dir {
            Some(d) => d.display().to_string(),
            None => "embedded default rules".to_string(),
        };
        let mut config = Config::load(&src);
        let mut diags = std::mem::take(&mut config.diagnostics);
        let opts = CompileOptions {
            net: !cli.local,
            bayes: false,
        };
        let (rules, more) = CompiledRules::compile(config, opts);
        diags.extend(more);
        (
            Engine {
                rules,
                hostname: hostname(),
                origin,
            },
            diags,
        )
    }

    /// Scan `raw` and render the reply body for `command`.
    pub fn process(
        self: &Arc<Self>,
        command: Command,
        raw: &[u8],
        remote_hostname: &str,
        remote_addr: &str,
    ) -> Outcome {
        let msg = Message::parse(raw);
        let verdict = scan::scan(&self.rules, &msg);
        let spam = SpamHeader {
            is_spam: verdict.is_spam,
            score: format_score(verdict.score, verdict.required, verdict.is_spam),
            threshold: format_required(verdict.required),
        };
        let lines = msg.body_lines();
        let ctx = TagContext {
            hostname: self.hostname.clone(),
            remote_hostname: remote_hostname.to_string(),
            remote_addr: remote_addr.to_string(),
            preview_lines: lines.iter().skip(1).cloned().collect(),
        };
        let conf = &self.rules.config.report;
        let body = match command {
            Command::Process => report::rewrite_mail(raw, &verdict, conf, &ctx),
            Command::Headers => headers_only(report::rewrite_mail(raw, &verdict, conf, &ctx)),
            Command::Report | Command::ReportIfSpam => {
                report::report_text(&verdict, conf, &ctx).into_bytes()
            }
            Command::Symbols => report::symbols(&verdict).into_bytes(),
            _ => Vec::new(),
        };
        let (msgid, rmsgid) = msg.log_msgids();
        Outcome {
            verdict,
            spam,
            body,
            msgid,
            rmsgid,
        }
    }
}

/// HEADERS: everything up to and including the first blank line
/// (spamd: `s/(\015?\012\015?\012).*$/$1/s`).
fn headers_only(mut msg: Vec<u8>) -> Vec<u8> {
    let mut i = 0;
    while i < msg.len() {
        if msg[i] == b'\n' {
            let mut j = i + 1;
            if msg.get(j) == Some(&b'\r') {
                j += 1;
            }
            if msg.get(j) == Some(&b'\n') {
                msg.truncate(j + 1);
                return msg;
            }
        }
        i += 1;
    }
    msg
}

/// The machine's name, as `_HOSTNAME_` uses it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_cut() {
        assert_eq!(headers_only(b"A: b\n\nbody\n\nmore".to_vec()), b"A: b\n\n");
        assert_eq!(headers_only(b"A: b\r\n\r\nbody".to_vec()), b"A: b\r\n\r\n");
        assert_eq!(headers_only(b"A: b\n".to_vec()), b"A: b\n");
    }
}
