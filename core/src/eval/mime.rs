//! MIMEEval: tests on the MIME structure (encodings, charsets, part types,
//! parser oddities).

use std::sync::LazyLock;

use regex::Regex;

use super::html::perl_num;
use super::{EvalCtx, EvalFn};
use crate::config::Config;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_for_mime" => check_for_mime,
        "check_for_mime_html" => check_for_mime_html,
        "check_for_mime_html_only" => check_for_mime_html_only,
        "check_mime_multipart_ratio" => check_mime_multipart_ratio,
        "check_msg_parse_flags" => check_msg_parse_flags,
        "check_for_ascii_text_illegal" => check_for_ascii_text_illegal,
        "check_abundant_unicode_ratio" => check_abundant_unicode_ratio,
        "check_for_faraway_charset" => check_for_faraway_charset,
        "check_for_uppercase" => check_for_uppercase,
        "check_ma_non_text" => check_ma_non_text,
        "check_base64_length" => check_base64_length,
        "check_qp_ratio" => check_qp_ratio,
        _ => return None,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

/// The `ok_locales` words (default `all`).
pub(crate) fn ok_locales(conf: &Config) -> Vec<String> {
    conf.settings
        .get("ok_locales")
        .map_or("all", String::as_str)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Charsets typical of each locale that are acceptable beyond the
/// universal ones.
fn locale_charsets(locale: &str) -> &'static str {
    const CYRILLIC: &str = "KOI8R KOI8U KOI8T ISOIR111 CP1251 GEORGIANPS CP1251 PT154 CP866";
    match locale {
        "ja" => {
            "EUCJP JISX020119760 JISX020819830 JISX020819900 JISX020819970 JISX021219900 \
             JISX021320001 JISX021320002 SHIFT_JIS SHIFTJIS ISO2022JP SJIS JIS7 JISX0201 \
             JISX0208 JISX0212"
        }
        "ko" => "EUCKR KSC56011987",
        "ru" | "ka" | "tg" | "be" | "uk" | "bg" => CYRILLIC,
        "th" => "TIS620",
        "zh" => "GB1988 GB2312 GB231219800 GB18030 GBK BIG5HKSCS BIG5 EUCTW ISO2022CN",
        _ => "",
    }
}

/// Is charset `cs` fine for a reader of one of `locales`?
pub(crate) fn charset_ok_for_locales(cs: &str, locales: &[String]) -> bool {
    let mut c: String = cs
        .to_uppercase()
        .chars()
        .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect();
    while let Some(rest) = c.strip_prefix("3D") {
        c = rest.to_owned();
    }
    let universal = ["ISO8859", "ISO10646", "UTF", "UCS", "CP125", "WINDOWS"];
    if matches!(
        c.as_str(),
        "USASCII" | "ASCII" | "IBM852" | "XUNKNOWN" | "ISO"
    ) || universal.iter().any(|p| c.starts_with(p))
        || c.starts_with("UNICODE11UTF7")
        || c.starts_with("UNICODE11UTF8")
    {
        return true;
    }
    locales.iter().any(|l| {
        let l = if l == "C" { "en" } else { l.as_str() };
        let short = if l.len() >= 2 && l.as_bytes()[..2].iter().all(u8::is_ascii_lowercase) {
            &l[..2]
        } else {
            l
        };
        locale_charsets(short).split(' ').any(|x| x == c)
    })
}

fn check_for_mime(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let st = ctx.msg.mime_stats();
    let hit = match arg(args, 0) {
        "mime_base64_count" => st.base64_count > 0,
        "mime_base64_encoded_text" => st.base64_encoded_text,
        "mime_body_html_count" => st.body_html_count > 0,
        "mime_body_text_count" => st.body_text_count > 0,
        "mime_faraway_charset" => {
            let locales = ok_locales(ctx.conf);
            !locales.iter().any(|l| l == "all")
                && st
                    .charsets
                    .iter()
                    .any(|c| !charset_ok_for_locales(c, &locales))
        }
        "mime_multipart_alternative" => st.multipart_alternative,
        "mime_multipart_ratio" => st.multipart_ratio != 0.0,
        "mime_qp_count" => st.qp_count != 0.0,
        "mime_qp_long_line" => st.qp_long_line,
        "mime_qp_ratio" => st.qp_ratio != 0.0,
        "mime_ascii_text_illegal" => st.ascii_text_illegal > 0,
        "mime_text_unicode_ratio" => st.text_unicode_ratio != 0.0,
        "mime_attachment" => st.attachment.is_some_and(|n| n > 0),
        "mime_bad_iso_charset" => st.bad_iso_charset,
        // Other names (e.g. `mimepart_limit_exceeded`) are never set where
        // this test looks.
        _ => false,
    };
    u32::from(hit)
}

/// The top-level Content-Type says text/html.
fn top_is_html(ctx: &EvalCtx<'_>) -> bool {
    ctx.msg.header("Content-Type").is_some_and(|ct| {
        ct.get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("text/html"))
    })
}

fn check_for_mime_html(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(top_is_html(ctx) || ctx.msg.mime_stats().body_html_count > 0)
}

fn check_for_mime_html_only(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let st = ctx.msg.mime_stats();
    u32::from(top_is_html(ctx) || (st.body_html_count > 0 && st.body_text_count == 0))
}

fn check_mime_multipart_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let r = ctx.msg.mime_stats().multipart_ratio;
    u32::from(r >= perl_num(arg(args, 0)) && r < perl_num(arg(args, 1)))
}

fn check_msg_parse_flags(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    u32::from(ctx.msg.parse_flag(arg(args, 0)))
}

fn check_for_ascii_text_illegal(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    u32::from(ctx.msg.mime_stats().ascii_text_illegal > 0)
}

fn check_abundant_unicode_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let ratio = arg(args, 0);
    // Only plain decimal ratios such as `0.02` are accepted.
    let valid = ratio.split_once('.').is_some_and(|(i, f)| {
        i.len() <= 3
            && (1..=3).contains(&f.len())
            && i.bytes().all(|b| b.is_ascii_digit())
            && f.bytes().all(|b| b.is_ascii_digit())
    });
    if !valid {
        return 0;
    }
    u32::from(ctx.msg.mime_stats().text_unicode_ratio >= perl_num(ratio))
}

/// The charset of a Content-Type line, quoted or not.
fn charset_from_ct_line(ct: &str) -> Option<String> {
    static RES: LazyLock<[Regex; 3]> = LazyLock::new(|| {
        [
            r#"(?i)charset="([^"]+)""#,
            r"(?i)charset='([^']+)'",
            r"(?i)charset=(\S+)",
        ]
        .map(|p| Regex::new(p).unwrap_or_else(|_| unreachable!("constant regex")))
    });
    RES.iter()
        .find_map(|re| re.captures(ct).and_then(|c| c.get(1)))
        .map(|m| m.as_str().to_owned())
}

fn check_for_faraway_charset(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let locales = ok_locales(ctx.conf);
    if locales.iter().any(|l| l == "all") {
        return 0;
    }
    let Some(cs) = ctx
        .msg
        .header("Content-Type")
        .and_then(|ct| charset_from_ct_line(&ct))
    else {
        return 0;
    };
    if charset_ok_for_locales(&cs, &locales) {
        return 0;
    }
    let body = ctx.msg.body_lines_bytes().join(&b'\n');
    let high = body.iter().filter(|&&b| b >= 0x80).count();
    let low = body.len() - high;
    u32::from(low <= high && high > 3)
}

/// Charsets whose text is often mostly capitals without being shouted.
fn charset_likely_caps(cs: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)^[-_a-z0-9]*(?:koi|jp|jis|euc|gb|big5|isoir|cp1251|windows-1251|georgianps|pt154|tis)[-_a-z0-9]*\n?\z",
        )
        .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    RE.is_match(cs)
}

/// Percentage of capitals among the letters and digits of the body.
fn uppercase_percent(ctx: &EvalCtx<'_>) -> f64 {
    static BASE64ISH: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"(?-u)^(?:[A-Za-z0-9+/=]{60,76} ){2}")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    static SPACED: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"(?-u)[^ \t\n\r\x0b\x0c][ \t\n\r\x0b\x0c]+[^ \t\n\r\x0b\x0c]")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    static JIS: LazyLock<regex::bytes::Regex> = LazyLock::new(|| {
        regex::bytes::Regex::new(r"(?s-u)\x1b\$B.*\x1b\(B")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    });
    let mut charsets: Vec<String> = ctx
        .msg
        .header("Content-Type")
        .and_then(|ct| charset_from_ct_line(&ct))
        .into_iter()
        .collect();
    charsets.extend(ctx.msg.mime_stats().charsets.iter().cloned());
    if charsets.iter().any(|c| charset_likely_caps(c)) {
        return 0.0;
    }
    let (mut len, mut lower, mut upper) = (0usize, 0usize, 0usize);
    for line in ctx.msg.body_lines_bytes() {
        if !SPACED.is_match(line) || BASE64ISH.is_match(line) {
            continue;
        }
        let line = JIS.replace_all(line, &b""[..]);
        len += line.len();
        lower += line
            .iter()
            .filter(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            .count();
        upper += line.iter().filter(|b| b.is_ascii_uppercase()).count();
    }
    if len < 200 || upper + lower == 0 {
        return 0.0;
    }
    upper as f64 / (upper + lower) as f64 * 100.0
}

fn check_for_uppercase(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let pct = uppercase_percent(ctx);
    u32::from(pct > perl_num(arg(args, 0)) && pct <= perl_num(arg(args, 1)))
}

fn check_ma_non_text(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    let parts = ctx.msg.mime_parts();
    let hit = parts
        .iter()
        .filter(|p| p.ctype() == "multipart/alternative")
        .flat_map(|ma| ma.children())
        .filter(|p| p.is_leaf())
        .any(|p| {
            let t = p.ctype().to_ascii_lowercase();
            !(t == "multipart/related" || t == "application/rtf" || t.starts_with("text/"))
        });
    u32::from(hit)
}

fn check_base64_length(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let min = perl_num(arg(args, 0));
    let max = args.get(1).map(|m| perl_num(m));
    let mut longest = 0usize;
    for p in ctx.msg.mime_parts().into_iter().filter(|p| p.is_leaf()) {
        if p.declared_type() == "application/ics" {
            continue;
        }
        let cte = p.header("content-transfer-encoding").unwrap_or("");
        if !cte.eq_ignore_ascii_case("base64") {
            continue;
        }
        longest = longest.max(p.raw_lines().map(<[u8]>::len).max().unwrap_or(0));
    }
    let len = longest as f64;
    if max.is_some_and(|m| len > m) {
        return 0;
    }
    u32::from(len >= min)
}

fn check_qp_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    u32::from(ctx.msg.mime_stats().qp_ratio >= perl_num(arg(args, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: EvalFn, raw: &str, args: &[&str]) -> u32 {
        super::super::run_for_test(f, &Config::from_text("t", ""), raw, args)
    }

    const ALT: &str = "Subject: t\nMIME-Version: 1.0\n\
        Content-Type: multipart/alternative; boundary=\"b\"\n\n\
        --b\nContent-Type: text/plain\n\nhello world\n\
        --b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n\
        <html><body>hello =3Dworld=20=20\n</body></html>\n\
        --b--\nepilogue text\n";

    // Expected values below were checked with `spamassassin -t -D`.
    #[test]
    fn html_only() {
        let html = "Subject: t\nContent-Type: text/html\n\n<p>x</p>\n";
        assert_eq!(run(check_for_mime_html_only, html, &[]), 1);
        assert_eq!(run(check_for_mime_html_only, ALT, &[]), 0);
        assert_eq!(run(check_for_mime_html, ALT, &[]), 1);
        // Only the encoded blanks at a line end are there: no needless QP.
        assert_eq!(run(check_for_mime, ALT, &["mime_qp_count"]), 0);
        assert_eq!(run(check_for_mime, ALT, &["mime_base64_count"]), 0);
    }

    #[test]
    fn parse_flags() {
        assert_eq!(
            run(check_msg_parse_flags, ALT, &["mime_epilogue_exists"]),
            1
        );
        let no_epi = ALT.replace("epilogue text\n", ".\n");
        assert_eq!(
            run(check_msg_parse_flags, &no_epi, &["mime_epilogue_exists"]),
            0
        );
    }

    #[test]
    fn ascii_illegal() {
        let m = "Subject: t\n\nbad \u{e9} byte\n";
        assert_eq!(run(check_for_ascii_text_illegal, m, &[]), 1);
        let ok = "Subject: t\nContent-Type: text/plain; charset=utf-8\n\nok \u{e9}\n";
        assert_eq!(run(check_for_ascii_text_illegal, ok, &[]), 0);
    }
}
