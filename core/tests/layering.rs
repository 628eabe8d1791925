//! The module graph of `spamcore` has no back-edges: each module may name
//! only the modules below it in
//! `protocol | message <- config <- rules, eval, bayes <- scan <- report`
//! (rules may call eval, the evaluator it drives). ARCHITECTURE.md explains
//! the layers; this test keeps the code to them.

use std::collections::BTreeSet;
use std::path::Path;

const MODULES: [&str; 8] = [
    "protocol", "message", "config", "rules", "eval", "bayes", "scan", "report",
];

/// What each module may use (besides itself).
fn allowed(module: &str) -> &'static [&'static str] {
    match module {
        "protocol" | "message" => &[],
        "config" => &["message"],
        "rules" => &["message", "config", "eval"],
        "eval" | "bayes" => &["message", "config"],
        "scan" => &["message", "config", "rules", "eval", "bayes"],
        "report" => &["message", "config", "rules", "eval", "bayes", "scan"],
        _ => &[],
    }
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Modules named as `crate::<module>` in the file's text.
fn uses(text: &str) -> BTreeSet<&'static str> {
    MODULES
        .iter()
        .copied()
        .filter(|m| {
            let pat = format!("crate::{m}");
            text.match_indices(&pat).any(|(i, _)| {
                !text[i + pat.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            })
        })
        .collect()
}

#[test]
fn no_module_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    let mut checked = 0;
    for module in MODULES {
        let mut files = Vec::new();
        sources(&src.join(module), &mut files);
        let single = src.join(format!("{module}.rs"));
        if single.exists() {
            files.push(single);
        }
        assert!(!files.is_empty(), "no source for module {module}");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for used in uses(&text) {
                if used != module && !allowed(module).contains(&used) {
                    bad.push(format!("{} uses crate::{used}", f.display()));
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} source files found");
    assert!(
        bad.is_empty(),
        "back-edges in the module graph:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_checker_sees_a_back_edge() {
    assert_eq!(
        uses("use crate::report::ReportConf;\nuse crate::scanner;"),
        BTreeSet::from(["report"])
    );
}
