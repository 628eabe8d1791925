//! Parity with SpamAssassin 4.0.1 over a corpus, from recorded results.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spamcore::config::{Config, Sources};
use spamcore::message::Message;
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan;

struct Expected {
    label: String,
    score: f64,
    rules: BTreeSet<String>,
}

fn load_tsv(path: &Path) -> Result<Vec<(String, Expected)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(format!(
                "{}:{}: expected label, file, score[, rules]",
                path.display(),
                n + 1
            ));
        }
        let score = f[2].split('/').next().unwrap_or("0").parse().unwrap_or(0.0);
        let rules = f
            .get(3)
            .map(|r| {
                r.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.push((
            f[1].to_string(),
            Expected {
                label: f[0].to_string(),
                score,
                rules,
            },
        ));
    }
    Ok(out)
}

/// `easy_ham.00001.x.txt` -> corpus/easy_ham/00001.x.txt
fn message_path(corpus: &Path, key: &str) -> PathBuf {
    match key.split_once('.') {
        Some((folder, file)) => corpus.join(folder).join(file),
        None => corpus.join(key),
    }
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "--network") {
        return crate::parity_net::main(args);
    }
    let mut tsv = corpus::workspace_root().join("tests/parity/sa401-L.tsv");
    let mut corpus = None;
    let mut rules_dir = PathBuf::from("/usr/share/spamassassin");
    let mut site_dir = PathBuf::from("/etc/spamassassin");
    let mut show = 20usize;
    let mut only_rule: Option<String> = None;
    let mut prefilter_check = false;
    let mut prefilter = true;
    // Minimum percentages; below any of them the run fails (CI gate).
    let mut require: [Option<f64>; 3] = [None; 3];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--tsv" => tsv = PathBuf::from(val()),
            "--corpus" => corpus = Some(PathBuf::from(val())),
            "--rules" => rules_dir = PathBuf::from(val()),
            "--site" => site_dir = PathBuf::from(val()),
            "--show" => show = val().parse().unwrap_or(20),
            "--rule" => only_rule = Some(val()),
            // Also scan with the literal prefilter off and fail unless every
            // message has the same rules with the same hit counts.
            "--prefilter-check" => prefilter_check = true,
            "--no-prefilter" => prefilter = false,
            "--require-identical" => require[0] = val().parse().ok(),
            "--require-score" => require[1] = val().parse().ok(),
            "--require-verdict" => require[2] = val().parse().ok(),
            other => {
                eprintln!("parity: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let corpus = match crate::public_corpus(corpus) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("parity: {e}");
            return ExitCode::from(1);
        }
    };
    let expected = match load_tsv(&tsv) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("parity: {e}");
            return ExitCode::from(1);
        }
    };
    let sources = Sources {
        rules_dir: Some(rules_dir),
        site_dir: Some(site_dir),
        extra_lines: vec!["use_bayes 0".into()],
        local_tests_only: true,
        ..Default::default()
    };
    let mut config = Config::load(&sources);
    config.diagnostics.clear();
    let (mut rules, _diags) = CompiledRules::compile(
        config,
        CompileOptions {
            net: false,
            bayes: false,
        },
    );
    rules.set_prefilter(prefilter);
    let mut rules_off = rules.for_score_set(CompileOptions {
        net: false,
        bayes: false,
    });
    rules_off.set_prefilter(false);

    let msg_opts = rules.config.message_options();
    let mut same_rules = 0usize;
    let mut score_close = 0usize;
    let mut same_verdict = 0usize;
    let mut total = 0usize;
    let mut missing: BTreeMap<String, usize> = BTreeMap::new(); // SA hit, we did not
    let mut extra: BTreeMap<String, usize> = BTreeMap::new(); // we hit, SA did not
    let mut examples: HashMap<String, Vec<String>> = HashMap::new();
    let mut shown = 0;
    let start = std::time::Instant::now();
    // Scan on every core; compare in order afterwards.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = expected.len().div_ceil(threads).max(1);
    // Messages whose rule counts differ with the prefilter off.
    let differ = std::sync::Mutex::new(Vec::<String>::new());
    let verdicts: Vec<Option<scan::Verdict>> = std::thread::scope(|scope| {
        let handles: Vec<_> = expected
            .chunks(chunk)
            .map(|part| {
                let (rules, rules_off, msg_opts, corpus, differ) =
                    (&rules, &rules_off, &msg_opts, &corpus, &differ);
                let n = part.len();
                let h = scope.spawn(move || {
                    part.iter()
                        .map(|(key, _)| {
                            let path = message_path(corpus, key);
                            let raw = std::fs::read(&path).ok()?;
                            let msg = Message::parse_with(&raw, msg_opts);
                            if prefilter_check
                                && rules.rule_counts(&msg) != rules_off.rule_counts(&msg)
                                && let Ok(mut d) = differ.lock()
                            {
                                d.push(key.clone());
                            }
                            Some(scan::scan(rules, &msg))
                        })
                        .collect::<Vec<_>>()
                });
                (h, n)
            })
            .collect();
        // A chunk whose thread panicked counts as unreadable, keeping the
        // results aligned with `expected`.
        handles
            .into_iter()
            .flat_map(|(h, n)| h.join().unwrap_or_else(|_| vec![None; n]))
            .collect()
    });
    for ((key, exp), v) in expected.iter().zip(verdicts) {
        let Some(v) = v else {
            eprintln!("parity: cannot read or scan {key}");
            continue;
        };
        total += 1;
        let ours: BTreeSet<String> = v.hits.iter().map(|h| h.name.clone()).collect();
        let only_sa: Vec<&String> = exp.rules.difference(&ours).collect();
        let only_us: Vec<&String> = ours.difference(&exp.rules).collect();
        if only_sa.is_empty() && only_us.is_empty() {
            same_rules += 1;
        }
        // Both sides as spamc -c shows them (one decimal).
        let displayed: f64 = format!("{:.1}", v.score).parse().unwrap_or(v.score);
        if (displayed - exp.score).abs() <= 0.1 + 1e-9 {
            score_close += 1;
        }
        let sa_spam = exp.score >= 5.0;
        if sa_spam == v.is_spam {
            same_verdict += 1;
        }
        for r in &only_sa {
            *missing.entry((*r).clone()).or_default() += 1;
            let e = examples.entry(format!("-{r}")).or_default();
            if e.len() < 3 {
                e.push(key.clone());
            }
        }
        for r in &only_us {
            *extra.entry((*r).clone()).or_default() += 1;
            let e = examples.entry(format!("+{r}")).or_default();
            if e.len() < 3 {
                e.push(key.clone());
            }
        }
        let relevant = only_rule
            .as_ref()
            .is_none_or(|r| only_sa.contains(&r) || only_us.contains(&r));
        if (!only_sa.is_empty() || !only_us.is_empty()) && relevant && shown < show {
            shown += 1;
            println!(
                "{key} ({}) SA {:.1} us {:.1}: only SA {:?} only us {:?}",
                exp.label, exp.score, v.score, only_sa, only_us
            );
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
    println!();
    println!(
        "messages: {total} in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    println!("identical rule set: {same_rules} ({:.2}%)", pct(same_rules));
    println!(
        "score within 0.1:   {score_close} ({:.2}%)",
        pct(score_close)
    );
    println!(
        "same verdict:       {same_verdict} ({:.2}%)",
        pct(same_verdict)
    );
    let mut rows: Vec<(String, usize, usize)> = missing
        .keys()
        .chain(extra.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|r| {
            (
                r.clone(),
                missing.get(r).copied().unwrap_or(0),
                extra.get(r).copied().unwrap_or(0),
            )
        })
        .collect();
    rows.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.cmp(&b.0)));
    println!();
    println!("{:<32} {:>8} {:>8}  examples", "rule", "only SA", "only us");
    for (r, m, e) in rows {
        let mut ex: Vec<String> = examples.get(&format!("-{r}")).cloned().unwrap_or_default();
        ex.extend(examples.get(&format!("+{r}")).cloned().unwrap_or_default());
        ex.truncate(2);
        println!("{r:<32} {m:>8} {e:>8}  {}", ex.join(" "));
    }
    let got = [pct(same_rules), pct(score_close), pct(same_verdict)];
    let what = ["identical rule set", "score within 0.1", "same verdict"];
    let mut ok = total == expected.len() && total > 0;
    if prefilter_check {
        let d = differ.lock().map(|d| d.clone()).unwrap_or_default();
        println!(
            "\nprefilter on/off: {} of {total} messages differ in rule hits or counts{}",
            d.len(),
            d.first()
                .map(|k| format!(" (first: {k})"))
                .unwrap_or_default()
        );
        if !d.is_empty() {
            ok = false;
        }
    }
    for i in 0..3 {
        if let Some(min) = require[i]
            && got[i] < min
        {
            eprintln!(
                "parity: {} {:.2}% is below the required {min}%",
                what[i], got[i]
            );
            ok = false;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
