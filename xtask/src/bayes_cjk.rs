//! `xtask bayes-cjk`: does `bayes_cjk_tokens` help on Japanese mail?
//!
//! Leave-one-out over tests/corpus/ja (12 messages): for each message,
//! train on the 11 others (Bayes minimums lowered to 1, since the corpus is
//! small on purpose), classify the held-out one, with and without the
//! option. Reports each probability and the mean distance from the right
//! answer (0 for ham, 1 for spam): lower is better.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spamcore::bayes::{Bayes, BayesOptions, LearnItem};
use spamcore::message::Message;

fn messages(root: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for (d, spam) in [("ham", false), ("spam", true)] {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(d))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        out.extend(v.into_iter().map(|p| (p, spam)));
    }
    out
}

fn run_fold(all: &[(PathBuf, bool)], held: usize, cjk: bool, dir: &Path) -> Option<f64> {
    let mut opts = BayesOptions {
        min_spam_num: 1,
        min_ham_num: 1,
        ..Default::default()
    };
    opts.tokenizer.cjk = cjk;
    let path = dir.join(format!("fold-{held}-{cjk}.sqlite"));
    let _ = std::fs::remove_file(&path);
    let b = Bayes::open_sqlite(&path, opts).ok()?;
    let items: Vec<(LearnItem, Option<bool>)> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != held)
        .filter_map(|(_, (p, spam))| {
            let raw = std::fs::read(p).ok()?;
            Some((
                Bayes::learn_item(&Message::parse(&raw), &b.opts.tokenizer),
                Some(*spam),
            ))
        })
        .collect();
    b.store.learn_batch(&items).ok()?;
    let raw = std::fs::read(&all[held].0).ok()?;
    let p = b.classify(&Message::parse(&raw)).ok()??.prob;
    Some(p)
}

pub fn main(args: &[String]) -> ExitCode {
    let root = args
        .iter()
        .position(|a| a == "--corpus")
        .and_then(|i| args.get(i + 1))
        .map_or_else(corpus::ja, PathBuf::from);
    let all = messages(&root);
    if all.is_empty() {
        eprintln!("bayes-cjk: no messages under {}", root.display());
        return ExitCode::from(1);
    }
    let dir = std::env::temp_dir().join(format!("bayes-cjk-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    println!(
        "{:<28} {:>5} {:>10} {:>10}",
        "held-out message", "label", "SA tokens", "+CJK"
    );
    let (mut err_off, mut err_on) = (0.0, 0.0);
    let (mut right_off, mut right_on) = (0, 0);
    for i in 0..all.len() {
        let off = run_fold(&all, i, false, &dir);
        let on = run_fold(&all, i, true, &dir);
        let spam = all[i].1;
        let target = if spam { 1.0 } else { 0.0 };
        let e = |p: Option<f64>| (p.unwrap_or(0.5) - target).abs();
        err_off += e(off);
        err_on += e(on);
        let right = |p: Option<f64>| p.is_some_and(|p| (p > 0.5) == spam);
        right_off += usize::from(right(off));
        right_on += usize::from(right(on));
        let show = |p: Option<f64>| p.map_or("-".to_string(), |p| format!("{p:.4}"));
        let name = all[i]
            .0
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "{:<28} {:>5} {:>10} {:>10}",
            name,
            if spam { "spam" } else { "ham" },
            show(off),
            show(on)
        );
    }
    let n = all.len() as f64;
    println!(
        "\nmean |p - label|: without {:.3}, with bayes_cjk_tokens {:.3}",
        err_off / n,
        err_on / n
    );
    println!(
        "right side of 0.5: without {right_off}/{}, with {right_on}/{}",
        all.len(),
        all.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}
