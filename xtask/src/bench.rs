//! Side-by-side benchmark: SpamAssassin's spamd and ours, same rules, same
//! messages, same client, in one run.
//!
//! `cargo run --release -p xtask -- bench [--messages N] [--corpus DIR] [--only NAME] [--no-network]`
//!
//! Rows: SpamAssassin, ours and rspamd offline (`-L`); then SpamAssassin
//! and ours with network tests on (`+net`) against a local knotd serving
//! the zones `xtask parity --network` writes for the sample (blocklists,
//! SPF, DMARC), answering without delay. The `+net` rows run in a private
//! network and mount namespace (after the others, the program starts
//! itself again under `unshare -n -m`, see parity_net.rs); `--no-network`
//! leaves them out.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
    pub startup: Duration,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(17999)
}

pub fn start(name: &'static str, bin: &Path, extra: &[&str]) -> Result<Daemon, String> {
    start_with(name, bin, true, extra)
}

/// As [`start`]; `local` false leaves the network tests on (no `-L`).
pub fn start_with(
    name: &'static str,
    bin: &Path,
    local: bool,
    extra: &[&str],
) -> Result<Daemon, String> {
    let port = free_port();
    let t0 = Instant::now();
    let child = Command::new(bin)
        .args(local.then_some("-L"))
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-A",
            "127.0.0.1",
            "-m",
            "2",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    wait_ready(name, child, port, t0)
}

/// Wait until the daemon answers a scan (a SYMBOLS check of a tiny
/// message: a PING can be answered before the rules are ready to scan);
/// the start-up time runs from `t0` to that first answered scan.
fn wait_ready(name: &'static str, child: Child, port: u16, t0: Instant) -> Result<Daemon, String> {
    let mut d = Daemon {
        name,
        child,
        port,
        startup: Duration::ZERO,
    };
    while t0.elapsed() < Duration::from_secs(180) {
        if process(port, b"Subject: ready?\n\nhello\n").is_ok() {
            d.startup = t0.elapsed();
            return Ok(d);
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            return Err(format!("{name} exited during start-up: {st}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{name} did not answer within 180 s"))
}

/// A resolver that answers every query at once with NXDOMAIN, so an
/// offline rspamd spends no time waiting for DNS timeouts (its network
/// checks fail fast, as ours and SpamAssassin's do under -L). Returns the
/// UDP port; the thread lives as long as the bench.
fn nxdomain_resolver() -> Result<u16, String> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = sock.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            // The query itself turned into an authoritative NXDOMAIN
            // answer, its EDNS OPT record kept. rspamd's resolver retried
            // the earlier reply (question only, no OPT, no AA) until its
            // 8 s task timeout: the slow rspamd column of earlier runs.
            let mut reply = buf[..n].to_vec();
            reply[2] = 0x84 | (buf[2] & 0x01); // QR, AA, keep RD
            reply[3] = 0x83; // RA, NXDOMAIN
            reply[6..10].fill(0); // no answer or authority records
            let _ = sock.send_to(&reply, from);
        }
    });
    Ok(port)
}

/// rspamd (Debian's 3.4) on its own rules with two normal workers, offline:
/// its configuration is overlaid from a directory under `target/` (ports,
/// worker count, a local resolver that answers NXDOMAIN at once,
/// no proxy or fuzzy worker), and nothing under /etc is changed.
fn start_rspamd(root: &Path) -> Result<Daemon, String> {
    let dir = root.join("target/bench-rspamd");
    let (port, ctl) = (free_port(), free_port());
    let dns = nxdomain_resolver()?;
    for sub in ["local.d", "override.d", "run", "db"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let files = [
        (
            "local.d/worker-normal.inc",
            format!("bind_socket = \"127.0.0.1:{port}\";\ncount = 2;\n"),
        ),
        (
            "override.d/worker-controller.inc",
            format!("bind_socket = \"127.0.0.1:{ctl}\";\n"),
        ),
        ("override.d/worker-proxy.inc", "enabled = false;\n".into()),
        ("override.d/worker-fuzzy.inc", "enabled = false;\n".into()),
        (
            "local.d/options.inc",
            format!("dns {{ nameserver = [\"127.0.0.1:{dns}\"]; timeout = 1s; }}\n"),
        ),
        (
            "override.d/logging.inc",
            "type = \"console\";\nlevel = \"error\";\n".into(),
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    // rspamd drops to its own user, which must write its run and db dirs.
    let _ = Command::new("chown")
        .args(["-R", "_rspamd:_rspamd"])
        .arg(&dir)
        .status();
    let var = |k: &str, v: &Path| format!("--var={k}={}", v.display());
    let t0 = Instant::now();
    let child = Command::new("/usr/bin/rspamd")
        .args([
            "-f",
            "-u",
            "_rspamd",
            "-g",
            "_rspamd",
            "-c",
            "/etc/rspamd/rspamd.conf",
        ])
        .arg(var("LOCAL_CONFDIR", &dir))
        .arg(var("RUNDIR", &dir.join("run")))
        .arg(var("DBDIR", &dir.join("db")))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting rspamd: {e}"))?;
    wait_ready("rspamd", child, port, t0)
}

/// A process and all its descendants (live processes only), from
/// /proc's per-thread `children` lists.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut seen = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        seen.push(p);
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) {
            for t in tasks.flatten() {
                if let Ok(children) = std::fs::read_to_string(t.path().join("children")) {
                    stack.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
    }
    seen
}

/// Resident memory of an idle daemon once its start-up work is done (ours
/// builds rule automata in the background after its first answer;
/// SpamAssassin's children come up after it): sampled every 200 ms until
/// it changes by less than 1 MiB, for at most 10 s.
fn settled_rss_kib(pid: u32) -> u64 {
    let mut last = tree_rss_kib(pid);
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(200));
        let now = tree_rss_kib(pid);
        if now.abs_diff(last) < 1024 {
            return now;
        }
        last = now;
    }
    last
}

/// Resident memory of a process and all its descendants, in KiB.
pub(crate) fn tree_rss_kib(pid: u32) -> u64 {
    let rss = |p: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    process_tree(pid).into_iter().map(rss).sum()
}

/// CPU time (user + system) of a process and all its descendants, in
/// clock ticks (1/100 s on Linux): the live ones' own time, plus what
/// each counts for the children it has reaped. SpamAssassin's spamd
/// replaces a child after 200 connections; without the reaped children
/// its column lost the CPU of every child that ended during the load.
fn tree_cpu_ticks(pid: u32) -> u64 {
    let ticks = |p: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return 0;
        };
        // Fields after the command name: state is field 3; utime 14,
        // stime 15, cutime 16, cstime 17.
        let f: Vec<&str> = rest.split_whitespace().collect();
        [11, 12, 13, 14]
            .iter()
            .map(|&i| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
            .sum()
    };
    process_tree(pid).into_iter().map(ticks).sum()
}

/// The daemon's CPU since `ticks0` (from [`tree_cpu_ticks`]) in ms per
/// message, over `messages` requests.
fn cpu_ms_per_message(d: &Daemon, ticks0: u64, messages: usize) -> f64 {
    tree_cpu_ticks(d.child.id()).saturating_sub(ticks0) as f64 * 10.0 / messages.max(1) as f64
}

/// Build our spamd in release mode; returns its path. In the private
/// namespace of the `+net` rows it was built before entering.
pub(crate) fn build_release_spamd() -> Result<PathBuf, String> {
    let root = corpus::workspace_root();
    if e2e::dns::in_namespace() {
        return Ok(root.join("target/release/spamd"));
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "-q", "-p", "spamd"])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err("building our spamd failed".into());
    }
    Ok(root.join("target/release/spamd"))
}

fn process(port: u16, msg: &[u8]) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "SYMBOLS SPAMC/1.5\r\nUser: bench\r\nContent-length: {}\r\n\r\n",
        msg.len()
    )
    .into_bytes();
    req.extend_from_slice(msg);
    s.write_all(&req).map_err(|e| e.to_string())?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    if buf.starts_with(b"SPAMD/1.1 0 EX_OK") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&buf[..buf.len().min(80)]).into_owned())
    }
}

pub(crate) struct Stats {
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub(crate) fn run_load(
    port: u16,
    msgs: &Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> Result<Stats, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let lat = Arc::new(Mutex::new(Vec::with_capacity(msgs.len())));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, lat, errors, msgs) =
                (next.clone(), lat.clone(), errors.clone(), msgs.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(m) = msgs.get(i) else { break };
                    let t = Instant::now();
                    match process(port, m) {
                        Ok(()) => lat.lock().map(|mut l| l.push(t.elapsed())).unwrap_or(()),
                        Err(e) => errors.lock().map(|mut v| v.push(e)).unwrap_or(()),
                    }
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    let elapsed = t0.elapsed();
    let errs = errors.lock().map(|v| v.clone()).unwrap_or_default();
    if !errs.is_empty() {
        return Err(format!(
            "{} requests failed, first: {}",
            errs.len(),
            errs[0]
        ));
    }
    let mut l = lat.lock().map(|v| v.clone()).unwrap_or_default();
    l.sort();
    let pick = |q: f64| {
        l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Stats {
        rate: msgs.len() as f64 / elapsed.as_secs_f64(),
        p50: pick(0.50),
        p99: pick(0.99),
    })
}

/// `passes` of the whole public corpus at c=2 through a daemon that has had
/// the timed load: rate, CPU per message and RSS after each pass.
fn soak_passes(d: &Daemon, all: &Arc<Vec<Vec<u8>>>, passes: usize) -> Result<(), String> {
    for pass in 1..=passes {
        let cpu0 = tree_cpu_ticks(d.child.id());
        let s = run_load(d.port, all, 2)?;
        let cpu_ms = cpu_ms_per_message(d, cpu0, all.len());
        std::thread::sleep(Duration::from_secs(1));
        println!(
            "{:<16} soak pass {pass}: {} messages, c=2 {:>7.1} msg/s p99 {:>7} ms | CPU {cpu_ms:>6.2} ms/msg | RSS after {:>4} MiB",
            d.name,
            all.len(),
            s.rate,
            ms(s.p99),
            tree_rss_kib(d.child.id()) / 1024
        );
    }
    Ok(())
}

/// The files of the public corpus's folders, each folder sorted by name.
fn folder_files(corpus: &Path) -> Result<Vec<Vec<PathBuf>>, String> {
    let folders = ["easy_ham", "easy_ham_2", "hard_ham", "spam", "spam_2"];
    let mut all: Vec<Vec<PathBuf>> = Vec::new();
    for f in folders {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(f))
            .map_err(|e| format!("{}: {e}", corpus.join(f).display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        all.push(files);
    }
    Ok(all)
}

fn read(p: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// Every message of the public corpus.
fn whole(corpus: &Path) -> Result<Vec<Vec<u8>>, String> {
    folder_files(corpus)?
        .iter()
        .flatten()
        .map(|p| read(p))
        .collect()
}

/// A fixed, mixed sample: every k-th file of each folder, sorted by name.
pub(crate) fn sample(corpus: &Path, n: usize) -> Result<Vec<Vec<u8>>, String> {
    let all = folder_files(corpus)?;
    let total: usize = all.iter().map(Vec::len).sum();
    let mut out = Vec::new();
    for files in &all {
        let take = (n * files.len()).div_ceil(total).max(1);
        let step = (files.len() / take).max(1);
        for p in files.iter().step_by(step).take(take) {
            out.push(read(p)?);
        }
    }
    Ok(out)
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

pub fn main(args: &[String]) -> ExitCode {
    let mut n = 300usize;
    let mut corpus = None;
    let mut bayes = false;
    let mut only: Option<String> = None;
    let mut network = true;
    let mut soak = 0usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            // Without the rows with network tests on (they need
            // `unshare -n -m`, so root or user namespaces).
            "--no-network" => network = false,
            "--messages" => n = it.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--corpus" => corpus = it.next().map(PathBuf::from),
            "--bayes" => bayes = true,
            // Run one system only (`ours`, `SpamAssassin`), e.g. while tuning.
            "--only" => only = it.next().cloned(),
            // After the timed load, send ours and rspamd the whole public
            // corpus this many times (c=2) and print RSS after each pass:
            // memory after far more mail than the sample.
            "--soak" => soak = it.next().and_then(|v| v.parse().ok()).unwrap_or(2),
            other => {
                eprintln!("bench: unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let network = network && !bayes;
    // The `+net` rows run in the private namespace (SpamAssassin's DMARC
    // library reads /etc/resolv.conf): this program, started again there
    // after the offline rows, runs only them. rspamd and the offline rows
    // stay outside (rspamd stalls on its outside maps in the namespace).
    let net_rows = e2e::dns::in_namespace();
    let run = |c: PathBuf| {
        if bayes {
            crate::bench_bayes::bench(n, &c)
        } else {
            bench(n, &c, only.as_deref(), net_rows, soak)
        }
    };
    if let Err(e) = crate::public_corpus(corpus).and_then(run) {
        eprintln!("bench: {e}");
        return ExitCode::from(1);
    }
    if network && !net_rows {
        println!();
        return match crate::parity_net::rerun_in_namespace(&["bench"], args) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::from(1)
            }
        };
    }
    ExitCode::SUCCESS
}

/// The offline rows (`-L`, and rspamd), or with `network` only the `+net`
/// rows.
fn bench(
    n: usize,
    corpus: &Path,
    only: Option<&str>,
    network: bool,
    soak: usize,
) -> Result<(), String> {
    let msgs = Arc::new(sample(corpus, n)?);
    let bytes: usize = msgs.iter().map(Vec::len).sum();
    let ours_bin = build_release_spamd()?;
    if network {
        println!("-- rows with network tests on, in a private network namespace --");
    }
    let sa_bin = PathBuf::from("/usr/sbin/spamd");
    if !sa_bin.exists() {
        return Err("/usr/sbin/spamd is missing: apt-get install -y spamd spamassassin".into());
    }
    if !network {
        println!(
            "sample: {} messages, {} KiB, from {}",
            msgs.len(),
            bytes / 1024,
            corpus.display()
        );
    }
    if !network {
        println!(
            "SpamAssassin and ours: -L -m 2, rules from /usr/share/spamassassin + /etc/spamassassin, use_bayes 0; rspamd: its own rules, 2 normal workers, offline; every request is SYMBOLS\n"
        );
    }
    // The network rows: knotd on 127.0.0.1:53 in our private namespace,
    // serving the blocklist, SPF and DMARC zones of `xtask parity
    // --network` for this sample, answering at once.
    let net = if network {
        let site = std::env::temp_dir().join(format!("spamrs-bench-net-{}", std::process::id()));
        crate::parity_net::write_site(&site, 53)?;
        let parsed = crate::parity_net::parse_for_site(&site, msgs.iter().map(Vec::as_slice));
        let zones = crate::parity_net::zones_for(&parsed);
        let records: usize = zones.iter().map(|z| z.records.len()).sum();
        println!(
            "+net: SpamAssassin and ours, network tests on (no -L), -m 2, rules from /usr/share/spamassassin, Debian's .pre files without Razor2/Pyzor/DCC, use_bayes 0; knotd on 127.0.0.1:53 (no delay) serving parity --network's {} zones with {records} records for the sample\n",
            zones.len()
        );
        Some((e2e::dns::Knot::start_on(53, &zones), site))
    } else {
        None
    };
    let mut results = Vec::new();
    // Read once for every daemon that gets the soak.
    let whole_corpus = Arc::new(if soak > 0 { whole(corpus)? } else { Vec::new() });
    let rspamd = Path::new("/usr/bin/rspamd").exists();
    if !rspamd && !network {
        println!("rspamd: not installed (apt-get install -y rspamd); its column is skipped\n");
    }
    let extra = ["--cf=use_bayes 0", "--syslog=null"];
    let net_extra: Vec<String> = match &net {
        Some((_, site)) => vec![
            "--syslog=null".into(),
            format!("--siteconfigpath={}", site.display()),
        ],
        None => Vec::new(),
    };
    let net_extra: Vec<&str> = net_extra.iter().map(String::as_str).collect();
    for name in [
        "SpamAssassin",
        "ours",
        "rspamd",
        "SpamAssassin+net",
        "ours+net",
    ] {
        let system = name.trim_end_matches("+net");
        if only.is_some_and(|o| o != system)
            || (name == "rspamd" && !rspamd)
            || name.ends_with("+net") != network
        {
            continue;
        }
        let d = match name {
            "SpamAssassin" => start(name, &sa_bin, &extra)?,
            "ours" => start(name, &ours_bin, &extra)?,
            "SpamAssassin+net" => start_with(name, &sa_bin, false, &net_extra)?,
            "ours+net" => start_with(name, &ours_bin, false, &net_extra)?,
            _ => start_rspamd(&corpus::workspace_root())?,
        };
        let idle = settled_rss_kib(d.child.id());
        // Warm up: every process/thread has loaded and touched its rules.
        let warm = Arc::new(msgs.iter().take(10).cloned().collect::<Vec<_>>());
        run_load(d.port, &warm, 2)?;
        let cpu0 = tree_cpu_ticks(d.child.id());
        let c1 = run_load(d.port, &msgs, 1)?;
        let c2 = run_load(d.port, &msgs, 2)?;
        let cpu_ms = cpu_ms_per_message(&d, cpu0, 2 * msgs.len());
        let rss = tree_rss_kib(d.child.id());
        println!(
            "{:<16} start {:>6} ms | c=1 {:>7.1} msg/s p50 {:>6} ms p99 {:>7} ms | c=2 {:>7.1} msg/s p50 {:>6} ms p99 {:>7} ms | CPU {cpu_ms:>6.2} ms/msg | RSS idle {:>4} MiB, after load {:>4} MiB",
            d.name,
            d.startup.as_millis(),
            c1.rate,
            ms(c1.p50),
            ms(c1.p99),
            c2.rate,
            ms(c2.p50),
            ms(c2.p99),
            idle / 1024,
            rss / 1024
        );
        results.push((d.name, d.startup, c1, c2, rss, cpu_ms));
        if soak > 0 && matches!(name, "ours" | "rspamd") {
            soak_passes(&d, &whole_corpus, soak)?;
        }
        drop(d);
    }
    if !network && only.is_none_or(|o| o == "ours") {
        // Where our daemon's time goes, stage by stage, on the same sample.
        let (rules, _) = crate::profile::load_rules();
        let (prof, cpu) = crate::profile::run(&rules, &msgs, 1, false);
        println!("\nours, in process, per stage (thread CPU):");
        crate::profile::print(&prof, cpu, msgs.len());
    }
    if let Some((mut knot, site)) = net {
        knot.stop();
        let _ = std::fs::remove_dir_all(site);
    }
    let find = |n: &str| results.iter().find(|r| r.0 == n);
    println!();
    for (us, other) in [
        ("ours", "SpamAssassin"),
        ("ours", "rspamd"),
        ("ours+net", "SpamAssassin+net"),
    ] {
        let (Some(ours), Some(o)) = (find(us), find(other)) else {
            continue;
        };
        println!(
            "ratio {us}/{other}: throughput c=1 {:.2}x, c=2 {:.2}x; CPU per message {:.2}; p99 c=2 {:.2}; start-up {:.2}; RSS after load {:.2}",
            ours.2.rate / o.2.rate,
            ours.3.rate / o.3.rate,
            ours.5 / o.5.max(1e-9),
            ours.3.p99.as_secs_f64() / o.3.p99.as_secs_f64().max(1e-9),
            ours.1.as_secs_f64() / o.1.as_secs_f64().max(1e-9),
            ours.4 as f64 / o.4.max(1) as f64,
        );
    }
    Ok(())
}
