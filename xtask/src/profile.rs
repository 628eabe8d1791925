//! Per-stage profile of our engine, in process, on the bench sample.
//!
//! `cargo run --release -p xtask -- profile [--messages N] [--corpus DIR] [--rounds R] [--prefilter on|off]`
//!
//! Loads SpamAssassin's rules as `spamd -L --cf='use_bayes 0'` does, then
//! scans the same fixed sample as `bench` on one thread, forcing each
//! message view in pipeline order so its cost lands in its own stage. The
//! stages are timed in the thread's CPU time, so a loaded machine does not
//! inflate them; under
//! `valgrind --tool=callgrind` the same run gives load-independent
//! instruction counts per function.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use spamcore::config::{Config, Sources};
use spamcore::message::Message;
use spamcore::report::{self, TagContext};
use spamcore::rules::{CompileOptions, CompiledRules, Profile, Stage};

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

unsafe extern "C" {
    fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu() -> Duration {
    let mut ts = Timespec { sec: 0, nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { clock_gettime(3, &mut ts) };
    Duration::new(ts.sec.max(0) as u64, ts.nsec.clamp(0, 999_999_999) as u32)
}

/// SpamAssassin's installed rules, as `spamd -L --cf='use_bayes 0'` loads them.
pub fn load_rules() -> (CompiledRules, Duration) {
    let t = Instant::now();
    let sources = Sources {
        rules_dir: Some(PathBuf::from("/usr/share/spamassassin")),
        site_dir: Some(PathBuf::from("/etc/spamassassin")),
        extra_lines: vec!["use_bayes 0".into()],
        local_tests_only: true,
        ..Default::default()
    };
    let config = Config::load(&sources);
    let (rules, _) = CompiledRules::compile(
        config,
        CompileOptions {
            net: false,
            bayes: false,
        },
    );
    // Every automaton built before timing starts (spamd builds them in
    // the background), so the first round is not charged for them.
    rules.warm(|| {});
    (rules, t.elapsed())
}

/// Scan `msgs` `rounds` times on this thread; returns the profile and the
/// thread CPU time it took.
pub fn run(
    rules: &CompiledRules,
    msgs: &[Vec<u8>],
    rounds: usize,
    per_rule: bool,
) -> (Profile, Duration) {
    let opts = rules.config.message_options();
    let mut prof = Profile::with_clock(thread_cpu);
    if per_rule {
        prof = prof.with_rule_times();
    }
    let cpu0 = thread_cpu();
    for _ in 0..rounds {
        for raw in msgs {
            let msg = prof.time(Stage::Parse, || Message::parse_with(raw, &opts));
            prof.time(Stage::Render, || msg.body_lines_bytes().len());
            prof.time(Stage::Rawbody, || msg.rawbody_chunks().len());
            prof.time(Stage::Uris, || msg.uris().len());
            prof.time(Stage::Relays, || msg.relays().trusted.len());
            let v = spamcore::scan::scan_profiled(rules, &msg, &mut prof);
            prof.time(Stage::Report, || {
                let header = |name: &str| msg.header(name).unwrap_or_default();
                let ctx = TagContext {
                    hostname: "localhost".into(),
                    body_lines: msg.body_lines(),
                    header: Some(&header),
                    ..Default::default()
                };
                report::rewrite_mail(raw, &v, &rules.config.report, &ctx).len()
            });
        }
    }
    (prof, thread_cpu().saturating_sub(cpu0))
}

/// The `top` rules by time, in microseconds per message.
fn print_rules(rules: &CompiledRules, prof: &Profile, scans: usize, top: usize) {
    let mut times: Vec<(usize, Duration)> = prof.rule_times().iter().copied().enumerate().collect();
    times.sort_by_key(|t| std::cmp::Reverse(t.1));
    let all: Duration = times.iter().map(|t| t.1).sum();
    println!(
        "\nslowest rules (thread CPU us/msg, clock reads included; all rules {:.3} ms/msg):",
        all.as_secs_f64() * 1000.0 / scans.max(1) as f64
    );
    for (i, d) in times.into_iter().take(top) {
        let (name, stage, engine) = rules.rule_label(i).unwrap_or(("?", Stage::Meta, ""));
        // `*`: no required literal, so the rule runs on every message.
        let always = if engine.is_empty() || rules.prefilter_judges(i) {
            ' '
        } else {
            '*'
        };
        println!(
            "  {:>9.1}  {:<28} {:<6}{always} {}",
            d.as_secs_f64() * 1e6 / scans.max(1) as f64,
            stage.label(),
            engine,
            name
        );
    }
}

/// The profile as a table, in ms per message.
pub fn print(prof: &Profile, cpu: Duration, scans: usize) {
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / scans.max(1) as f64;
    let total = prof.total();
    println!("{:<28} {:>10} {:>7}", "stage", "ms/msg", "share");
    for s in Stage::ALL {
        let d = prof.get(s);
        println!(
            "{:<28} {:>10.3} {:>6.1}%",
            s.label(),
            per(d),
            100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-12)
        );
    }
    println!("{:<28} {:>10.3}", "sum of stages", per(total));
    println!("{:<28} {:>10.3}", "thread CPU (whole loop)", per(cpu));
}

pub fn main(args: &[String]) -> ExitCode {
    let mut n = 300usize;
    let mut rounds = 1usize;
    let mut corpus = None;
    let mut modes = vec![false, true];
    let mut top = 0usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--messages" => n = it.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--rounds" => rounds = it.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--corpus" => corpus = it.next().map(PathBuf::from),
            // Also list the N rules that took the most time.
            "--rules" => top = it.next().and_then(|v| v.parse().ok()).unwrap_or(30),
            // Only one mode (e.g. under callgrind): `on` or `off`.
            "--prefilter" => modes = vec![it.next().map(String::as_str) == Some("on")],
            other => {
                eprintln!("profile: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let corpus: PathBuf = match crate::public_corpus(corpus) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("profile: {e}");
            return ExitCode::from(1);
        }
    };
    match profile(n, rounds, &corpus, &modes, top) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("profile: {e}");
            ExitCode::from(1)
        }
    }
}

fn profile(
    n: usize,
    rounds: usize,
    corpus: &Path,
    modes: &[bool],
    top: usize,
) -> Result<(), String> {
    let msgs = crate::bench::sample(corpus, n)?;
    let (rules, load) = load_rules();
    println!(
        "rules: {} loaded and compiled in {} ms; sample {} messages x {rounds}",
        rules.len(),
        load.as_millis(),
        msgs.len()
    );
    for &on in modes {
        let mut rules = rules.for_score_set(CompileOptions {
            net: false,
            bayes: false,
        });
        rules.set_prefilter(on);
        println!("\nprefilter {}", if on { "on" } else { "off" });
        let (prof, cpu) = run(&rules, &msgs, rounds, top > 0);
        print(&prof, cpu, msgs.len() * rounds);
        if top > 0 {
            print_rules(&rules, &prof, msgs.len() * rounds, top);
        }
    }
    println!("\nrules the prefilter can skip (class: judged/total):");
    for (class, judged, total) in rules.prefilter_stats() {
        println!("  {class:<8} {judged:>5}/{total}");
    }
    let (groups, body, rawbody) = rules.gate_stats();
    println!("of the others, gated by {groups} multi-pattern DFAs: body {body}, rawbody {rawbody}");
    Ok(())
}
