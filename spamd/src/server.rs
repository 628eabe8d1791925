//! Listeners and connection handling: one task per connection, scans on a
//! bounded pool (`--max-children`), graceful shutdown that finishes the
//! scans in flight.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use spamcore::protocol::{
    self, Command, HeaderLine, MAX_HEADERS, MAX_LINE, ProtocolError, RequestHeaders,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::engine::Engine;
use crate::log::{info, warning};
use crate::metrics::METRICS;

/// Shared state of the running daemon.
pub struct Shared {
    pub engine: RwLock<Arc<Engine>>,
    pub scan_slots: Semaphore,
    /// The `--max-children` threads scans run on.
    pub scan_pool: crate::pool::ScanPool,
    pub allowed: Vec<Cidr>,
    pub allow_tell: bool,
    pub timeout_tcp: Duration,
    pub timeout_child: Option<Duration>,
    pub max_size: usize,
    /// Admission control: connections served at once. Beyond this the
    /// accept loop stops accepting, so further clients wait in the
    /// listen backlog (as with SpamAssassin's busy children) instead of
    /// each holding a task, a buffer and a message in memory.
    pub conn_slots: Arc<Semaphore>,
}

/// How many connections are served at once for `max_children` scanners:
/// enough to keep the scanners fed and every queued client answered
/// promptly, small enough that buffered requests stay bounded.
pub fn connection_limit(max_children: usize) -> usize {
    (max_children * 128).clamp(256, 1024)
}

/// Bound on one write of an answer (a reader that takes longer is cut
/// off), set from `--timeout-tcp` at start-up.
static WRITE_TIMEOUT_SECS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(30);

pub fn set_write_timeout(d: Duration) {
    WRITE_TIMEOUT_SECS.store(d.as_secs().max(1), std::sync::atomic::Ordering::Relaxed);
}

impl Shared {
    pub(crate) fn engine(&self) -> Arc<Engine> {
        match self.engine.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Who is on the other end, for logs and `_REMOTEHOST*_` tags.
#[derive(Debug, Clone)]
struct Peer {
    hostname: String,
    addr: String,
    /// TCP port, or the socket path for Unix sockets.
    port: String,
}

/// A listening socket.
pub enum Listener {
    /// With the TLS acceptor when it speaks TLS.
    Tcp(TcpListener, Option<tokio_rustls::TlsAcceptor>),
    Unix(UnixListener, String),
}

/// Accept until shutdown; every connection task holds a clone of `done` so
/// the caller can wait for all of them to finish.
pub async fn serve(
    listener: Listener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        // Admission control: take a connection slot before accepting.
        let slot = tokio::select! {
            _ = shutdown.changed() => return,
            p = shared.conn_slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = accept(&listener) => a,
        };
        let (stream, peer, local_port) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warning!("spamd: accept failed: {e}");
                // EMFILE and friends: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match stream {
                Conn::Tcp(s, tls) => {
                    let ip = s.peer_addr().map(|a| a.ip()).ok();
                    let msg = format!(
                        "connection from {} [{}]:{} to port {}, fd {}",
                        peer.hostname,
                        peer.addr,
                        peer.port,
                        local_port,
                        raw_fd(&s)
                    );
                    if let Some(ip) = ip
                        && !shared.allowed.iter().any(|c| c.contains(ip))
                    {
                        METRICS.error("unauthorized");
                        warning!("spamd: unauthorized {msg}");
                        drop(done);
                        return;
                    }
                    match tls {
                        None => {
                            info!("spamd: {msg}");
                            handle(s, peer, &shared).await;
                        }
                        Some(acceptor) => {
                            let hs =
                                tokio::time::timeout(shared.timeout_tcp, acceptor.accept(s)).await;
                            match hs {
                                Ok(Ok(t)) => {
                                    info!("spamd: {msg}, {}", crate::tls::describe(t.get_ref().1));
                                    handle(t, peer, &shared).await;
                                }
                                Ok(Err(e)) => {
                                    METRICS.error("tls");
                                    info!("spamd: accept_a_conn: TLS accept failed: {e}");
                                }
                                Err(_) => {
                                    METRICS.error("tls");
                                    info!(
                                        "spamd: accept_a_conn: TLS accept failed: handshake timed out"
                                    );
                                }
                            }
                        }
                    }
                }
                Conn::Unix(s) => {
                    info!("spamd: got connection over {}", peer.port);
                    handle(s, peer, &shared).await;
                }
            }
            drop(done);
        });
    }
}

fn raw_fd<T: std::os::fd::AsRawFd>(s: &T) -> i32 {
    s.as_raw_fd()
}

enum Conn {
    Tcp(tokio::net::TcpStream, Option<tokio_rustls::TlsAcceptor>),
    Unix(tokio::net::UnixStream),
}

async fn accept(l: &Listener) -> std::io::Result<(Conn, Peer, u16)> {
    match l {
        Listener::Tcp(t, tls) => {
            let (s, addr) = t.accept().await?;
            let local = t.local_addr().map(|a| a.port()).unwrap_or(0);
            Ok((Conn::Tcp(s, tls.clone()), peer_of(addr), local))
        }
        Listener::Unix(u, path) => {
            let (s, _) = u.accept().await?;
            let peer = Peer {
                hostname: "localhost".into(),
                addr: "127.0.0.1".into(),
                port: path.clone(),
            };
            Ok((Conn::Unix(s), peer, 0))
        }
    }
}

fn peer_of(addr: SocketAddr) -> Peer {
    let ip = match addr.ip() {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    // No reverse DNS: IPv4 loopback is "localhost" (as SpamAssassin's
    // lookup gives), others, ::1 included, are shown by address.
    let hostname = if ip.is_loopback() && ip.is_ipv4() {
        "localhost".to_string()
    } else {
        ip.to_string()
    };
    Peer {
        hostname,
        addr: ip.to_string(),
        port: addr.port().to_string(),
    }
}

/// Read one `\n`-terminated line of at most `max` bytes. Ok(None) at EOF
/// before any byte.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await.map_err(LineError::Io)?;
        if buf.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(p) => (p + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(Some(line));
        }
    }
}

#[derive(Debug)]
enum LineError {
    Io(std::io::Error),
    TooLong,
}

/// Write an answer, giving up (the connection is then dropped) when the
/// client does not take it within the write timeout: a reader trickling
/// the answer cannot hold the connection, its buffer and its slot forever.
async fn send<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) {
    let limit = Duration::from_secs(WRITE_TIMEOUT_SECS.load(std::sync::atomic::Ordering::Relaxed));
    let write = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    if tokio::time::timeout(limit, write).await.is_err() {
        METRICS.error("timeout");
        warning!(
            "spamd: timeout: ({} second timeout writing the answer to the client)",
            limit.as_secs()
        );
    }
}

async fn send_error<W: AsyncWrite + Unpin>(w: &mut W, e: &ProtocolError) {
    METRICS.error(match e.code {
        protocol::EX_UNAVAILABLE => "unavailable",
        protocol::EX_TIMEOUT => "timeout",
        _ => "protocol",
    });
    match e.code {
        protocol::EX_UNAVAILABLE => warning!("spamd: service unavailable: {}", e.text),
        protocol::EX_TIMEOUT => warning!("spamd: timeout: {}", e.text),
        _ => warning!("spamd: bad protocol: header error: {}", e.text),
    }
    send(w, &e.status_line()).await;
}

async fn handle<S: AsyncRead + AsyncWrite + Unpin>(stream: S, peer: Peer, shared: &Shared) {
    let start = Instant::now();
    let mut conn = BufReader::with_capacity(64 * 1024, stream);
    let first = match tokio::time::timeout(shared.timeout_tcp, read_line(&mut conn, MAX_LINE)).await
    {
        Err(_) => {
            let e = ProtocolError::timeout(format!(
                "({} second socket timeout reading input from client)",
                shared.timeout_tcp.as_secs()
            ));
            send_error(conn.get_mut(), &e).await;
            return;
        }
        Ok(Err(LineError::TooLong)) => {
            send_error(
                conn.get_mut(),
                &ProtocolError::bad_header("(request line too long)"),
            )
            .await;
            return;
        }
        Ok(Err(LineError::Io(e))) => {
            warning!("spamd: read error: {e}");
            return;
        }
        Ok(Ok(None)) => {
            send_error(
                conn.get_mut(),
                &ProtocolError::bad_header("(closed before headers)"),
            )
            .await;
            return;
        }
        Ok(Ok(Some(l))) => l,
    };
    let request = match protocol::parse_request_line(&first) {
        Ok(r) => {
            METRICS.request(r.command.as_str());
            r
        }
        Err(e) => {
            send_error(conn.get_mut(), &e).await;
            return;
        }
    };
    // `--timeout-child` runs from the request line to the answer, but
    // not while the request waits for a free scanner: that wait is
    // SpamAssassin's listen backlog, where no child's clock runs yet. When
    // a scan slot is taken the clock restarts (`clock` holds the deadline
    // in milliseconds after `start`).
    let clock = std::sync::atomic::AtomicU64::new(
        shared
            .timeout_child
            .map_or(u64::MAX, |t| t.as_millis() as u64),
    );
    let work = request_body(&mut conn, &request, &peer, shared, start, &clock);
    match shared.timeout_child {
        Some(limit) => {
            let timer = async {
                loop {
                    let ms = clock.load(std::sync::atomic::Ordering::Relaxed);
                    let due = start + Duration::from_millis(ms);
                    if Instant::now() >= due {
                        return;
                    }
                    tokio::time::sleep_until(due.into()).await;
                }
            };
            let timed_out = tokio::select! {
                _ = work => false,
                _ = timer => true,
            };
            if timed_out {
                let e = ProtocolError::timeout(format!(
                    "({} second timeout while trying to {})",
                    limit.as_secs(),
                    request.command.as_str()
                ));
                send_error(conn.get_mut(), &e).await;
            }
        }
        None => work.await,
    }
}

async fn read_headers<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<RequestHeaders, ProtocolError> {
    let mut h = RequestHeaders::default();
    for _ in 0..MAX_HEADERS {
        let line = match read_line(r, MAX_LINE).await {
            Ok(Some(l)) => l,
            Ok(None) | Err(LineError::Io(_)) => {
                return Err(ProtocolError::bad_header("(EOF during headers)"));
            }
            Err(LineError::TooLong) => {
                return Err(ProtocolError::bad_header("(header line too long)"));
            }
        };
        if h.feed(&line)? == HeaderLine::End {
            return Ok(h);
        }
    }
    Err(ProtocolError::bad_header("(too many headers)"))
}

/// Read the message body the way spamd does: with Content-length, that
/// many bytes and then to the end of the line they stop in (spamd reads
/// whole lines); without it, or when compressed, to EOF.
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    h: &RequestHeaders,
    max: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let too_big = || ProtocolError::bad_header(format!("(message larger than {max} bytes)"));
    let mut body = Vec::new();
    let want = if h.compress_zlib {
        None
    } else {
        h.content_length
    };
    if let Some(n) = want {
        if n > max {
            return Err(too_big());
        }
        // What the client claims, up to 1 MB; beyond that the buffer
        // grows with what actually arrives.
        body.reserve(n.min(1 << 20));
    }
    loop {
        let buf = r
            .fill_buf()
            .await
            .map_err(|_| ProtocolError::bad_header("(read error)"))?;
        if buf.is_empty() {
            break;
        }
        let mut take = buf.len();
        if let Some(n) = want {
            if body.len() >= n {
                // Finish the line spamd would still be reading.
                if let Some(p) = buf.iter().position(|&b| b == b'\n') {
                    body.extend_from_slice(&buf[..=p]);
                    r.consume(p + 1);
                    break;
                }
            } else {
                take = take.min(n - body.len());
            }
        }
        if body.len() + take > max {
            return Err(too_big());
        }
        body.extend_from_slice(&buf[..take]);
        r.consume(take);
        if let Some(n) = want
            && body.len() == n
            && (n == 0 || body[n - 1] == b'\n')
        {
            break;
        }
    }
    Ok(body)
}

async fn request_body<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    request: &protocol::RequestLine,
    peer: &Peer,
    shared: &Shared,
    start: Instant,
    clock: &std::sync::atomic::AtomicU64,
) {
    let headers = if request.has_headers() {
        // The header block shares the request line's deadline
        // (`--timeout-tcp`, "connection timeout for client headers"), so
        // a client trickling headers a byte a second is cut off there,
        // not only at `--timeout-child`.
        let left = shared.timeout_tcp.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, read_headers(conn)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => {
                send_error(conn.get_mut(), &e).await;
                return;
            }
            Err(_) => {
                let e = ProtocolError::timeout(format!(
                    "({} second socket timeout reading input from client)",
                    shared.timeout_tcp.as_secs()
                ));
                send_error(conn.get_mut(), &e).await;
                return;
            }
        }
    } else {
        RequestHeaders::default()
    };
    let user = headers
        .user
        .clone()
        .unwrap_or_else(|| "(unknown)".to_string());
    match request.command {
        Command::Ping => {
            send(conn.get_mut(), &protocol::encode_pong()).await;
            return;
        }
        Command::Skip => {
            info!(
                "spamd: skipped large message in {:3.1} seconds",
                start.elapsed().as_secs_f64()
            );
            return;
        }
        Command::Tell => {
            if !shared.allow_tell {
                send_error(
                    conn.get_mut(),
                    &ProtocolError::unavailable(
                        "TELL commands are not enabled, set the --allow-tell switch.",
                    ),
                )
                .await;
                return;
            }
            if headers.set_local && headers.remove_local {
                send_error(
                    conn.get_mut(),
                    &ProtocolError::bad_header(
                        "Unable to set local and remove local in the same operation.",
                    ),
                )
                .await;
                return;
            }
            if headers.set_remote && headers.remove_remote {
                send_error(
                    conn.get_mut(),
                    &ProtocolError::bad_header(
                        "Unable to set remote and remove remote in the same operation.",
                    ),
                )
                .await;
                return;
            }
        }
        _ => {}
    }
    let raw = match read_body(conn, &headers, shared.max_size).await {
        Ok(b) => b,
        Err(e) => {
            send_error(conn.get_mut(), &e).await;
            return;
        }
    };
    let msg = match protocol::decode_body_max(&headers, raw, shared.max_size) {
        Ok(m) => m,
        Err(e) => {
            send_error(conn.get_mut(), &e).await;
            return;
        }
    };
    if request.command == Command::Tell {
        tell(conn, &headers, shared, msg, &user, start).await;
        return;
    }
    let Ok(_permit) = shared.scan_slots.acquire().await else {
        return;
    };
    let scan_start = Instant::now();
    if let Some(t) = shared.timeout_child {
        let due = (scan_start + t).duration_since(start);
        clock.store(due.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    let engine = shared.engine();
    let command = request.command;
    let (hostname, addr) = (peer.hostname.clone(), peer.addr.clone());
    let size = msg.len();
    let req_user = headers.user.clone();
    // Rules stop at 90% of the child timeout (TIME_LIMIT_EXCEEDED), so a
    // pathological message still gets its answer before the hard timeout.
    let deadline = shared.timeout_child.map(|t| scan_start + t.mul_f64(0.9));
    METRICS.scanning(true);
    let outcome = shared
        .scan_pool
        .run(move || {
            let big = msg.len() > 1 << 20;
            let out = spamcore::rules::with_deadline(deadline, || {
                engine.process(command, &msg, &hostname, &addr, req_user.as_deref())
            });
            if big {
                drop(msg);
                crate::trim_heap();
            }
            out
        })
        .await;
    METRICS.scanning(false);
    let outcome = match outcome {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            METRICS.error("scan");
            warning!("{e}");
            send_error(
                conn.get_mut(),
                &ProtocolError::unavailable("cannot scan as the requested user"),
            )
            .await;
            return;
        }
        Err(e) => {
            METRICS.error("scan");
            warning!("spamd: scan failed: {e}");
            send_error(
                conn.get_mut(),
                &ProtocolError::unavailable("internal error while scanning"),
            )
            .await;
            return;
        }
    };
    for n in &outcome.notes {
        info!("{n}");
    }
    for w in &outcome.warnings {
        warning!("spamd: {w}");
    }
    let uid = outcome.uid;
    let msgid = outcome
        .msgid
        .clone()
        .unwrap_or_else(|| "(unknown)".to_string());
    info!(
        "spamd: {} message {msgid}{} for {user}:{uid}",
        if command == Command::Process {
            "processing"
        } else {
            "checking"
        },
        outcome
            .rmsgid
            .as_ref()
            .map(|r| format!(" aka {r}"))
            .unwrap_or_default()
    );
    let reply =
        protocol::encode_scan_response(command, request.version, &outcome.spam, &outcome.body);
    send(conn.get_mut(), &reply).await;
    METRICS.scanned(outcome.verdict.is_spam, size, start.elapsed());
    let scantime = format!("{:.1}", start.elapsed().as_secs_f64());
    let v = &outcome.verdict;
    info!(
        "spamd: {} ({}/{}) for {user}:{uid} in {scantime} seconds, {size} bytes.",
        if v.is_spam {
            "identified spam"
        } else {
            "clean message"
        },
        outcome.spam.score,
        outcome.spam.threshold
    );
    let safe = |s: &str| {
        s.chars()
            .map(|c| if c <= ' ' || c == ',' { '_' } else { c })
            .collect::<String>()
    };
    let mut extra = vec![
        format!("scantime={scantime}"),
        format!("size={size}"),
        format!("user={user}"),
        format!("uid={uid}"),
        format!("required_score={}", outcome.spam.threshold),
        format!("rhost={}", peer.hostname),
        format!("raddr={}", peer.addr),
        format!("rport={}", peer.port),
        format!("mid={}", safe(&msgid)),
    ];
    if let Some(r) = &outcome.rmsgid {
        extra.push(format!("rmid={}", safe(r)));
    }
    if let Some(b) = v.bayes {
        extra.push(format!("bayes={b:06}"));
    }
    let mut autolearn = v.autolearn.clone();
    if let Some(f) = v.autolearn_force {
        autolearn.push_str(if f {
            " autolearn_force=yes"
        } else {
            " autolearn_force=no"
        });
    }
    extra.push(format!("autolearn={autolearn}"));
    info!(
        "spamd: result: {} {:2} - {} {}",
        if v.is_spam { 'Y' } else { '.' },
        v.score.trunc() as i64,
        v.test_names().join(","),
        extra.join(",")
    );
}

/// TELL: learn (`Set: local`) or forget (`Remove: local`) the message in
/// the user's Bayes database, as `spamc -L spam|ham|forget` asks. Remote
/// reporting (Razor, Pyzor ...) is not done; the reply says so by leaving
/// `remote` out of DidSet/DidRemove.
async fn tell<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    headers: &RequestHeaders,
    shared: &Shared,
    msg: Vec<u8>,
    user: &str,
    start: Instant,
) {
    let size = msg.len();
    let class = headers.message_class.as_deref().map(str::trim);
    let learn_as = match class {
        Some("spam") => Some(true),
        Some("ham") => Some(false),
        _ => None,
    };
    if headers.set_local && learn_as.is_none() {
        send_error(
            conn.get_mut(),
            &ProtocolError::bad_header("Message-class must be spam or ham to set local."),
        )
        .await;
        return;
    }
    let engine = shared.engine();
    let req_user = headers.user.clone();
    let (set_local, remove_local) = (headers.set_local, headers.remove_local);
    let result = tokio::task::spawn_blocking(move || -> Result<((bool, bool), u32), String> {
        let (r, who) = engine.with_user(req_user.as_deref(), |s| {
            learn_in(
                s.bayes.as_ref(),
                &engine,
                &msg,
                set_local,
                remove_local,
                learn_as,
            )
        })?;
        for n in &who.notes {
            info!("{n}");
        }
        for w in &who.warnings {
            warning!("spamd: {w}");
        }
        Ok((r?, who.id.uid))
    })
    .await;
    let ((did_set, did_remove), uid) = match result {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            warning!("spamd: bayes: {e}");
            send_error(
                conn.get_mut(),
                &ProtocolError::unavailable(format!("learning failed: {e}")),
            )
            .await;
            return;
        }
        Err(e) => {
            warning!("spamd: learning failed: {e}");
            send_error(
                conn.get_mut(),
                &ProtocolError::unavailable("internal error while learning"),
            )
            .await;
            return;
        }
    };
    let set: &[&str] = if did_set { &["local"] } else { &[] };
    let removed: &[&str] = if did_remove { &["local"] } else { &[] };
    send(
        conn.get_mut(),
        &protocol::encode_tell_response(set, removed),
    )
    .await;
    if did_set {
        METRICS.learned(learn_as);
    }
    if did_remove {
        METRICS.learned(None);
    }
    let what = match (did_set, did_remove, learn_as) {
        (true, _, Some(true)) => "Learned message as spam",
        (true, _, _) => "Learned message as ham",
        (false, true, _) => "Forgot message",
        _ => "Did nothing",
    };
    info!(
        "spamd: Tell: {what} for {user}:{uid} in {:.1} seconds, {size} bytes",
        start.elapsed().as_secs_f64(),
    );
}

/// Learn or forget `msg` in `bayes` (the TELL work, run as the user).
fn learn_in(
    bayes: Option<&spamcore::bayes::Bayes>,
    engine: &crate::engine::Engine,
    msg: &[u8],
    set_local: bool,
    remove_local: bool,
    learn_as: Option<bool>,
) -> Result<(bool, bool), String> {
    let Some(bayes) = bayes else {
        return Ok((false, false));
    };
    // Parsed as scans parse it (originating-IP headers, trust), so the
    // learned relay tokens are the ones scans look up.
    let parsed = spamcore::message::Message::parse_with(msg, &engine.message_options);
    let mut did = (false, false);
    if set_local && let Some(is_spam) = learn_as {
        let r = bayes.learn(&parsed, is_spam).map_err(|e| e.to_string())?;
        did.0 = r == spamcore::bayes::LearnResult::Learned;
    }
    if remove_local {
        let r = bayes.forget(&parsed).map_err(|e| e.to_string())?;
        did.1 = r == spamcore::bayes::LearnResult::Forgotten;
    }
    Ok(did)
}

/// An allowed-client network (`-A`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8`, `127.0.0.1`, `::1`, `192.168.` (prefix form).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad = || format!("invalid network '{s}' in --allowed-ips");
        if let Some((ip, bits)) = s.split_once('/') {
            let net: IpAddr = ip.trim_matches(['[', ']']).parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(Cidr { net, bits });
        }
        if let Ok(net) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
            let bits = if net.is_ipv4() { 32 } else { 128 };
            return Ok(Cidr { net, bits });
        }
        // Old style IPv4 prefix: "10." or "192.168.1."
        let parts: Vec<&str> = s.trim_end_matches('.').split('.').collect();
        if s.ends_with('.') && parts.len() < 4 {
            let mut octets = [0u8; 4];
            for (i, p) in parts.iter().enumerate() {
                octets[i] = p.parse().map_err(|_| bad())?;
            }
            return Ok(Cidr {
                net: IpAddr::from(octets),
                bits: (parts.len() * 8) as u8,
            });
        }
        Err(bad())
    }

    /// Does the network contain `ip` (IPv4-mapped IPv6 counts as IPv4)?
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.bits))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.bits == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.bits))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.1.2.3".parse().unwrap()));
        let c = Cidr::parse("127.0.0.1").unwrap();
        assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(
            Cidr::parse("192.168.")
                .unwrap()
                .contains("192.168.7.7".parse().unwrap())
        );
        assert!(Cidr::parse("bogus").is_err());
        assert!(Cidr::parse("10.0.0.0/40").is_err());
    }

    #[tokio::test]
    async fn body_reading() {
        let h = RequestHeaders {
            content_length: Some(6),
            ..Default::default()
        };
        let mut r = BufReader::new(&b"hello\nextra"[..]);
        assert_eq!(read_body(&mut r, &h, 1000).await.unwrap(), b"hello\n");
        // Stops mid-line: spamd keeps reading to the end of that line.
        let h = RequestHeaders {
            content_length: Some(3),
            ..Default::default()
        };
        let mut r = BufReader::new(&b"hello\nextra"[..]);
        assert_eq!(read_body(&mut r, &h, 1000).await.unwrap(), b"hello\n");
        let h = RequestHeaders::default();
        let mut r = BufReader::new(&b"all of it"[..]);
        assert_eq!(read_body(&mut r, &h, 1000).await.unwrap(), b"all of it");
        let mut r = BufReader::new(&b"0123456789"[..]);
        assert!(read_body(&mut r, &h, 10).await.is_ok());
        let big = vec![b'a'; 200_000];
        let mut r = BufReader::new(&big[..]);
        assert!(read_body(&mut r, &h, 10).await.is_err());
    }
}
