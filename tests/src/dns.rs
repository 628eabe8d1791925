//! A real authoritative DNS server for the network tests, and two
//! misbehaving servers to test timeouts.
//!
//! - [`Knot`]: Debian's `knotd` (package `knot`) serving zones written from
//!   Rust ([`Zone`]) on `127.0.0.1:<port>`, UDP and TCP. Ready when `kdig`
//!   (package `knot-dnsutils`) gets the SOA of every zone; stopped by PID on
//!   drop.
//! - [`DelayProxy`]: forwards each UDP/TCP query to an upstream server and
//!   sends the answer back after a fixed delay; counts the queries.
//! - [`SilentServer`]: binds UDP and TCP on a port and never answers.
//! - [`namespace_command`]: runs a program in a private network and mount
//!   namespace whose /etc/resolv.conf names 127.0.0.1, where a [`Knot`] on
//!   port 53 answers for libraries that read resolv.conf (Mail::DMARC).
//!
//! ```no_run
//! use e2e::dns::{Knot, Zone};
//! let zen = Zone::new("zen.spamhaus.org").a("2.0.0.127", "127.0.0.2");
//! let knot = Knot::start(&[zen]);
//! println!("dns_server 127.0.0.1:{}", knot.port);
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{TempDir, require};

/// One resource record: owner (relative to the zone, `@` for the apex, or
/// absolute with a trailing dot), TTL, type and presentation-format data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: String,
    pub ttl: u32,
    pub rtype: String,
    pub data: String,
}

/// A zone built from Rust. The SOA and an NS record (`ns.<zone>`, with an A
/// record at 127.0.0.1) are added when the zone is written, unless the
/// records already have them.
#[derive(Clone, Debug)]
pub struct Zone {
    pub name: String,
    pub ttl: u32,
    pub records: Vec<Record>,
}

impl Zone {
    /// An empty zone (`example.com`; a trailing dot is accepted).
    pub fn new(name: &str) -> Zone {
        Zone {
            name: name.trim_end_matches('.').to_ascii_lowercase(),
            ttl: 300,
            records: Vec::new(),
        }
    }

    /// The TTL of the records added after this call.
    pub fn ttl(mut self, ttl: u32) -> Zone {
        self.ttl = ttl;
        self
    }

    /// Any record, data in zone-file presentation form.
    pub fn record(mut self, owner: &str, rtype: &str, data: &str) -> Zone {
        self.push(owner, rtype, data);
        self
    }

    /// As [`Zone::record`], by reference (for loops).
    pub fn push(&mut self, owner: &str, rtype: &str, data: &str) {
        self.records.push(Record {
            owner: owner.to_string(),
            ttl: self.ttl,
            rtype: rtype.to_ascii_uppercase(),
            data: data.to_string(),
        });
    }

    pub fn a(self, owner: &str, ip: &str) -> Zone {
        self.record(owner, "A", ip)
    }
    pub fn aaaa(self, owner: &str, ip: &str) -> Zone {
        self.record(owner, "AAAA", ip)
    }
    /// A TXT record; `text` is quoted and split into 255-byte strings.
    pub fn txt(self, owner: &str, text: &str) -> Zone {
        let data = txt_data(text);
        self.record(owner, "TXT", &data)
    }
    pub fn ns(self, owner: &str, host: &str) -> Zone {
        self.record(owner, "NS", &absolute(host))
    }
    pub fn mx(self, owner: &str, preference: u16, host: &str) -> Zone {
        self.record(owner, "MX", &format!("{preference} {}", absolute(host)))
    }
    pub fn ptr(self, owner: &str, host: &str) -> Zone {
        self.record(owner, "PTR", &absolute(host))
    }
    pub fn cname(self, owner: &str, target: &str) -> Zone {
        self.record(owner, "CNAME", &absolute(target))
    }

    /// The zone file text.
    pub fn to_zone_file(&self) -> String {
        let origin = format!("{}.", self.name);
        let mut out = format!("$ORIGIN {origin}\n$TTL {}\n", self.ttl);
        let is_apex = |o: &str| o == "@" || o.trim_end_matches('.') == self.name;
        if !self
            .records
            .iter()
            .any(|r| r.rtype == "SOA" && is_apex(&r.owner))
        {
            out.push_str(&format!(
                "@ 300 IN SOA ns.{origin} hostmaster.{origin} 1 3600 600 86400 60\n"
            ));
        }
        if !self
            .records
            .iter()
            .any(|r| r.rtype == "NS" && is_apex(&r.owner))
        {
            out.push_str(&format!("@ 300 IN NS ns.{origin}\nns 300 IN A 127.0.0.1\n"));
        }
        for r in &self.records {
            let owner = if r.owner.is_empty() { "@" } else { &r.owner };
            out.push_str(&format!("{owner} {} IN {} {}\n", r.ttl, r.rtype, r.data));
        }
        out
    }
}

fn absolute(host: &str) -> String {
    if host.ends_with('.') {
        host.to_string()
    } else {
        format!("{host}.")
    }
}

/// TXT presentation data: quoted strings of at most 255 bytes, with `"` and
/// `\` escaped.
pub fn txt_data(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    for chunk in bytes.chunks(255) {
        let mut s = String::from("\"");
        for &b in chunk {
            match b {
                b'"' | b'\\' => {
                    s.push('\\');
                    s.push(b as char);
                }
                0x20..=0x7e => s.push(b as char),
                _ => s.push_str(&format!("\\{b:03}")),
            }
        }
        s.push('"');
        parts.push(s);
    }
    if parts.is_empty() {
        parts.push("\"\"".into());
    }
    parts.join(" ")
}

/// A loopback port free for both UDP and TCP.
pub fn free_udp_tcp_port() -> u16 {
    bind_udp_tcp().0
}

/// A UDP socket and a TCP listener on one loopback port, both held: no
/// other test can take the port between finding it and binding it (as
/// with [`free_udp_tcp_port`], whose port is free only when it returns).
pub fn bind_udp_tcp() -> (u16, UdpSocket, TcpListener) {
    for _ in 0..100 {
        let Ok(t) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = t.local_addr().map(|a| a.port()) else {
            continue;
        };
        if let Ok(u) = UdpSocket::bind(("127.0.0.1", port)) {
            return (port, u, t);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// Debian's knotd, authoritative for the given zones on `127.0.0.1:port`.
pub struct Knot {
    pub port: u16,
    child: Option<Child>,
    dir: TempDir,
    zones: Vec<String>,
}

impl Knot {
    /// Start on a free port; panics (after stopping it) if it does not
    /// answer within 20 s.
    pub fn start(zones: &[Zone]) -> Knot {
        Knot::start_on(free_udp_tcp_port(), zones)
    }

    /// Start on a given port.
    pub fn start_on(port: u16, zones: &[Zone]) -> Knot {
        let knotd = require("/usr/sbin/knotd", "knot");
        require("/usr/bin/kdig", "knot-dnsutils");
        let dir = TempDir::new("knot");
        let zdir = dir.path().join("zones");
        std::fs::create_dir_all(&zdir).expect("zone dir");
        std::fs::create_dir_all(dir.path().join("db")).expect("db dir");
        let mut conf = format!(
            "server:\n    listen: 127.0.0.1@{port}\n    rundir: \"{run}\"\n    pidfile: \"{run}/knot.pid\"\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             database:\n    storage: \"{db}\"\n\
             log:\n  - target: \"{log}\"\n    any: info\n\
             template:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n    semantic-checks: off\n    zonefile-sync: -1\n    journal-content: none\n\
             zone:\n",
            run = dir.path().display(),
            db = dir.path().join("db").display(),
            log = dir.path().join("knot.log").display(),
            zones = zdir.display(),
        );
        let mut names = Vec::new();
        for z in zones {
            std::fs::write(zdir.join(format!("{}.zone", z.name)), z.to_zone_file())
                .expect("write zone");
            conf.push_str(&format!("  - domain: \"{}\"\n", z.name));
            names.push(z.name.clone());
        }
        let conf_path = dir.path().join("knot.conf");
        std::fs::write(&conf_path, conf).expect("write knot.conf");
        let child = Command::new(knotd)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start knotd");
        let mut k = Knot {
            port,
            child: Some(child),
            dir,
            zones: names,
        };
        k.wait_ready(Duration::from_secs(20));
        k
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// knotd's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The directory holding knot.conf, the zone files and knot.log.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// knotd's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        let mut pending: Vec<String> = self.zones.clone();
        if pending.is_empty() {
            pending.push(".".into());
        }
        while start.elapsed() < limit {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                let log = self.log_text();
                self.child = None;
                panic!("knotd exited ({st}) before answering; log:\n{log}");
            }
            pending.retain(|z| !kdig_answers(self.port, z));
            if pending.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = self.log_text();
        self.stop();
        panic!(
            "knotd on port {} did not serve {pending:?} within {limit:?}; log:\n{log}",
            self.port
        );
    }

    /// Stop knotd (SIGTERM, then SIGKILL after 10 s) and reap it.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the PID of our own child, not yet reaped.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when `kdig @127.0.0.1 -p port SOA zone` gets an answer with status
/// NOERROR (for `.`, any answer).
fn kdig_answers(port: u16, zone: &str) -> bool {
    let out = Command::new("/usr/bin/kdig")
        .arg("@127.0.0.1")
        .args(["-p", &port.to_string()])
        .args(["+timeout=1", "+retry=0", "+norecurse"])
        // -q/-t: a bare `ch` or `in` would be read as a class.
        .args(["-q", zone, "-t", "SOA"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let s = String::from_utf8_lossy(&o.stdout);
            if zone == "." {
                s.contains("status:")
            } else {
                s.contains("status: NOERROR") && s.contains("SOA")
            }
        }
        Err(_) => false,
    }
}

/// Set in the environment of a program started by [`namespace_command`].
pub const IN_NAMESPACE_ENV: &str = "SPAMRS_IN_PRIVATE_NETNS";

/// Whether this process was started by [`namespace_command`].
pub fn in_namespace() -> bool {
    std::env::var_os(IN_NAMESPACE_ENV).is_some()
}

/// A command running `program` in a private network and mount namespace
/// (`unshare -n -m`, so root or user namespaces are needed): loopback up and
/// a resolv.conf naming 127.0.0.1 (written into `dir`) bind-mounted over
/// /etc/resolv.conf. Nothing in it reaches the network; a [`Knot`] started
/// inside on port 53 answers every resolver, SpamAssassin's DMARC library
/// (which reads /etc/resolv.conf) included. Add the program's arguments
/// with `.args`; [`in_namespace`] is true in the program.
pub fn namespace_command(dir: &std::path::Path, program: &std::path::Path) -> Command {
    require("/usr/bin/unshare", "util-linux");
    require("/usr/sbin/ip", "iproute2");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n",
    )
    .expect("write resolv.conf");
    let mut c = Command::new("/usr/bin/unshare");
    c.args(["-n", "-m", "sh", "-c"])
        .arg("ip link set lo up && mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(&resolv)
        .arg(program)
        .env(IN_NAMESPACE_ENV, "1");
    c
}

/// Ask `kdig` for `name type` at `127.0.0.1:port`; the `+short` answer lines.
pub fn kdig_short(port: u16, name: &str, rtype: &str) -> Vec<String> {
    let out = Command::new("/usr/bin/kdig")
        .arg("@127.0.0.1")
        .args(["-p", &port.to_string()])
        .args(["+timeout=2", "+retry=0", "+short"])
        .args(["-q", name, "-t", rtype])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run kdig");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Forwards DNS queries (UDP and TCP) to `upstream` and returns each answer
/// after `delay`. Queries are handled concurrently, so N queries sent at
/// once all come back after about `delay`.
pub struct DelayProxy {
    pub port: u16,
    pub delay: Duration,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl DelayProxy {
    pub fn start(upstream: SocketAddr, delay: Duration) -> DelayProxy {
        let (port, udp, tcp) = bind_udp_tcp();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("udp timeout");
        tcp.set_nonblocking(true).expect("tcp nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let udp = Arc::new(udp);
        let mut threads = Vec::new();
        {
            let (stop, count, udp) = (stop.clone(), count.clone(), udp.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 65535];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = udp.recv_from(&mut buf) else {
                        continue;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    let q = buf[..n].to_vec();
                    let udp = udp.clone();
                    std::thread::spawn(move || {
                        let start = Instant::now();
                        let answer = forward_udp(upstream, &q);
                        if let Some(left) = delay.checked_sub(start.elapsed()) {
                            std::thread::sleep(left);
                        }
                        if let Some(a) = answer {
                            let _ = udp.send_to(&a, from);
                        }
                    });
                }
            }));
        }
        {
            let (stop, count) = (stop.clone(), count.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match tcp.accept() {
                        Ok((s, _)) => {
                            let count = count.clone();
                            std::thread::spawn(move || serve_tcp(s, upstream, delay, &count));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }));
        }
        DelayProxy {
            port,
            delay,
            stop,
            count,
            threads,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Queries received so far (UDP datagrams plus TCP messages).
    pub fn queries(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn forward_udp(upstream: SocketAddr, q: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.send_to(q, upstream).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn read_tcp_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).ok()?;
    Some(msg)
}

fn serve_tcp(mut s: TcpStream, upstream: SocketAddr, delay: Duration, count: &AtomicUsize) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    while let Some(q) = read_tcp_msg(&mut s) {
        count.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let answer = TcpStream::connect_timeout(&upstream, Duration::from_secs(3))
            .ok()
            .and_then(|mut u| {
                u.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
                let mut out = (q.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&q);
                u.write_all(&out).ok()?;
                read_tcp_msg(&mut u)
            });
        if let Some(left) = delay.checked_sub(start.elapsed()) {
            std::thread::sleep(left);
        }
        let Some(a) = answer else { return };
        let mut out = (a.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&a);
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

/// Binds UDP and TCP on a loopback port and never answers (TCP connections
/// complete in the kernel backlog and then hang). Counts UDP queries.
pub struct SilentServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
    _tcp: TcpListener,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let (port, udp, tcp) = bind_udp_tcp();
        udp.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("udp timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 65535];
                while !stop.load(Ordering::SeqCst) {
                    if udp.recv_from(&mut buf).is_ok() {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        SilentServer {
            port,
            stop,
            count,
            thread: Some(thread),
            _tcp: tcp,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// UDP queries received (and dropped) so far.
    pub fn queries(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
