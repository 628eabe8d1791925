//! `spamd --lint` on the embedded rule files (rules/, the same files
//! spamd compiles in): no problem reported, and every rule family there.

use std::time::Duration;

use e2e::*;

#[test]
fn lint_of_the_embedded_rules_is_clean() {
    let site = TempDir::new("lint-site");
    let rules = root().join("rules").display().to_string();
    let site_path = site.path().display().to_string();
    let r = run(
        &our_bin("spamd"),
        &["--lint", "-C", &rules, "--siteconfigpath", &site_path],
        b"",
        Duration::from_secs(60),
    );
    let out = format!("{}{}", String::from_utf8_lossy(&r.stdout), r.stderr);
    assert_eq!(r.code, 0, "{out}");
    assert!(out.contains(" 0 problem(s)"), "{out}");
    // All families loaded (general, Japanese, Bayes bands, lists).
    let n: usize = out
        .split("lint: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(n > 200, "only {n} rules: {out}");
}
