//! Template tags (`_SCORE_`, `_TESTS(,)_` ...) and the report texts built
//! from a verdict (`_REPORT_`, `_SUMMARY_`, `_PREVIEW_`).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::text::{Break, is_perl_space, wrap};
use crate::config::ReportConf;
use crate::scan::{Verdict, format_required, format_score, perl_number_text};

/// Values the engine supplies for tags that a verdict does not hold.
#[derive(Default)]
pub struct TagContext<'a> {
    /// This host's fully qualified name: `_HOSTNAME_` when `report_hostname`
    /// is unset, and the report_safe `Received:` line.
    pub hostname: String,
    /// `_REMOTEHOSTNAME_` (SpamAssassin shows `localhost` when unknown).
    pub remote_hostname: Option<String>,
    /// `_REMOTEHOSTADDR_` (SpamAssassin shows `127.0.0.1` when unknown).
    pub remote_hostaddr: Option<String>,
    /// The decoded, rendered body text array as rules see it: the Subject
    /// first, then one entry per paragraph. Feeds `_PREVIEW_`.
    pub body_lines: &'a [String],
    /// `_HEADER(name)_`: what SpamAssassin's `get(name)` returns (decoded
    /// values joined, each ending in `\n`); empty when `None`.
    pub header: Option<&'a dyn Fn(&str) -> String>,
    /// `_DATE_` and the report_safe `Received:` date, RFC 2822 local time.
    pub date: String,
    /// Current Unix time: the first half of the report_safe MIME boundary.
    pub time: u64,
    /// A random number: the second half of the MIME boundary.
    pub random: u32,
    /// `_SUBJPREFIX_`: the `subjprefix` texts of the rules that hit.
    pub subjprefix: Option<String>,
    /// `_RULESVERSION_`: the rule update versions, sorted, comma-joined.
    pub rules_version: String,
    /// Any other tag by name (`LASTEXTERNALIP`, `RELAYSTRUSTED`, plugin
    /// tags ...). Tags neither built in nor here stay literal.
    pub extra: HashMap<String, String>,
}

/// Built-in tags whose value comes from the message's metadata: empty when
/// the engine did not supply one (they always exist in SpamAssassin).
const ENGINE_COMMON_TAGS: &[&str] = &[
    "FIRSTTRUSTEDIP",
    "FIRSTTRUSTEDREVIP",
    "LASTEXTERNALIP",
    "LASTEXTERNALREVIP",
    "LASTEXTERNALRDNS",
    "LASTEXTERNALHELO",
    "TIMING",
];

static TAG_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"_([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*(?:\(.*?\))?)_").ok());

/// Everything tag expansion reads.
pub(crate) struct Tagger<'a> {
    pub verdict: &'a Verdict,
    pub conf: &'a ReportConf,
    pub ctx: &'a TagContext<'a>,
}

impl Tagger<'_> {
    /// `_replace_tags`: expand every known tag, leave unknown ones literal.
    pub fn expand(&self, text: &str) -> String {
        let Some(re) = TAG_RE.as_ref() else {
            return text.to_string();
        };
        re.replace_all(text, |c: &Captures| {
            let whole = &c[1];
            let (name, arg) = match whole.find('(') {
                Some(p) if whole.ends_with(')') => {
                    (&whole[..p], Some(&whole[p + 1..whole.len() - 1]))
                }
                _ => (whole, None),
            };
            self.value(name, arg).unwrap_or_else(|| c[0].to_string())
        })
        .into_owned()
    }

    /// One tag's value, `None` for an unknown tag.
    fn value(&self, name: &str, arg: Option<&str>) -> Option<String> {
        let v = self.verdict;
        // Perl's `shift || default`: an empty or "0" argument is no argument.
        let arg_or = |d: &'static str| -> String {
            match arg {
                Some(a) if !a.is_empty() && a != "0" => a.to_string(),
                _ => d.to_string(),
            }
        };
        let s = match name {
            "YESNO" => self.yesno(arg),
            "YESNOCAPS" => self.yesno(arg).to_ascii_uppercase(),
            "SCORE" | "HITS" => self.score(arg),
            "REQD" => format_required(v.required),
            "VERSION" => crate::SA_VERSION.to_string(),
            "SUBVERSION" => crate::SA_SUBVERSION.to_string(),
            "RULESVERSION" => self.ctx.rules_version.clone(),
            "HOSTNAME" => self.hostname(),
            "REMOTEHOSTNAME" => non_empty_or(&self.ctx.remote_hostname, "localhost"),
            "REMOTEHOSTADDR" => non_empty_or(&self.ctx.remote_hostaddr, "127.0.0.1"),
            "CONTACTADDRESS" => self.conf.report_contact.clone(),
            "BAYES" => v
                .bayes
                .map_or_else(|| "0.5".to_string(), |b| format!("{b:3.4}")),
            "DATE" => self.ctx.date.clone(),
            "STARS" => {
                let n = (v.score.trunc() as i64).clamp(0, 50) as usize;
                arg_or("*").repeat(n)
            }
            "AUTOLEARN" => autolearn(v),
            "TESTS" => or_none(v.test_names().join(&arg_or(","))),
            "SUBTESTS" => {
                let mut subs: Vec<&str> = v.subtests.iter().map(String::as_str).collect();
                subs.sort_unstable();
                or_none(subs.join(&arg_or(",")))
            }
            "SUBTESTSCOLLAPSED" => or_none(collapsed_subtests(&v.subtests).join(&arg_or(","))),
            "TESTSSCORES" => {
                let mut pairs: Vec<(&str, f64)> = Vec::new();
                for h in &v.hits {
                    for _ in 0..h.count.max(1) {
                        pairs.push((&h.name, h.score));
                    }
                }
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                let items: Vec<String> = pairs
                    .iter()
                    .map(|(n, s)| format!("{n}={}", perl_number_text(*s)))
                    .collect();
                or_none(items.join(&arg_or(",")))
            }
            "PREVIEW" => content_preview(self.ctx.body_lines),
            "REPORT" => format!("\n{}", rule_lines(v, self.conf.report_wrap_width).0),
            "SUMMARY" => rule_lines(v, self.conf.report_wrap_width).1,
            "SUBJPREFIX" => self.ctx.subjprefix.clone().unwrap_or_default(),
            "HEADER" => match (arg, self.ctx.header) {
                (Some(h), Some(get)) if !h.is_empty() && h != "0" => get(h),
                _ => String::new(),
            },
            // SpamAssassin breaks recursion by leaving these literal.
            "ADDEDHEADER" | "ADDEDHEADERHAM" | "ADDEDHEADERSPAM" => return None,
            // Without autolearn data SpamAssassin's sum of points is 0.
            "AUTOLEARNSCORE" => self
                .ctx
                .extra
                .get(name)
                .cloned()
                .unwrap_or_else(|| "0".to_string()),
            _ if ENGINE_COMMON_TAGS.contains(&name) => {
                self.ctx.extra.get(name).cloned().unwrap_or_default()
            }
            _ => return self.ctx.extra.get(name).cloned(),
        };
        Some(s)
    }

    fn yesno(&self, arg: Option<&str>) -> String {
        // split(/,/, $arg, 2): the ham half exists only after a comma.
        let (spam, ham) = match arg {
            None | Some("") => (None, None),
            Some(a) => match a.split_once(',') {
                Some((s, h)) => (Some(s), Some(h)),
                None => (Some(a), None),
            },
        };
        if self.verdict.is_spam {
            spam.unwrap_or("Yes").to_string()
        } else {
            ham.unwrap_or("No").to_string()
        }
    }

    fn score(&self, pad: Option<&str>) -> String {
        let v = self.verdict;
        // Perl's rounded score is never -0 ("-0.000" + 0 is 0).
        let score = format_score(v.score + 0.0, v.required, v.is_spam);
        match pad {
            Some(p)
                if !p.is_empty()
                    && (p.bytes().all(|b| b == b'0') || p.bytes().all(|b| b == b' ')) =>
            {
                let count = (p.len() + 3).saturating_sub(score.len()).min(p.len());
                format!("{}{score}", &p[..count])
            }
            _ => score,
        }
    }

    /// `_HOSTNAME_`.
    pub fn hostname(&self) -> String {
        if self.conf.report_hostname.is_empty() {
            self.ctx.hostname.clone()
        } else {
            self.conf.report_hostname.clone()
        }
    }
}

fn non_empty_or(v: &Option<String>, d: &str) -> String {
    match v {
        Some(s) if !s.is_empty() && s != "0" => s.clone(),
        _ => d.to_string(),
    }
}

fn or_none(s: String) -> String {
    if s.is_empty() { "none".to_string() } else { s }
}

/// `_AUTOLEARN_`: the status plus ` autolearn_force=yes|no` when it ran.
pub(crate) fn autolearn(v: &Verdict) -> String {
    let mut s = if v.autolearn.is_empty() {
        "unavailable".to_string()
    } else {
        v.autolearn.clone()
    };
    if let Some(force) = v.autolearn_force {
        s.push_str(if force {
            " autolearn_force=yes"
        } else {
            " autolearn_force=no"
        });
    }
    s
}

fn collapsed_subtests(subs: &[String]) -> Vec<String> {
    let mut sorted: Vec<&str> = subs.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let n = sorted[i..].iter().take_while(|s| **s == sorted[i]).count();
        out.push(if n > 1 {
            format!("{}({n})", sorted[i])
        } else {
            sorted[i].to_string()
        });
        i += n;
    }
    out
}

/// A per-rule score as reports print it: `%4.0f` from 10 points up.
pub fn rule_score_text(score: f64) -> String {
    if score >= 10.0 || score <= -10.0 {
        format!("{score:4.0}")
    } else {
        format!("{score:4.1}")
    }
}

/// A hit's `test_log` lines as SpamAssassin's report prints them: each
/// cut after 30-48 characters at a space, `[..]` around every piece; the
/// terse form for `_REPORT_`, the long one (right-aligned) for `_SUMMARY_`.
fn log_lines(msgs: &[String]) -> (String, String) {
    let mut terse = String::new();
    let mut long = String::new();
    let piece = |p: &str, terse: &mut String, long: &mut String| {
        terse.push_str(&format!("[{p}]\n"));
        if p.chars().count() > 47 {
            long.push_str(&format!("{:>78}\n", format!("[{p}]")));
        } else {
            long.push_str(&format!("{:27} [{p}]\n", ""));
        }
    };
    for m in msgs {
        let mut rest: &str = m;
        // s/^(.{30,48})\s//: the longest cut of 30..=48 characters
        // followed by whitespace.
        loop {
            let chars: Vec<(usize, char)> = rest.char_indices().collect();
            let cut = (30..=48.min(chars.len().saturating_sub(1)))
                .rev()
                .find(|&n| {
                    chars.get(n).is_some_and(|(_, c)| c.is_whitespace())
                        && !rest[..chars[n].0].contains('\n')
                });
            let Some(n) = cut else { break };
            let at = chars[n].0;
            piece(&rest[..at], &mut terse, &mut long);
            rest = &rest[at + chars[n].1.len_utf8()..];
        }
        piece(rest, &mut terse, &mut long);
    }
    (terse, long)
}

/// `_wrap_desc`: the description wrapped as if it started at `first` column.
fn wrap_desc(desc: &str, first: usize, prefix: &str, width: f64) -> String {
    let w = wrap(desc, prefix, &" ".repeat(first), width, false, Break::Space);
    w.trim_start_matches(|c: char| c.is_ascii() && is_perl_space(c as u8))
        .to_string()
}

/// `_REPORT_` (without its leading newline) and `_SUMMARY_`: one entry per
/// hit, in the verdict's order.
pub fn rule_lines(v: &Verdict, wrap_width: f64) -> (String, String) {
    let mut report = String::new();
    let mut summary = String::new();
    for h in &v.hits {
        let score = rule_score_text(h.score);
        let area = h.area.label();
        let desc = if h.description.is_empty() {
            "No description available."
        } else {
            &h.description
        };
        let (terse, long) = log_lines(&h.log);
        for _ in 0..h.count.max(1) {
            let base = h.name.len() + score.len() + area.len();
            report.push_str(&format!(
                "* {score} {} {area}{}\n",
                h.name,
                wrap_desc(desc, 4 + base, "*      ", wrap_width)
            ));
            if !terse.is_empty() {
                report.push_str("*      ");
                report.push_str(&terse);
            }
            summary.push_str(&format!(
                "{score} {:<22} {area}{}\n",
                h.name,
                wrap_desc(desc, 3 + base, &" ".repeat(28), wrap_width)
            ));
            summary.push_str(&long);
        }
    }
    (report, summary)
}

/// Cut at `max` bytes, backing off to a character boundary (SpamAssassin
/// cuts bytes and may split a character; we keep the text valid UTF-8).
fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `_PREVIEW_` (`get_content_preview`): up to three body lines after the
/// subject, about 200 bytes, tidied and wrapped at 75 columns.
pub fn content_preview(body_lines: &[String]) -> String {
    let mut s = String::new();
    for line in body_lines.iter().skip(1).take(3) {
        if s.len() >= 200 {
            break;
        }
        s.push_str(line);
    }
    // s/^(.{200}).+$/$1 [...]/gm
    let mut t = String::with_capacity(s.len() + 8);
    for (i, l) in s.split('\n').enumerate() {
        if i > 0 {
            t.push('\n');
        }
        if l.len() > 200 {
            t.push_str(cut(l, 200));
            t.push_str(" [...]");
        } else {
            t.push_str(l);
        }
    }
    // chomp, then one newline
    if t.ends_with('\n') {
        t.pop();
    }
    t.push('\n');
    // s/-----Original Message-----.*$//gm
    let t: String = t
        .split('\n')
        .map(|l| match l.find("-----Original Message-----") {
            Some(p) => &l[..p],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let t = t.replace("This is a multi-part message in MIME format.", "");
    let t = squeeze_rulers(&t);
    // s/\s+/ /gs
    let mut squeezed = String::with_capacity(t.len());
    let mut in_space = false;
    for c in t.chars() {
        if c.is_ascii() && is_perl_space(c as u8) {
            if !in_space {
                squeezed.push(' ');
            }
            in_space = true;
        } else {
            squeezed.push(c);
            in_space = false;
        }
    }
    let w = wrap(
        &squeezed,
        "  ",
        "Content preview:  ",
        75.0,
        true,
        Break::Space,
    );
    match w.strip_prefix("Content preview:") {
        Some(rest) => rest
            .trim_start_matches(|c: char| c.is_ascii() && is_perl_space(c as u8))
            .to_string(),
        None => w,
    }
}

/// `s/[-_*.]{10,}//gs`: drop runs of ten or more ruler characters.
fn squeeze_rulers(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if matches!(b[i], b'-' | b'_' | b'*' | b'.') {
            let j = i + b[i..]
                .iter()
                .take_while(|c| matches!(c, b'-' | b'_' | b'*' | b'.'))
                .count();
            if j - i >= 10 {
                out.push_str(&s[copied..i]);
                copied = j;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Area, RuleHit};

    fn verdict(score: f64, is_spam: bool, hits: &[(&str, f64)]) -> Verdict {
        Verdict {
            score,
            required: 5.0,
            is_spam,
            hits: hits
                .iter()
                .map(|(n, s)| RuleHit {
                    name: n.to_string(),
                    score: *s,
                    count: 1,
                    area: Area::Header,
                    description: String::new(),
                    log: Vec::new(),
                })
                .collect(),
            subtests: vec!["__B".into(), "__A".into(), "__B".into()],
            autolearn: "no".into(),
            autolearn_force: Some(false),
            bayes: None,
        }
    }

    fn expand(v: &Verdict, t: &str) -> String {
        let conf = ReportConf::default();
        let ctx = TagContext {
            hostname: "host.example".into(),
            ..Default::default()
        };
        Tagger {
            verdict: v,
            conf: &conf,
            ctx: &ctx,
        }
        .expand(t)
    }

    #[test]
    fn tags() {
        let v = verdict(7.25, true, &[("B_RULE", 5.0), ("A_RULE", 2.25)]);
        assert_eq!(
            expand(&v, "_YESNO_ _YESNOCAPS_ _YESNO(s,h)_ _YESNO(s)_"),
            "Yes YES s s"
        );
        assert_eq!(
            expand(&v, "_SCORE_/_REQD_ _SCORE(00)_ _SCORE(  )_"),
            "7.2/5.0 007.2   7.2"
        );
        assert_eq!(
            expand(&v, "_TESTS_ _TESTS( )_ _TESTSSCORES(;)_"),
            "A_RULE,B_RULE A_RULE B_RULE A_RULE=2.25;B_RULE=5"
        );
        assert_eq!(expand(&v, "_STARS_|_STARS(+)_"), "*******|+++++++");
        assert_eq!(
            expand(&v, "_SUBTESTS_ _SUBTESTSCOLLAPSED_"),
            "__A,__B,__B __A,__B(2)"
        );
        assert_eq!(
            expand(&v, "_AUTOLEARN_ _BAYES_ _HOSTNAME_"),
            "no autolearn_force=no 0.5 host.example"
        );
        assert_eq!(
            expand(&v, "_NOPE_ _ADDEDHEADER_ _lower_ _SCORE"),
            "_NOPE_ _ADDEDHEADER_ _lower_ _SCORE"
        );
        assert_eq!(
            expand(
                &v,
                "_REMOTEHOSTNAME_ _REMOTEHOSTADDR_ _LASTEXTERNALIP_. [_AUTOLEARNSCORE_]"
            ),
            // As spamd 4.0.1 printed them for a plain local scan.
            "localhost 127.0.0.1 . [0]"
        );
        // A sum of no scores can be -0.0 in Rust; Perl shows 0.0.
        assert_eq!(expand(&verdict(-0.0, false, &[]), "_SCORE_"), "0.0");
        let h = verdict(0.0, false, &[]);
        assert_eq!(
            expand(&h, "_YESNO(s,h)_ _TESTS_ [_STARS_] _YESNO(s,)_|"),
            "h none [] |"
        );
    }

    #[test]
    fn report_lines_wrap() {
        let mut v = verdict(3.0, false, &[("ZZ_BODY_WORD", 2.1)]);
        v.hits[0].area = Area::Body;
        v.hits[0].description =
            "Body mentions widgets which is a fairly long description that will need wrapping somewhere".into();
        let (report, summary) = rule_lines(&v, 75.0);
        assert_eq!(
            summary,
            " 2.1 ZZ_BODY_WORD           BODY: Body mentions widgets which is a fairly long\n                            description that will need wrapping somewhere\n"
        );
        assert_eq!(
            report,
            "*  2.1 ZZ_BODY_WORD BODY: Body mentions widgets which is a fairly long\n*      description that will need wrapping somewhere\n"
        );
        assert_eq!(rule_score_text(-0.001), "-0.0");
        assert_eq!(rule_score_text(1000.0), "1000");
        assert_eq!(rule_score_text(12.0), "  12");
    }

    #[test]
    fn preview() {
        let lines = vec![
            "subject".to_string(),
            "This is a widget test.\n".into(),
            "Second line.\n".into(),
        ];
        assert_eq!(
            content_preview(&lines),
            "This is a widget test. Second line. "
        );
        assert_eq!(content_preview(&[]), "");
    }
}
