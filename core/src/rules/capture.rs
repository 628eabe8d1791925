//! Capture rules: a rule regex with an upper-case named group
//! (`(?<GB_TO_ADDR>.*)`) stores what it matched as a tag, and other rules
//! use it as `%{GB_TO_ADDR}`, replaced per message by the captured values
//! (quoted, as alternatives). A rule whose tag was not captured does not
//! run, as in SpamAssassin.

use std::collections::HashMap;
use std::sync::Mutex;

use super::perlre::{Matcher, PerlPattern, parse_delimited};
use super::prefilter::Formula;
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

/// The placeholder's stand-in while the template's literals are worked out:
/// lower-case letters, so the extraction keeps it whole, joined to its
/// neighbours' literals.
fn marker(i: usize) -> String {
    format!("zqxtemplate{i}zqx")
}

/// The literals every match of the template contains, with placeholder `i`
/// standing as [`marker`]`(i)`; None when the probe does not compile.
fn probe_formula(p: &PerlPattern, names: &[String]) -> Option<Formula> {
    let mut body = p.body.clone();
    for (i, n) in names.iter().enumerate() {
        body = body.replace(&format!("%{{{n}}}"), &marker(i));
    }
    let probe = PerlPattern {
        body,
        mods: p.mods.clone(),
    };
    Matcher::compile(&probe).ok().map(|m| m.required_literals())
}

/// Can a text hold the literals of `f` once each placeholder's marker stands
/// for one of its `values`? `occurs` says whether a literal is in the text
/// (None: cannot tell). A literal holding a marker needs one of the values
/// in its place (the resolved pattern has them as alternatives); one that
/// holds a marker twice, two different markers, or a piece of one is not
/// judged.
fn satisfiable(
    f: &Formula,
    values: &[&Vec<Vec<u8>>],
    occurs: &dyn Fn(&[u8]) -> Option<bool>,
) -> bool {
    match f {
        Formula::Any => true,
        Formula::And(v) => v.iter().all(|f| satisfiable(f, values, occurs)),
        Formula::Or(v) => v.iter().any(|f| satisfiable(f, values, occurs)),
        // Once is necessary for `n` times.
        Formula::AtLeast(_, f) => satisfiable(f, values, occurs),
        Formula::Lit(l) => {
            let mut found: Vec<(usize, usize)> = Vec::new();
            for i in 0..values.len() {
                let m = marker(i);
                for (at, w) in l.windows(m.len()).enumerate() {
                    if w == m.as_bytes() {
                        found.push((i, at));
                    }
                }
            }
            match found.as_slice() {
                [] if l.windows(3).any(|w| w == b"zqx") => true,
                [] => occurs(l) != Some(false),
                [(i, at)] => {
                    let end = at + marker(*i).len();
                    values[*i].iter().any(|v| {
                        let mut lit = l[..*at].to_vec();
                        lit.extend_from_slice(v);
                        lit.extend_from_slice(&l[end..]);
                        occurs(&lit) != Some(false)
                    })
                }
                _ => true,
            }
        }
    }
}

/// A pattern with `%{NAME}` placeholders.
#[derive(Debug)]
pub struct Template {
    pattern: PerlPattern,
    names: Vec<String>,
    /// The literals every match contains, placeholders as markers: a text
    /// without them (the values put in) cannot match, and nothing needs
    /// compiling. Mailing-list mail links to its list address, so the
    /// values alone are often there; the text around them seldom is.
    formula: Option<Formula>,
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
        if names.is_empty() {
            return None;
        }
        let formula = probe_formula(&pattern, &names);
        Some(Template {
            pattern,
            names,
            formula,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this message's captures can let the rule match a text for
    /// which `occurs(literal)` says whether a literal occurs in it (ASCII
    /// case ignored). False when a tag was not captured (the rule does not
    /// run); true whenever the rest cannot be judged.
    pub fn possible(&self, tags: &Tags, occurs: &dyn Fn(&[u8]) -> Option<bool>) -> bool {
        let mut values = Vec::with_capacity(self.names.len());
        for n in &self.names {
            match tags.0.get(n) {
                Some(v) if !v.is_empty() => values.push(v),
                _ => return false,
            }
        }
        self.formula
            .as_ref()
            .is_none_or(|f| satisfiable(f, &values, occurs))
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
            // A few recipients make most of the mail; each instance holds
            // its own automata and match caches.
            if cache.len() >= 32 {
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

    /// Whether a template can match `text` once `TO` holds `values`.
    fn can_match(pattern: &str, values: &[&str], text: &str) -> bool {
        let t = Template::new("R", pattern, &ReplaceTags::default()).expect("template");
        let mut tags = Tags::default();
        for v in values {
            tags.add("TO".into(), v.as_bytes().to_vec());
        }
        t.possible(&tags, &|lit| {
            Some(super::super::prefilter::contains_ci(text.as_bytes(), lit))
        })
    }

    #[test]
    fn literals_around_the_values() {
        let storage = r"m|^https?://storage\.example\.com/.{4,128}\#%{TO}|i";
        let url = "https://storage.example.com/abcdef#Bob@Example.com";
        assert!(can_match(storage, &["bob@example.com"], url));
        assert!(can_match(storage, &["eve@x.org", "bob@example.com"], url));
        // The value without the `#` before it, or the host missing.
        assert!(!can_match(
            storage,
            &["bob@example.com"],
            "mailto:bob@example.com"
        ));
        assert!(!can_match(
            storage,
            &["bob@example.com"],
            "https://other.example.com/abcdef#bob@example.com"
        ));
        // Alternatives around the value: either will do.
        let either = r"/(?:\#|\?&e=)%{TO}/";
        assert!(can_match(either, &["a@b.cc"], "x?&e=a@b.cc"));
        assert!(!can_match(either, &["a@b.cc"], "x&e=a@b.cc"));
        // The value optional: the rest decides.
        assert!(can_match(r"/(?:%{TO})?barbaz/", &["a@b.cc"], "barbaz"));
        assert!(!can_match(r"/(?:%{TO})?barbaz/", &["a@b.cc"], "a@b.cc"));
        // The same placeholder twice: not judged from the joined literal.
        assert!(can_match(
            r"/%{TO}%{TO}/",
            &["a@b.cc", "d@e.ff"],
            "a@b.ccd@e.ff"
        ));
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
        let in_text = |text: &'static [u8]| {
            move |lit: &[u8]| Some(super::super::prefilter::contains_ci(text, lit))
        };
        assert!(t.possible(&tags, &in_text(b"http://x.example/#eve@example.com")));
        assert!(!t.possible(&tags, &in_text(b"http://x.example/ eve@example.com")));
        assert!(t.possible(&tags, &|_| None), "undecided runs the rule");
    }
}
