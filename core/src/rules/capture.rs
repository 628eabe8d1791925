//! Capture rules: a rule regex with an upper-case named group
//! (`(?<GB_TO_ADDR>.*)`) stores what it matched as a tag, and other rules
//! use it as `%{GB_TO_ADDR}`, replaced per message by the captured values
//! (quoted, as alternatives). A rule whose tag was not captured does not
//! run, as in SpamAssassin.

use std::collections::HashMap;
use std::sync::Mutex;

use super::perlre::{Matcher, PerlPattern, parse_delimited};
use super::replace_tags::ReplaceTags;

/// Tag values captured so far in one scan.
#[derive(Debug, Default)]
pub struct Tags(HashMap<String, Vec<Vec<u8>>>);

impl Tags {
    pub fn add(&mut self, name: String, value: Vec<u8>) {
        if !value.is_empty() {
            let v = self.0.entry(name).or_default();
            if !v.contains(&value) {
                v.push(value);
            }
        }
    }
}

fn is_tag_name(s: &str) -> bool {
    // [A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_uppercase()
        && !s.ends_with('_')
        && !s.contains("__")
        && b.iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_')
}

/// `%{NAME}` references (not preceded by a backslash) in a pattern.
pub fn template_names(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    let mut offset = 0;
    while let Some(p) = rest.find("%{") {
        let at = offset + p;
        let escaped = at > 0 && pattern.as_bytes()[at - 1] == b'\\';
        if let Some(end) = rest[p + 2..].find('}') {
            let name = &rest[p + 2..p + 2 + end];
            if !escaped && is_tag_name(name) && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
        offset = at + 2;
        rest = &pattern[offset..];
    }
    out
}

/// Take `%{NAME}` literally (`%\{NAME\}`), so the pattern compiles.
pub fn escape_templates(body: &str) -> String {
    let mut out = body.to_string();
    for n in template_names(body) {
        out = out.replace(&format!("%{{{n}}}"), &format!("%\\{{{n}\\}}"));
    }
    out
}

/// Upper-case named groups of a delimited pattern: `(?<NAME>`, `(?P<NAME>`,
/// `(?'NAME'`.
pub fn produced_names(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    for open in ["(?<", "(?P<", "(?'"] {
        let mut rest = pattern;
        while let Some(p) = rest.find(open) {
            let after = &rest[p + open.len()..];
            let end = after.find(['>', '\'']).unwrap_or(0);
            let name = &after[..end];
            if is_tag_name(name) && !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
            rest = after;
        }
    }
    out
}

/// Perl's quotemeta over bytes: everything but [A-Za-z0-9_] escaped. Each
/// byte is one char of the pattern text.
fn quotemeta(v: &[u8]) -> String {
    let mut s = String::with_capacity(v.len() * 2);
    for &b in v {
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            s.push('\\');
        }
        s.push(b as char);
    }
    s
}

/// Whether every match of `p` contains each `%{NAME}` placeholder's text:
/// each is replaced by a marker word and the marker must be among the
/// literals the prefilter finds required.
fn values_required(p: &PerlPattern, names: &[String]) -> bool {
    let marker = |i: usize| format!("zqxtemplate{i}zqx");
    let mut body = p.body.clone();
    for (i, n) in names.iter().enumerate() {
        body = body.replace(&format!("%{{{n}}}"), &marker(i));
    }
    let probe = PerlPattern {
        body,
        mods: p.mods.clone(),
    };
    let Ok(m) = Matcher::compile(&probe) else {
        return false;
    };
    let f = m.required_literals();
    (0..names.len()).all(|i| super::prefilter::requires(&f, marker(i).as_bytes()))
}

/// A pattern with `%{NAME}` placeholders.
#[derive(Debug)]
pub struct Template {
    pattern: PerlPattern,
    names: Vec<String>,
    /// Every match contains one of each tag's values, so a text holding
    /// none of them cannot match and nothing needs compiling.
    values_required: bool,
    /// Compiled instances by final pattern text (bounded).
    cache: Mutex<HashMap<String, Matcher>>,
}

impl Template {
    /// None when the pattern has no placeholders (or does not parse).
    pub fn new(rule: &str, text: &str, tags: &ReplaceTags) -> Option<Template> {
        let mut pattern = parse_delimited(text).ok()?;
        if tags.applies_to(rule) {
            pattern.body = tags.expand(&pattern.body);
        }
        let names = template_names(&pattern.body);
        let values_required = !names.is_empty() && values_required(&pattern, &names);
        (!names.is_empty()).then(|| Template {
            pattern,
            names,
            values_required,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this message's captures can let the rule match a text for
    /// which `occurs(value)` says whether a value occurs in it (ASCII case
    /// ignored). True whenever that cannot be judged.
    pub fn possible(&self, tags: &Tags, occurs: &dyn Fn(&[u8]) -> Option<bool>) -> bool {
        if !self.values_required {
            return true;
        }
        self.names.iter().all(|n| {
            tags.0
                .get(n)
                .is_some_and(|vals| vals.iter().any(|v| occurs(v) != Some(false)))
        })
    }

    /// The pattern for this message's captures, or None if a tag is missing.
    pub fn resolve(&self, tags: &Tags) -> Option<Matcher> {
        let mut body = self.pattern.body.clone();
        for n in &self.names {
            let vals = tags.0.get(n).filter(|v| !v.is_empty())?;
            let alts: Vec<String> = vals.iter().map(|v| quotemeta(v)).collect();
            body = body.replace(&format!("%{{{n}}}"), &format!("(?:{})", alts.join("|")));
        }
        if let Ok(cache) = self.cache.lock()
            && let Some(m) = cache.get(&body)
        {
            return Some(m.clone());
        }
        let m = Matcher::compile(&PerlPattern {
            body: body.clone(),
            mods: self.pattern.mods.clone(),
        })
        .ok()?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= 256 {
                cache.clear();
            }
            cache.insert(body, m.clone());
        }
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            template_names("a%{GB_TO_ADDR}b\\%{NOT}%{lower}"),
            ["GB_TO_ADDR"]
        );
        assert_eq!(produced_names("/(?<GB_TO_ADDR>.*)/"), ["GB_TO_ADDR"]);
        assert!(produced_names("/(?<lower>x)/").is_empty());
        assert_eq!(escape_templates("x%{A_B}y"), "x%\\{A_B\\}y");
        assert_eq!(quotemeta(b"a.b@c"), "a\\.b\\@c");
    }

    #[test]
    fn required_values() {
        let req = |text: &str| {
            let p = parse_delimited(text).expect("pattern");
            values_required(&p, &template_names(&p.body))
        };
        assert!(req(
            r"m|^https?://storage\.example\.com/.{4,128}\#%{GB_TO_ADDR}|i"
        ));
        assert!(req(r"/%{A_B}x%{C}/"));
        assert!(!req(r"/foo|%{A_B}/"));
        assert!(!req(r"/(?:%{A_B})?bar/"));
        assert!(!req(r"/(?:%{A_B}|x)yz/"));
    }

    #[test]
    fn possible_only_with_a_value_in_the_text() {
        let t = Template::new(
            "R",
            r"/^https?:\/\/.{1,20}\#%{TO}/i",
            &ReplaceTags::default(),
        )
        .expect("template");
        let mut tags = Tags::default();
        assert!(!t.possible(&tags, &|_| Some(true)), "tag not captured");
        tags.add("TO".into(), b"bob@example.com".to_vec());
        tags.add("TO".into(), b"eve@example.com".to_vec());
        assert!(!t.possible(&tags, &|_| Some(false)));
        assert!(t.possible(&tags, &|v| Some(v == b"eve@example.com")));
        assert!(t.possible(&tags, &|_| None), "undecided runs the rule");
    }
}
