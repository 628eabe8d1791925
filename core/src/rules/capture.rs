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

/// A pattern with `%{NAME}` placeholders.
#[derive(Debug)]
pub struct Template {
    pattern: PerlPattern,
    names: Vec<String>,
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
        (!names.is_empty()).then(|| Template {
            pattern,
            names,
            cache: Mutex::new(HashMap::new()),
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
}
