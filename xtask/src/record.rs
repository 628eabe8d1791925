//! Record SpamAssassin 4.0.1's verdicts on the corpus as the parity oracle.
//!
//! `cargo run --release -p xtask -- record [--corpus DIR] [--out FILE]`
//! (`--ja`: the Japanese folders of `tests/corpus` instead, written to
//! `tests/parity/sa401-L-ja.tsv` with keys such as `ja-real/spam.x.eml`)
//! starts Debian's spamd (`-L`, `use_bayes 0`, rules from
//! /usr/share/spamassassin and /etc/spamassassin), sends every message with
//! SYMBOLS, and writes `label<TAB>folder.file<TAB>score/threshold<TAB>RULES`
//! (the score as `spamc -c` prints it, the rules as `spamc -y` does).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bench::start;

fn symbols(port: u16, msg: &[u8]) -> Result<(String, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(|e| e.to_string())?;
    let mut req =
        format!("SYMBOLS SPAMC/1.5\r\nContent-length: {}\r\n\r\n", msg.len()).into_bytes();
    req.extend_from_slice(msg);
    s.write_all(&req).map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let r = spamcore::protocol::parse_response(&buf).map_err(|e| e.to_string())?;
    let (_, score, thr) = r.spam.ok_or("reply without Spam: header")?;
    Ok((
        format!("{score:.1}/{thr:.1}"),
        String::from_utf8_lossy(&r.body).into_owned(),
    ))
}

pub fn main(args: &[String]) -> ExitCode {
    let mut corpus = None;
    let mut out = None;
    let mut ja = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--ja" => ja = true,
            "--corpus" => corpus = it.next().map(PathBuf::from),
            "--out" => out = it.next().map(PathBuf::from),
            other => {
                eprintln!("record: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let name = if ja { "sa401-L-ja.tsv" } else { "sa401-L.tsv" };
    let out = out.unwrap_or_else(|| corpus::workspace_root().join("tests/parity").join(name));
    let folders: Vec<&str> = if ja {
        vec!["ja/ham", "ja/spam", "ja-real/ham", "ja-real/spam"]
    } else {
        corpus::PUBLIC_FOLDERS.iter().map(|(f, _)| *f).collect()
    };
    let root = if ja {
        Ok(corpus.unwrap_or_else(corpus::dir))
    } else {
        crate::public_corpus(corpus)
    };
    match root.and_then(|c| record(&c, &folders, &out)) {
        Ok(n) => {
            println!("recorded {n} messages in {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("record: {e}");
            ExitCode::from(1)
        }
    }
}

fn record(corpus: &Path, folders: &[&str], out: &Path) -> Result<usize, String> {
    let mut files = Vec::new();
    for &folder in folders {
        let dir = corpus.join(folder);
        let rd = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for e in rd.flatten() {
            files.push((folder.to_string(), e.path()));
        }
    }
    files.sort();
    // One message per child: a spamd child carries state from message to
    // message (capture-template rules such as GB_CUSTOM_HTM_URI stop hitting
    // after some messages), and a fresh child answers like `spamassassin -t`.
    let d = start(
        "SpamAssassin",
        Path::new("/usr/sbin/spamd"),
        &[
            "--cf=use_bayes 0",
            "--syslog=null",
            "--max-conn-per-child=1",
        ],
    )?;
    let files = Arc::new(files);
    let next = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let port = d.port;
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (files, next, lines, errors) =
                (files.clone(), next.clone(), lines.clone(), errors.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((folder, path)) = files.get(i) else {
                        break;
                    };
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let label = if folder.ends_with("spam") || folder.starts_with("spam") {
                        "spam"
                    } else {
                        "ham"
                    };
                    let result = std::fs::read(path)
                        .map_err(|e| e.to_string())
                        .and_then(|m| symbols(port, &m));
                    match result {
                        Ok((score, rules)) => {
                            if let Ok(mut l) = lines.lock() {
                                l.push(format!("{label}\t{folder}.{name}\t{score}\t{rules}"));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut v) = errors.lock() {
                                v.push(format!("{}: {e}", path.display()));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    drop(d);
    let errors = errors.lock().map(|v| v.clone()).unwrap_or_default();
    if let Some(first) = errors.first() {
        return Err(format!("{} messages failed, first: {first}", errors.len()));
    }
    let mut lines = lines.lock().map(|v| v.clone()).unwrap_or_default();
    lines.sort_by(|a, b| a.split('\t').nth(1).cmp(&b.split('\t').nth(1)));
    let n = lines.len();
    std::fs::write(out, lines.join("\n") + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(n)
}
