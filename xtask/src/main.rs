//! Project tools.
//!
//! `cargo run --release -p xtask -- parity [--tsv FILE] [--corpus DIR] [--rules DIR] [--site DIR] [--show N] [--rule NAME]`
//!   runs the corpus through our engine with SpamAssassin's rules (local
//!   tests only, no Bayes) and compares every message with the recorded
//!   SpamAssassin 4.0.1 results. `parity --network [--limit N|--all]`
//!   instead serves blocklist zones with knotd and compares live with
//!   SpamAssassin's spamd, network tests on (xtask/src/parity_net.rs).
//!
//! `cargo run --release -p xtask -- bench [--messages N]` runs SpamAssassin's
//! spamd and ours side by side on the same sample and prints the ratios;
//! with `--bayes`, Bayes on: ours on SQLite, ours on Redis and
//! SpamAssassin on the same Redis.
//!
//! `cargo run --release -p xtask -- profile [--messages N] [--rounds R]`
//! scans the bench sample in process and prints the time per stage.
//!
//! `cargo run --release -p xtask -- record` regenerates
//! `tests/parity/sa401-L.tsv` by running SpamAssassin itself.
//!

//! `cargo run --release -p xtask -- bayes-compare [--corpus DIR] [--no-speed]`
//!   trains SpamAssassin's Bayes and ours on the same messages and
//!   compares their answers, backup/restore, and learning speed.
//!
//! `cargo run --release -p xtask -- bayes-compare --expiry [--require PCT]`
//!   learns the whole public corpus but a held-back tenth with both, past
//!   `bayes_expiry_max_db_size`, and compares `--dump magic` and BAYES_*
//!   answers before and after `--force-expire`.
//!
//! `cargo run --release -p xtask -- bayes-tokens [--corpus DIR] [--show N]`
//!   every message's Bayes tokens, ours against SpamAssassin's.
//! `cargo run --release -p xtask -- bayes-cjk [--corpus DIR]`
//!   leave-one-out on the Japanese corpus with and without bayes_cjk_tokens.
//!
//! `cargo run --release -p xtask -- embedded-eval [--split test|train|all]`
//!   the embedded defaults alone (empty Bayes, auto-learn) on the held-back
//!   split, beside SpamAssassin 4.0.1's recorded verdicts.
//!
//! `cargo run --release -p xtask -- load [--clients N] [--seconds T] [--faults] [--rate R] [--connects N] [--long]`
//!   drives target/release/spamd (`-m 2`) with N real socket clients and,
//!   with `--faults`, one rude client or SIGHUP a second; prints requests,
//!   failures, latency percentiles, descriptors and RSS as it goes.
//!
//! `cargo run --release -p xtask -- tune-scores` fits the embedded rules'
//!   scores on the training split and writes `rules/90_scores.cf`.

/// The daemon's allocator, so `profile` and `parity` run the engine as spamd does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bayes_cjk;
mod bayes_compare;
mod bayes_expiry;
mod bayes_tokens;
mod bench;
mod bench_bayes;
mod embedded_eval;
mod parity;
mod parity_net;
mod profile;
mod record;
mod tune_scores;

use std::path::PathBuf;
use std::process::ExitCode;

/// `--corpus DIR` if given, else the public corpus shipped in
/// `tests/corpus` (unpacked into the target directory on first use).
pub(crate) fn public_corpus(given: Option<PathBuf>) -> Result<PathBuf, String> {
    match given {
        Some(dir) => Ok(dir),
        None => corpus::public().map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parity") => parity::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("profile") => profile::main(&args[1..]),
        Some("record") => record::main(&args[1..]),
        Some("bayes-compare") => bayes_compare::main(&args[1..]),
        Some("bayes-cjk") => bayes_cjk::main(&args[1..]),
        Some("bayes-tokens") => bayes_tokens::main(&args[1..]),
        Some("embedded-eval") => embedded_eval::main(&args[1..]),
        Some("tune-scores") => tune_scores::main(&args[1..]),
        Some("load") => {
            let root = corpus::workspace_root();
            e2e::load::main(
                &args[1..],
                &root.join("target/release/spamd"),
                &root.join("rules"),
            )
        }
        _ => {
            eprintln!(
                "usage: xtask parity|bench|profile|record|bayes-compare|bayes-cjk|bayes-tokens|embedded-eval|tune-scores|load [options]"
            );
            ExitCode::from(2)
        }
    }
}
