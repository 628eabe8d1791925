//! Checks against output captured from SpamAssassin 4.0.1 itself
//! (`testdata/`; see `testdata/README.md` for how each file was made).

use super::text::{Break, fold_header_value, mime_encode_header, wrap};

fn unhex(s: &str) -> String {
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(b'?'))
        .collect();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Util::wrap and _process_header + mime_encode_header, run by Perl on
/// random word soups (commas, tabs, UTF-8, long words).
#[test]
fn wrap_and_fold_match_perl() {
    let data = include_str!("testdata/perl_wrap.tsv");
    let mut n = 0;
    for line in data.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "fold" => {
                let (name, value, want) = (unhex(f[1]), unhex(f[2]), unhex(f[3]));
                let got = mime_encode_header(&fold_header_value(&name, &value, true));
                assert_eq!(got, want, "fold {name}: {value:?}");
            }
            "wrap" => {
                let (s, prefix, first) = (unhex(f[1]), unhex(f[2]), unhex(f[3]));
                let len: f64 = f[4].parse().unwrap_or(0.0);
                let got = wrap(&s, &prefix, &first, len, f[5] == "1", Break::Space);
                assert_eq!(
                    got,
                    unhex(f[6]),
                    "wrap {s:?} {prefix:?} {first:?} {len} {}",
                    f[5]
                );
            }
            _ => continue,
        }
        n += 1;
    }
    assert_eq!(n, 300);
}

use super::{ReportConf, TagContext, headers_only, report_text, rewrite_mail, symbols};
use crate::scan::{Area, RuleHit, Verdict};

const LONG_DESC: &str =
    "Body mentions widgets which is a fairly long description that will need wrapping somewhere";

/// A rule from `testdata/rules.cf`: (name, score, area, describe text).
fn rule(name: &str) -> RuleHit {
    let (score, area, desc) = match name {
        "ZZ_SUBJ_SPAM" => (3.5, Area::Header, "Subject contains the word spammy"),
        "ZZ_SUBJ_HAM" => (0.4, Area::Header, "Subject mentions hammy"),
        "ZZ_BODY_WORD" => (2.1, Area::Body, LONG_DESC),
        "ZZ_RAW_X" => (-0.001, Area::Rawbody, "Raw mention"),
        "ZZ_FULL_X" => (0.001, Area::Full, ""),
        "ZZ_RS2" => (5.0, Area::Body, "Widget in a multipart body"),
        _ => (1.0, Area::Header, ""),
    };
    RuleHit {
        name: name.to_string(),
        score,
        count: 1,
        area,
        log: Vec::new(),
        description: if desc.is_empty() {
            "No description available.".into()
        } else {
            desc.into()
        },
    }
}

/// The verdict SpamAssassin reached, hits in its report order.
fn verdict(hits: &[&str]) -> Verdict {
    let hits: Vec<RuleHit> = hits.iter().map(|n| rule(n)).collect();
    let total: f64 = hits.iter().fold(0.0, |a, h| a + h.score);
    let score: f64 = format!("{total:.3}").parse().unwrap_or(total);
    Verdict {
        score,
        required: 5.0,
        is_spam: score >= 5.0,
        hits,
        subtests: vec!["__ZZ_SUB".into()],
        autolearn: "disabled".into(),
        autolearn_force: None,
        bayes: None,
    }
}

/// Apply the report directives of a `.cf` text, as the config module will.
fn load_conf(conf: &mut ReportConf, cf: &str) {
    for line in cf.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        let key = key.to_ascii_lowercase().replace('-', "_");
        if let Some(r) = conf.directive(&key, value) {
            assert!(r.is_ok(), "{line}: {r:?}");
        }
    }
}

fn case_conf(case_cf: &str) -> ReportConf {
    let mut conf = ReportConf::default();
    load_conf(&mut conf, include_str!("testdata/base.cf"));
    load_conf(&mut conf, case_cf);
    conf
}

fn check(name: &str, msg: &[u8], case_cf: &str, want: &[u8], hits: &[&str], body: &[&str]) {
    check_with(name, msg, case_cf, want, hits, body, None);
}

fn check_with(
    name: &str,
    msg: &[u8],
    case_cf: &str,
    want: &[u8],
    hits: &[&str],
    body: &[&str],
    subjprefix: Option<&str>,
) {
    let conf = case_conf(case_cf);
    let v = verdict(hits);
    let body: Vec<String> = body.iter().map(|s| s.to_string()).collect();
    // What SpamAssassin's get("From") returns for the subjprefix case.
    let header = |h: &str| {
        if h == "From" {
            "Ann <a@b.example>\n".to_string()
        } else {
            String::new()
        }
    };
    let ctx = TagContext {
        hostname: "vm".into(),
        date: "DATE".into(),
        time: 1,
        random: 2,
        body_lines: &body,
        subjprefix: subjprefix.map(str::to_string),
        header: Some(&header),
        ..Default::default()
    };
    let got = rewrite_mail(msg, &v, &conf, &ctx);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(want),
        "case {name}"
    );
}

macro_rules! case {
    ($name:ident, [$($hit:expr),*], [$($line:expr),*]) => {
        #[test]
        fn $name() {
            let n = stringify!($name);
            check(
                n,
                include_bytes!(concat!("testdata/", stringify!($name), ".msg")),
                include_str!(concat!("testdata/", stringify!($name), ".cf")),
                include_bytes!(concat!("testdata/", stringify!($name), ".out")),
                &[$($hit),*],
                &[$($line),*],
            );
        }
    };
}

// Ham: incoming X-Spam-* (with continuation) removed, X-Spam-Prev-* kept.
case!(ham_basic, ["ZZ_SUBJ_HAM"], []);
// report_safe 0 spam: Return-Path stays first, Subject/From/To rewritten,
// X-Spam-Report added by the report_safe 0 side effect.
case!(spam_rs0, ["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"], []);
// CRLF message, long tests= folding, -0.0 and FULL: lines, \n in add_header.
case!(
    crlf_fold,
    [
        "ZZ_LONG_NAME_FOR_FOLDING_ONE_AAAAAAA",
        "ZZ_LONG_NAME_FOR_FOLDING_FOUR_DDDDDD",
        "ZZ_LONG_NAME_FOR_FOLDING_THREE_CCCCC",
        "ZZ_LONG_NAME_FOR_FOLDING_TWO_BBBBBBB",
        "ZZ_SUBJ_SPAM",
        "ZZ_RAW_X",
        "ZZ_FULL_X"
    ],
    []
);
// No blank line and no final newline: SpamAssassin glues the Prev header on.
case!(
    nobody_spam,
    [
        "ZZ_LONG_NAME_FOR_FOLDING_FOUR_DDDDDD",
        "ZZ_LONG_NAME_FOR_FOLDING_THREE_CCCCC",
        "ZZ_LONG_NAME_FOR_FOLDING_ONE_AAAAAAA",
        "ZZ_SUBJ_SPAM",
        "ZZ_LONG_NAME_FOR_FOLDING_TWO_BBBBBBB"
    ],
    []
);
// Ham without Subject but with rewrite_header Subject: an empty one is added.
case!(nobody_ham, [], []);
case!(mbox_ham, [], []);
// report_safe 1, non-text original: attachment, unsafe_report appended,
// copied headers (Received on top), From/To comments at the end.
case!(
    rs1_html,
    ["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"],
    ["spammy", "widget here"]
);
case!(
    rs1_plain,
    ["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"],
    ["spammy widget", "plain widget text"]
);
// report_safe 1 on a CRLF message: the wrapper follows CRLF, From/To get
// their comment after the CR (as SpamAssassin does), fold_headers 0.
case!(
    rs1_crlf,
    [
        "ZZ_LONG_NAME_FOR_FOLDING_FOUR_DDDDDD",
        "ZZ_LONG_NAME_FOR_FOLDING_TWO_BBBBBBB",
        "ZZ_SUBJ_SPAM",
        "ZZ_LONG_NAME_FOR_FOLDING_ONE_AAAAAAA",
        "ZZ_LONG_NAME_FOR_FOLDING_THREE_CCCCC"
    ],
    ["spammy folding", "hello"]
);
// report_safe 2, multipart original, Subject created by rewrite_header.
case!(
    rs2_multi,
    ["ZZ_RS2", "ZZ_BODY_WORD"],
    ["", "widget http://example.org/"]
);

// subjprefix on spam (with report_safe 0) and ham; _HEADER()_ with a
// newline, _SCORE(0000)_, one-armed _YESNO(a)_, unknown tags.
#[test]
fn subjprefix_rs0() {
    check_with(
        "subjprefix_rs0",
        include_bytes!("testdata/subjprefix_rs0.msg"),
        include_str!("testdata/subjprefix_rs0.cf"),
        include_bytes!("testdata/subjprefix_rs0.out"),
        &["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"],
        &[],
        Some("[PFX] [W] "),
    );
}

#[test]
fn subjprefix_ham() {
    check_with(
        "subjprefix_ham",
        include_bytes!("testdata/subjprefix_ham.msg"),
        include_str!("testdata/subjprefix_ham.cf"),
        include_bytes!("testdata/subjprefix_ham.out"),
        &["ZZ_SUBJ_HAM"],
        &[],
        Some("[H] "),
    );
}

#[test]
fn report_text_is_the_report_part() {
    let conf = case_conf("");
    let v = verdict(&["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"]);
    let body = vec!["s".to_string(), "plain widget text".to_string()];
    let ctx = TagContext {
        hostname: "vm".into(),
        body_lines: &body,
        ..Default::default()
    };
    let want = include_str!("testdata/rs1_plain.out");
    let start = want.find("Test report").unwrap_or(0);
    let end = want
        .find("\n\n------------=_00000001.00000002\nContent-Type: message")
        .unwrap_or(0);
    assert_eq!(
        report_text(&v, &conf, &ctx),
        want.get(start..end).unwrap_or("?")
    );
    assert_eq!(symbols(&v), "ZZ_BODY_WORD,ZZ_SUBJ_SPAM");
    assert_eq!(
        report_text(&v, &ReportConf::default(), &ctx),
        "(no report template found)\n\n"
    );
}

#[test]
fn boundary_collision_is_extended() {
    let conf = case_conf("");
    let v = verdict(&["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"]);
    let ctx = TagContext {
        hostname: "vm".into(),
        time: 1,
        random: 2,
        ..Default::default()
    };
    let msg = b"Subject: x\n\n----------=_00000001.00000002\n";
    let out = String::from_utf8_lossy(&rewrite_mail(msg, &v, &conf, &ctx)).into_owned();
    assert!(
        out.contains("boundary=\"----------=_00000001.00000002/"),
        "{out}"
    );
}

#[test]
fn malformed_input_does_not_panic() {
    let conf = case_conf(
        "report_safe 0\nrewrite_header From x\nrewrite_header To y\nrewrite_header Subject z\n",
    );
    for spam in [false, true] {
        let mut v = verdict(&["ZZ_SUBJ_SPAM", "ZZ_BODY_WORD"]);
        v.is_spam = spam;
        let ctx = TagContext::default();
        for msg in [
            &b""[..],
            b"\n",
            b"From ",
            b"From x\n",
            b"\r\n",
            b":\n:\n",
            b"To:",
            b"X-Spam-Foo: 1\n\tx",
            b"\xff\xfe: \xff\n\n\xff",
            b" continuation first\n\nbody",
        ] {
            let out = rewrite_mail(msg, &v, &conf, &ctx);
            assert!(out.windows(2).any(|w| w == b": "), "{msg:?}");
        }
    }
}

#[test]
fn headers_only_cuts_after_first_blank_line() {
    assert_eq!(headers_only(b"A: 1\r\n\r\nbody\r\n\r\nx"), b"A: 1\r\n\r\n");
    assert_eq!(headers_only(b"A: 1\n\nbody\n"), b"A: 1\n\n");
    assert_eq!(headers_only(b"A: 1\n\r\nb"), b"A: 1\n\r\n");
    assert_eq!(headers_only(b"A: 1\nB: 2"), b"A: 1\nB: 2");
    assert_eq!(headers_only(b""), b"");
}

#[test]
fn date_format() {
    assert_eq!(super::rfc2822_date(0, 0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_eq!(
        super::rfc2822_date(1_704_067_200, 60),
        "Mon, 01 Jan 2024 01:00:00 +0100"
    );
    assert_eq!(
        super::rfc2822_date(1_709_164_800, -210),
        "Wed, 28 Feb 2024 20:30:00 -0330"
    );
    // Perl prints a -30 minute zone as +0030 (its %+.2d of -0.5 is +00).
    assert_eq!(
        super::rfc2822_date(0, -30),
        "Wed, 31 Dec 1969 23:30:00 +0030"
    );
}
