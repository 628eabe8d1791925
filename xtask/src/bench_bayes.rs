//! `xtask bench --bayes`: scan throughput with Bayes on, in one run: our
//! spamd on SQLite, our spamd on Redis, SpamAssassin's spamd on the same
//! Redis database (its own Redis store). Needs Debian's `redis-server`.
//!
//! The database is learned once by `spamd learn` (250 spam, 250 ham from
//! the public corpus) into SQLite and into Redis; SpamAssassin reads the
//! Redis copy as it reads its own. Auto-learning is off so every run scans
//! the same database.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bench::{ms, run_load, sample, start, tree_rss_kib};

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(dir: &Path, port: u16) -> Result<Redis, String> {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("redis-server (apt-get install -y redis-server): {e}"))?;
    let r = Redis(child);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t.elapsed() > Duration::from_secs(30) {
            return Err("redis-server did not start".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(r)
}

fn learn(spamd: &Path, store: &[String], class: &str, dir: &Path) -> Result<(), String> {
    let st = Command::new(spamd)
        .arg("learn")
        .args(store)
        .arg(class)
        .arg(dir)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("spamd learn {class} failed: {st}"))
    }
}

fn training(corpus: &Path, work: &Path, folder: &str) -> Result<PathBuf, String> {
    let d = work.join(folder);
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(folder))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for (i, f) in files.iter().take(250).enumerate() {
        let _ = std::os::unix::fs::symlink(f, d.join(format!("{i:04}")));
    }
    Ok(d)
}

pub fn bench(n: usize, corpus: &Path) -> Result<(), String> {
    let msgs = Arc::new(sample(corpus, n)?);
    let ours = crate::bench::build_release_spamd()?;
    let sa = PathBuf::from("/usr/sbin/spamd");
    let work = std::env::temp_dir().join(format!("bench-bayes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let _redis = redis(&work, port)?;
    let redis_cf = vec![
        "--cf=bayes_store_module Mail::SpamAssassin::BayesStore::Redis".to_string(),
        format!("--cf=bayes_sql_dsn server=127.0.0.1:{port};database=0"),
    ];
    let sqlite_cf = vec![format!(
        "--cf=bayes_path {}",
        work.join("db/bayes").display()
    )];
    let spam = training(corpus, &work, "spam")?;
    let ham = training(corpus, &work, "easy_ham")?;
    for store in [&sqlite_cf, &redis_cf] {
        learn(&ours, store, "--spam", &spam)?;
        learn(&ours, store, "--ham", &ham)?;
    }
    println!(
        "sample: {} messages; Bayes learned from 250 spam + 250 ham; -L -m 2, auto-learn off\n",
        msgs.len()
    );
    let common = [
        "--cf=use_bayes 1",
        "--cf=bayes_auto_learn 0",
        "--syslog=null",
    ];
    let with = |extra: &[String]| -> Vec<String> {
        common
            .iter()
            .map(|s| s.to_string())
            .chain(extra.iter().cloned())
            .collect()
    };
    let runs: [(&'static str, &Path, Vec<String>); 3] = [
        ("ours SQLite", &ours, with(&sqlite_cf)),
        ("ours Redis", &ours, with(&redis_cf)),
        ("SA Redis", &sa, with(&redis_cf)),
    ];
    let mut rates = Vec::new();
    for (name, bin, extra) in runs {
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        let d = start(name, bin, &args)?;
        let warm = Arc::new(msgs.iter().take(10).cloned().collect::<Vec<_>>());
        run_load(d.port, &warm, 2)?;
        let c2 = run_load(d.port, &msgs, 2)?;
        println!(
            "{:<12} c=2 {:>7.1} msg/s p50 {:>6} ms p99 {:>7} ms | RSS {:>6} MiB",
            d.name,
            c2.rate,
            ms(c2.p50),
            ms(c2.p99),
            tree_rss_kib(d.child.id()) / 1024
        );
        rates.push(c2.rate);
    }
    println!(
        "\nratio ours-on-Redis / SpamAssassin-on-Redis: {:.1}x; ours Redis / ours SQLite: {:.2}",
        rates[1] / rates[2].max(1e-9),
        rates[1] / rates[0].max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
