//! Line-level reading: comments, `lang`, conditionals, `include`, and the
//! dispatch of each directive to the part of [`Config`] it sets.

use std::path::{Path, PathBuf};

use super::rule::*;
use super::{Config, Diagnostic, cond};

/// Directives SpamAssassin 4.0.1 (with all its plugins) accepts that we keep
/// as plain settings: they are valid, and the engine reads the ones it uses
/// from `Config::settings`/`Config::lists`.
const KNOWN_SETTINGS: &[&str] = &[
    "adsp_override",
    "all_spam_to",
    "allow_user_rules",
    "always_trust_envelope_sender",
    "asn_lookup",
    "asn_lookup_ipv6",
    "asn_prefer_geodb",
    "asn_prefix",
    "asn_use_dns",
    "asn_use_geodb",
    "authres_ignored_authserv",
    "authres_networks",
    "authres_trusted_authserv",
    "auto_welcomelist_db_modules",
    "auto_welcomelist_distinguish_signed",
    "auto_welcomelist_factor",
    "auto_welcomelist_factory",
    "auto_welcomelist_file_mode",
    "auto_welcomelist_ipv4_mask_len",
    "auto_welcomelist_ipv6_mask_len",
    "auto_welcomelist_path",
    "auto_whitelist_db_modules",
    "auto_whitelist_distinguish_signed",
    "auto_whitelist_factor",
    "auto_whitelist_factory",
    "auto_whitelist_file_mode",
    "auto_whitelist_ipv4_mask_len",
    "auto_whitelist_ipv6_mask_len",
    "auto_whitelist_path",
    "bayes_auto_expire",
    "bayes_auto_learn",
    "bayes_auto_learn_on_error",
    "bayes_auto_learn_threshold_nonspam",
    "bayes_auto_learn_threshold_spam",
    "bayes_cjk_tokens",
    "bayes_expiry_max_db_size",
    "bayes_file_mode",
    "bayes_ignore_from",
    "bayes_ignore_header",
    "bayes_ignore_to",
    "bayes_journal_max_size",
    "bayes_learn_during_report",
    "bayes_learn_to_journal",
    "bayes_max_token_length",
    "bayes_min_ham_num",
    "bayes_min_spam_num",
    "bayes_path",
    "bayes_seen_ttl",
    "bayes_sql_dsn",
    "bayes_sql_override_username",
    "bayes_sql_password",
    "bayes_sql_username",
    "bayes_sql_username_authorized",
    "bayes_stopword_languages",
    "bayes_store_module",
    "bayes_token_sources",
    "bayes_token_ttl",
    "bayes_use_hapaxes",
    "blocklist_subject",
    "blacklist_subject",
    "blacklist_uri_host",
    "blocklist_uri_host",
    "body_part_scan_size",
    "clear_asn_lookups",
    "clear_dns_servers",
    "clear_internal_networks",
    "clear_msa_networks",
    "clear_originating_ip_headers",
    "clear_trusted_networks",
    "clear_uridnsbl_skip_domain",
    "clear_url_shortener",
    "clear_util_rb",
    "country_db_path",
    "country_db_type",
    "dcc_body_max",
    "dcc_dccifd_path",
    "dcc_fuz1_max",
    "dcc_fuz2_max",
    "dcc_home",
    "dcc_learn_score",
    "dcc_options",
    "dcc_path",
    "dcc_rep_percent",
    "dcc_timeout",
    "dccifd_options",
    "def_welcomelist_auth",
    "def_welcomelist_from_dkim",
    "def_welcomelist_from_rcvd",
    "def_welcomelist_from_spf",
    "def_whitelist_auth",
    "def_whitelist_from_dkim",
    "def_whitelist_from_rcvd",
    "def_whitelist_from_spf",
    "delist_uri_host",
    "dkim_minimum_key_bits",
    "dkim_timeout",
    "dmarc_save_reports",
    "dns_available",
    "dns_block_rule",
    "dns_block_time",
    "dns_local_ports_avoid",
    "dns_local_ports_none",
    "dns_local_ports_permit",
    "dns_options",
    "dns_query_restriction",
    "dns_server",
    "dns_test_interval",
    "do_not_use_mail_spf",
    "do_not_use_mail_spf_query",
    "enable_compat",
    "enlist_addrlist",
    "enlist_uri_host",
    "envelope_sender_header",
    "extracttext_maxparts",
    "extracttext_timeout",
    "fns_add_addrlist",
    "fns_check",
    "fns_extrachars",
    "fns_ignore_dkim",
    "fns_ignore_headers",
    "fns_remove_addrlist",
    "freemail_add_describe_email",
    "freemail_domains",
    "freemail_import_def_welcomelist_auth",
    "freemail_import_def_whitelist_auth",
    "freemail_import_welcomelist_auth",
    "freemail_import_whitelist_auth",
    "freemail_max_body_emails",
    "freemail_max_body_freemails",
    "freemail_skip_bulk_envfrom",
    "freemail_skip_when_over_max",
    "freemail_welcomelist",
    "freemail_whitelist",
    "geodb_module",
    "geodb_options",
    "geodb_search_path",
    "hashbl_email_domain_alias",
    "hashbl_email_regex",
    "hashbl_email_welcomelist",
    "hashbl_email_whitelist",
    "hashbl_ignore",
    "ignore_received_spf_header",
    "inactive_languages",
    "internal_networks",
    "lock_method",
    "max_short_url_redirections",
    "max_short_urls",
    "mbox_format_from_regex",
    "more_spam_to",
    "msa_networks",
    "normalize_charset",
    "normalize_charset_detect",
    "ok_languages",
    "ok_locales",
    "olemacro_download_marker",
    "olemacro_extended_scan",
    "olemacro_exts",
    "olemacro_macro_exts",
    "olemacro_max_file",
    "olemacro_num_mime",
    "olemacro_num_zip",
    "olemacro_prefer_contentdisposition",
    "olemacro_skip_ctypes",
    "olemacro_skip_exts",
    "olemacro_zip_depth",
    "olemacro_zips",
    "originating_ip_headers",
    "parse_dkim_uris",
    "phishing_openphish_feed",
    "phishing_phishstats_feed",
    "phishing_phishstats_minscore",
    "phishing_phishtank_feed",
    "phishing_uri_noparam",
    "pyzor_count_min",
    "pyzor_fork",
    "pyzor_max",
    "pyzor_options",
    "pyzor_path",
    "pyzor_perl",
    "pyzor_server_file",
    "pyzor_timeout",
    "pyzor_welcomelist_factor",
    "pyzor_welcomelist_min",
    "pyzor_whitelist_factor",
    "pyzor_whitelist_min",
    "rawbody_part_scan_size",
    "razor_config",
    "razor_fork",
    "razor_timeout",
    "rbl_headers",
    "rbl_timeout",
    "redirector_pattern",
    "replace_end",
    "replace_inter",
    "replace_post",
    "replace_pre",
    "replace_rules",
    "replace_start",
    "replace_tag",
    "run_reuse_tests_only",
    "shortcircuit",
    "shortcircuit_ham_score",
    "shortcircuit_max_spam_score",
    "shortcircuit_min_ham_score",
    "shortcircuit_spam_score",
    "skip_rbl_checks",
    "skip_uribl_checks",
    "spamcop_from_address",
    "spamcop_max_report_size",
    "spamcop_relayhost",
    "spamcop_to_address",
    "spf_timeout",
    "subjprefix",
    "textcat_acceptable_score",
    "textcat_max_languages",
    "textcat_max_ngrams",
    "textcat_optimal_ngrams",
    "time_limit",
    "trigger_config",
    "trigger_ratio",
    "trigger_target",
    "trusted_networks",
    "unwelcomelist_auth",
    "unwelcomelist_from_dkim",
    "unwelcomelist_from_rcvd",
    "unwelcomelist_from_spf",
    "unwhitelist_auth",
    "unwhitelist_from_dkim",
    "unwhitelist_from_rcvd",
    "unwhitelist_from_spf",
    "uri_block_cc",
    "uri_block_cidr",
    "uri_block_cont",
    "uri_block_exclude",
    "uri_block_isp",
    "uri_country_db_isp_path",
    "uri_country_db_path",
    "uri_host_lists",
    "uridnsbl_max_domains",
    "uridnsbl_skip_domain",
    "uridnsbl_skip_mailto",
    "uridnsbl_timeout",
    "url_shortener",
    "url_shortener_cache_autoclean",
    "url_shortener_cache_dsn",
    "url_shortener_cache_password",
    "url_shortener_cache_ttl",
    "url_shortener_cache_type",
    "url_shortener_cache_username",
    "url_shortener_get",
    "url_shortener_loginfo",
    "url_shortener_timeout",
    "url_shortener_user_agent",
    "use_auto_welcomelist",
    "use_auto_whitelist",
    "use_bayes",
    "use_bayes_rules",
    "use_dcc",
    "use_dcc_rep",
    "use_learner",
    "use_newest_received_spf_header",
    "use_pyzor",
    "use_razor2",
    "user_awl_dsn",
    "user_awl_sql_override_username",
    "user_awl_sql_password",
    "user_awl_sql_table",
    "user_awl_sql_username",
    "user_scores_dsn",
    "user_scores_fallback_to_global",
    "user_scores_ldap_password",
    "user_scores_ldap_username",
    "user_scores_sql_custom_query",
    "user_scores_sql_password",
    "user_scores_sql_username",
    "util_rb_2tld",
    "util_rb_3tld",
    "util_rb_tld",
    "version_tag",
    "welcomelist_allows_relays",
    "welcomelist_auth",
    "welcomelist_bounce_relays",
    "welcomelist_from_dkim",
    "welcomelist_from_rcvd",
    "welcomelist_from_spf",
    "welcomelist_subject",
    "welcomelist_uri_host",
    "whitelist_allows_relays",
    "whitelist_auth",
    "whitelist_bounce_relays",
    "whitelist_from_dkim",
    "whitelist_from_rcvd",
    "whitelist_from_spf",
    "whitelist_subject",
    "whitelist_uri_host",
    "uri_detail",
    "report_wrap_width",
    "bayes_stopword_languages",
    "urirhsbl",
    "urinsrhsbl",
    "urifullnsrhsbl",
    "uridnsbl",
    "urinsrhssub",
    "urifullnsrhssub",
];

#[derive(Debug, Clone, Copy)]
struct IfFrame {
    /// Whether parsing was being skipped when this block opened.
    outer_skip: bool,
}

/// Settings SpamAssassin 4.0.1 marks administrator-only: never read from a
/// user's `user_prefs` (its `is_admin` commands, all plugins loaded).
const ADMIN_ONLY: &[&str] = &[
    "bayes_file_mode",
    "bayes_path",
    "bayes_sql_dsn",
    "bayes_sql_password",
    "bayes_sql_username",
    "bayes_sql_username_authorized",
    "bayes_store_module",
    "body_part_scan_size",
    "country_db_path",
    "country_db_type",
    "dkim_timeout",
    "dmarc_save_reports",
    "dns_block_rule",
    "dns_block_time",
    "dns_local_ports_avoid",
    "dns_local_ports_none",
    "dns_local_ports_permit",
    "do_not_use_mail_spf",
    "do_not_use_mail_spf_query",
    "enable_compat",
    "geodb_module",
    "geodb_options",
    "geodb_search_path",
    "ignore_always_matching_regexps",
    "ignore_received_spf_header",
    "loadplugin",
    "pyzor_fork",
    "pyzor_options",
    "pyzor_path",
    "pyzor_perl",
    "pyzor_server_file",
    "pyzor_timeout",
    "rawbody_part_scan_size",
    "razor_config",
    "razor_fork",
    "razor_timeout",
    "rbl_timeout",
    "spf_timeout",
    "test",
    "tryplugin",
    "uri_country_db_isp_path",
    "uri_country_db_path",
    "uridnsbl_max_domains",
    "uridnsbl_skip_mailto",
    "use_newest_received_spf_header",
    "user_scores_dsn",
    "user_scores_fallback_to_global",
    "user_scores_ldap_password",
    "user_scores_ldap_username",
    "user_scores_sql_custom_query",
    "user_scores_sql_password",
    "user_scores_sql_username",
    "util_rb_2tld",
    "util_rb_3tld",
    "util_rb_tld",
    "version_tag",
];

/// Settings that define or change rules (SpamAssassin's `is_priv`): read
/// from `user_prefs` only when the site sets `allow_user_rules 1`.
const RULE_SETTINGS: &[&str] = &[
    "allow_user_rules",
    "askdns",
    "body",
    "full",
    "header",
    "meta",
    "mimeheader",
    "priority",
    "rawbody",
    "rbl_headers",
    "redirector_pattern",
    "replace_end",
    "replace_inter",
    "replace_post",
    "replace_pre",
    "replace_rules",
    "replace_start",
    "replace_tag",
    "reuse",
    "tflags",
    "uri",
    "uri_detail",
    "uridnsbl",
    "uridnssub",
    "urifullnsrhsbl",
    "urifullnsrhssub",
    "urinsrhsbl",
    "urinsrhssub",
    "urirhsbl",
    "urirhssub",
];

/// What reading a user's `user_prefs` did beyond setting values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPrefsRead {
    /// Lines refused, with SpamAssassin's reason, for the log.
    pub refused: Vec<String>,
    /// Whether a rule-changing line was read (the rules must be compiled
    /// for this user, not only rescored).
    pub rules_changed: bool,
}

/// Reads config text into a `Config`, one file at a time.
pub(super) struct Reader<'a> {
    conf: &'a mut Config,
    /// Guard against `include` loops.
    depth: usize,
    /// Reading a user's `user_prefs`: `Some(allow_user_rules)`.
    user: Option<bool>,
    pub(super) user_read: UserPrefsRead,
}

impl<'a> Reader<'a> {
    pub(super) fn new(conf: &'a mut Config) -> Self {
        Reader {
            conf,
            depth: 0,
            user: None,
            user_read: UserPrefsRead::default(),
        }
    }

    /// A reader for a user's preferences, SpamAssassin's "scores only" mode.
    pub(super) fn for_user(conf: &'a mut Config, allow_user_rules: bool) -> Self {
        Reader {
            user: Some(allow_user_rules),
            ..Reader::new(conf)
        }
    }

    pub(super) fn read_file(&mut self, path: &Path) {
        let name = path.display().to_string();
        match std::fs::read(path) {
            Ok(bytes) => self.read_bytes(&name, &bytes),
            Err(e) => self.diag(&name, 0, format!("cannot read config file: {e}")),
        }
    }

    fn diag(&mut self, file: &str, line: usize, message: String) {
        self.conf.diagnostics.push(Diagnostic {
            file: file.to_string(),
            line,
            message,
        });
    }

    /// Read config bytes. SpamAssassin's rules are byte strings (a regex
    /// written in UTF-8 matches those bytes), so every byte becomes one char
    /// (Latin-1) here; text meant for people is turned back with [`utf8`].
    pub(super) fn read_bytes(&mut self, file: &str, bytes: &[u8]) {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        self.read_text(file, &text);
    }

    fn read_text(&mut self, file: &str, text: &str) {
        self.conf.files.push(file.to_string());
        let mut skip = false;
        let mut stack: Vec<IfFrame> = Vec::new();
        for (idx, raw_line) in text.split('\n').enumerate() {
            let lineno = idx + 1;
            let Some(line) = clean_line(raw_line) else {
                continue;
            };
            let line = match strip_lang(&line) {
                LangLine::Keep(l) => l,
                LangLine::Skip => continue,
            };
            let (key, value) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
                Some((k, v)) => (k, v.trim_start()),
                None => (line.as_str(), ""),
            };
            let key = key.to_ascii_lowercase().replace('-', "_");
            match key.as_str() {
                "endif" => {
                    match stack.pop() {
                        Some(f) => skip = f.outer_skip,
                        None => self.diag(file, lineno, "missing starting 'if' for 'endif'".into()),
                    }
                    continue;
                }
                "if" | "ifplugin" => {
                    if value.is_empty() {
                        self.diag(file, lineno, format!("missing '{key}' condition"));
                        continue;
                    }
                    stack.push(IfFrame { outer_skip: skip });
                    let expr = if key == "ifplugin" {
                        format!("plugin({value})")
                    } else {
                        value.to_string()
                    };
                    let ok = match cond::eval(&expr, &*self.conf) {
                        Ok(v) => v,
                        Err(e) => {
                            self.diag(file, lineno, format!("bad conditional '{value}': {e}"));
                            false
                        }
                    };
                    if !ok {
                        skip = true;
                    }
                    continue;
                }
                "else" => {
                    if stack.is_empty() {
                        self.diag(file, lineno, "'else' missing starting if".into());
                    } else if stack.iter().any(|f| f.outer_skip) {
                        skip = true;
                    } else {
                        skip = !skip;
                    }
                    continue;
                }
                _ => {}
            }
            if skip {
                continue;
            }
            match key.as_str() {
                "include" => {
                    self.include(file, lineno, value);
                    continue;
                }
                "require_version" => {
                    if value != "@@VERSION@@" && value != "4.000001" {
                        self.diag(
                            file,
                            lineno,
                            format!("requires version {value}; skipping the rest of this file"),
                        );
                        skip = true;
                        // Stay skipped to the end of the file whatever
                        // conditionals follow, as SpamAssassin does.
                        stack.clear();
                        stack.push(IfFrame { outer_skip: true });
                    }
                    continue;
                }
                _ => {}
            }
            if let Some(allow_rules) = self.user {
                if ADMIN_ONLY.contains(&key.as_str()) {
                    self.user_read.refused.push(format!(
                        "config: not parsing, administrator setting: {line}"
                    ));
                    continue;
                }
                if RULE_SETTINGS.contains(&key.as_str()) {
                    if !allow_rules {
                        self.user_read.refused.push(format!(
                            "config: not parsing, 'allow_user_rules' is 0: {line}"
                        ));
                        continue;
                    }
                    self.user_read.rules_changed = true;
                }
            }
            if let Err(msg) = self.directive(&key, value, file, lineno) {
                self.diag(file, lineno, msg);
            }
        }
        if !stack.is_empty() && !stack.iter().all(|f| f.outer_skip) {
            self.diag(file, 0, "unclosed 'if' at end of file".into());
        }
    }

    fn include(&mut self, file: &str, lineno: usize, value: &str) {
        if value.is_empty() {
            self.diag(file, lineno, "missing 'include' value".into());
            return;
        }
        if self.depth > 20 {
            self.diag(file, lineno, "include nested too deeply".into());
            return;
        }
        let path = PathBuf::from(value);
        let path = if path.is_absolute() {
            path
        } else {
            Path::new(file)
                .parent()
                .unwrap_or(Path::new("."))
                .join(path)
        };
        self.depth += 1;
        self.read_file(&path);
        self.depth -= 1;
    }

    fn add_rule(
        &mut self,
        name: &str,
        kind: RuleKind,
        file: &str,
        line: usize,
    ) -> Result<(), String> {
        if !valid_rule_name(name) {
            return Err(format!(
                "rule '{name}' has invalid characters or is too long"
            ));
        }
        std::sync::Arc::make_mut(&mut self.conf.rules).insert(
            name.to_string(),
            RuleDef {
                name: name.to_string(),
                kind,
                origin: Origin {
                    file: file.to_string(),
                    line,
                },
            },
        );
        Ok(())
    }

    fn directive(&mut self, key: &str, value: &str, file: &str, line: usize) -> Result<(), String> {
        let (name, rest) = match value.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((n, r)) => (n, r.trim()),
            None => (value, ""),
        };
        let need = |s: &str| -> Result<(), String> {
            if s.is_empty() {
                Err(format!("missing '{key}' value"))
            } else {
                Ok(())
            }
        };
        match key {
            "header" => {
                need(rest)?;
                let kind = parse_header_rule(rest)?;
                // DNS list evals are rules too; they simply never fire
                // without network tests.
                self.add_rule(name, kind, file, line)
            }
            "body" | "rawbody" | "full" | "uri" => {
                need(rest)?;
                let target = match key {
                    "body" => EvalTarget::Body,
                    "rawbody" => EvalTarget::Rawbody,
                    "full" => EvalTarget::Full,
                    _ => EvalTarget::Uri,
                };
                let kind = if let Some(fun) = rest.strip_prefix("eval:") {
                    RuleKind::Eval {
                        target,
                        call: parse_eval_call(fun)?,
                    }
                } else {
                    let pattern = rest.to_string();
                    match key {
                        "body" => RuleKind::Body { pattern },
                        "rawbody" => RuleKind::Rawbody { pattern },
                        "full" => RuleKind::Full { pattern },
                        _ => RuleKind::Uri { pattern },
                    }
                };
                self.add_rule(name, kind, file, line)
            }
            "mimeheader" => {
                need(rest)?;
                let kind = parse_mimeheader_rule(rest)?;
                self.add_rule(name, kind, file, line)
            }
            "meta" => {
                need(rest)?;
                self.add_rule(
                    name,
                    RuleKind::Meta {
                        expr: rest.to_string(),
                    },
                    file,
                    line,
                )
            }
            "reuse" => {
                need(name)?;
                if !self.conf.rules.contains_key(name) {
                    self.add_rule(name, RuleKind::Reuse, file, line)?;
                }
                Ok(())
            }
            "urirhssub" | "uridnssub" | "urirhsbl" | "uridnsbl" | "urinsrhsbl" | "urinsrhssub"
            | "urifullnsrhsbl" | "urifullnsrhssub" => {
                need(rest)?;
                self.keep(key, value);
                let call = EvalCall {
                    function: "check_uridnsbl".into(),
                    args: vec![name.into()],
                };
                self.add_rule(
                    name,
                    RuleKind::Eval {
                        target: EvalTarget::Body,
                        call,
                    },
                    file,
                    line,
                )
            }
            "askdns" => {
                need(rest)?;
                self.keep(key, value);
                let call = EvalCall {
                    function: "askdns".into(),
                    args: vec![name.into()],
                };
                self.add_rule(
                    name,
                    RuleKind::Eval {
                        target: EvalTarget::Header,
                        call,
                    },
                    file,
                    line,
                )
            }
            "score" => {
                need(rest)?;
                let nums: Vec<&str> = rest.split_whitespace().collect();
                let parse = |s: &str| -> Result<f64, String> {
                    // `(n)` relative scores: not used by stock rules; take n.
                    let s = s.trim_start_matches('(').trim_end_matches(')');
                    s.parse::<f64>()
                        .map_err(|_| format!("invalid score '{s}' for {name}"))
                };
                let scores = match nums.len() {
                    1 => {
                        let s = parse(nums[0])?;
                        [s; 4]
                    }
                    4 => [
                        parse(nums[0])?,
                        parse(nums[1])?,
                        parse(nums[2])?,
                        parse(nums[3])?,
                    ],
                    _ => return Err(format!("score for {name} needs 1 or 4 values")),
                };
                self.conf.scores.insert(name.to_string(), scores);
                Ok(())
            }
            "describe" => {
                need(name)?;
                self.conf
                    .describe
                    .insert(name.to_string(), rest.to_string());
                Ok(())
            }
            "tflags" => {
                need(name)?;
                self.conf
                    .tflags
                    .insert(name.to_string(), TFlags::parse(rest));
                Ok(())
            }
            "priority" => {
                need(rest)?;
                let p = rest
                    .parse::<i32>()
                    .map_err(|_| format!("invalid priority '{rest}'"))?;
                self.conf.priority.insert(name.to_string(), p);
                Ok(())
            }
            "test" => Ok(()),
            "required_score" | "required_hits" => {
                self.conf.required_score = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid '{key}' value '{value}'"))?;
                Ok(())
            }
            "loadplugin" | "tryplugin" => {
                need(name)?;
                self.conf.plugins.insert(cond::canonical_plugin(name));
                Ok(())
            }
            "welcomelist_from" | "whitelist_from" => {
                add_addrs(&mut self.conf.welcomelist_from, value);
                Ok(())
            }
            "unwelcomelist_from" | "unwhitelist_from" => {
                remove_addrs(&mut self.conf.welcomelist_from, value);
                Ok(())
            }
            "blocklist_from" | "blacklist_from" => {
                add_addrs(&mut self.conf.blocklist_from, value);
                Ok(())
            }
            "unblocklist_from" | "unblacklist_from" => {
                remove_addrs(&mut self.conf.blocklist_from, value);
                Ok(())
            }
            "welcomelist_to" | "whitelist_to" => {
                add_addrs(&mut self.conf.welcomelist_to, value);
                Ok(())
            }
            "blocklist_to" | "blacklist_to" => {
                add_addrs(&mut self.conf.blocklist_to, value);
                Ok(())
            }
            _ => {
                if let Some(res) = self.conf.report.directive(key, &utf8(value)) {
                    return res;
                }
                if KNOWN_SETTINGS.contains(&key) || key.starts_with("bayes_stopword_") {
                    self.keep(key, value);
                    return Ok(());
                }
                Err(format!("unknown directive '{key}', skipping line"))
            }
        }
    }

    fn keep(&mut self, key: &str, value: &str) {
        // `clear_X` empties the list `X` collected so far (trust networks,
        // originating_ip_headers ...), so later readers see the final list.
        if let Some(target) = key.strip_prefix("clear_") {
            self.conf.lists.remove(target);
            self.conf.settings.remove(target);
        }
        self.conf
            .settings
            .insert(key.to_string(), value.to_string());
        self.conf
            .lists
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
}

/// Undo the one-char-per-byte mapping for text shown to people
/// (descriptions, report templates): the bytes as UTF-8.
pub fn utf8(latin1: &str) -> String {
    let bytes: Vec<u8> = latin1.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn add_addrs(list: &mut Vec<String>, value: &str) {
    for a in value.split_whitespace() {
        let a = a.to_ascii_lowercase();
        if !list.contains(&a) {
            list.push(a);
        }
    }
}

fn remove_addrs(list: &mut Vec<String>, value: &str) {
    for a in value.split_whitespace() {
        let a = a.to_ascii_lowercase();
        list.retain(|x| *x != a);
    }
}

/// Comment removal and trimming: an unescaped `#` starts a comment, `\#`
/// stands for `#`. Returns None for lines with nothing left.
fn clean_line(raw: &str) -> Option<String> {
    let mut line = raw.to_string();
    if line.contains('#') {
        let b = line.as_bytes();
        let mut cut = None;
        for i in 0..b.len() {
            if b[i] == b'#' && (i == 0 || b[i - 1] != b'\\') {
                cut = Some(i);
                break;
            }
        }
        if let Some(c) = cut {
            line.truncate(c);
        }
        line = line.replace("\\#", "#");
    }
    let t = line.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

enum LangLine {
    Keep(String),
    Skip,
}

/// `lang xx directive...` lines apply only when the locale starts with `xx`.
/// SpamAssassin takes the locale from LANGUAGE/LC_ALL/LC_MESSAGES/LANG, with
/// C/POSIX meaning en_US.
fn strip_lang(line: &str) -> LangLine {
    let Some(rest) = line.strip_prefix("lang") else {
        return LangLine::Keep(line.to_string());
    };
    if !rest.starts_with(|c: char| c.is_ascii_whitespace()) {
        return LangLine::Keep(line.to_string());
    }
    let rest = rest.trim_start();
    let Some((code, directive)) = rest.split_once(|c: char| c.is_ascii_whitespace()) else {
        return LangLine::Keep(line.to_string());
    };
    if current_lang()
        .to_ascii_lowercase()
        .starts_with(&code.to_ascii_lowercase())
    {
        LangLine::Keep(directive.trim_start().to_string())
    } else {
        LangLine::Skip
    }
}

fn current_lang() -> String {
    let mut lang = std::env::var("LANGUAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(':').next().unwrap_or("").to_string());
    for var in ["LC_ALL", "LC_MESSAGES", "LANG"] {
        if lang.as_deref().is_none_or(str::is_empty) {
            lang = std::env::var(var).ok();
        }
    }
    let lang = lang.filter(|s| !s.is_empty()).unwrap_or_else(|| "C".into());
    if lang == "C" || lang == "POSIX" {
        return "en_US".into();
    }
    lang.split(['@', '.', '+', ','])
        .next()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::*;

    #[test]
    fn rules_and_scores() {
        let c = Config::from_text(
            "t.cf",
            "body FOO /foo\\#bar/i # a comment\n\
             score FOO 2.5\n\
             describe FOO Has foo\n\
             meta BAR FOO && !BAZ\n\
             score BAR 1 2 3 4\n\
             tflags BAZ nice\n\
             header BAZ Subject =~ /x/\n\
             required_score 6.5\n\
             bogus_directive 1\n",
        );
        match &c.rules["FOO"].kind {
            RuleKind::Body { pattern } => assert_eq!(pattern, "/foo#bar/i"),
            k => panic!("{k:?}"),
        }
        assert_eq!(c.score("FOO", 0), 2.5);
        assert_eq!(c.score("BAR", 2), 3.0);
        assert_eq!(c.score("BAZ", 0), -1.0);
        assert_eq!(c.score("T_X", 0), 0.01);
        assert_eq!(c.required_score, 6.5);
        assert_eq!(c.describe["FOO"], "Has foo");
        assert_eq!(c.diagnostics.len(), 1);
        assert_eq!(c.diagnostics[0].line, 9);
    }

    #[test]
    fn conditionals() {
        let c = Config::from_text(
            "t.cf",
            "loadplugin Mail::SpamAssassin::Plugin::HTMLEval\n\
             ifplugin Mail::SpamAssassin::Plugin::HTMLEval\n body A /a/\n endif\n\
             ifplugin Mail::SpamAssassin::Plugin::Nope\n body B /b/\n\
               if (version >= 3.0)\n  body C /c/\n else\n  body D /d/\n endif\n\
             else\n body E /e/\nendif\n\
             if !can(Mail::SpamAssassin::Conf::compat_welcomelist_blocklist)\n body F /f/\nendif\n\
             if can(Mail::SpamAssassin::Plugin::HTMLEval::has_nothing)\n body G /g/\nendif\n",
        );
        let mut names: Vec<&String> = c.rules.keys().collect();
        names.sort();
        assert_eq!(names, ["A", "E", "F"]);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
    }

    #[test]
    fn enable_compat_defines_compat_method() {
        let c = Config::from_text(
            "t.cf",
            "enable_compat welcomelist_blocklist\n\
             if !can(Mail::SpamAssassin::Conf::compat_welcomelist_blocklist)\n body F /f/\nendif\n\
             if can(Mail::SpamAssassin::Conf::compat_welcomelist_blocklist)\n body G /g/\nendif\n",
        );
        let mut names: Vec<&String> = c.rules.keys().collect();
        names.sort();
        assert_eq!(names, ["G"]);
    }

    #[test]
    fn require_version_skips_rest() {
        let c = Config::from_text(
            "t.cf",
            "require_version @@VERSION@@\nbody A /a/\nrequire_version 3.004002\nbody B /b/\nif 1\nbody C /c/\nendif\n",
        );
        assert!(c.rules.contains_key("A"));
        assert!(!c.rules.contains_key("B"));
        assert!(!c.rules.contains_key("C"));
    }

    #[test]
    fn lists() {
        let c = Config::from_text(
            "t.cf",
            "welcomelist_from *@Example.com joe@x.org\nblacklist_from spam@bad.test\nunwhitelist_from joe@x.org\n",
        );
        assert_eq!(c.welcomelist_from, vec!["*@example.com"]);
        assert_eq!(c.blocklist_from, vec!["spam@bad.test"]);
    }
}
