//! ReplaceTags: `replace_rules` patterns have `<TAG>` placeholders expanded
//! from `replace_tag` (and `<pre X>`/`<post X>`/`<inter X>` wrappers) before
//! they are compiled, as SpamAssassin's ReplaceTags plugin does.

use std::collections::{HashMap, HashSet};

use crate::config::Config;

/// The tag tables of one configuration.
#[derive(Debug, Default)]
pub struct ReplaceTags {
    rules: HashSet<String>,
    tags: HashMap<String, String>,
    pre: HashMap<String, String>,
    post: HashMap<String, String>,
    inter: HashMap<String, String>,
    start: String,
    end: String,
}

fn table(conf: &Config, key: &str) -> HashMap<String, String> {
    let mut t = HashMap::new();
    for v in conf.lists.get(key).into_iter().flatten() {
        if let Some((name, value)) = v.split_once(|c: char| c.is_ascii_whitespace()) {
            t.insert(name.to_string(), value.trim().to_string());
        }
    }
    t
}

impl ReplaceTags {
    /// Collect the tables from `conf`.
    pub fn from_config(conf: &Config) -> ReplaceTags {
        let rules = conf
            .lists
            .get("replace_rules")
            .into_iter()
            .flatten()
            .flat_map(|v| v.split_whitespace().map(str::to_string))
            .collect();
        let setting = |k: &str, d: &str| {
            conf.settings
                .get(k)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        ReplaceTags {
            rules,
            tags: table(conf, "replace_tag"),
            pre: table(conf, "replace_pre"),
            post: table(conf, "replace_post"),
            inter: table(conf, "replace_inter"),
            start: setting("replace_start", "<"),
            end: setting("replace_end", ">"),
        }
    }

    /// Whether `rule` is listed in `replace_rules`.
    pub fn applies_to(&self, rule: &str) -> bool {
        self.rules.contains(rule)
    }

    /// Remove the first `<KIND name>` directive, returning its name.
    fn take_directive(&self, re: &mut String, kind: &str) -> Option<String> {
        let open = format!("{}{kind} ", self.start);
        let pos = re.find(&open)?;
        let name_start = pos + open.len();
        // `.+?` needs at least one character before the end marker.
        let rel = re[name_start + 1..].find(&self.end)? + 1;
        let name = re[name_start..name_start + rel].to_string();
        re.replace_range(pos..name_start + rel + self.end.len(), "");
        Some(name)
    }

    /// Expand the tags in a pattern body.
    pub fn expand(&self, body: &str) -> String {
        let mut re = body.to_string();
        for _pass in 0..6 {
            let pre = self
                .take_directive(&mut re, "pre")
                .and_then(|n| self.pre.get(&n).cloned());
            let post = self
                .take_directive(&mut re, "post")
                .and_then(|n| self.post.get(&n).cloned());
            let inter = self
                .take_directive(&mut re, "inter")
                .and_then(|n| self.inter.get(&n).cloned());
            let mut parts = split_tags(&re);
            let is_tag = |p: &str| self.tag_name(p).is_some();
            for p in parts.iter_mut() {
                if is_tag(p) {
                    if let Some(pre) = pre.as_deref().filter(|s| !s.is_empty()) {
                        p.insert_str(0, pre);
                    }
                    if let Some(post) = post.as_deref().filter(|s| !s.is_empty()) {
                        p.push_str(post);
                    }
                }
            }
            if let Some(inter) = inter.as_deref().filter(|s| !s.is_empty()) {
                for p in parts.iter_mut().filter(|p| p.is_empty()) {
                    p.push_str(inter);
                }
            }
            let mut again = false;
            for p in parts.iter_mut() {
                if let Some(name) = self.tag_name(p)
                    && let Some(value) = self.tags.get(&name).filter(|v| !v.is_empty())
                {
                    let tag = format!("{}{name}{}", self.start, self.end);
                    *p = p.replace(&tag, value);
                    if has_angle_tag(value) {
                        again = true;
                    }
                }
            }
            re = parts.concat();
            if !again {
                break;
            }
        }
        re
    }

    /// The first `<name>` (with the configured markers) inside `s`.
    fn tag_name(&self, s: &str) -> Option<String> {
        let a = s.find(&self.start)?;
        let rest = &s[a + self.start.len()..];
        let rel = rest.get(1..)?.find(&self.end)? + 1;
        Some(rest[..rel].to_string())
    }
}

/// Perl's `split(/(<[^<>]+>)/, $re)`: text and `<...>` pieces alternate,
/// with a leading empty piece when the pattern starts with a tag, and
/// trailing empty pieces dropped.
fn split_tags(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<'
            && let Some(rel) = b[i + 1..].iter().position(|&c| c == b'<' || c == b'>')
            && b[i + 1 + rel] == b'>'
            && rel > 0
        {
            out.push(s[last..i].to_string());
            out.push(s[i..i + rel + 2].to_string());
            i += rel + 2;
            last = i;
            continue;
        }
        i += 1;
    }
    out.push(s[last..].to_string());
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

fn has_angle_tag(s: &str) -> bool {
    s.find('<')
        .is_some_and(|a| s[a + 1..].find('>').is_some_and(|rel| rel > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(cf: &str) -> ReplaceTags {
        ReplaceTags::from_config(&Config::from_text("t.cf", cf))
    }

    #[test]
    fn expands_tags_and_wrappers() {
        let t = tags(
            "replace_tag A [a4]\nreplace_tag B [b8]\nreplace_tag AB <A><B>\nreplace_inter W1 \\W?\nreplace_pre P1 (?:^|\\s)\nreplace_post P2 +\nreplace_rules R\n",
        );
        assert!(t.applies_to("R"));
        assert_eq!(t.expand("x<A>y"), "x[a4]y");
        assert_eq!(t.expand("<inter W1><A><B>"), "\\W?[a4]\\W?[b8]");
        assert_eq!(t.expand("<pre P1><A>b"), "(?:^|\\s)[a4]b");
        assert_eq!(t.expand("<post P2><A>c"), "[a4]+c");
        assert_eq!(t.expand("<AB>"), "[a4][b8]");
        assert_eq!(t.expand("<UNKNOWN>"), "<UNKNOWN>");
    }

    #[test]
    fn perl_split() {
        assert_eq!(split_tags("<A>x<B>"), ["", "<A>", "x", "<B>"]);
        assert_eq!(split_tags("a<>b"), ["a<>b"]);
    }
}
