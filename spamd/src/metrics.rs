//! Prometheus metrics (our extension, off by default): `--metrics-listen
//! ADDR:PORT` serves the text exposition format on `GET /metrics`.
//!
//! Counters are process-wide atomics bumped by the connection handlers; the
//! page is rendered on request. Names follow Prometheus conventions: a
//! `spamd_` prefix, base units (seconds, bytes), `_total` on counters,
//! labels for the fixed sets (result, command, class, kind).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::log::warning;

/// Upper bounds of the scan-time histogram, in seconds.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The protocol commands, as labels.
pub const COMMANDS: [&str; 9] = [
    "CHECK",
    "SYMBOLS",
    "REPORT",
    "REPORT_IFSPAM",
    "PROCESS",
    "HEADERS",
    "PING",
    "SKIP",
    "TELL",
];

/// Kinds of failed request, as labels.
pub const ERRORS: [&str; 7] = [
    "protocol",
    "timeout",
    "unavailable",
    "scan",
    "tls",
    "unauthorized",
    "io",
];

/// Everything counted.
pub struct Metrics {
    requests: [AtomicU64; COMMANDS.len()],
    spam: AtomicU64,
    ham: AtomicU64,
    bytes: AtomicU64,
    /// Per bucket (not cumulative); the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    scan_micros: AtomicU64,
    learned_spam: AtomicU64,
    learned_ham: AtomicU64,
    forgotten: AtomicU64,
    reload_ok: AtomicU64,
    reload_failed: AtomicU64,
    errors: [AtomicU64; ERRORS.len()],
    rules: AtomicU64,
    start: AtomicU64,
    in_progress: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicU64 = AtomicU64::new(0);

/// The daemon's counters.
pub static METRICS: Metrics = Metrics {
    requests: [ZERO; COMMANDS.len()],
    spam: ZERO,
    ham: ZERO,
    bytes: ZERO,
    buckets: [ZERO; BUCKETS.len() + 1],
    scan_micros: ZERO,
    learned_spam: ZERO,
    learned_ham: ZERO,
    forgotten: ZERO,
    reload_ok: ZERO,
    reload_failed: ZERO,
    errors: [ZERO; ERRORS.len()],
    rules: ZERO,
    start: ZERO,
    in_progress: ZERO,
};

impl Metrics {
    /// The daemon started with `rules` rules.
    pub fn started(&self, rules: usize) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.start.store(now.as_secs(), Relaxed);
        self.rules.store(rules as u64, Relaxed);
    }

    /// One request with this command word arrived.
    pub fn request(&self, command: &str) {
        if let Some(i) = COMMANDS.iter().position(|c| *c == command) {
            self.requests[i].fetch_add(1, Relaxed);
        }
    }

    /// A scan starts (true) or ends (false).
    pub fn scanning(&self, starts: bool) {
        if starts {
            self.in_progress.fetch_add(1, Relaxed);
        } else {
            self.in_progress.fetch_sub(1, Relaxed);
        }
    }

    /// One message scanned.
    pub fn scanned(&self, spam: bool, bytes: usize, took: Duration) {
        if spam {
            self.spam.fetch_add(1, Relaxed);
        } else {
            self.ham.fetch_add(1, Relaxed);
        }
        self.bytes.fetch_add(bytes as u64, Relaxed);
        let secs = took.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.scan_micros
            .fetch_add(took.as_micros().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    /// A TELL learned (Some(is_spam)) or forgot (None) a message.
    pub fn learned(&self, class: Option<bool>) {
        match class {
            Some(true) => &self.learned_spam,
            Some(false) => &self.learned_ham,
            None => &self.forgotten,
        }
        .fetch_add(1, Relaxed);
    }

    /// A SIGHUP reload finished; `rules` is the new count on success.
    pub fn reloaded(&self, ok: bool, rules: usize) {
        if ok {
            self.reload_ok.fetch_add(1, Relaxed);
            self.rules.store(rules as u64, Relaxed);
        } else {
            self.reload_failed.fetch_add(1, Relaxed);
        }
    }

    /// A request failed; `kind` is one of [`ERRORS`].
    pub fn error(&self, kind: &str) {
        if let Some(i) = ERRORS.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Relaxed);
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let scans_in_progress = self.in_progress.load(Relaxed);
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}");
            let _ = writeln!(o, "# TYPE {name} {kind}");
        };
        head(
            &mut o,
            "spamd_build_info",
            "gauge",
            "Build of this spamd: its version and the SpamAssassin version it is compatible with.",
        );
        let _ = writeln!(
            o,
            "spamd_build_info{{version=\"{}\",spamassassin_version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            spamcore::SA_VERSION
        );
        head(
            &mut o,
            "spamd_start_time_seconds",
            "gauge",
            "Start time of the daemon since the Unix epoch, in seconds.",
        );
        let _ = writeln!(o, "spamd_start_time_seconds {}", self.start.load(Relaxed));
        head(
            &mut o,
            "spamd_requests_total",
            "counter",
            "Requests received, by protocol command (the action spamc asked for).",
        );
        for (i, c) in COMMANDS.iter().enumerate() {
            let _ = writeln!(
                o,
                "spamd_requests_total{{command=\"{c}\"}} {}",
                self.requests[i].load(Relaxed)
            );
        }
        head(
            &mut o,
            "spamd_messages_scanned_total",
            "counter",
            "Messages scanned, by verdict.",
        );
        let _ = writeln!(
            o,
            "spamd_messages_scanned_total{{result=\"spam\"}} {}",
            self.spam.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "spamd_messages_scanned_total{{result=\"ham\"}} {}",
            self.ham.load(Relaxed)
        );
        head(
            &mut o,
            "spamd_scanned_bytes_total",
            "counter",
            "Bytes of message scanned.",
        );
        let _ = writeln!(o, "spamd_scanned_bytes_total {}", self.bytes.load(Relaxed));
        head(
            &mut o,
            "spamd_scan_duration_seconds",
            "histogram",
            "Time from connection to answer for scanned messages, in seconds.",
        );
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(
                o,
                "spamd_scan_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(
            o,
            "spamd_scan_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            o,
            "spamd_scan_duration_seconds_sum {}",
            self.scan_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "spamd_scan_duration_seconds_count {cumulative}");
        head(
            &mut o,
            "spamd_scans_in_progress",
            "gauge",
            "Messages being scanned now.",
        );
        let _ = writeln!(o, "spamd_scans_in_progress {scans_in_progress}");
        head(
            &mut o,
            "spamd_bayes_learned_messages_total",
            "counter",
            "Messages learned into Bayes through TELL, by class.",
        );
        let _ = writeln!(
            o,
            "spamd_bayes_learned_messages_total{{class=\"spam\"}} {}",
            self.learned_spam.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "spamd_bayes_learned_messages_total{{class=\"ham\"}} {}",
            self.learned_ham.load(Relaxed)
        );
        head(
            &mut o,
            "spamd_bayes_forgotten_messages_total",
            "counter",
            "Messages forgotten by Bayes through TELL.",
        );
        let _ = writeln!(
            o,
            "spamd_bayes_forgotten_messages_total {}",
            self.forgotten.load(Relaxed)
        );
        head(
            &mut o,
            "spamd_reloads_total",
            "counter",
            "Configuration reloads (SIGHUP), by result; a failed one keeps the running rules.",
        );
        let _ = writeln!(
            o,
            "spamd_reloads_total{{result=\"success\"}} {}",
            self.reload_ok.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "spamd_reloads_total{{result=\"failure\"}} {}",
            self.reload_failed.load(Relaxed)
        );
        head(
            &mut o,
            "spamd_rules",
            "gauge",
            "Rules in the running configuration.",
        );
        let _ = writeln!(o, "spamd_rules {}", self.rules.load(Relaxed));
        head(
            &mut o,
            "spamd_errors_total",
            "counter",
            "Requests that failed, by kind.",
        );
        for (i, k) in ERRORS.iter().enumerate() {
            let _ = writeln!(
                o,
                "spamd_errors_total{{kind=\"{k}\"}} {}",
                self.errors[i].load(Relaxed)
            );
        }
        o
    }
}

/// Bind the metrics address (before privileges are dropped).
pub fn bind(addr: &str) -> Result<std::net::TcpListener, String> {
    let sa: SocketAddr = addr
        .parse()
        .or_else(|_| {
            use std::net::ToSocketAddrs;
            addr.to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| format!("--metrics-listen: bad address {addr} (want HOST:PORT)"))?;
    let l = std::net::TcpListener::bind(sa)
        .map_err(|e| format!("--metrics-listen: cannot listen on {sa}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    crate::log::info!("spamd: metrics on http://{sa}/metrics");
    Ok(l)
}

/// Answer HTTP requests for the page until the runtime stops.
pub async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(Duration::from_secs(10), async {
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let line = req.split(|&b| b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut words = line.split_whitespace();
            let (method, path) = (words.next(), words.next());
            let path = path.map(|p| p.split('?').next().unwrap_or(p));
            let reply = match (method, path) {
                (Some("GET" | "HEAD"), Some("/metrics" | "/")) => {
                    let body = METRICS.render();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    if method == Some("HEAD") {
                        head
                    } else {
                        head + &body
                    }
                }
                (Some("GET" | "HEAD"), _) => {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                }
                _ => "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            if let Err(e) = stream.write_all(reply.as_bytes()).await {
                warning!("spamd: metrics: {e}");
            }
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics {
            requests: [ZERO; COMMANDS.len()],
            spam: ZERO,
            ham: ZERO,
            bytes: ZERO,
            buckets: [ZERO; BUCKETS.len() + 1],
            scan_micros: ZERO,
            learned_spam: ZERO,
            learned_ham: ZERO,
            forgotten: ZERO,
            reload_ok: ZERO,
            reload_failed: ZERO,
            errors: [ZERO; ERRORS.len()],
            rules: ZERO,
            start: ZERO,
            in_progress: ZERO,
        };
        m.scanned(true, 10, Duration::from_millis(3));
        m.scanned(false, 10, Duration::from_millis(700));
        m.scanned(false, 10, Duration::from_secs(1000));
        let page = m.render();
        assert!(page.contains("spamd_scan_duration_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(page.contains("spamd_scan_duration_seconds_bucket{le=\"1\"} 2\n"));
        assert!(page.contains("spamd_scan_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(page.contains("spamd_scan_duration_seconds_count 3\n"));
        assert!(page.contains("spamd_messages_scanned_total{result=\"ham\"} 2\n"));
    }
}
