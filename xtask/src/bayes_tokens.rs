//! `xtask bayes-tokens`: our Bayes tokens against SpamAssassin 4.0.1's,
//! message by message. Both sides tokenize every message of the corpus as
//! learning would (SpamAssassin through `xtask/bayes/sa_tokens.pl`, which
//! calls its Bayes plugin's `tokenize`); the report lists each message
//! whose token sets differ, with the tokens only one side has.
//!
//! `cargo run --release -p xtask -- bayes-tokens [--corpus DIR] [--show N] [--dirs a,b] [--sa-cache FILE] [--print]`
//!
//! Exits non-zero when any message differs, so it can serve as a gate.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use spamcore::bayes::TokenizerOptions;
use spamcore::bayes::tokenizer;
use spamcore::message::Message;

use crate::bayes_compare::{files, sa_config};

type Tokens = BTreeMap<PathBuf, BTreeSet<Vec<u8>>>;

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A token as text: printable ASCII as is, other bytes as `\xNN`.
pub(crate) fn show(t: &[u8]) -> String {
    t.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) && b != b'\\' {
                char::from(b).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

fn parse_sa(text: &str, msgs: &[PathBuf]) -> Tokens {
    let mut map: Tokens = msgs.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for line in text.lines() {
        let Some((f, h)) = line.split_once('\t') else {
            continue;
        };
        if let (Some(set), Some(t)) = (map.get_mut(Path::new(f)), hex_decode(h)) {
            set.insert(t);
        }
    }
    map
}

/// SpamAssassin's tokens, from `cache` when it exists (it is slow to
/// recompute while iterating on our side), else from sa_tokens.pl (and
/// then saved to `cache`).
fn sa_tokens(script: &Path, msgs: &[PathBuf], cache: Option<&Path>) -> Result<Tokens, String> {
    if let Some(text) = cache.and_then(|c| std::fs::read_to_string(c).ok()) {
        return Ok(parse_sa(&text, msgs));
    }
    let mut child = Command::new("perl")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("perl {}: {e}", script.display()))?;
    let list: String = msgs.iter().map(|p| format!("{}\n", p.display())).collect();
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
    if let Some(c) = cache {
        std::fs::write(c, text.as_bytes()).map_err(|e| format!("{}: {e}", c.display()))?;
    }
    Ok(parse_sa(&text, msgs))
}

fn our_tokens(msgs: &[PathBuf]) -> Result<Tokens, String> {
    // Parsed and tokenized with SpamAssassin's configuration (its
    // bayes_ignore_header lines among others), as `spamd learn` does.
    let conf = sa_config();
    let msg_opts = conf.message_options();
    let opts = TokenizerOptions::from_config(&conf);
    let mut map = Tokens::new();
    for f in msgs {
        let raw = std::fs::read(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let m = Message::parse_with(&raw, &msg_opts);
        let toks = tokenizer::tokenize(&m, &opts);
        map.insert(f.clone(), toks.into_values().collect());
    }
    Ok(map)
}

pub fn main(args: &[String]) -> ExitCode {
    let val = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let corpus = match crate::public_corpus(val("--corpus").map(PathBuf::from)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bayes-tokens: {e}");
            return ExitCode::from(2);
        }
    };
    let show_n: usize = val("--show").and_then(|s| s.parse().ok()).unwrap_or(20);
    let dirs =
        val("--dirs").unwrap_or_else(|| "easy_ham,easy_ham_2,hard_ham,spam,spam_2".to_string());
    let mut msgs = Vec::new();
    for d in dirs.split(',') {
        let dir = corpus.join(d);
        if dir.is_dir() {
            msgs.extend(files(&dir));
        } else if dir.is_file() {
            msgs.push(dir);
        }
    }
    let script = corpus::workspace_root().join("xtask/bayes/sa_tokens.pl");
    let (sa, ours) = match (
        sa_tokens(&script, &msgs, val("--sa-cache").as_deref().map(Path::new)),
        our_tokens(&msgs),
    ) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("bayes-tokens: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut differ, mut only_ours_n, mut only_sa_n) = (0usize, 0usize, 0usize);
    let mut all_sa = BTreeSet::new();
    let mut all_ours = BTreeSet::new();
    for m in &msgs {
        let empty = BTreeSet::new();
        let s = sa.get(m).unwrap_or(&empty);
        let o = ours.get(m).unwrap_or(&empty);
        all_sa.extend(s.iter().cloned());
        all_ours.extend(o.iter().cloned());
        if args.iter().any(|a| a == "--print") {
            for t in o {
                println!("  ours: {}", show(t));
            }
            for t in s {
                println!("  SA:   {}", show(t));
            }
        }
        let only_o: Vec<_> = o.difference(s).collect();
        let only_s: Vec<_> = s.difference(o).collect();
        if only_o.is_empty() && only_s.is_empty() {
            continue;
        }
        differ += 1;
        only_ours_n += only_o.len();
        only_sa_n += only_s.len();
        if differ <= show_n {
            println!("{}", m.display());
            for t in only_o.iter().take(12) {
                println!("  ours only: {}", show(t));
            }
            for t in only_s.iter().take(12) {
                println!("  SA only:   {}", show(t));
            }
        }
    }
    println!(
        "\n{} messages: {differ} with different token sets ({only_ours_n} tokens only ours, {only_sa_n} only SpamAssassin's)",
        msgs.len()
    );
    println!(
        "distinct tokens over all messages: ours {}, SpamAssassin {}, only ours {}, only SpamAssassin {}",
        all_ours.len(),
        all_sa.len(),
        all_ours.difference(&all_sa).count(),
        all_sa.difference(&all_ours).count()
    );
    if differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
