//! HTMLEval: tests on the HTML structure (tags, ratios, colours, images).
//!
//! Every function looks at each HTML part of the message in turn and hits
//! when any one part satisfies it, as SpamAssassin does over `html_all`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::{EvalCtx, EvalFn};
use crate::message::html_stats::HtmlValue;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "html_tag_balance" => html_tag_balance,
        "html_image_only" => html_image_only,
        "html_image_ratio" => html_image_ratio,
        "html_charset_faraway" => html_charset_faraway,
        "html_tag_exists" => html_tag_exists,
        "html_test" => html_test,
        "html_eval" => html_eval,
        "html_text_match" => html_text_match,
        "html_text_not_match" => html_text_not_match,
        "html_title_subject_ratio" => html_title_subject_ratio,
        "html_range" => html_range,
        "check_iframe_src" => check_iframe_src,
        _ => return None,
    })
}

/// A number argument as Perl's numeric conversion reads it: leading
/// blanks, then the longest decimal prefix; anything else is 0.
pub(crate) fn perl_num(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end > digits_start && end < b.len() && matches!(b[end], b'e' | b'E') {
        let mut e = end + 1;
        if matches!(b.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        if b.get(e).is_some_and(u8::is_ascii_digit) {
            while e < b.len() && b[e].is_ascii_digit() {
                e += 1;
            }
            end = e;
        }
    }
    let lower = t.to_ascii_lowercase();
    if lower.starts_with("inf") || lower.starts_with("+inf") {
        return f64::INFINITY;
    }
    t[..end].parse().unwrap_or(0.0)
}

/// `$val EXPR` for the restricted expressions HTMLEval accepts
/// (`[<>=!+\- 0-9]+`): a comparison operator and a number, e.g. `!= 0`,
/// `< 384`. None when the expression is not one of those.
pub(crate) fn compare_expr(val: f64, expr: &str) -> Option<bool> {
    if expr.is_empty()
        || !expr.bytes().all(|b| {
            matches!(
                b,
                b'<' | b'>' | b'=' | b'!' | b'-' | b'+' | b' ' | b'0'..=b'9'
            )
        })
    {
        return None;
    }
    let e = expr.trim();
    let (op, rest) = ["<=", ">=", "==", "!=", "<", ">"]
        .iter()
        .find_map(|op| e.strip_prefix(op).map(|r| (*op, r)))?;
    let rest: String = rest.chars().filter(|c| *c != ' ').collect();
    let n: f64 = rest.parse().ok()?;
    Some(match op {
        "<=" => val <= n,
        ">=" => val >= n,
        "==" => val == n,
        "!=" => val != n,
        "<" => val < n,
        _ => val > n,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

fn html_tag_balance(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let tag = arg(args, 0);
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return 0;
    }
    let expr = arg(args, 1);
    let hit = ctx.msg.html_parts().iter().any(|h| {
        h.inside
            .get(tag)
            .is_some_and(|&v| compare_expr(v as f64, expr).unwrap_or(false))
    });
    u32::from(hit)
}

fn html_image_only(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let (min, max) = (perl_num(arg(args, 0)), perl_num(arg(args, 1)));
    let hit = ctx.msg.html_parts().iter().any(|h| {
        let len = h.length as f64;
        h.inside.contains_key("img") && len > min && len <= max
    });
    u32::from(hit)
}

fn html_image_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let (min, max) = (perl_num(arg(args, 0)), perl_num(arg(args, 1)));
    let hit = ctx.msg.html_parts().iter().any(|h| {
        if h.image_area == 0 {
            return false;
        }
        let ratio = h.non_space_len as f64 / h.image_area as f64;
        ratio > min && ratio <= max
    });
    u32::from(hit)
}

/// With `ok_locales all` (the default) no charset is far away.
fn html_charset_faraway(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let locales = super::mime::ok_locales(ctx.conf);
    if locales.iter().any(|l| l == "all") {
        return 0;
    }
    let hit = ctx.msg.html_parts().iter().any(|h| {
        let (mut ok, mut bad) = (0, 0);
        for c in h.charsets.iter().flat_map(|c| c.split_whitespace()) {
            if super::mime::charset_ok_for_locales(c, &locales) {
                ok += 1;
            } else {
                bad += 1;
            }
        }
        bad > 0 && bad >= ok
    });
    u32::from(hit)
}

fn html_tag_exists(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let tag = arg(args, 0);
    u32::from(
        ctx.msg
            .html_parts()
            .iter()
            .any(|h| h.inside.contains_key(tag)),
    )
}

fn html_test(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let key = arg(args, 0);
    let hit = ctx.msg.html_parts().iter().any(|h| match h.value(key) {
        Some(HtmlValue::Number(n)) => n != 0.0,
        // A list is only recorded once it has an entry.
        Some(HtmlValue::Texts(v)) => !v.is_empty(),
        None => false,
    });
    u32::from(hit)
}

fn html_eval(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let (key, expr) = (arg(args, 0), arg(args, 1));
    let hit = ctx.msg.html_parts().iter().any(|h| match h.value(key) {
        Some(HtmlValue::Number(n)) => compare_expr(n, expr).unwrap_or(false),
        _ => false,
    });
    u32::from(hit)
}

/// A compiled `html_text_match` pattern: Perl regex semantics on character
/// strings. Cached, since the same few patterns run on every message.
fn text_regex(pattern: &str) -> Option<Arc<pcre2::bytes::Regex>> {
    type Cache = Mutex<HashMap<String, Option<Arc<pcre2::bytes::Regex>>>>;
    static CACHE: LazyLock<Cache> = LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| {
            pcre2::bytes::RegexBuilder::new()
                .utf(true)
                .ucp(true)
                .build(pattern)
                .ok()
                .map(Arc::new)
        })
        .clone()
}

fn texts_matching(ctx: &EvalCtx<'_>, args: &[String], want: bool) -> u32 {
    let (key, pattern) = (arg(args, 0), arg(args, 1));
    let Some(re) = text_regex(pattern) else {
        return 0;
    };
    let hit = ctx.msg.html_parts().iter().any(|h| match h.value(key) {
        Some(HtmlValue::Texts(v)) => v
            .iter()
            .any(|s| re.is_match(s.as_bytes()).unwrap_or(false) == want),
        _ => false,
    });
    u32::from(hit)
}

fn html_text_match(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    texts_matching(ctx, args, true)
}

fn html_text_not_match(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    texts_matching(ctx, args, false)
}

fn html_title_subject_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let ratio = perl_num(arg(args, 0));
    let Some(subject) = ctx.msg.header("Subject") else {
        return 0;
    };
    // Header values are UTF-8 octets in SpamAssassin, so the subject's
    // length is in bytes while the title's is in characters.
    let slen = subject.len();
    if slen == 0 {
        return 0;
    }
    let hit = ctx.msg.html_parts().iter().any(|h| {
        let max = h
            .titles
            .iter()
            .filter(|t| !t.is_empty() && t.as_str() != "0")
            .map(|t| t.chars().count() as f64 / slen as f64)
            .fold(0.0, f64::max);
        max > ratio
    });
    u32::from(hit)
}

fn html_range(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let key = arg(args, 0);
    let min = perl_num(arg(args, 1));
    let max = args.get(2).map(String::as_str);
    let hit = ctx.msg.html_parts().iter().any(|h| {
        let Some(HtmlValue::Number(v)) = h.value(key) else {
            return false;
        };
        match max {
            None | Some("inf") => v > min,
            Some(m) => v > min && v <= perl_num(m),
        }
    });
    u32::from(hit)
}

fn check_iframe_src(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(ctx.msg.html_parts().iter().any(|h| h.iframe_src))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn run(f: EvalFn, raw: &str, args: &[&str]) -> u32 {
        super::super::run_for_test(f, &Config::from_text("t", ""), raw, args)
    }

    fn html(body: &str) -> String {
        format!("Subject: hi there\nContent-Type: text/html\n\n{body}")
    }

    #[test]
    fn expressions() {
        assert_eq!(compare_expr(1.0, "!= 0"), Some(true));
        assert_eq!(compare_expr(0.0, "!= 0"), Some(false));
        assert_eq!(compare_expr(300.0, "< 384"), Some(true));
        assert_eq!(compare_expr(1.0, "; 1"), None);
        assert_eq!(perl_num(".05"), 0.05);
        assert_eq!(perl_num("0400"), 400.0);
    }

    // Expected values below were checked with `spamassassin -t -D`.
    #[test]
    fn tag_balance_and_exists() {
        let m = html("<html><head></head><body><center>x</body></html>");
        assert_eq!(run(html_tag_balance, &m, &["center", "!= 0"]), 1);
        assert_eq!(run(html_tag_balance, &m, &["body", "!= 0"]), 0);
        assert_eq!(run(html_tag_exists, &m, &["head"]), 1);
        assert_eq!(run(html_tag_exists, &m, &["script"]), 0);
        assert_eq!(run(html_test, &m, &["html"]), 1);
        let plain = "Subject: x\n\nno html here\n";
        assert_eq!(run(html_test, plain, &["html"]), 0);
    }

    #[test]
    fn image_only() {
        let m = html("<html><body><img src=\"cid:x\" width=400 height=300></body></html>");
        assert_eq!(run(html_image_only, &m, &["0000", "0400"]), 1);
        assert_eq!(run(html_image_only, &m, &["0400", "0800"]), 0);
    }

    #[test]
    fn low_contrast_and_ranges() {
        let m = html(
            "<html><body><font color=\"#ffffff\">hidden</font><font size=7>big</font>\
             <!-- saved from url=(0022)http://x.example/ --></body></html>",
        );
        assert_eq!(run(html_test, &m, &["font_low_contrast"]), 1);
        assert_eq!(run(html_range, &m, &["max_size", "6", "inf"]), 1);
        assert_eq!(
            run(
                html_text_match,
                &m,
                &["comment", r"<!-- saved from url=\(\d{4}\)"]
            ),
            1
        );
        assert_eq!(run(html_range, &m, &["max_size", "5", "6"]), 0);
    }
}
