//! Bayes settings read from the configuration, with SpamAssassin 4.0.1's
//! defaults (`Conf.pm`, `10_default_prefs.cf`, `Plugin/Bayes.pm`).

use std::collections::HashSet;

use regex::bytes::Regex;

use crate::config::Config;

/// Common English words that are never tokens (SpamAssassin's default
/// `bayes_stopword_en` list, used when no rules file defines one).
const ENGLISH_STOPWORDS: &str = "able already all and any are because both can come each email even \
    few first for from give have has http information into it's just know like long look made mail \
    mailing mailto make many more most much need not now number off only one out own people place \
    right same see such that this through the time using web where why with without world work year \
    years you you're your";

/// What the tokenizer needs.
#[derive(Debug, Clone)]
pub struct TokenizerOptions {
    /// `bayes_max_token_length` (15).
    pub max_token_length: usize,
    /// One anchored, case-insensitive pattern per enabled language.
    pub stopwords: Vec<Regex>,
    /// `bayes_ignore_header`, lower-cased.
    pub ignore_headers: HashSet<String>,
    /// `bayes_cjk_tokens`: our script-split and bigram tokens for CJK text.
    pub cjk: bool,
}

impl Default for TokenizerOptions {
    fn default() -> Self {
        TokenizerOptions {
            max_token_length: 15,
            stopwords: english().into_iter().collect(),
            ignore_headers: HashSet::new(),
            cjk: false,
        }
    }
}

fn english() -> Option<Regex> {
    let words: Vec<String> = ENGLISH_STOPWORDS
        .split_whitespace()
        .map(regex::escape)
        .collect();
    Regex::new(&format!("(?i-u)^(?:{})$", words.join("|"))).ok()
}

/// A `bayes_stopword_xx` value as SpamAssassin compiles it: only the last
/// blank-separated pattern counts, anchored and case-insensitive; Perl's
/// `(?^:` (flags reset) becomes `(?-i:`.
fn stopword_regex(value: &str) -> Option<Regex> {
    let last = value.split_whitespace().last()?;
    // Config values hold one char per byte; patterns may name UTF-8 bytes.
    let bytes: Vec<u8> = last.chars().map(|c| c as u32 as u8).collect();
    let text = String::from_utf8_lossy(&bytes)
        .replace("(?^:", "(?-i:")
        .replace("\\'", "'");
    Regex::new(&format!("(?i-u)^(?:{text})$")).ok()
}

impl TokenizerOptions {
    /// Read the tokenizer settings from `conf`.
    pub fn from_config(conf: &Config) -> TokenizerOptions {
        let max_token_length = conf
            .settings
            .get("bayes_max_token_length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(15);
        let langs: Vec<String> = match conf.settings.get("bayes_stopword_languages") {
            Some(v) if v.trim() == "disable" => Vec::new(),
            Some(v) => v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_ascii_lowercase)
                .collect(),
            None => vec!["en".to_string()],
        };
        let mut stopwords = Vec::new();
        for lang in langs {
            match conf.settings.get(&format!("bayes_stopword_{lang}")) {
                Some(v) => stopwords.extend(stopword_regex(v)),
                None if lang == "en" => stopwords.extend(english()),
                None => {}
            }
        }
        let ignore_headers = conf
            .lists
            .get("bayes_ignore_header")
            .map(|v| {
                v.iter()
                    .flat_map(|l| l.split_whitespace())
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        TokenizerOptions {
            max_token_length,
            stopwords,
            ignore_headers,
            cjk: conf.bool_setting("bayes_cjk_tokens", false),
        }
    }

    /// Whether a token is a stop-word of an enabled language.
    pub fn is_stopword(&self, token: &[u8]) -> bool {
        self.stopwords.iter().any(|r| r.is_match(token))
    }
}

/// Every Bayes and auto-learn setting a scan or a learn needs.
#[derive(Debug, Clone)]
pub struct BayesOptions {
    pub tokenizer: TokenizerOptions,
    /// `use_bayes` (1).
    pub use_bayes: bool,
    /// `use_bayes_rules` (1): BAYES_* rules may hit.
    pub use_bayes_rules: bool,
    /// `use_learner` (1).
    pub use_learner: bool,
    /// `bayes_path` (`~/.spamassassin/bayes`), as configured.
    pub path: Option<String>,
    /// `bayes_min_spam_num` / `bayes_min_ham_num` (200 each).
    pub min_spam_num: u64,
    pub min_ham_num: u64,
    /// `bayes_use_hapaxes` (1).
    pub use_hapaxes: bool,
    /// `bayes_auto_learn` (1) and its thresholds (12.0 / 0.1).
    pub auto_learn: bool,
    pub auto_learn_threshold_spam: f64,
    pub auto_learn_threshold_nonspam: f64,
    /// `bayes_auto_learn_on_error` (0).
    pub auto_learn_on_error: bool,
    /// `bayes_auto_expire` (1), `bayes_expiry_max_db_size` (150000),
    /// `bayes_token_ttl` (3 weeks, in seconds), `bayes_seen_ttl` (8 days).
    pub auto_expire: bool,
    pub expiry_max_db_size: u64,
    pub token_ttl: i64,
    pub seen_ttl: i64,
    /// `bayes_journal_max_size` (102400 bytes; 0: never sync by size).
    pub journal_max_size: u64,
    /// `bayes_learn_to_journal` (0): spamd's learning (spamc -L, TELL,
    /// auto-learn) goes to the journal, counted at the next sync.
    /// `spamd learn` sets it from `--no-sync` instead, as sa-learn does.
    pub learn_to_journal: bool,
    /// `bayes_store_module` (empty: ours, SQLite).
    pub store_module: String,
    /// `bayes_sql_dsn` (for the Redis store: `server=HOST:PORT;...`).
    pub sql_dsn: String,
    /// `redis_timeout` (10 s): how long one Redis exchange may take.
    pub redis_timeout: std::time::Duration,
    /// `bayes_ignore_from` / `bayes_ignore_to` address globs.
    pub ignore_from: Vec<String>,
    pub ignore_to: Vec<String>,
}

impl Default for BayesOptions {
    fn default() -> Self {
        BayesOptions::from_config(&Config::default())
    }
}

/// SpamAssassin's duration syntax: a number with an optional unit
/// (`s m h d w`), seconds when none is given.
fn duration(v: &str, default_secs: i64) -> i64 {
    let v = v.trim();
    let (num, unit) = match v.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&v[..i], &v[i..]),
        None => (v, "s"),
    };
    let Ok(n) = num.trim().parse::<f64>() else {
        return default_secs;
    };
    let mult = match unit.to_ascii_lowercase().as_str() {
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        "w" => 7.0 * 86400.0,
        _ => 1.0,
    };
    (n * mult) as i64
}

impl BayesOptions {
    /// Read every Bayes setting from `conf`.
    pub fn from_config(conf: &Config) -> BayesOptions {
        let num = |k: &str, d: f64| {
            conf.settings
                .get(k)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(d)
        };
        let list = |k: &str| -> Vec<String> {
            conf.lists
                .get(k)
                .map(|v| {
                    v.iter()
                        .flat_map(|l| l.split_whitespace())
                        .map(str::to_ascii_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        BayesOptions {
            tokenizer: TokenizerOptions::from_config(conf),
            use_bayes: conf.bool_setting("use_bayes", true),
            use_bayes_rules: conf.bool_setting("use_bayes_rules", true),
            use_learner: conf.bool_setting("use_learner", true),
            path: conf
                .settings
                .get("bayes_path")
                .map(|s| s.trim().to_string()),
            min_spam_num: num("bayes_min_spam_num", 200.0) as u64,
            min_ham_num: num("bayes_min_ham_num", 200.0) as u64,
            use_hapaxes: conf.bool_setting("bayes_use_hapaxes", true),
            auto_learn: conf.bool_setting("bayes_auto_learn", true),
            auto_learn_threshold_spam: num("bayes_auto_learn_threshold_spam", 12.0),
            auto_learn_threshold_nonspam: num("bayes_auto_learn_threshold_nonspam", 0.1),
            auto_learn_on_error: conf.bool_setting("bayes_auto_learn_on_error", false),
            auto_expire: conf.bool_setting("bayes_auto_expire", true),
            expiry_max_db_size: num("bayes_expiry_max_db_size", 150_000.0) as u64,
            token_ttl: conf
                .settings
                .get("bayes_token_ttl")
                .map_or(21 * 86400, |v| duration(v, 21 * 86400)),
            seen_ttl: conf
                .settings
                .get("bayes_seen_ttl")
                .map_or(8 * 86400, |v| duration(v, 8 * 86400)),
            journal_max_size: num("bayes_journal_max_size", 102_400.0) as u64,
            learn_to_journal: num("bayes_learn_to_journal", 0.0) != 0.0,
            store_module: conf
                .settings
                .get("bayes_store_module")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            sql_dsn: conf
                .settings
                .get("bayes_sql_dsn")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            redis_timeout: std::time::Duration::from_secs_f64(
                num("redis_timeout", 10.0).clamp(0.05, 3600.0),
            ),
            ignore_from: list("bayes_ignore_from"),
            ignore_to: list("bayes_ignore_to"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords() {
        let o = TokenizerOptions::default();
        assert!(o.is_stopword(b"The"));
        assert!(o.is_stopword(b"you're"));
        assert!(!o.is_stopword(b"theory"));
        let r = stopword_regex("(?^:(?:foo|b\\xc3\\xa5r))").unwrap_or_else(|| panic!("regex"));
        assert!(r.is_match(b"foo"));
        assert!(!r.is_match(b"FOO"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration("3", 0), 3);
        assert_eq!(duration("3d", 0), 3 * 86400);
        assert_eq!(duration("12h", 0), 12 * 3600);
        assert_eq!(duration("x", 7), 7);
    }
}
