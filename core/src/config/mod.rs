//! The `.cf` language: reading SpamAssassin-format configuration into a
//! [`Config`] value. Matching is not done here (see `rules`).
//!
//! Load order, as SpamAssassin's: site `*.pre`, rules-dir `*.pre`, rules-dir
//! `*.cf`, site `*.cf`; files in a directory in byte order (sa-update's
//! `updates_spamassassin_org.cf` first). Later lines override earlier ones.

mod cond;
mod derived;
mod directives;
pub mod embedded;
mod message_options;
mod report;
mod rule;

pub use cond::{CondEnv, canonical_plugin};
pub use derived::{Derived, Freemail};
pub use directives::UserPrefsRead;
pub use rule::*;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

pub use report::ReportConf;

/// Where configuration comes from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Rules directory (`-C/--configpath`): `*.pre` then `*.cf`.
    pub rules_dir: Option<PathBuf>,
    /// Site directory (`--siteconfigpath`): `*.pre` first, `*.cf` last.
    pub site_dir: Option<PathBuf>,
    /// Embedded files `(name, text)`, read in place of the rules directory
    /// when it is `None`.
    pub embedded: Vec<(String, String)>,
    /// Extra lines (`--cf=...`), read last.
    pub extra_lines: Vec<String>,
    /// `-L`: answers `local_tests_only` in conditions.
    pub local_tests_only: bool,
}

/// SpamAssassin's rules directory search: sa-update's tree first, then the
/// packaged rules. The first one that exists wins (an sa-update run replaces,
/// not overlays, the packaged rules).
pub fn default_rules_dir() -> Option<PathBuf> {
    [
        "/var/lib/spamassassin/4.000001",
        "/usr/share/spamassassin",
        "/usr/local/share/spamassassin",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| dir_has_cf(p))
}

/// SpamAssassin's site configuration search.
pub fn default_site_dir() -> Option<PathBuf> {
    [
        "/etc/spamassassin",
        "/etc/mail/spamassassin",
        "/usr/local/etc/spamassassin",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_dir())
}

fn dir_has_cf(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".cf"))
        })
        .unwrap_or(false)
}

/// A problem found while reading configuration, reported by `--lint` and
/// logged at start-up. The line is skipped, as SpamAssassin does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Everything the configuration says.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rule definitions by name; a later definition replaces an earlier one.
    /// Shared between a site configuration and the users' copies of it
    /// (copied on write, when a user's preferences define a rule).
    pub rules: std::sync::Arc<HashMap<String, RuleDef>>,
    /// Scores as given (`score` lines): four score sets.
    pub scores: HashMap<String, [f64; 4]>,
    pub describe: HashMap<String, String>,
    pub tflags: HashMap<String, TFlags>,
    pub priority: HashMap<String, i32>,
    pub required_score: f64,
    pub report: ReportConf,
    pub welcomelist_from: Vec<String>,
    pub blocklist_from: Vec<String>,
    pub welcomelist_to: Vec<String>,
    pub blocklist_to: Vec<String>,
    /// Plugins named by `loadplugin`/`tryplugin` (full Perl class names).
    pub plugins: HashSet<String>,
    /// Single-valued settings we accept and keep (`use_bayes 0` ...), last wins.
    pub settings: HashMap<String, String>,
    /// Multi-valued settings we accept and keep, in order.
    pub lists: HashMap<String, Vec<String>>,
    pub diagnostics: Vec<Diagnostic>,
    /// Files read, in order.
    pub files: Vec<String>,
    pub local_tests_only: bool,
    /// Lookup tables built from `lists` after loading (see `derived`).
    pub derived: Derived,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: std::sync::Arc::new(HashMap::new()),
            scores: HashMap::new(),
            describe: HashMap::new(),
            tflags: HashMap::new(),
            priority: HashMap::new(),
            required_score: 5.0,
            report: ReportConf::default(),
            welcomelist_from: Vec::new(),
            blocklist_from: Vec::new(),
            welcomelist_to: Vec::new(),
            blocklist_to: Vec::new(),
            plugins: HashSet::new(),
            settings: HashMap::new(),
            lists: HashMap::new(),
            diagnostics: Vec::new(),
            files: Vec::new(),
            local_tests_only: false,
            derived: Derived::default(),
        }
    }
}

/// `Conf::feature_*` and other methods SpamAssassin 4.0.1 answers `can()` for.
const CONF_METHODS: &[&str] = &[
    "feature_bayes_auto_learn_on_error",
    "feature_bayes_stopwords",
    "feature_blocklist_welcomelist",
    "feature_bug6558_free",
    "feature_capture_rules",
    "feature_compile_regexp",
    "feature_dns_block_rule",
    "feature_dns_local_ports_permit_avoid",
    "feature_dns_query_restriction",
    "feature_edns",
    "feature_geodb",
    "feature_get_host",
    "feature_header_address_parser",
    "feature_header_first_last",
    "feature_header_match_many",
    "feature_local_tests_only",
    "feature_meta_rules_matching",
    "feature_originating_ip_headers",
    "feature_registryboundaries",
    "feature_subjprefix",
    "feature_uri_host_listed",
    "feature_welcomelist_blocklist",
    "feature_yesno_takes_args",
    "perl_min_version_5010000",
];

/// `Plugin::X::has_*` methods of SpamAssassin 4.0.1, visible only when the
/// plugin is loaded.
const PLUGIN_METHODS: &[&str] = &[
    "ASN::has_asn_lookup_ipv6",
    "ASN::has_asn_geodb",
    "ASN::has_check_asn",
    "ASN::has_check_asn_tag",
    "AskDNS::has_tag_header",
    "BodyEval::has_check_body_length",
    "BodyEval::has_plaintext_body_sig_ratio",
    "DKIM::has_arc",
    "DNSEval::has_tflags_domains_only",
    "DNSEval::has_tflags_ips_only",
    "DecodeShortURLs::has_short_url",
    "DecodeShortURLs::has_autoclean",
    "DecodeShortURLs::has_short_url_code",
    "DecodeShortURLs::has_user_agent",
    "DecodeShortURLs::has_get",
    "DecodeShortURLs::has_clear",
    "DecodeShortURLs::has_timeout",
    "DecodeShortURLs::has_max_redirections",
    "DecodeShortURLs::has_short_url_redir",
    "HashBL::has_hashbl_bodyre",
    "HashBL::has_hashbl_bodyre_num",
    "HashBL::has_hashbl_emails",
    "HashBL::has_hashbl_uris",
    "HashBL::has_hashbl_ignore",
    "HashBL::has_hashbl_email_regex",
    "HashBL::has_hashbl_email_welcomelist",
    "HashBL::has_hashbl_email_whitelist",
    "HashBL::has_hashbl_tag",
    "HashBL::has_hashbl_sha256",
    "HashBL::has_hashbl_attachments",
    "HashBL::has_hashbl_email_domain",
    "HashBL::has_hashbl_email_domain_alias",
    "MIMEEval::has_check_for_ascii_text_illegal",
    "MIMEEval::has_check_abundant_unicode_ratio",
    "MIMEEval::has_check_qp_ratio",
    "MIMEHeader::has_all_header",
    "MIMEHeader::has_tflags_range",
    "MIMEHeader::has_tflags_concat",
    "MIMEHeader::has_tflags_multiple",
    "MIMEHeader::has_capture_rules",
    "OLEVBMacro::has_olemacro_redirect_uri",
    "OLEVBMacro::has_olemacro_mhtml_uri",
    "OLEVBMacro::has_olertfobject",
    "Pyzor::has_fork",
    "Pyzor::has_perl",
    "Razor2::has_fork",
    "SPF::has_check_for_spf_errors",
    "SPF::has_check_spf_skipped_noenvfrom",
    "URIDNSBL::has_tflags_domains_only",
    "URIDNSBL::has_subtest_for_ranges",
    "URIDNSBL::has_uridnsbl_for_a",
    "URIDNSBL::has_uridnsbl_a_ns",
    "URIDNSBL::has_tflags_notrim",
    "URIDNSBL::has_uridnsbl_skip_mailto",
    "URIDetail::has_host_key",
];

impl CondEnv for Config {
    fn plugin_loaded(&self, name: &str) -> bool {
        self.plugins.contains(name)
    }
    fn method_exists(&self, class_method: &str) -> bool {
        if let Some(m) = class_method.strip_prefix("Mail::SpamAssassin::Conf::") {
            // `enable_compat X` (init.pre: welcomelist_blocklist) defines
            // `compat_X`, as SpamAssassin's Conf.pm does.
            if let Some(flag) = m.strip_prefix("compat_")
                && self
                    .lists
                    .get("enable_compat")
                    .is_some_and(|v| v.iter().any(|f| f.trim() == flag))
            {
                return true;
            }
            return CONF_METHODS.contains(&m);
        }
        if let Some(pm) = class_method.strip_prefix("Mail::SpamAssassin::Plugin::") {
            let plugin = pm.split("::").next().unwrap_or("");
            return PLUGIN_METHODS.contains(&pm)
                && self
                    .plugins
                    .contains(&format!("Mail::SpamAssassin::Plugin::{plugin}"));
        }
        false
    }
    fn local_tests_only(&self) -> bool {
        self.local_tests_only
    }
}

impl Config {
    /// Read configuration from `sources`. Never fails: unreadable files and
    /// bad lines become diagnostics.
    pub fn load(sources: &Sources) -> Config {
        let mut conf = Config {
            local_tests_only: sources.local_tests_only,
            ..Config::default()
        };
        let mut reader = directives::Reader::new(&mut conf);
        let site = sources
            .site_dir
            .as_deref()
            .map(list_dir)
            .unwrap_or_default();
        let rules = sources
            .rules_dir
            .as_deref()
            .map(list_dir)
            .unwrap_or_default();
        for f in site.iter().filter(|f| has_ext(f, "pre")) {
            reader.read_file(f);
        }
        if sources.rules_dir.is_some() {
            for f in rules.iter().filter(|f| has_ext(f, "pre")) {
                reader.read_file(f);
            }
            for f in rules.iter().filter(|f| has_ext(f, "cf")) {
                reader.read_file(f);
            }
        } else {
            for (name, text) in &sources.embedded {
                reader.read_bytes(name, text.as_bytes());
            }
        }
        for f in site.iter().filter(|f| has_ext(f, "cf")) {
            reader.read_file(f);
        }
        if !sources.extra_lines.is_empty() {
            reader.read_bytes("(command line)", sources.extra_lines.join("\n").as_bytes());
        }
        conf.derived = Derived::build(&conf);
        conf
    }

    /// Parse configuration text (tests, `--cf` lines, user prefs).
    pub fn from_text(name: &str, text: &str) -> Config {
        let mut conf = Config::default();
        directives::Reader::new(&mut conf).read_bytes(name, text.as_bytes());
        conf.derived = Derived::build(&conf);
        conf
    }

    /// Layer a user's `user_prefs` on top of this (site) configuration, as
    /// spamd's `read_scoreonly_config` does: administrator settings are
    /// refused, and rule definitions too unless the site configuration says
    /// `allow_user_rules 1`. Problems become diagnostics naming the file.
    pub fn read_user_prefs(&mut self, path: &Path) -> UserPrefsRead {
        let allow = self.bool_setting("allow_user_rules", false);
        let mut reader = directives::Reader::for_user(self, allow);
        reader.read_file(path);
        let read = std::mem::take(&mut reader.user_read);
        self.derived = Derived::build(self);
        read
    }

    /// Score of `name` in score set `set` (0..=3), with SpamAssassin's
    /// defaults for rules that have no `score` line: 1.0, 0.01 for `T_`
    /// rules, negated for `tflags nice`.
    pub fn score(&self, name: &str, set: usize) -> f64 {
        if let Some(s) = self.scores.get(name) {
            return s[set.min(3)];
        }
        let base = if name.starts_with("T_") { 0.01 } else { 1.0 };
        if self.tflags.get(name).is_some_and(|t| t.nice) {
            -base
        } else {
            base
        }
    }

    /// A boolean setting (`use_bayes 0`), with its default.
    pub fn bool_setting(&self, key: &str, default: bool) -> bool {
        match self.settings.get(key) {
            Some(v) => {
                let v = v.trim().to_ascii_lowercase();
                !(v == "0" || v == "no" || v.is_empty())
            }
            None => default,
        }
    }
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e == ext)
}

/// Files of a directory in SpamAssassin's order: byte order, except that
/// sa-update's `updates_spamassassin_org.cf` comes first.
fn list_dir(dir: &Path) -> Vec<PathBuf> {
    if dir.is_file() {
        return vec![dir.to_path_buf()];
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort_by(|a, b| {
        let first = |p: &PathBuf| {
            p.file_name()
                .is_some_and(|n| n == "updates_spamassassin_org.cf")
        };
        first(b).cmp(&first(a)).then_with(|| {
            a.as_os_str()
                .as_encoded_bytes()
                .cmp(b.as_os_str().as_encoded_bytes())
        })
    });
    files
}
