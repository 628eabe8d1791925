//! The loaded rule set and the work done per request: parse, scan, render.

use std::path::PathBuf;
use std::sync::Arc;

use spamcore::config::{Config, Diagnostic, Sources, default_rules_dir, default_site_dir};
use spamcore::message::{Message, MessageOptions};
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
        let msg = Message::parse_with(raw, &MessageOptions::from_config(&self.rules.config));
        let verdict = scan::scan(&self.rules, &msg);
        let spam = SpamHeader {
            is_spam: verdict.is_spam,
            score: format_score(verdict.score, verdict.required, verdict.is_spam),
            threshold: format_required(verdict.required),
        };
        let header = |name: &str| msg.header(name).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let rewriting = matches!(command, Command::Process | Command::Headers);
        let ctx = TagContext {
            hostname: self.hostname.clone(),
            // spamd sets these tags only for PROCESS and HEADERS.
            remote_hostname: rewriting.then(|| remote_hostname.to_string()),
            remote_hostaddr: rewriting.then(|| remote_addr.to_string()),
            body_lines: msg.body_lines(),
            header: Some(&header),
            date: report::rfc2822_date(now.as_secs() as i64, local_offset_minutes(now.as_secs())),
            time: now.as_secs(),
            random: boundary_random(now),
            ..Default::default()
        };
        let conf = &self.rules.config.report;
        let body = match command {
            Command::Process => report::rewrite_mail(raw, &verdict, conf, &ctx),
            Command::Headers => {
                report::headers_only(&report::rewrite_mail(raw, &verdict, conf, &ctx)).to_vec()
            }
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

/// The local time zone's offset from UTC at `unix`, in minutes.
fn local_offset_minutes(unix: u64) -> i32 {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r fills the tm we own; a zeroed tm is valid input.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    unsafe { libc::localtime_r(&t, &mut tm) };
    (tm.tm_gmtoff / 60) as i32
}

/// The random half of a report_safe MIME boundary: it only has to differ
/// between messages, not be secret.
fn boundary_random(now: std::time::Duration) -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut x = u64::from(now.subsec_nanos())
        ^ (u64::from(std::process::id()) << 32)
        ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as u32
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
    fn embedded_rules_load_clean() {
        let sources = Sources {
            embedded: EMBEDDED
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string()))
                .collect(),
            ..Default::default()
        };
        let mut config = Config::load(&sources);
        assert!(config.diagnostics.is_empty(), "{:?}", config.diagnostics);
        config.diagnostics.clear();
        let (rules, diags) = CompiledRules::compile(config, CompileOptions::default());
        assert!(diags.is_empty(), "{diags:?}");
        assert!(rules.len() > 20);
    }
}
