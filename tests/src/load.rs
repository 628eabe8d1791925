//! Load and fault harness: our spamd against N concurrent socket clients
//! sending real corpus mail for T seconds, optionally with one rude client
//! (or a SIGHUP) every second, reporting requests, failures, latency
//! percentiles, open descriptors and RSS as it goes.
//!
//! Used by `cargo run --release -p xtask -- load ...` (the figures of
//! issue 10) and by `tests/tests/load.rs` (a short form for CI).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct Opts {
    /// The spamd binary.
    pub spamd: PathBuf,
    /// Rules directory (`-C`).
    pub rules: PathBuf,
    /// Concurrent normal clients.
    pub clients: usize,
    /// How long the normal clients run.
    pub seconds: u64,
    /// One fault a second (SIGHUP, slow-loris, silent, huge, hang-up,
    /// slow reader), in turn.
    pub faults: bool,
    /// Print a line every this many seconds.
    pub report_every: u64,
    /// Total requests per second the clients aim at (None: as fast as the
    /// daemon answers).
    pub rate: Option<f64>,
    /// Connections opened and closed as fast as possible after the load,
    /// followed by one normal scan.
    pub connects: usize,
    /// `--timeout-tcp` and `--timeout-child` given to spamd.
    pub timeout_tcp: u64,
    pub timeout_child: u64,
    /// Size of the huge message, in MB.
    pub huge_mb: usize,
    /// Corpus messages used.
    pub messages: usize,
    /// More spamd arguments.
    pub extra: Vec<String>,
    /// Quiet: no progress lines (the report is still returned).
    pub quiet: bool,
}

impl Opts {
    pub fn new(spamd: PathBuf, rules: PathBuf) -> Opts {
        Opts {
            spamd,
            rules,
            clients: 50,
            seconds: 15,
            faults: false,
            report_every: 10,
            rate: None,
            connects: 0,
            timeout_tcp: 10,
            timeout_child: 30,
            huge_mb: 50,
            messages: 300,
            extra: Vec::new(),
            quiet: false,
        }
    }
}

/// One row of the running figures.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: f64,
    pub requests: u64,
    pub failures: u64,
    pub fds: usize,
    pub rss_kb: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

/// What one rude client saw.
#[derive(Debug, Clone)]
pub struct Offence {
    pub kind: &'static str,
    /// Did the daemon deal with it as it should, within the limit.
    pub ok: bool,
    pub secs: f64,
    pub what: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub requests: u64,
    pub failures: u64,
    pub failure_samples: Vec<String>,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub fds_start: usize,
    pub fds_end: usize,
    pub sockets_start: usize,
    pub sockets_end: usize,
    pub rss_start_kb: u64,
    pub rss_10s_kb: u64,
    pub rss_end_kb: u64,
    pub samples: Vec<Sample>,
    pub offences: Vec<Offence>,
    /// After the connection storm: (connections made, fds, RSS KB, scan ok).
    pub storm: Option<(usize, usize, u64, bool)>,
    pub daemon_alive: bool,
    pub throughput: f64,
}

/// The daemon under test; killed (by PID) when dropped.
pub struct Spamd {
    pub child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl Spamd {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    pub fn log(&self) -> PathBuf {
        self.dir.join("spamd.log")
    }
}

impl Drop for Spamd {
    fn drop(&mut self) {
        signal(self.pid(), libc::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a child of ours, by PID.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Start spamd with `-m 2` (unless `extra` says otherwise) on a free
/// loopback port and wait for its PONG.
pub fn start_spamd(o: &Opts) -> Result<Spamd, String> {
    let dir = std::env::temp_dir().join(format!(
        "spamd-load-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("site")).map_err(|e| e.to_string())?;
    let port = crate::free_port();
    let mut args: Vec<String> = vec![
        "-L".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-A".into(),
        "127.0.0.1".into(),
        "-C".into(),
        o.rules.display().to_string(),
        "--siteconfigpath".into(),
        dir.join("site").display().to_string(),
        "-s".into(),
        dir.join("spamd.log").display().to_string(),
        "--timeout-tcp".into(),
        o.timeout_tcp.to_string(),
        "--timeout-child".into(),
        o.timeout_child.to_string(),
    ];
    if !o
        .extra
        .iter()
        .any(|a| a == "-m" || a.starts_with("--max-children"))
    {
        args.push("-m".into());
        args.push("2".into());
    }
    args.extend(o.extra.iter().cloned());
    let child = Command::new(&o.spamd)
        .args(&args)
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", o.spamd.display()))?;
    let mut d = Spamd { child, port, dir };
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        if crate::ping(port) {
            return Ok(d);
        }
        if !d.alive() {
            return Err("spamd exited during start-up".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err("spamd did not answer PING within 120 s".into())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Open descriptors of `pid`.
pub fn fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Open sockets of `pid` (listeners, connections): what a leaked
/// connection would add to. The other descriptors (log, Bayes SQLite
/// handles a scan thread opens on first use) are bounded by the threads.
pub fn sockets(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// Resident set size of `pid` in KB.
pub fn rss_kb(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Up to `n` messages of the public corpus (ham and spam, interleaved).
pub fn corpus_messages(n: usize) -> Vec<Vec<u8>> {
    let root = crate::corpus::public_or_panic();
    let mut lists: Vec<Vec<PathBuf>> = Vec::new();
    for sub in ["easy_ham", "spam", "hard_ham", "spam_2"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        lists.push(files);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n && lists.iter().any(|l| i < l.len()) {
        for l in &lists {
            if let Some(p) = l.get(i)
                && out.len() < n
                && let Ok(b) = std::fs::read(p)
            {
                out.push(b);
            }
        }
        i += 1;
    }
    out
}

/// A message of about `mb` megabytes: a corpus message with long text.
pub fn huge_message(base: &[u8], mb: usize) -> Vec<u8> {
    let mut m = base.to_vec();
    if !m.ends_with(b"\n") {
        m.push(b'\n');
    }
    let line = b"The quick brown fox jumps over the lazy dog while the load goes on and on.\n";
    while m.len() < mb * 1024 * 1024 {
        m.extend_from_slice(line);
    }
    m
}

fn request(cmd: &str, msg: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{cmd} SPAMC/1.5\r\nContent-length: {}\r\nUser: load\r\n\r\n",
        msg.len()
    )
    .into_bytes();
    r.extend_from_slice(msg);
    r
}

/// Is `reply` a complete, well-formed answer to `cmd` for `msg`?
pub fn check_reply(cmd: &str, msg: &[u8], reply: &[u8]) -> Result<(), String> {
    let head_end = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {} bytes", reply.len()))?;
    let head = String::from_utf8_lossy(&reply[..head_end]);
    let body = &reply[head_end + 4..];
    let first = head.lines().next().unwrap_or("");
    if !first.starts_with("SPAMD/1.") || !first.ends_with(" 0 EX_OK") {
        return Err(format!("status {first:?}"));
    }
    if !head.lines().any(|l| l.starts_with("Spam: ")) {
        return Err("no Spam: header".into());
    }
    let cl = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-length: "))
        .and_then(|v| v.trim().parse::<usize>().ok());
    match cmd {
        "CHECK" => {
            if !body.is_empty() {
                return Err("CHECK answer with a body".into());
            }
        }
        _ => {
            if cl != Some(body.len()) {
                return Err(format!("Content-length {cl:?} but {} bytes", body.len()));
            }
            if cmd == "PROCESS" && body.len() < msg.len() / 2 {
                return Err("PROCESS answer shorter than the message".into());
            }
        }
    }
    Ok(())
}

/// One normal request: connect, send, read to EOF, check.
fn one_request(port: u16, cmd: &str, msg: &[u8], limit: Duration) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    s.write_all(&request(cmd, msg))
        .map_err(|e| format!("write: {e}"))?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply)
        .map_err(|e| format!("read: {e}"))?;
    check_reply(cmd, msg, &reply)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn percentiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    (percentile(v, 0.5), percentile(v, 0.9), percentile(v, 0.99))
}

struct Stats {
    requests: AtomicU64,
    failures: AtomicU64,
    samples: Mutex<Vec<String>>,
    latencies: Mutex<Vec<f64>>,
    all_latencies: Mutex<Vec<f64>>,
}

/// Run the load described by `o`; prints progress unless `o.quiet`.
pub fn run(o: &Opts) -> Result<Report, String> {
    let msgs = Arc::new(corpus_messages(o.messages));
    if msgs.is_empty() {
        return Err("no corpus messages".into());
    }
    let mut d = start_spamd(o)?;
    let pid = d.pid();
    let port = d.port;
    let say = |s: String| {
        if !o.quiet {
            println!("{s}");
        }
    };
    // Warm up (first scans build caches), then take the starting figures.
    // Concurrent, so every scan worker opens what it keeps open (its
    // Bayes connection) before the starting count is taken.
    let warm: Vec<_> = (0..8)
        .map(|k| {
            let m = msgs[k % msgs.len()].clone();
            std::thread::spawn(move || one_request(port, "CHECK", &m, Duration::from_secs(120)))
        })
        .collect();
    for w in warm {
        w.join()
            .map_err(|_| "warm-up thread panicked".to_string())?
            .map_err(|e| format!("warm-up: {e}"))?;
    }
    let mut rep = Report {
        fds_start: fds(pid),
        sockets_start: sockets(pid),
        rss_start_kb: rss_kb(pid),
        ..Default::default()
    };
    say(format!(
        "spamd pid {pid} port {port}: {} clients, {} s{}{}, fds {} RSS {} MB",
        o.clients,
        o.seconds,
        if o.faults {
            ", faults every second"
        } else {
            ""
        },
        o.rate
            .map(|r| format!(", {r:.1} req/s"))
            .unwrap_or_default(),
        rep.fds_start,
        rep.rss_start_kb / 1024
    ));
    let stats = Arc::new(Stats {
        requests: AtomicU64::new(0),
        failures: AtomicU64::new(0),
        samples: Mutex::new(Vec::new()),
        latencies: Mutex::new(Vec::new()),
        all_latencies: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs(o.seconds);
    let ticket = Arc::new(AtomicU64::new(0));
    let limit = Duration::from_secs(o.timeout_child + o.timeout_tcp + 30);
    let mut workers = Vec::new();
    for c in 0..o.clients {
        let (stats, msgs, ticket, rate) = (stats.clone(), msgs.clone(), ticket.clone(), o.rate);
        workers.push(std::thread::spawn(move || {
            let mut i = c * 7;
            loop {
                if let Some(r) = rate {
                    let k = ticket.fetch_add(1, Ordering::Relaxed);
                    let at = t0 + Duration::from_secs_f64(k as f64 / r);
                    if at >= end {
                        return;
                    }
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                } else if Instant::now() >= end {
                    return;
                }
                let msg = &msgs[i % msgs.len()];
                let cmd = ["CHECK", "SYMBOLS", "PROCESS", "REPORT"][i % 4];
                i += 1;
                let t = Instant::now();
                let r = one_request(port, cmd, msg, limit);
                let secs = t.elapsed().as_secs_f64();
                stats.requests.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = r {
                    stats.failures.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut s) = stats.samples.lock()
                        && s.len() < 20
                    {
                        s.push(format!("{cmd}: {e}"));
                    }
                } else {
                    if let Ok(mut l) = stats.latencies.lock() {
                        l.push(secs);
                    }
                    if let Ok(mut l) = stats.all_latencies.lock() {
                        l.push(secs);
                    }
                }
            }
        }));
    }
    // The rude clients.
    let offences = Arc::new(Mutex::new(Vec::<Offence>::new()));
    let mut rude = Vec::new();
    if o.faults {
        let (offences, stop, msgs) = (offences.clone(), stop.clone(), msgs.clone());
        let o2 = o.clone();
        rude.push(std::thread::spawn(move || {
            let mut k = 0usize;
            let mut handles = Vec::new();
            while Instant::now() + Duration::from_secs(1) < end && !stop.load(Ordering::Relaxed) {
                let kind = FAULTS[k % FAULTS.len()];
                k += 1;
                let (offences, msgs, o3) = (offences.clone(), msgs.clone(), o2.clone());
                handles.push(std::thread::spawn(move || {
                    let r = offend(kind, pid, port, &msgs, &o3);
                    if let Ok(mut v) = offences.lock() {
                        v.push(r);
                    }
                }));
                std::thread::sleep(Duration::from_secs(1));
            }
            for h in handles {
                let _ = h.join();
            }
        }));
    }
    // Figures as it goes.
    let mut next = o.report_every.max(1);
    let mut last_requests = 0;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
        let at = t0.elapsed().as_secs();
        if at >= 10 && rep.rss_10s_kb == 0 {
            rep.rss_10s_kb = rss_kb(pid);
        }
        if at >= next {
            next += o.report_every.max(1);
            let mut lat = std::mem::take(&mut *stats.latencies.lock().map_err(|e| e.to_string())?);
            let (p50, p90, p99) = percentiles(&mut lat);
            let s = Sample {
                at: t0.elapsed().as_secs_f64(),
                requests: stats.requests.load(Ordering::Relaxed),
                failures: stats.failures.load(Ordering::Relaxed),
                fds: fds(pid),
                rss_kb: rss_kb(pid),
                p50,
                p90,
                p99,
            };
            say(format!(
                "{:6.0}s requests {:7} (+{:5}) failed {:4}  p50 {:6.3}s p90 {:6.3}s p99 {:6.3}s  fds {:5}  RSS {:6.1} MB",
                s.at,
                s.requests,
                s.requests - last_requests,
                s.failures,
                s.p50,
                s.p90,
                s.p99,
                s.fds,
                s.rss_kb as f64 / 1024.0
            ));
            last_requests = s.requests;
            rep.samples.push(s);
        }
    }
    for w in workers {
        let _ = w.join();
    }
    rep.throughput = stats.requests.load(Ordering::Relaxed) as f64 / t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for r in rude {
        let _ = r.join();
    }
    // Let the daemon close what the last clients left.
    std::thread::sleep(Duration::from_millis(500));
    rep.requests = stats.requests.load(Ordering::Relaxed);
    rep.failures = stats.failures.load(Ordering::Relaxed);
    rep.failure_samples = stats.samples.lock().map(|s| s.clone()).unwrap_or_default();
    let mut all = stats
        .all_latencies
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    (rep.p50, rep.p90, rep.p99) = percentiles(&mut all);
    rep.offences = offences.lock().map(|v| v.clone()).unwrap_or_default();
    if o.connects > 0 {
        let mut made = 0;
        for _ in 0..o.connects {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                made += 1;
                drop(s);
            }
        }
        let ok = one_request(port, "CHECK", &msgs[0], limit).is_ok();
        std::thread::sleep(Duration::from_millis(500));
        rep.storm = Some((made, fds(pid), rss_kb(pid), ok));
        say(format!(
            "after {made} connects: scan {} fds {} RSS {:.1} MB",
            if ok { "answered" } else { "FAILED" },
            fds(pid),
            rss_kb(pid) as f64 / 1024.0
        ));
    }
    // Descriptors: wait (bounded) for the last connections to be closed.
    let t = Instant::now();
    loop {
        rep.fds_end = fds(pid);
        rep.sockets_end = sockets(pid);
        if rep.sockets_end <= rep.sockets_start || t.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if rep.fds_end > rep.fds_start || rep.sockets_end > rep.sockets_start {
        let list: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| {
                        format!(
                            "{}->{}",
                            e.file_name().to_string_lossy(),
                            std::fs::read_link(e.path())
                                .map(|l| l.display().to_string())
                                .unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        say(format!("open descriptors: {}", list.join(" ")));
        if let Ok(tcp) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) {
            for l in tcp.lines().filter(|l| {
                l.contains(&format!(":{port:04X}"))
                    && l.split_whitespace().nth(3).is_some_and(|st| st != "06")
            }) {
                say(format!("  tcp {l}"));
            }
        }
    }
    rep.rss_end_kb = rss_kb(pid);
    rep.daemon_alive = d.alive() && crate::ping(port);
    say(format!(
        "done: {} requests ({:.1}/s), {} failed; latency p50 {:.3}s p90 {:.3}s p99 {:.3}s; fds {} -> {} (sockets {} -> {}); RSS start {:.1} MB, at 10 s {:.1} MB, end {:.1} MB; daemon {}",
        rep.requests,
        rep.throughput,
        rep.failures,
        rep.p50,
        rep.p90,
        rep.p99,
        rep.fds_start,
        rep.fds_end,
        rep.sockets_start,
        rep.sockets_end,
        rep.rss_start_kb as f64 / 1024.0,
        rep.rss_10s_kb as f64 / 1024.0,
        rep.rss_end_kb as f64 / 1024.0,
        if rep.daemon_alive { "alive" } else { "DEAD" }
    ));
    for s in &rep.failure_samples {
        say(format!("  failure: {s}"));
    }
    let mut kinds: Vec<&str> = rep.offences.iter().map(|x| x.kind).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds {
        let v: Vec<&Offence> = rep.offences.iter().filter(|x| x.kind == k).collect();
        let bad = v.iter().filter(|x| !x.ok).count();
        let worst = v.iter().map(|x| x.secs).fold(0.0, f64::max);
        say(format!(
            "  fault {k:<12} x{:<3} handled {:3}  slowest {worst:6.1}s  e.g. {}",
            v.len(),
            v.len() - bad,
            v.iter()
                .find(|x| !x.ok)
                .or(v.first())
                .map(|x| x.what.clone())
                .unwrap_or_default()
        ));
    }
    drop(d);
    Ok(rep)
}

/// The rude clients, one a second in this order.
pub const FAULTS: [&str; 6] = [
    "sighup",
    "slowloris",
    "silent",
    "huge",
    "hangup",
    "slowreader",
];

fn offend(kind: &'static str, pid: i32, port: u16, msgs: &[Vec<u8>], o: &Opts) -> Offence {
    let t = Instant::now();
    let (ok, what) = match kind {
        "sighup" => {
            signal(pid, libc::SIGHUP);
            (true, "SIGHUP sent".to_string())
        }
        "slowloris" => slowloris(port, &msgs[1 % msgs.len()], o),
        "silent" => silent(port, o),
        "huge" => huge(port, &msgs[0], o),
        "hangup" => hangup(port, &msgs[2 % msgs.len()]),
        _ => slow_reader(port, &msgs[3 % msgs.len()], o),
    };
    Offence {
        kind,
        ok,
        secs: t.elapsed().as_secs_f64(),
        what,
    }
}

/// Sends a request a byte a second; the daemon must cut it off within its
/// header deadline (`--timeout-tcp`) or at worst `--timeout-child`.
fn slowloris(port: u16, msg: &[u8], o: &Opts) -> (bool, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (false, "connect failed".into());
    };
    let req = request("CHECK", msg);
    let t = Instant::now();
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let give_up = Duration::from_secs(o.timeout_child + 15);
    for &b in req.iter() {
        if t.elapsed() > give_up {
            return (
                false,
                format!("still connected after {:.0}s", t.elapsed().as_secs_f64()),
            );
        }
        if s.write_all(&[b]).is_err() {
            return (
                true,
                format!("cut after {:.1}s (write failed)", t.elapsed().as_secs_f64()),
            );
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => {
                return (
                    true,
                    format!("closed after {:.1}s", t.elapsed().as_secs_f64()),
                );
            }
            Ok(n) => {
                let line = String::from_utf8_lossy(&buf[..n]);
                let first = line.lines().next().unwrap_or("").to_string();
                return (
                    true,
                    format!("answered {first:?} after {:.1}s", t.elapsed().as_secs_f64()),
                );
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => {
                return (
                    true,
                    format!("reset after {:.1}s: {e}", t.elapsed().as_secs_f64()),
                );
            }
        }
    }
    (false, "sent the whole request a byte a second".into())
}

/// Connects and says nothing: cut within `--timeout-tcp`.
fn silent(port: u16, o: &Opts) -> (bool, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (false, "connect failed".into());
    };
    let t = Instant::now();
    let _ = s.set_read_timeout(Some(Duration::from_secs(o.timeout_tcp + 15)));
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    let secs = t.elapsed().as_secs_f64();
    let within = secs <= (o.timeout_tcp + 5) as f64;
    let first = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    match r {
        Ok(_) => (within, format!("closed after {secs:.1}s with {first:?}")),
        Err(e) => (false, format!("{e} after {secs:.1}s")),
    }
}

/// A message of `huge_mb` MB: answered (or refused) properly in time.
fn huge(port: u16, base: &[u8], o: &Opts) -> (bool, String) {
    let m = huge_message(base, o.huge_mb);
    let t = Instant::now();
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (false, "connect failed".into());
    };
    let limit = Duration::from_secs(o.timeout_child + 15);
    let _ = s.set_read_timeout(Some(limit));
    let _ = s.set_write_timeout(Some(limit));
    // The daemon may answer (and close) before it has read all of it.
    let _ = s.write_all(&request("CHECK", &m));
    let _ = s.shutdown(Shutdown::Write);
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    let secs = t.elapsed().as_secs_f64();
    let first = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    match r {
        Ok(_) if first.starts_with("SPAMD/1.") => (
            secs <= (o.timeout_child + 5) as f64,
            format!("{first:?} after {secs:.1}s"),
        ),
        Ok(_) => (
            false,
            format!("no answer ({} bytes) after {secs:.1}s", buf.len()),
        ),
        Err(e) => (false, format!("{e} after {secs:.1}s")),
    }
}

/// Half a request, then gone.
fn hangup(port: u16, msg: &[u8]) -> (bool, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (false, "connect failed".into());
    };
    let req = request("PROCESS", msg);
    let _ = s.write_all(&req[..req.len() / 2]);
    drop(s);
    (true, "hung up mid-request".into())
}

/// Asks for a big PROCESS answer and reads it a byte a second for a while,
/// then reads the rest at once: either the whole answer (the kernel's
/// buffers held it) or a cut (the daemon gave up writing).
fn slow_reader(port: u16, base: &[u8], o: &Opts) -> (bool, String) {
    let m = huge_message(base, 12);
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (false, "connect failed".into());
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(o.timeout_child + 15)));
    if s.write_all(&request("PROCESS", &m)).is_err() {
        return (false, "could not send".into());
    }
    let t = Instant::now();
    let slow = Duration::from_secs(o.timeout_child + 5);
    let _ = s.set_read_timeout(Some(Duration::from_secs(o.timeout_child + 15)));
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while t.elapsed() < slow {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(_) => got.push(b[0]),
            Err(e) => {
                return (
                    true,
                    format!("reset after {:.1}s: {e}", t.elapsed().as_secs_f64()),
                );
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let r = s.read_to_end(&mut got);
    let secs = t.elapsed().as_secs_f64();
    match (r, check_reply("PROCESS", &m, &got)) {
        (Ok(_), Ok(())) => (true, format!("whole answer ({} bytes)", got.len())),
        (Ok(_), Err(_)) => (
            true,
            format!("cut: {} bytes of the answer, {secs:.1}s", got.len()),
        ),
        (Err(e), _) => (
            true,
            format!("cut: {e} after {} bytes, {secs:.1}s", got.len()),
        ),
    }
}

/// `xtask load` command line.
pub fn main(args: &[String], spamd: &Path, rules: &Path) -> std::process::ExitCode {
    let mut o = Opts::new(spamd.to_path_buf(), rules.to_path_buf());
    let mut long = false;
    let mut it = args.iter();
    let num = |v: Option<&String>| -> u64 { v.and_then(|s| s.parse().ok()).unwrap_or(0) };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--clients" => o.clients = num(it.next()) as usize,
            "--seconds" => o.seconds = num(it.next()),
            "--minutes" => o.seconds = num(it.next()) * 60,
            "--faults" => o.faults = true,
            "--long" => long = true,
            "--rate" => o.rate = it.next().and_then(|s| s.parse().ok()),
            "--connects" => o.connects = num(it.next()) as usize,
            "--timeout-tcp" => o.timeout_tcp = num(it.next()),
            "--timeout-child" => o.timeout_child = num(it.next()),
            "--huge-mb" => o.huge_mb = num(it.next()) as usize,
            "--messages" => o.messages = num(it.next()) as usize,
            "--report-every" => o.report_every = num(it.next()),
            "--spamd" => {
                if let Some(p) = it.next() {
                    o.spamd = PathBuf::from(p);
                }
            }
            "--" => o.extra.extend(it.by_ref().cloned()),
            other => {
                eprintln!(
                    "xtask load: unknown option {other}\nusage: xtask load [--clients N] [--seconds T | --minutes M] [--faults] [--rate R] [--connects N] [--long] [--timeout-tcp S] [--timeout-child S] [--huge-mb MB] [--report-every S] [--spamd PATH] [-- spamd args]"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    if long {
        o.report_every = 60;
    }
    match run(&o) {
        Ok(r) => {
            let bad_faults = r.offences.iter().filter(|x| !x.ok).count();
            let rss_ok = r.rss_10s_kb == 0 || (r.rss_end_kb as f64) <= r.rss_10s_kb as f64 * 1.10;
            println!(
                "verdict: failures {} | faults mishandled {bad_faults} | sockets back {} (all fds {} -> {}) | RSS end/10s {:.2} {}",
                r.failures,
                r.sockets_end <= r.sockets_start,
                r.fds_start,
                r.fds_end,
                if r.rss_10s_kb > 0 {
                    r.rss_end_kb as f64 / r.rss_10s_kb as f64
                } else {
                    0.0
                },
                if rss_ok {
                    "(within 10%)"
                } else {
                    "(MORE than 10%)"
                }
            );
            if r.failures == 0
                && bad_faults == 0
                && r.daemon_alive
                && r.sockets_end <= r.sockets_start
            {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("xtask load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
