//! How the embedded defaults do on mail, beside SpamAssassin 4.0.1.
//!
//! `cargo run --release -p xtask -- embedded-eval [--split test|train|all]
//! [--no-bayes] [--show N] [--out FILE] [--cf LINE]...
//! [--require-fp PCT] [--require-fn PCT] [--require-ja PCT]`
//!
//! With `--require-*` the run fails (CI gate) when the public corpus's FP
//! or FN rate is above the given percentage or not below SpamAssassin's on
//! the same messages, when less than PCT of the ja-real spam scanned
//! reaches 5.0, or when any Japanese ham does.
//!
//! Builds the engine exactly as spamd does on a machine without
//! SpamAssassin: only the embedded files (`rules/`), no rules or site
//! directory, local tests only, and Bayes on a new, empty SQLite database
//! in a temporary folder with auto-learn on. Messages are scanned one after
//! another in a fixed order (by a hash of their name, so ham and spam are
//! interleaved the same way on every run), which is what makes the
//! auto-learned Bayes state, and so the figures, reproducible.
//!
//! The split (see [`held_back`]) never changes:
//! - public corpus: a message is held back when the FNV-1a hash of its key
//!   (`folder.file`) is divisible by 5, about a fifth of each folder;
//! - `ja-real/spam`: the newest fifth by `Date:` (ties and undated messages
//!   by name; undated count as oldest);
//! - `ja-real/ham`: always held back, every message of it is a
//!   false-positive check;
//! - `ja/ham` (written for the project): by the same hash rule as the
//!   public corpus, so the fit sees some Japanese ham;
//! - `ja/spam` (hand-written to exercise the rules): training only.
//!
//! SpamAssassin's figures come from the recorded `-L`, no-Bayes verdicts:
//! `tests/parity/sa401-L.tsv` (public corpus) and `sa401-L-ja.tsv`
//! (Japanese folders, `xtask record --ja`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use spamcore::bayes::{Bayes, BayesOptions};
use spamcore::config::{Config, Sources, embedded};
use spamcore::message::{Message, MessageOptions};
use spamcore::rules::{CompileOptions, CompiledRules};
use spamcore::scan::{self, Verdict};

/// Which body of mail a message comes from; figures are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// The SpamAssassin public corpus.
    Public,
    /// `ja-real/`: real Japanese spam and legitimate mail.
    JaReal,
    /// `ja/`: hand-written Japanese mail in every encoding.
    JaHand,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::Public => "public corpus",
            Group::JaReal => "ja-real",
            Group::JaHand => "ja (hand-written)",
        }
    }
}

/// One labelled message.
#[derive(Debug, Clone)]
pub struct Item {
    /// `folder.file`, as in the recorded TSVs (`ja-real/spam.x.eml`).
    pub key: String,
    pub path: PathBuf,
    pub group: Group,
    pub spam: bool,
    /// Never used to write or tune rules.
    pub held_back: bool,
}

/// 64-bit FNV-1a.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The public-corpus rule of the split.
pub fn held_back(key: &str) -> bool {
    fnv1a(key.as_bytes()).is_multiple_of(5)
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut v: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `Date:` of a message as Unix seconds, if it has a readable one.
fn date_of(path: &Path) -> Option<i64> {
    let raw = std::fs::read(path).ok()?;
    let msg = Message::parse(&raw);
    spamcore::bayes::parse_date(&msg.header("Date")?)
}

/// Every labelled message of the project's test corpus with its split.
pub fn items(public: &Path) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for (folder, label) in corpus::PUBLIC_FOLDERS {
        for p in list(&public.join(folder))? {
            let key = format!("{folder}.{}", file_name(&p));
            out.push(Item {
                held_back: held_back(&key),
                key,
                path: p,
                group: Group::Public,
                spam: label == "spam",
            });
        }
    }
    let root = corpus::dir();
    for (folder, group) in [("ja-real", Group::JaReal), ("ja", Group::JaHand)] {
        for label in ["ham", "spam"] {
            let sub = format!("{folder}/{label}");
            let mut files: Vec<(Option<i64>, PathBuf)> = list(&root.join(&sub))?
                .into_iter()
                .map(|p| (if label == "spam" { date_of(&p) } else { None }, p))
                .collect();
            // Oldest first; undated first; ties by name.
            files.sort();
            let n = files.len();
            let newest_fifth = n - n.div_ceil(5);
            for (i, (_, p)) in files.into_iter().enumerate() {
                let key = format!("{sub}.{}", file_name(&p));
                let held_back = match (group, label) {
                    (Group::JaHand, "ham") => held_back(&key),
                    (_, "ham") => true,
                    (Group::JaReal, _) => i >= newest_fifth,
                    _ => false,
                };
                out.push(Item {
                    key,
                    path: p,
                    group,
                    spam: label == "spam",
                    held_back,
                });
            }
        }
    }
    // The fixed scanning order.
    out.sort_by_key(|i| (fnv1a(i.key.as_bytes()), i.key.clone()));
    Ok(out)
}

/// SpamAssassin's recorded score per key (both TSVs).
pub fn sa_scores() -> HashMap<String, f64> {
    let mut m = HashMap::new();
    for f in ["sa401-L.tsv", "sa401-L-ja.tsv"] {
        let path = corpus::workspace_root().join("tests/parity").join(f);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() >= 3
                && let Some(s) = f[2].split('/').next().and_then(|s| s.parse().ok())
            {
                m.insert(f[1].to_string(), s);
            }
        }
    }
    m
}

/// The engine spamd builds from the embedded files, with Bayes on an
/// empty database when `bayes` is set.
pub struct Engine {
    pub rules: CompiledRules,
    pub rules_bayes: Option<CompiledRules>,
    pub bayes: Option<Bayes>,
    pub msg_opts: MessageOptions,
    tmp: Option<PathBuf>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(t) = &self.tmp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

/// The embedded configuration, with `extra` lines read last.
pub fn embedded_config(extra: &[String]) -> Config {
    let sources = Sources {
        embedded: embedded::sources(),
        rules_dir: None,
        site_dir: None,
        extra_lines: extra.to_vec(),
        local_tests_only: true,
    };
    Config::load(&sources)
}

impl Engine {
    /// Compile `config` as spamd does (`-L`); `bayes`: open an empty
    /// database for it in a new temporary folder.
    pub fn new(mut config: Config, bayes: bool) -> Result<Engine, String> {
        if let Some(d) = config.diagnostics.first() {
            return Err(format!("configuration: {d}"));
        }
        config.diagnostics.clear();
        let bayes_opts = BayesOptions::from_config(&config);
        let msg_opts = config.message_options();
        let opts = CompileOptions {
            net: false,
            bayes: false,
        };
        let (rules, diags) = CompiledRules::compile(config, opts);
        if let Some(d) = diags.first() {
            return Err(format!("rules: {d}"));
        }
        let mut e = Engine {
            rules_bayes: None,
            rules,
            bayes: None,
            msg_opts,
            tmp: None,
        };
        if bayes && bayes_opts.use_bayes {
            let tmp = std::env::temp_dir().join(format!(
                "xtask-embedded-{}-{}",
                std::process::id(),
                fnv1a(format!("{:?}", std::time::SystemTime::now()).as_bytes())
            ));
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            e.tmp = Some(tmp.clone());
            let b = Bayes::open_sqlite(&tmp.join("bayes.sqlite"), bayes_opts)
                .map_err(|e| format!("bayes: {e}"))?;
            e.rules_bayes = Some(e.rules.for_score_set(CompileOptions {
                bayes: true,
                ..opts
            }));
            e.bayes = Some(b);
        }
        Ok(e)
    }

    /// Scan one message (learning from it when auto-learn decides so).
    pub fn scan(&self, raw: &[u8]) -> Verdict {
        let msg = Message::parse_with(raw, &self.msg_opts);
        scan::scan_with_bayes(
            &self.rules,
            self.rules_bayes.as_ref(),
            &msg,
            self.bayes.as_ref(),
        )
        .0
    }
}

/// Scan `items` in order; None where a file could not be read.
pub fn run(engine: &Engine, items: &[&Item]) -> Vec<Option<Verdict>> {
    items
        .iter()
        .map(|i| std::fs::read(&i.path).ok().map(|raw| engine.scan(&raw)))
        .collect()
}

#[derive(Default)]
struct Tally {
    ham: usize,
    spam: usize,
    fp: usize,
    fn_: usize,
    sa_ham: usize,
    sa_spam: usize,
    sa_fp: usize,
    sa_fn: usize,
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * n as f64 / d as f64)
    }
}

pub fn main(args: &[String]) -> ExitCode {
    let mut split = "test".to_string();
    let mut bayes = true;
    let mut show = 0usize;
    let mut out: Option<PathBuf> = None;
    let mut extra = Vec::new();
    let mut corpus_dir = None;
    let mut gate = Gate::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--split" => split = val(),
            "--no-bayes" => bayes = false,
            "--show" => show = val().parse().unwrap_or(0),
            "--out" => out = Some(PathBuf::from(val())),
            "--cf" => extra.push(val()),
            "--corpus" => corpus_dir = Some(PathBuf::from(val())),
            "--require-fp" => gate.max_fp = val().parse().ok(),
            "--require-fn" => gate.max_fn = val().parse().ok(),
            "--require-ja" => gate.min_ja = val().parse().ok(),
            other => {
                eprintln!("embedded-eval: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    match eval(
        &split,
        bayes,
        show,
        out.as_deref(),
        &extra,
        corpus_dir,
        &gate,
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("embedded-eval: {e}");
            ExitCode::from(1)
        }
    }
}

/// Limits that make the run fail (percentages).
#[derive(Default)]
struct Gate {
    max_fp: Option<f64>,
    max_fn: Option<f64>,
    min_ja: Option<f64>,
}

impl Gate {
    fn any(&self) -> bool {
        self.max_fp.is_some() || self.max_fn.is_some() || self.min_ja.is_some()
    }
}

fn rate(n: usize, d: usize) -> f64 {
    100.0 * n as f64 / d.max(1) as f64
}

fn check_gate(
    gate: &Gate,
    tallies: &std::collections::BTreeMap<(Group, bool), Tally>,
    ja_ham_over: &[String],
) -> Vec<String> {
    let mut fails = Vec::new();
    let zero = Tally::default();
    let public = tallies
        .iter()
        .find(|((g, _), _)| *g == Group::Public)
        .map_or(&zero, |(_, t)| t);
    let (fp, fn_) = (rate(public.fp, public.ham), rate(public.fn_, public.spam));
    let (sa_fp, sa_fn) = (
        rate(public.sa_fp, public.sa_ham),
        rate(public.sa_fn, public.sa_spam),
    );
    if let Some(max) = gate.max_fp {
        if fp > max {
            fails.push(format!("public FP {fp:.2}% above {max}%"));
        }
        if public.sa_ham == public.ham && fp >= sa_fp && public.fp > 0 {
            fails.push(format!(
                "public FP {fp:.2}% not below SpamAssassin's {sa_fp:.2}%"
            ));
        }
    }
    if let Some(max) = gate.max_fn {
        if fn_ > max {
            fails.push(format!("public FN {fn_:.2}% above {max}%"));
        }
        if public.sa_spam == public.spam && fn_ >= sa_fn {
            fails.push(format!(
                "public FN {fn_:.2}% not below SpamAssassin's {sa_fn:.2}%"
            ));
        }
    }
    if let Some(min) = gate.min_ja {
        let ja = tallies
            .iter()
            .find(|((g, _), _)| *g == Group::JaReal)
            .map_or(&zero, |(_, t)| t);
        let caught = 100.0 - rate(ja.fn_, ja.spam);
        if ja.spam == 0 || caught < min {
            fails.push(format!("ja-real spam at 5.0+ {caught:.2}% below {min}%"));
        }
        if !ja_ham_over.is_empty() {
            fails.push(format!("Japanese ham at 5.0+: {}", ja_ham_over.join("; ")));
        }
    }
    fails
}

fn eval(
    split: &str,
    bayes: bool,
    show: usize,
    out: Option<&Path>,
    extra: &[String],
    corpus_dir: Option<PathBuf>,
    gate: &Gate,
) -> Result<(), String> {
    let public = crate::public_corpus(corpus_dir)?;
    let all = items(&public)?;
    let chosen: Vec<&Item> = all
        .iter()
        .filter(|i| match split {
            "test" => i.held_back,
            "train" => !i.held_back,
            _ => true,
        })
        .collect();
    let engine = Engine::new(embedded_config(extra), bayes)?;
    let sa = sa_scores();
    let start = std::time::Instant::now();
    let verdicts = run(&engine, &chosen);
    let mut tallies: std::collections::BTreeMap<(Group, bool), Tally> = Default::default();
    let mut lines = Vec::new();
    let mut misses: Vec<String> = Vec::new();
    let mut ja_ham_over: Vec<String> = Vec::new();
    for (item, v) in chosen.iter().zip(&verdicts) {
        let Some(v) = v else {
            return Err(format!("cannot read {}", item.path.display()));
        };
        let sub = item.key.split('.').next().unwrap_or("");
        let t = tallies
            .entry((item.group, sub.starts_with("ja/")))
            .or_default();
        let wrong = v.is_spam != item.spam;
        if item.spam {
            t.spam += 1;
            t.fn_ += usize::from(wrong);
        } else {
            t.ham += 1;
            t.fp += usize::from(wrong);
            if item.group != Group::Public && v.score >= 5.0 {
                ja_ham_over.push(format!("{} {:.1}", item.key, v.score));
            }
        }
        if let Some(&s) = sa.get(&item.key) {
            let sa_wrong = (s >= 5.0) != item.spam;
            if item.spam {
                t.sa_spam += 1;
                t.sa_fn += usize::from(sa_wrong);
            } else {
                t.sa_ham += 1;
                t.sa_fp += usize::from(sa_wrong);
            }
        }
        let mut names = v.test_names();
        names.dedup();
        if wrong {
            misses.push(format!(
                "{} {} {:.1} {}",
                if item.spam { "FN" } else { "FP" },
                item.key,
                v.score,
                names.join(",")
            ));
        }
        lines.push(format!(
            "{}\t{}\t{:.1}\t{}\t{}",
            if item.spam { "spam" } else { "ham" },
            item.key,
            v.score,
            v.autolearn,
            names.join(",")
        ));
    }
    println!(
        "embedded defaults, split {split}, Bayes {} ({} messages in {:.1} s)",
        if engine.bayes.is_some() {
            "on (empty database, auto-learn)"
        } else {
            "off"
        },
        chosen.len(),
        start.elapsed().as_secs_f64()
    );
    if let Some(b) = &engine.bayes
        && let Ok((ns, nh)) = b.store.nspam_nham()
    {
        println!("auto-learned: {ns} spam, {nh} ham");
    }
    println!();
    println!(
        "{:<20} {:>6} {:>14} {:>14} {:>6} {:>14} {:>14}",
        "", "ham", "FP ours", "FP SA 4.0.1", "spam", "FN ours", "FN SA 4.0.1"
    );
    for ((group, _), t) in &tallies {
        let sa_fp = if t.sa_ham == t.ham {
            format!("{} {}", t.sa_fp, pct(t.sa_fp, t.sa_ham))
        } else {
            format!("n/a ({} rec.)", t.sa_ham)
        };
        let sa_fn = if t.sa_spam == t.spam {
            format!("{} {}", t.sa_fn, pct(t.sa_fn, t.sa_spam))
        } else {
            format!("n/a ({} rec.)", t.sa_spam)
        };
        println!(
            "{:<20} {:>6} {:>14} {:>14} {:>6} {:>14} {:>14}",
            group.name(),
            t.ham,
            format!("{} {}", t.fp, pct(t.fp, t.ham)),
            sa_fp,
            t.spam,
            format!("{} {}", t.fn_, pct(t.fn_, t.spam)),
            sa_fn
        );
    }
    println!();
    if ja_ham_over.is_empty() {
        println!("Japanese ham at 5.0 or more: none");
    } else {
        println!("Japanese ham at 5.0 or more: {}", ja_ham_over.join("; "));
    }
    for m in misses.iter().take(show) {
        println!("{m}");
    }
    if let Some(out) = out {
        std::fs::write(out, lines.join("\n") + "\n")
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    if gate.any() {
        let fails = check_gate(gate, &tallies, &ja_ham_over);
        if !fails.is_empty() {
            return Err(fails.join("; "));
        }
    }
    Ok(())
}
