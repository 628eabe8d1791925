//! Structured forms of list settings that eval functions consult on every
//! message (free mail domains, named address lists, URI host lists, the
//! registry boundaries). The reader keeps these settings as raw lines in
//! `Config::lists`; they are turned into lookup tables once, after loading,
//! so that no message pays for re-parsing them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;

use super::Config;

/// The FreeMail plugin's configuration.
#[derive(Debug, Clone, Default)]
pub struct Freemail {
    /// Exact domains (lowercase).
    pub domains: HashSet<String>,
    /// Domains written with `*`/`?`, as one pattern matched against a whole
    /// address (`@` plus the domain at the end).
    pub wildcard: Option<Regex>,
    /// Addresses and domains never treated as free mail (lowercase).
    pub welcome: HashSet<String>,
    pub max_body_emails: i64,
    pub max_body_freemails: i64,
    pub skip_when_over_max: bool,
    pub skip_bulk_envfrom: bool,
    /// The plugin's e-mail address pattern (capture 1 is the address),
    /// which needs a known TLD at the end; built only when the plugin is
    /// in use.
    pub email_re: Option<Arc<pcre2::bytes::Regex>>,
}

impl Freemail {
    /// SpamAssassin disables the plugin's checks when no domain is listed.
    pub fn available(&self) -> bool {
        !self.domains.is_empty() || self.wildcard.is_some()
    }
}

/// Derived tables; see the module comment.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    pub freemail: Freemail,
    /// `enlist_addrlist (NAME) glob...`: lowercase address globs by list name.
    pub addrlists: HashMap<String, Vec<String>>,
    /// `enlist_uri_host (NAME) [!]host...`: per list, host -> listed (false
    /// for `!host` exclusions). Ordered by list name, as SpamAssassin walks
    /// them.
    pub uri_host_lists: BTreeMap<String, HashMap<String, bool>>,
    /// `util_rb_tld`: valid top-level domains (lowercase).
    pub tlds: HashSet<String>,
    /// `util_rb_2tld` / `util_rb_3tld`: registry suffixes with two and three
    /// labels, under which a registrable domain has one more label.
    pub two_level: HashSet<String>,
    pub three_level: HashSet<String>,
    /// `ok_locales`, split.
    pub ok_locales: Vec<String>,
    /// `more_spam_to` / `all_spam_to` globs (lowercase).
    pub more_spam_to: Vec<String>,
    pub all_spam_to: Vec<String>,
}

fn words<'a>(conf: &'a Config, key: &str) -> impl Iterator<Item = &'a str> + 'a {
    conf.lists
        .get(key)
        .into_iter()
        .flatten()
        .flat_map(|line| line.split_whitespace())
}

fn num_setting(conf: &Config, key: &str, default: i64) -> i64 {
    conf.settings
        .get(key)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(default, |v| v as i64)
}

/// `(NAME) rest`: the list name and the rest of the line.
fn named(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start().strip_prefix('(')?;
    let close = rest.find(')')?;
    let name = &rest[..close];
    let after = &rest[close + 1..];
    // The name needs at least one character and a blank must follow.
    if name.is_empty() || !after.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    let after = after.trim();
    (!after.is_empty()).then_some((name, after))
}

impl Derived {
    pub fn build(conf: &Config) -> Derived {
        let mut d = Derived {
            freemail: build_freemail(conf),
            ..Derived::default()
        };
        for line in conf.lists.get("enlist_addrlist").into_iter().flatten() {
            if let Some((name, globs)) = named(line) {
                let list = d.addrlists.entry(name.to_string()).or_default();
                for g in globs.split_whitespace() {
                    let g = g.to_lowercase();
                    if !list.contains(&g) {
                        list.push(g);
                    }
                }
            }
        }
        // Enlisting before delisting: the stock rules never delist, and the
        // reader does not keep the relative order of different directives.
        let enlist = |d: &mut Derived, name: &str, hosts: &str| {
            let list = d.uri_host_lists.entry(name.to_string()).or_default();
            for h in hosts.to_lowercase().split_whitespace() {
                match h.strip_prefix('!') {
                    Some(h) => list.insert(h.to_string(), false),
                    None => list.insert(h.to_string(), true),
                };
            }
        };
        for line in conf.lists.get("enlist_uri_host").into_iter().flatten() {
            if let Some((name, hosts)) = named(line) {
                enlist(&mut d, name, hosts);
            }
        }
        for (key, name) in [
            ("blocklist_uri_host", "BLOCK"),
            ("blacklist_uri_host", "BLOCK"),
            ("welcomelist_uri_host", "WELCOME"),
            ("whitelist_uri_host", "WELCOME"),
        ] {
            for line in conf.lists.get(key).into_iter().flatten() {
                enlist(&mut d, name, line);
            }
        }
        for line in conf.lists.get("delist_uri_host").into_iter().flatten() {
            let (names, hosts): (Vec<String>, &str) = match named(line) {
                Some((n, h)) => (vec![n.to_string()], h),
                None => (d.uri_host_lists.keys().cloned().collect(), line.as_str()),
            };
            for n in names {
                if let Some(list) = d.uri_host_lists.get_mut(&n) {
                    for h in hosts.to_lowercase().split_whitespace() {
                        list.remove(h.strip_prefix('!').unwrap_or(h));
                    }
                }
            }
        }
        d.tlds = words(conf, "util_rb_tld")
            .map(str::to_ascii_lowercase)
            .collect();
        d.two_level = words(conf, "util_rb_2tld")
            .map(str::to_ascii_lowercase)
            .collect();
        d.three_level = words(conf, "util_rb_3tld")
            .map(str::to_ascii_lowercase)
            .collect();
        d.ok_locales = conf.settings.get("ok_locales").map_or_else(
            || vec!["all".to_string()],
            |v| v.split_whitespace().map(str::to_string).collect(),
        );
        if d.freemail.available() {
            d.freemail.email_re = email_regex(&d.tlds).map(Arc::new);
        }
        d.more_spam_to = words(conf, "more_spam_to").map(str::to_lowercase).collect();
        d.all_spam_to = words(conf, "all_spam_to").map(str::to_lowercase).collect();
        d
    }
}

/// Characters allowed in the local part of an address (RFC 5322 atext).
const ATEXT: &str = r"a-z0-9!#$%&'*+/=?^_`{|}~-";

/// The FreeMail address pattern: a local part of at most 64 characters
/// starting at a boundary, an '@', one to four host labels and a known TLD
/// that ends at a boundary.
fn email_regex(tlds: &HashSet<String>) -> Option<pcre2::bytes::Regex> {
    let mut list: Vec<&str> = tlds.iter().map(String::as_str).collect();
    // Longest first, so that a TLD that prefixes another is tried last.
    list.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let alternatives: Vec<String> = list.iter().map(|t| regex::escape(t)).collect();
    let tld = if alternatives.is_empty() {
        // Matches nothing useful, as SpamAssassin's fallback.
        "no_tlds_defined".to_string()
    } else {
        format!(
            "(?<![a-zA-Z0-9-])(?:{})(?!(?:[a-zA-Z0-9-]|\\.[a-zA-Z0-9]))",
            alternatives.join("|")
        )
    };
    let pattern = format!(
        "(?i)(?=.{{0,64}}@)(?<![{ATEXT}])([{ATEXT}]+(?:\\.[{ATEXT}]+)*@(?:[a-z0-9](?:[a-z0-9-]{{0,59}}[a-z0-9])?\\.){{1,4}}{tld})"
    );
    pcre2::bytes::RegexBuilder::new()
        .utf(false)
        .ucp(false)
        .jit_if_available(true)
        .build(&pattern)
        .ok()
}

fn build_freemail(conf: &Config) -> Freemail {
    let mut fm = Freemail {
        max_body_emails: num_setting(conf, "freemail_max_body_emails", 5),
        max_body_freemails: num_setting(conf, "freemail_max_body_freemails", 3),
        skip_when_over_max: num_setting(conf, "freemail_skip_when_over_max", 1) != 0,
        skip_bulk_envfrom: num_setting(conf, "freemail_skip_bulk_envfrom", 1) != 0,
        ..Freemail::default()
    };
    let mut wild: Vec<String> = Vec::new();
    for d in words(conf, "freemail_domains") {
        // Entries with other characters are rejected (with a warning) by
        // SpamAssassin.
        if !d
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'*' | b'?' | b'-'))
        {
            continue;
        }
        let d = d.to_ascii_lowercase();
        if d.contains(['*', '?']) {
            // `*` and `?` never match across a dot.
            let re = d
                .replace('.', "\\.")
                .replace('?', ".")
                .replace('*', "[^.]*");
            if !wild.contains(&re) {
                wild.push(re);
            }
        } else {
            fm.domains.insert(d);
        }
    }
    if !wild.is_empty() {
        fm.wildcard = Regex::new(&format!("@(?:{})\n?\\z", wild.join("|"))).ok();
    }
    for key in ["freemail_welcomelist", "freemail_whitelist"] {
        for w in words(conf, key) {
            let w = w.to_lowercase();
            // Must look like `x.y` or `x@y`.
            let b = w.as_bytes();
            let ok = b.windows(3).any(|t| {
                let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
                word(t[0]) && (t[1] == b'.' || t[1] == b'@') && word(t[2])
            });
            if ok {
                fm.welcome.insert(w);
            }
        }
    }
    fm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_lists() {
        let c = Config::from_text(
            "t.cf",
            "freemail_domains gmail.com yahoo.co.?? mail.*.com bad_dom.com\n\
             freemail_welcomelist Support@Gmail.com nodot\n\
             enlist_addrlist (PAYPAL) *@paypal.com *@*.paypal.com\n\
             enlist_uri_host (BLOCK) example.com !ok.example.com\n\
             delist_uri_host (BLOCK) gone.test\n\
             util_rb_2tld co.uk com.au\n",
        );
        let d = Derived::build(&c);
        assert!(d.freemail.domains.contains("gmail.com"));
        assert!(!d.freemail.domains.contains("bad_dom.com"));
        let re = d.freemail.wildcard.as_ref().map(|r| r.as_str().to_string());
        assert_eq!(
            re.as_deref(),
            Some("@(?:yahoo\\.co\\...|mail\\.[^.]*\\.com)\n?\\z")
        );
        assert!(d.freemail.welcome.contains("support@gmail.com"));
        assert!(!d.freemail.welcome.contains("nodot"));
        assert_eq!(d.addrlists["PAYPAL"], ["*@paypal.com", "*@*.paypal.com"]);
        assert_eq!(
            d.uri_host_lists["BLOCK"].get("ok.example.com"),
            Some(&false)
        );
        assert!(d.two_level.contains("co.uk"));
        assert_eq!(d.ok_locales, ["all"]);
    }
}
