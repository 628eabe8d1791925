//! `xtask bayes-compare --expiry`: a database big enough to expire, learned
//! by `sa-learn` and by `spamd learn` from the same messages, compared
//! through `--dump magic` and through the BAYES_* rule each gives a
//! held-back set; then the same after `--force-expire`.
//!
//! The whole public corpus is learned except every tenth message (held
//! back): spam folders first, then ham folders, each in one learner call,
//! so that both learners meet the same expiry checks at the same points.
//! `--require PCT` fails the run when band agreement is under PCT or the
//! counters differ (`--tolerance PPM` lets the token count, and the atime
//! delta estimated from it, differ by that many parts per million).
//!
//! SpamAssassin needs minutes for this; `--record FILE` keeps its side
//! (counters and bands of each phase) in a TSV, and `--recorded FILE` runs
//! only our side against it, which is what the test suite does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use spamcore::bayes::BayesOptions;

use super::bayes_compare::{band, classify_ours, classify_sa, files, sa_config};

/// The `--dump magic` counters compared (SpamAssassin's names).
const COUNTERS: [&str; 7] = [
    "nspam",
    "nham",
    "ntokens",
    "oldest atime",
    "newest atime",
    "last expire atime delta",
    "last expire reduction count",
];

fn dump_magic(cmd: &mut Command) -> Result<HashMap<String, i64>, String> {
    let out = cmd
        .args(["--dump", "magic"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut m = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((head, name)) = line.split_once("non-token data: ") else {
            continue;
        };
        if let Some(v) = head.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
            m.insert(name.trim().to_string(), v);
        }
    }
    Ok(m)
}

/// SpamAssassin's side: run live (and maybe recorded), or read back.
enum Reference {
    Live(Option<Vec<String>>),
    Recorded(HashMap<(String, String), String>),
}

struct Sides<'a> {
    spamd: &'a Path,
    sa_db: PathBuf,
    our_db: PathBuf,
    reference: Reference,
    corpus: PathBuf,
    tolerance_ppm: f64,
}

impl Sides<'_> {
    fn sa(&self) -> Command {
        let mut c = Command::new("sa-learn");
        c.arg("--dbpath").arg(&self.sa_db);
        c
    }

    fn ours(&self) -> Command {
        let mut c = Command::new(self.spamd);
        c.arg("learn").arg("--dbpath").arg(&self.our_db);
        c
    }

    /// SpamAssassin's counters for a phase.
    fn sa_magic(&mut self, phase: &str) -> Result<HashMap<String, i64>, String> {
        let live = if self.live() {
            Some(dump_magic(&mut self.sa())?)
        } else {
            None
        };
        match &mut self.reference {
            Reference::Live(rec) => {
                let m = live.unwrap_or_default();
                if let Some(lines) = rec {
                    for name in COUNTERS {
                        if let Some(v) = m.get(name) {
                            lines.push(format!("magic\t{phase}\t{name}\t{v}"));
                        }
                    }
                }
                Ok(m)
            }
            Reference::Recorded(map) => Ok(COUNTERS
                .iter()
                .filter_map(|n| {
                    let v = map.get(&(format!("magic {phase}"), n.to_string()))?;
                    Some((n.to_string(), v.parse().ok()?))
                })
                .collect()),
        }
    }

    /// SpamAssassin's bands for a phase, keyed by message path.
    fn sa_bands(
        &mut self,
        phase: &str,
        held: &[PathBuf],
        script: &Path,
    ) -> Result<HashMap<PathBuf, String>, String> {
        match &mut self.reference {
            Reference::Live(rec) => {
                let p = classify_sa(&self.sa_db, held, script)?;
                let bands: HashMap<PathBuf, String> = held
                    .iter()
                    .map(|f| (f.clone(), band(p.get(f).copied().flatten()).to_string()))
                    .collect();
                if let Some(lines) = rec {
                    for f in held {
                        let rel = f.strip_prefix(&self.corpus).unwrap_or(f);
                        lines.push(format!("band\t{phase}\t{}\t{}", rel.display(), bands[f]));
                    }
                }
                Ok(bands)
            }
            Reference::Recorded(map) => Ok(held
                .iter()
                .map(|f| {
                    let rel = f.strip_prefix(&self.corpus).unwrap_or(f);
                    let b = map
                        .get(&(format!("band {phase}"), rel.display().to_string()))
                        .cloned()
                        .unwrap_or_else(|| "unrecorded".into());
                    (f.clone(), b)
                })
                .collect()),
        }
    }

    fn live(&self) -> bool {
        matches!(self.reference, Reference::Live(_))
    }

    /// Print both sides' counters; returns how many differ.
    fn compare_magic(&mut self, when: &str, phase: &str) -> Result<usize, String> {
        let sa = self.sa_magic(phase)?;
        let ours = dump_magic(&mut self.ours())?;
        println!("\n-- --dump magic {when}");
        println!("{:<30} {:>12} {:>12}", "counter", "SpamAssassin", "ours");
        let mut differ = 0;
        for name in COUNTERS {
            let (a, b) = (sa.get(name).copied(), ours.get(name).copied());
            // The token count, and the delta estimated and the reduction
            // counted from it, may differ by `tolerance_ppm` (the
            // tokenizers' remaining differences).
            let tolerated = match (a, b) {
                (Some(x), Some(y))
                    if matches!(
                        name,
                        "ntokens" | "last expire atime delta" | "last expire reduction count"
                    ) =>
                {
                    (x - y).unsigned_abs() as f64
                        <= x.unsigned_abs() as f64 * self.tolerance_ppm / 1e6
                }
                _ => a == b,
            };
            let mark = match (a == b, tolerated) {
                (true, _) => "",
                (false, true) => "  <- differs (within tolerance)",
                (false, false) => "  <- differs",
            };
            if !tolerated {
                differ += 1;
            }
            let show = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
            println!("{name:<30} {:>12} {:>12}{mark}", show(a), show(b));
        }
        Ok(differ)
    }
}

fn run_ok(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Classify `held` with both and print the agreement; returns its percent.
fn compare_bands(
    sides: &mut Sides<'_>,
    held: &[PathBuf],
    opts: &BayesOptions,
    script: &Path,
    phase: &str,
    when: &str,
) -> Result<f64, String> {
    let sa = sides.sa_bands(phase, held, script)?;
    let ours = classify_ours(&sides.our_db.with_extension("sqlite"), opts, held)?;
    let same = held
        .iter()
        .filter(|f| sa.get(*f).map(String::as_str) == Some(band(ours.get(*f).copied().flatten())))
        .count();
    let pct = 100.0 * same as f64 / held.len().max(1) as f64;
    println!(
        "\n-- held-back set {when}: same BAYES_* rule on {same}/{} = {pct:.2}%",
        held.len()
    );
    Ok(pct)
}

/// Options: `--require PCT`, `--record FILE`, `--recorded FILE`,
/// `--tolerance PPM` (token count and estimated delta; default exact).
pub struct ExpiryArgs {
    pub require: Option<f64>,
    pub tolerance_ppm: f64,
    pub record: Option<PathBuf>,
    pub recorded: Option<PathBuf>,
}

pub fn run(corpus: &Path, spamd: &Path, script: &Path, args: &ExpiryArgs) -> Result<(), String> {
    let reference = match &args.recorded {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            let mut map = HashMap::new();
            for l in text.lines().filter(|l| !l.starts_with('#')) {
                let v: Vec<&str> = l.split('\t').collect();
                if let [kind, phase, name, value] = v[..] {
                    map.insert(
                        (format!("{kind} {phase}"), name.to_string()),
                        value.to_string(),
                    );
                }
            }
            Reference::Recorded(map)
        }
        None => Reference::Live(args.record.as_ref().map(|_| Vec::new())),
    };
    let work = std::env::temp_dir().join(format!("bayes-expiry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let mut held = Vec::new();
    let mut train: [(bool, Vec<PathBuf>); 2] = [(true, Vec::new()), (false, Vec::new())];
    for (dir, spam) in [
        ("spam", true),
        ("spam_2", true),
        ("easy_ham", false),
        ("easy_ham_2", false),
        ("hard_ham", false),
    ] {
        for (i, f) in files(&corpus.join(dir)).into_iter().enumerate() {
            if i % 10 == 0 {
                held.push(f);
            } else {
                train[usize::from(!spam)].1.push(f);
            }
        }
    }
    for d in ["sa", "ours", "train-spam", "train-ham"] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| e.to_string())?;
    }
    let mut sides = Sides {
        spamd,
        sa_db: work.join("sa/bayes"),
        our_db: work.join("ours/bayes"),
        reference,
        corpus: corpus.to_path_buf(),
        tolerance_ppm: args.tolerance_ppm,
    };
    let mut differ = 0;
    println!(
        "== Learning {} spam then {} ham; {} held back",
        train[0].1.len(),
        train[1].1.len(),
        held.len()
    );
    for (spam, list) in &train {
        let (flag, dir) = if *spam {
            ("--spam", work.join("train-spam"))
        } else {
            ("--ham", work.join("train-ham"))
        };
        // Links named by index keep the corpus order in both learners,
        // and one name per message (folders reuse file names).
        for (i, f) in list.iter().enumerate() {
            let _ = std::os::unix::fs::symlink(f, dir.join(format!("{i:05}")));
        }
        let t = Instant::now();
        if sides.live() {
            run_ok(sides.sa().arg(flag).arg(&dir))?;
        }
        let sa_t = t.elapsed();
        let t = Instant::now();
        run_ok(sides.ours().arg(flag).arg(&dir))?;
        println!(
            "{flag}: sa-learn {:.1}s, spamd learn {:.1}s",
            sa_t.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
    }
    differ += sides.compare_magic("after learning", "learned")?;

    let conf = sa_config();
    let mut opts = BayesOptions::from_config(&conf);
    opts.auto_learn = false;
    let first = compare_bands(
        &mut sides,
        &held,
        &opts,
        script,
        "scanned",
        "(scans may expire)",
    )?;
    differ += sides.compare_magic("after scanning the held-back set", "scanned")?;

    println!("\n== --force-expire");
    if sides.live() {
        print!(
            "SpamAssassin: {}",
            run_ok(sides.sa().arg("--force-expire"))?
        );
    }
    print!(
        "ours:         {}",
        run_ok(sides.ours().arg("--force-expire"))?
    );
    differ += sides.compare_magic("after --force-expire", "forced")?;
    let second = compare_bands(
        &mut sides,
        &held,
        &opts,
        script,
        "forced",
        "after --force-expire",
    )?;
    let _ = std::fs::remove_dir_all(&work);
    if let (Some(file), Reference::Live(Some(lines))) = (&args.record, &sides.reference) {
        let mut text = String::from(
            "# SpamAssassin 4.0.1's side of `xtask bayes-compare --expiry` (kind, phase, name, value);\n\
             # regenerate with: cargo run --release -p xtask -- bayes-compare --expiry --record FILE\n",
        );
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(file, text).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("\nrecorded SpamAssassin's side in {}", file.display());
    }
    if let Some(req) = args.require {
        if differ > 0 {
            return Err(format!("{differ} --dump magic counters differ"));
        }
        if first < req || second < req {
            return Err(format!(
                "band agreement {first:.2}% / {second:.2}% is under {req}%"
            ));
        }
    }
    Ok(())
}
