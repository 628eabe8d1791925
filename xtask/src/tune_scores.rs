//! Fit the embedded rules' scores on the training split.
//!
//! `cargo run --release -p xtask -- tune-scores [--out FILE] [--fp-target F]
//! [--learn-thresholds]`
//!
//! What it does, every step deterministic (same input, same file):
//! 1. Scan the training split (see `embedded_eval`; held-back messages are
//!    never read) with every tunable rule switched on, no Bayes, and keep
//!    which rules hit each message.
//! 2. Score set 0 (no Bayes): weighted logistic regression by full-batch
//!    gradient descent from zero, a fixed number of steps, with L2
//!    regularisation. Rules are sign-constrained, as SpamAssassin's score
//!    generation keeps them: `tflags nice` rules at or below zero, the
//!    others at or above. Ham weighs more than spam (false positives cost
//!    more). The weights are then scaled so that 5.0 sits where at most
//!    `--fp-target` of the training ham would reach it.
//! 3. Score set 2 (Bayes): the training split is scanned again in the fixed
//!    order with those scores, a new empty Bayes database and auto-learn,
//!    as a fresh install would see it; each message's Bayes probability
//!    becomes a band feature (the BAYES_* rules) and the fit is repeated.
//!    Before that, the auto-learn thresholds our score scale would call
//!    for are measured on the training split and printed
//!    (`learn_thresholds`); `--learn-thresholds` replays with them and
//!    writes them. Off by default: on the full corpus replay they made
//!    Bayes raise false positives (rules/README.md).
//! 4. `score NAME set0 set0 set2 set2` lines go to `rules/90_scores.cf`
//!    (sets 1 and 3 equal 0 and 2: the embedded rules have no network
//!    tests). Rules that never hit in training get 0 (off).
//!
//! Fixed, not fitted: GTUBE and the user-list rules (`tflags userconf`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use spamcore::config::Config;
use spamcore::scan::autolearn::{self, Points};

use crate::embedded_eval::{self, Engine, Item};

/// Bayes bands: rule name, lower bound (exclusive unless 0), upper bound.
const BAYES_BANDS: &[(&str, f64, f64)] = &[
    ("BAYES_00", 0.0, 0.01),
    ("BAYES_01", 0.01, 0.1),
    ("BAYES_10", 0.1, 0.3),
    ("BAYES_30", 0.3, 0.45),
    ("BAYES_45", 0.45, 0.55),
    ("BAYES_55", 0.55, 0.7),
    ("BAYES_70", 0.7, 0.9),
    ("BAYES_90", 0.9, 0.99),
    ("BAYES_99", 0.99, 0.999),
    ("BAYES_999", 0.999, 1.0),
];

fn bayes_band(p: f64) -> Option<&'static str> {
    BAYES_BANDS
        .iter()
        .find(|(_, lo, hi)| (*lo == 0.0 || p > *lo) && p <= *hi)
        .map(|(n, _, _)| *n)
}

/// Rules whose scores are fitted: named, scoring (not `__`), not
/// user-list or GTUBE.
fn tunable(conf: &Config) -> Vec<String> {
    let mut v: Vec<String> = conf
        .rules
        .keys()
        .filter(|n| !n.starts_with("__") && *n != "GTUBE")
        .filter(|n| !conf.tflags.get(*n).is_some_and(|t| t.userconf))
        .filter(|n| !n.starts_with("BAYES_"))
        .cloned()
        .collect();
    v.sort();
    v
}

fn is_nice(conf: &Config, name: &str) -> bool {
    conf.tflags.get(name).is_some_and(|t| t.nice)
}

/// One training example: feature indices with counts, label.
struct Example {
    x: Vec<(usize, f64)>,
    spam: bool,
}

/// Weighted, sign-constrained logistic regression. Returns (weights, bias).
fn fit(examples: &[Example], signs: &[f64], steps: usize) -> (Vec<f64>, f64) {
    let nf = signs.len();
    let n_spam = examples.iter().filter(|e| e.spam).count().max(1) as f64;
    let n_ham = examples.iter().filter(|e| !e.spam).count().max(1) as f64;
    // Each class carries half the loss; ham counts three times as much.
    let (w_spam, w_ham) = (0.5 / n_spam, 1.5 / n_ham);
    let l2 = 1e-4;
    let lr = 2.0;
    let mut w = vec![0.0f64; nf];
    let mut b = 0.0f64;
    let mut g = vec![0.0f64; nf];
    for _ in 0..steps {
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut gb = 0.0;
        for e in examples {
            let z: f64 = b + e.x.iter().map(|&(i, v)| w[i] * v).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let (y, cw) = if e.spam { (1.0, w_spam) } else { (0.0, w_ham) };
            let d = cw * (p - y);
            gb += d;
            for &(i, v) in &e.x {
                g[i] += d * v;
            }
        }
        b -= lr * gb;
        for i in 0..nf {
            w[i] -= lr * (g[i] + l2 * w[i]);
            // Sign constraints: nice rules <= 0, the others >= 0.
            if signs[i] > 0.0 {
                w[i] = w[i].max(0.0);
            } else {
                w[i] = w[i].min(0.0);
            }
        }
    }
    (w, b)
}

/// Scale weights so that 5.0 is the threshold: at most `fp_target` of the
/// training ham at or above it, and never below the fit's own boundary.
fn scale(examples: &[Example], w: &[f64], b: f64, fp_target: f64) -> f64 {
    let mut ham: Vec<f64> = examples
        .iter()
        .filter(|e| !e.spam)
        .map(|e| e.x.iter().map(|&(i, v)| w[i] * v).sum())
        .collect();
    ham.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fp_target * ham.len() as f64).floor() as usize;
    let t_fp = ham.get(allowed).copied().unwrap_or(0.0) + 1e-6;
    let t = t_fp.max(-b).max(1e-3);
    5.0 / t
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Hit lists of `items` (rule name -> count) under `engine`.
fn hits(engine: &Engine, items: &[&Item]) -> Vec<(BTreeMap<String, u32>, Option<f64>)> {
    embedded_eval::run(engine, items)
        .into_iter()
        .map(|v| match v {
            Some(v) => (
                v.hits.iter().map(|h| (h.name.clone(), h.count)).collect(),
                v.bayes,
            ),
            None => (BTreeMap::new(), None),
        })
        .collect()
}

/// Scan in parallel without Bayes (order does not matter then).
fn hits_parallel(engine: &Engine, items: &[&Item]) -> Vec<BTreeMap<String, u32>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || hits(engine, part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .map(|(h, _)| h)
            .collect()
    })
}

fn examples(
    rows: &[BTreeMap<String, u32>],
    extra: &[Option<&str>],
    items: &[&Item],
    index: &BTreeMap<String, usize>,
) -> Vec<Example> {
    rows.iter()
        .zip(items)
        .enumerate()
        .map(|(k, (r, item))| {
            let mut x: Vec<(usize, f64)> = r
                .iter()
                .filter_map(|(n, c)| index.get(n).map(|&i| (i, f64::from((*c).min(3)))))
                .collect();
            if let Some(Some(band)) = extra.get(k)
                && let Some(&i) = index.get(*band)
            {
                x.push((i, 1.0));
            }
            Example { x, spam: item.spam }
        })
        .collect()
}

pub fn main(args: &[String]) -> ExitCode {
    let mut out = corpus::workspace_root().join("rules/90_scores.cf");
    let mut fp_target = 0.002;
    let mut steps = 3000usize;
    let mut learn_thr = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--out" => out = PathBuf::from(val()),
            "--fp-target" => fp_target = val().parse().unwrap_or(fp_target),
            "--steps" => steps = val().parse().unwrap_or(steps),
            "--learn-thresholds" => learn_thr = true,
            other => {
                eprintln!("tune-scores: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    match tune(&out, fp_target, steps, learn_thr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tune-scores: {e}");
            ExitCode::from(1)
        }
    }
}

/// The embedded configuration without the fitted scores file.
fn base_config() -> Config {
    let sources = spamcore::config::Sources {
        embedded: spamcore::config::embedded::sources()
            .into_iter()
            .filter(|(n, _)| !n.ends_with("90_scores.cf"))
            .collect(),
        local_tests_only: true,
        ..Default::default()
    };
    Config::load(&sources)
}

fn tune(
    out: &std::path::Path,
    fp_target: f64,
    steps: usize,
    learn_thr: bool,
) -> Result<(), String> {
    let public = crate::public_corpus(None)?;
    let all = embedded_eval::items(&public)?;
    let train: Vec<&Item> = all.iter().filter(|i| !i.held_back).collect();
    let base = base_config();
    let names = tunable(&base);
    let index: BTreeMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();

    // Step 1: every tunable rule on (score 1), no Bayes.
    let mut probe = base.clone();
    for n in &names {
        probe.scores.insert(n.clone(), [1.0; 4]);
    }
    let engine = Engine::new(probe, false)?;
    let rows = hits_parallel(&engine, &train);
    drop(engine);
    let seen: BTreeSet<&String> = rows.iter().flat_map(|r| r.keys()).collect();
    println!(
        "training split: {} messages ({} spam, {} ham); {} tunable rules, {} hit at least once",
        train.len(),
        train.iter().filter(|i| i.spam).count(),
        train.iter().filter(|i| !i.spam).count(),
        names.len(),
        names.iter().filter(|n| seen.contains(n)).count()
    );

    // Step 2: set 0.
    let signs: Vec<f64> = names
        .iter()
        .map(|n| if is_nice(&base, n) { -1.0 } else { 1.0 })
        .collect();
    let ex0 = examples(&rows, &[], &train, &index);
    let (w0, b0) = fit(&ex0, &signs, steps);
    let c0 = scale(&ex0, &w0, b0, fp_target);
    let set0: Vec<f64> = w0.iter().map(|w| round3(w * c0)).collect();
    report("set 0 (no Bayes), training split", &ex0, &set0);

    // Step 3: set 2 from a fresh install's Bayes answers.
    let mut sim = base.clone();
    for (n, s) in names.iter().zip(&set0) {
        sim.scores.insert(n.clone(), [*s, *s, *s, *s]);
    }
    for (n, _, _) in BAYES_BANDS {
        sim.scores.insert((*n).to_string(), [0.0; 4]);
    }
    // Auto-learn thresholds on this scale (see `learn_thresholds`): always
    // measured and printed; used and written only with --learn-thresholds.
    let points = learn_points(&sim, &train)?;
    let (t_spam, t_ham) = learn_thresholds(&points, &train);
    if learn_thr {
        sim.settings.insert(
            "bayes_auto_learn_threshold_spam".into(),
            format!("{t_spam:.1}"),
        );
        sim.settings.insert(
            "bayes_auto_learn_threshold_nonspam".into(),
            format!("{t_ham:.1}"),
        );
    } else {
        println!(
            "auto-learn thresholds not changed (SpamAssassin's, from 10_default_prefs.cf); \
             --learn-thresholds writes the ones above"
        );
    }
    let engine = Engine::new(sim, true)?;
    let bayes_rows = hits(&engine, &train);
    drop(engine);
    let bands: Vec<Option<&str>> = bayes_rows
        .iter()
        .map(|(_, p)| p.and_then(bayes_band))
        .collect();
    let answered = bands.iter().filter(|b| b.is_some()).count();
    println!(
        "Bayes answered on {answered} of {} training messages",
        train.len()
    );
    let mut names2 = names.clone();
    names2.extend(BAYES_BANDS.iter().map(|(n, _, _)| (*n).to_string()));
    let index2: BTreeMap<String, usize> = names2
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), i))
        .collect();
    let signs2: Vec<f64> = names2
        .iter()
        .map(|n| if is_nice(&base, n) { -1.0 } else { 1.0 })
        .collect();
    let rows2: Vec<BTreeMap<String, u32>> = rows.clone();
    let ex2 = examples(&rows2, &bands, &train, &index2);
    let (w2, b2) = fit(&ex2, &signs2, steps);
    let c2 = scale(&ex2, &w2, b2, fp_target);
    let set2: Vec<f64> = w2.iter().map(|w| round3(w * c2)).collect();
    report("set 2 (Bayes), training split", &ex2, &set2);

    // Step 4: write.
    let mut text = String::from(
        "# Scores fitted by `cargo run --release -p xtask -- tune-scores` on the\n\
         # training split of tests/corpus. Generated: do not edit; re-run the tool.\n\
         # score NAME set0 set1 set2 set3 (1 = 0 and 3 = 2: no network tests)\n",
    );
    if learn_thr {
        text.push_str(&format!(
            "# Auto-learn thresholds on this score scale: spam from the lowest\n\
         # threshold (5.0 up, steps of 0.5) no training ham reaches; ham below\n\
         # {t_ham:.1} (a message nothing fired on), as SpamAssassin.\n\
         bayes_auto_learn_threshold_spam {t_spam:.1}\n\
         bayes_auto_learn_threshold_nonspam {t_ham:.1}\n"
        ));
    }
    for (i, n) in names2.iter().enumerate() {
        let s0 = names.iter().position(|m| m == n).map_or(0.0, |j| set0[j]);
        let s2 = set2[i];
        text.push_str(&format!("score {n} {s0:.3} {s0:.3} {s2:.3} {s2:.3}\n"));
    }
    std::fs::write(out, &text).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "wrote {} ({} rules, fnv1a {:016x})",
        out.display(),
        names2.len(),
        embedded_eval::fnv1a(text.as_bytes())
    );
    Ok(())
}

/// What auto-learning sees of each message: its non-Bayes points and
/// whether it was judged spam.
fn learn_points(config: &Config, items: &[&Item]) -> Result<Vec<(Points, bool)>, String> {
    let engine = Engine::new(config.clone(), false)?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = items.len().div_ceil(threads).max(1);
    let engine = &engine;
    let out = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    embedded_eval::run(engine, part)
                        .into_iter()
                        .map(|v| match v {
                            Some(v) => (autolearn::points(&engine.rules, &v), v.is_spam),
                            None => (Points::default(), false),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    Ok(out)
}

/// SpamAssassin's thresholds (12.0 spam, 0.1 ham) belong to its score
/// scale; ours is smaller, and at 12.0 few spam messages would ever be
/// learned. On the training split only:
/// - spam: the lowest threshold, from `required_score` 5.0 up in steps of
///   0.5 (SpamAssassin's 12.0 at most), that no training ham reaches, even
///   leaving aside auto-learning's other safeguard (at least 3 header and
///   3 body points), so a margin stays above the worst false positive;
/// - ham: SpamAssassin's 0.1 kept. It does not depend on the scale: a
///   message scores 0 on both scales when nothing fired.
fn learn_thresholds(points: &[(Points, bool)], items: &[&Item]) -> (f64, f64) {
    let t_ham = 0.1;
    let learnable =
        |p: &Points, judged: bool, t: f64| judged && p.total >= t && p.head >= 3.0 && p.body >= 3.0;
    println!("auto-learn as spam on the training split (set 0 points):");
    println!("  threshold  spam learned  ham learned  ham at or above");
    let mut chosen = None;
    for k in 0..=14 {
        let t = 5.0 + 0.5 * f64::from(k);
        let (mut spam, mut ham, mut ham_above) = (0usize, 0usize, 0usize);
        for ((p, judged), item) in points.iter().zip(items) {
            if !item.spam && p.total >= t {
                ham_above += 1;
            }
            if learnable(p, *judged, t) {
                if item.spam {
                    spam += 1;
                } else {
                    ham += 1;
                }
            }
        }
        println!("  {t:>9.1}  {spam:>12}  {ham:>11}  {ham_above:>15}");
        if chosen.is_none() && ham == 0 && ham_above == 0 {
            chosen = Some(t);
        }
    }
    let (mut spam, mut ham) = (0usize, 0usize);
    for ((p, judged), item) in points.iter().zip(items) {
        if !*judged && p.total < t_ham {
            if item.spam {
                spam += 1;
            } else {
                ham += 1;
            }
        }
    }
    let t_spam = chosen.unwrap_or(12.0);
    println!(
        "chosen: spam {t_spam:.1}; ham {t_ham:.1} (would learn {ham} training ham and {spam} training spam as ham)"
    );
    (t_spam, t_ham)
}

fn report(what: &str, ex: &[Example], scores: &[f64]) {
    let (mut ham, mut spam, mut fp, mut fn_) = (0, 0, 0, 0);
    for e in ex {
        let s: f64 = e.x.iter().map(|&(i, v)| scores[i] * v).sum();
        if e.spam {
            spam += 1;
            fn_ += usize::from(s < 5.0);
        } else {
            ham += 1;
            fp += usize::from(s >= 5.0);
        }
    }
    println!(
        "{what}: FP {fp}/{ham} ({:.2}%), FN {fn_}/{spam} ({:.2}%)",
        100.0 * fp as f64 / ham.max(1) as f64,
        100.0 * fn_ as f64 / spam.max(1) as f64
    );
}
