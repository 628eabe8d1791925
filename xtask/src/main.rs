//! Project tools.
//!
//! `cargo run --release -p xtask -- parity [--tsv FILE] [--corpus DIR] [--rules DIR] [--site DIR] [--show N] [--rule NAME]`
//!   runs the corpus through our engine with SpamAssassin's rules (local
//!   tests only, no Bayes) and compares every message with the recorded
//!   SpamAssassin 4.0.1 results.
//!
//! `cargo run --release -p xtask -- bayes-compare [--corpus DIR] [--no-speed]`
//!   trains SpamAssassin's Bayes and ours on the same messages and
//!   compares their answers, backup/restore, and learning speed.
//!
//! `cargo run --release -p xtask -- bayes-cjk [--corpus DIR]`
//!   leave-one-out on the Japanese corpus with and without bayes_cjk_tokens.

mod bayes_cjk;
mod bayes_compare;
mod parity;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parity") => parity::main(&args[1..]),
        Some("bayes-compare") => bayes_compare::main(&args[1..]),
        Some("bayes-cjk") => bayes_cjk::main(&args[1..]),
        _ => {
            eprintln!("usage: xtask parity|bayes-compare|bayes-cjk [options]");
            ExitCode::from(2)
        }
    }
}
