//! BodyEval: tests on the body text (text/HTML alternative agreement,
//! blank lines, spacing, stock-tip fields, size).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::html::perl_num;
use super::{EvalCtx, EvalFn};
use crate::message::Message;
use crate::message::script::{char_pairs, cjk_runs, is_cjk_char};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "multipart_alternative_difference" => multipart_alternative_difference,
        "multipart_alternative_difference_count" => multipart_alternative_difference_count,
        "check_blank_line_ratio" => check_blank_line_ratio,
        "tvd_vertical_words" => tvd_vertical_words,
        "check_stock_info" => check_stock_info,
        "check_body_length" => check_body_length,
        _ => return None,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

/// How much the HTML half of multipart/alternative parts says that the text
/// half does not.
#[derive(Debug, Default, PartialEq)]
struct AltDiff {
    /// Largest percentage of HTML words missing from the text version.
    diff: f64,
    /// Distinct HTML and text words of the last alternative with HTML words.
    html_words: usize,
    text_words: usize,
}

/// Words of a rendered text: blank-separated runs holding a word character
/// (Unicode rules for character strings, ASCII otherwise). With `cjk`
/// (our option, not SpamAssassin's), runs of Japanese, Chinese or Korean
/// characters count as their character pairs instead: those languages put
/// no spaces between words, so a blank-separated "word" is a whole line,
/// and a line broken differently in the two versions would otherwise count
/// as a different word.
fn words(text: &str, unicode: bool, cjk: bool, into: &mut HashMap<String, u32>) {
    let is_space = |c: char| {
        if unicode {
            c.is_whitespace()
        } else {
            matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
        }
    };
    let is_word = |c: char| {
        if unicode {
            c.is_alphanumeric() || c == '_'
        } else {
            c.is_ascii_alphanumeric() || c == '_'
        }
    };
    let mut add = |w: &str| {
        if w.chars().any(is_word) {
            *into.entry(w.to_owned()).or_insert(0) += 1;
        }
    };
    for w in text.split(is_space) {
        if !cjk || !w.chars().any(is_cjk_char) {
            add(w);
            continue;
        }
        for (seg, in_run) in cjk_runs(w) {
            if in_run && seg.chars().nth(1).is_some() {
                char_pairs(seg).for_each(&mut add);
            } else {
                add(seg);
            }
        }
    }
}

fn alt_diff(msg: &Message, cjk: bool) -> AltDiff {
    let mut out = AltDiff::default();
    let parts = msg.mime_parts();
    let alts: Vec<_> = parts
        .iter()
        .filter(|p| {
            p.ctype()
                .strip_prefix("multipart/alternative")
                .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
        .collect();
    if alts.is_empty() {
        return out;
    }
    // An invitation (alternative of HTML plus calendar) is left alone.
    if let Some(top) = parts.first() {
        let kids = top.children();
        let summary = |p: &crate::message::mime_stats::MimePart<'_>| {
            p.subtree()
                .iter()
                .map(|q| q.ctype().to_owned())
                .collect::<Vec<_>>()
                .join(",")
        };
        if top.ctype() == "multipart/alternative"
            && kids.len() == 2
            && summary(&kids[0]) == "text/html"
            && summary(&kids[1]) == "text/calendar"
        {
            return out;
        }
    }
    for alt in alts {
        let mut html: HashMap<String, u32> = HashMap::new();
        let mut text: HashMap<String, u32> = HashMap::new();
        for p in alt.subtree() {
            let t = p.ctype();
            let texty = t
                .strip_prefix("text")
                .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
            if !texty {
                continue;
            }
            let Some((rendered, is_html, flagged, stats)) = p.rendered() else {
                continue;
            };
            if is_html {
                words(&rendered, flagged, cjk, &mut html);
                if html.is_empty() && stats.is_some_and(|s| s.inside.contains_key("img")) {
                    html.insert("\n".into(), 1);
                }
            } else {
                words(&rendered, flagged, cjk, &mut text);
            }
        }
        let orig = html.len();
        if orig == 0 {
            continue;
        }
        out.html_words = orig;
        out.text_words = text.len();
        for (k, n) in &text {
            if html
                .get(k)
                .is_some_and(|h| i64::from(*h) - i64::from(*n) < 1)
            {
                html.remove(k);
            }
        }
        let diff = html.len() as f64 / orig as f64 * 100.0;
        if diff > out.diff {
            out.diff = diff;
        }
    }
    out
}

/// SpamAssassin's two arguments, and our optional third, `cjk`: Japanese,
/// Chinese and Korean text compared by character pairs (see [`words`]).
fn multipart_alternative_difference(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let d = alt_diff(ctx.msg, arg(args, 2) == "cjk");
    let min = perl_num(arg(args, 0));
    let max = arg(args, 1);
    u32::from((min == 0.0 || d.diff > min) && (max == "undef" || d.diff <= perl_num(max)))
}

fn multipart_alternative_difference_count(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let d = alt_diff(ctx.msg, false);
    let (ratio, min_html) = (perl_num(arg(args, 0)), perl_num(arg(args, 1)));
    if d.html_words as f64 <= min_html {
        return 0;
    }
    u32::from(d.text_words as f64 / d.html_words as f64 > ratio)
}

fn check_blank_line_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let (min, max) = (perl_num(arg(args, 0)), perl_num(arg(args, 1)));
    let min_lines = args.get(2).map_or(1.0, |m| perl_num(m)).max(1.0);
    let (mut blank, mut lines) = (0usize, 0usize);
    for chunk in ctx.msg.rawbody_chunks() {
        for line in chunk.split_inclusive(|&b| b == b'\n') {
            lines += 1;
            if line
                .iter()
                .all(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            {
                blank += 1;
            }
        }
    }
    let ratio = if (lines as f64) < min_lines {
        -1.0
    } else {
        100.0 * blank as f64 / lines as f64
    };
    u32::from((min == 0.0 || ratio > min) && ratio <= max)
}

fn tvd_vertical_words(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let min = perl_num(arg(args, 0));
    let mut max = perl_num(arg(args, 1));
    if max >= 100.0 {
        max = 101.0;
    }
    let mut value: i64 = -1;
    for line in ctx.msg.body_lines_bytes() {
        let l = line.len();
        if l <= 5 {
            continue;
        }
        let spaces = line.iter().filter(|&&b| b == b' ').count();
        let nonspaces = l - spaces;
        let pct = if spaces > nonspaces || nonspaces == 0 {
            100
        } else {
            (100 * spaces / nonspaces) as i64
        };
        value = value.max(pct);
    }
    let v = value as f64;
    u32::from(v >= min && v < max)
}

/// Field labels of stock-tip spam ("Symbol:", "Target Price:" ...).
fn stock_info(msg: &Message) -> usize {
    static FIELD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?m)^\s*([^:\s][^:\n]{2,29})\s*:\s*\S")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:(trad(?:e|ing)date)|(company(?:name)?)|(s\w?(?:t\w?o\w?c\w?k|y\w?m(?:\w?b\w?o\w?l)?))|(t(?:arget|icker))|((?:opening|current)p(?:rice)?)|(p(?:rojected|osition))|(expectations)|(weeks?high)|(marketperformance)|((?:year|week|month|day|price)(?:target|estimates?))|(sector)|(r(?:ecommendation|ating)))$",
        )
        .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    let parts = msg.mime_parts();
    let Some(part) = parts.iter().find(|p| p.ctype() == "text/plain") else {
        return 0;
    };
    let Some((text, ..)) = part.rendered() else {
        return 0;
    };
    let mut hits: HashMap<String, ()> = HashMap::new();
    for chunk in crate::message::mime_stats::short_paragraphs(&text) {
        for c in FIELD.captures_iter(&chunk) {
            let Some(label) = c.get(1) else { continue };
            let squeezed: String = label
                .as_str()
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_lowercase)
                .collect();
            if let Some(m) = LABEL.captures(&squeezed).and_then(|c| c.get(0)) {
                hits.insert(m.as_str().to_owned(), ());
            }
        }
    }
    hits.len()
}

fn check_stock_info(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let min = perl_num(arg(args, 0));
    let n = stock_info(ctx.msg) as f64;
    u32::from(min == 0.0 || n >= min)
}

fn check_body_length(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    u32::from(ctx.msg.pristine_body_length() as f64 <= perl_num(arg(args, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn run(f: EvalFn, raw: &str, args: &[&str]) -> u32 {
        super::super::run_for_test(f, &Config::from_text("t", ""), raw, args)
    }

    // Expected values below were checked with `spamassassin -t -D`.
    #[test]
    fn alternative_difference() {
        let m = "Subject: t\nContent-Type: multipart/alternative; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\none two\n\
            --b\nContent-Type: text/html\n\n<p>three four five</p>\n--b--\n";
        let msg = Message::parse(m.as_bytes());
        let d = alt_diff(&msg, false);
        assert_eq!((d.html_words, d.text_words), (3, 2));
        assert_eq!(d.diff, 100.0);
        assert_eq!(run(multipart_alternative_difference, m, &["99", "100"]), 1);
        let same = m.replace("three four five", "one two");
        assert_eq!(
            run(multipart_alternative_difference, &same, &["99", "100"]),
            0
        );
    }

    #[test]
    fn alternative_difference_cjk_by_character_pairs() {
        // The same Japanese text, quoted and broken into lines in the plain
        // version, in one line in the HTML version.
        let m = "Subject: t\nContent-Type: multipart/alternative; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain; charset=utf-8\n\n\
            iPhoneから送信\n\n> とりあえず本文で\n> あればいい可能性を考慮しては\n\
            --b\nContent-Type: text/html; charset=utf-8\n\n\
            <p>とりあえず本文であればいい可能性を考慮しては</p>\n--b--\n";
        let msg = Message::parse(m.as_bytes());
        // SpamAssassin's way: one HTML "word", missing from the text.
        assert_eq!(alt_diff(&msg, false).diff, 100.0);
        assert_eq!(run(multipart_alternative_difference, m, &["99", "100"]), 1);
        // By character pairs only the pair across the line break ("で"+"あ")
        // is missing: 1 of 21 distinct pairs.
        let d = alt_diff(&msg, true);
        assert_eq!(d.html_words, 21);
        assert!((d.diff - 100.0 / 21.0).abs() < 1e-9, "{}", d.diff);
        assert_eq!(
            run(multipart_alternative_difference, m, &["99", "100", "cjk"]),
            0
        );
        // Different Japanese text still differs, and Latin words are words.
        let other = m.replace(
            "<p>とりあえず本文であればいい可能性を考慮しては</p>",
            "<p>アカウントを確認 verify now</p>",
        );
        assert_eq!(
            alt_diff(&Message::parse(other.as_bytes()), true).diff,
            100.0
        );
        assert_eq!(
            run(
                multipart_alternative_difference,
                &other,
                &["99", "100", "cjk"]
            ),
            1
        );
    }

    #[test]
    fn body_length_and_vertical() {
        let m = "Subject: t\n\nshort\n";
        assert_eq!(run(check_body_length, m, &["128"]), 1);
        assert_eq!(run(check_body_length, m, &["3"]), 0);
        let v = "Subject: t\n\nh e l l o w o r l d\n";
        assert_eq!(run(tvd_vertical_words, v, &["0", "10"]), 0);
    }
}
