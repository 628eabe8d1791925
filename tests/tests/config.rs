//! The first subset of SpamAssassin's rule language, through the real
//! daemon: each directive shows in what spamc prints.

use e2e::*;

fn config_dir() -> TempDir {
    let dir = TempDir::new("conf");
    let welcome = root().join("rules/30_welcomelist.cf");
    std::fs::write(
        dir.path().join("10_main.cf"),
        format!(
            r#"# exercised by tests/tests/config.rs
required_score 4.5
report_safe 0
rewrite_header Subject [SPAM _SCORE_]
add_header all Checked by the rust spamd
add_header all Status _YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_
add_header all Remove-Me yes
remove_header all Remove-Me
clear_report_template
report Custom report: _SCORE_ points, _REQD_ needed
include {welcome}
include extra/more.cf

ifplugin Mail::SpamAssassin::Plugin::NotInstalled
body NEVER_LOADED /./
endif
if (version >= 4.000000)
body VERSION_OK /VERSIONWORD/
endif
if !(version >= 4.000000)
body VERSION_OLD /VERSIONWORD/
endif

header T_ADDR     From:addr =~ /^spammer\@bad\.example$/
score T_ADDR      2.0
header T_NAME     From:name =~ /Evil Corp/
header T_RAW      Subject:raw =~ /=\?UTF-8\?B\?/
header T_DECODED  Subject =~ /^Cheap offer \x{{e2}}\x{{82}}\x{{ac}}/
header T_EXISTS   exists:X-Mailer
header T_NOT      X-Nothing !~ /./
header T_UNSET    X-Nothing =~ /fallback/ [if-unset: fallback]
rawbody T_RAWB    /<b>bold<\/b>/
full T_FULL       /^X-Mailer: massmail/m
uri T_URI         /^http:\/\/example\.com\/buy/
body __A          /cheap/i
body __B          /pills/
meta T_META       __A && __B
score T_META      1 2 3 4
describe T_META   Cheap pills
meta T_ARITH      (__A + __B + T_ADDR) >= 3
meta T_NEVER      __A && !__B
body T_MULTI      /pill/
tflags T_MULTI    multiple maxhits=3
score T_MULTI     0.1
body T_ZERO       /cheap/
score T_ZERO      0
blacklist_from    *@bad.example
welcomelist_from  friend@good.example
"#,
            welcome = welcome.display()
        ),
    )
    .expect("write cf");
    std::fs::create_dir_all(dir.path().join("extra")).expect("mkdir");
    std::fs::write(
        dir.path().join("extra/more.cf"),
        "body T_INCLUDED /VERSIONWORD/\n",
    )
    .expect("write include");
    dir
}

const SPAM: &[u8] = b"From: \"Evil Corp\" <spammer@bad.example>\r\n\
To: you@example.net\r\n\
Subject: =?UTF-8?B?Q2hlYXAgb2ZmZXIg4oKs?=\r\n\
X-Mailer: massmail 1.0\r\n\
Message-ID: <1@bad.example>\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=us-ascii\r\n\
\r\n\
<html><body><p>Cheap pills, pill pill pill! <b>bold</b> VERSIONWORD\r\n\
<a href=\"http://example.com/buy\">buy</a></p></body></html>\r\n";

fn spamc(d: &Daemon, args: &[&str], msg: &[u8]) -> Run {
    let port = d.port.to_string();
    let mut all = vec!["-p", port.as_str()];
    all.extend_from_slice(args);
    run(&our_bin("spamc"), &all, msg, T)
}

#[test]
fn directives_take_effect() {
    let conf = config_dir();
    let dir = conf.path().display().to_string();
    let d = Daemon::ours(&["-C", &dir, "-L"]);

    let r = spamc(&d, &["-y"], SPAM);
    let names: Vec<String> = String::from_utf8_lossy(&r.stdout)
        .split(',')
        .map(str::to_string)
        .collect();
    for want in [
        "T_ADDR",
        "T_NAME",
        "T_RAW",
        "T_DECODED",
        "T_EXISTS",
        "T_NOT",
        "T_UNSET",
        "T_RAWB",
        "T_FULL",
        "T_URI",
        "T_META",
        "T_ARITH",
        "USER_IN_BLOCKLIST",
        "VERSION_OK",
        "T_INCLUDED",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    for unwanted in [
        "NEVER_LOADED",
        "VERSION_OLD",
        "T_NEVER",
        "T_ZERO",
        "USER_IN_WELCOMELIST",
        "__A",
    ] {
        assert!(
            !names.iter().any(|n| n == unwanted),
            "{unwanted} must not hit: {names:?}"
        );
    }
    assert_eq!(
        names.iter().filter(|n| *n == "T_MULTI").count(),
        3,
        "multiple maxhits=3: {names:?}"
    );

    // PROCESS with report_safe 0: headers added, Subject rewritten, body untouched.
    let r = spamc(&d, &[], SPAM);
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    let (head, body) = split_message(&r.stdout);
    let head = String::from_utf8_lossy(head);
    assert!(
        head.contains("Subject: [SPAM 1"),
        "rewrite_header Subject: {head}"
    );
    assert!(
        head.contains("X-Spam-Prev-Subject: =?UTF-8?B?Q2hlYXAgb2ZmZXIg4oKs?="),
        "{head}"
    );
    assert!(
        head.contains("X-Spam-Checked: by the rust spamd"),
        "add_header: {head}"
    );
    assert!(!head.contains("X-Spam-Remove-Me"), "remove_header: {head}");
    assert!(
        head.contains("X-Spam-Report:"),
        "report_safe 0 adds X-Spam-Report: {head}"
    );
    assert!(head.contains("required=4.5"), "required_score: {head}");
    assert_eq!(body, split_message(SPAM).1, "{out}");

    // REPORT uses the configured template; meta score from set 0 (-L).
    let r = spamc(&d, &["-R"], SPAM);
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(out.lines().nth(1).is_some_and(|l| l.starts_with("Custom report: 1") && l.ends_with("points, 4.5 needed")), "{out}");

    // welcomelist_from: -100 wins over GTUBE-free spam signs.
    let friendly = String::from_utf8_lossy(SPAM)
        .replace("\"Evil Corp\" <spammer@bad.example>", "friend@good.example");
    let r = spamc(&d, &["-y"], friendly.as_bytes());
    let names = String::from_utf8_lossy(&r.stdout).to_string();
    assert!(
        names.split(',').any(|n| n == "USER_IN_WELCOMELIST"),
        "{names}"
    );
    let r = spamc(&d, &["-c"], friendly.as_bytes());
    assert_eq!(r.code, 0, "welcomelisted sender is ham: {r:?}");
}

#[test]
fn lint_reports_bad_lines_with_file_and_line() {
    let conf = config_dir();
    std::fs::write(
        conf.path().join("20_bad.cf"),
        "body GOOD /ok/\nbody BAD_RE /(/\nnot_a_directive 1\nmeta BAD_META GOOD &&& $x\n",
    )
    .expect("write bad cf");
    let site = TempDir::new("site");
    let dir = conf.path().display().to_string();
    let site_dir = site.path().display().to_string();
    let r = run(
        &our_bin("spamd"),
        &["--lint", "-C", &dir, "--siteconfigpath", &site_dir],
        b"",
        T,
    );
    assert_eq!(r.code, 1, "{r:?}");
    let out = String::from_utf8_lossy(&r.stdout);
    let bad = conf.path().join("20_bad.cf").display().to_string();
    for line in [2, 3, 4] {
        assert!(
            out.contains(&format!("{bad}:{line}:")),
            "line {line} reported: {out}"
        );
    }
    assert!(!out.contains(&format!("{bad}:1:")), "{out}");

    std::fs::remove_file(conf.path().join("20_bad.cf")).expect("rm");
    let r = run(
        &our_bin("spamd"),
        &["--lint", "-C", &dir, "--siteconfigpath", &site_dir],
        b"",
        T,
    );
    assert_eq!(r.code, 0, "clean config lints clean: {r:?}");
}

#[test]
fn lint_is_clean_over_spamassassins_rules() {
    require("/usr/share/spamassassin/50_scores.cf", "spamassassin");
    let r = run(
        &our_bin("spamd"),
        &[
            "--lint",
            "-C",
            "/usr/share/spamassassin",
            "--siteconfigpath",
            "/etc/spamassassin",
        ],
        b"",
        T,
    );
    assert_eq!(
        r.code,
        0,
        "lint output: {}",
        String::from_utf8_lossy(&r.stdout)
    );
    assert!(r.stderr.contains("0 problem(s)"), "{}", r.stderr);
}
