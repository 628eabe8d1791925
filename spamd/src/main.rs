//! spamd: a SpamAssassin-compatible spam filtering daemon.

mod activation;
mod cli;
mod engine;
mod getopt;
mod learn;
mod log;
mod metrics;
mod pool;
mod server;
mod tls;
mod users;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};

use crate::cli::{Cli, Parsed};
use crate::engine::Engine;
use crate::log::{debug, error, info, warning};
use crate::server::{Cidr, Listener, Shared};

/// Rust allocations go to mimalloc: the scan makes many short-lived
/// strings and vectors, and glibc's malloc, free and their helpers were
/// about an eighth of a scan's CPU samples; with mimalloc a scan takes
/// 5.6% fewer instructions (callgrind) and start-up, which allocates most,
/// about 250 ms less. It returns freed pages to the kernel on its own (see
/// `tune_malloc`). glibc's malloc still serves the C libraries (PCRE2,
/// SQLite, NSS), hence the glibc settings below.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Allocator settings for a long-running, multi-threaded daemon whose
/// requests come and go in bursts of large buffers (messages, answers).
///
/// glibc (when it served every allocation): under load RSS climbed from
/// 81 MB to 514 MB and stayed there: with the defaults every thread that
/// allocates may get its own arena (up to 8 per core), and after the first large buffer is freed glibc raises its
/// mmap threshold (up to 32 MB), so later message-sized buffers come from
/// the arenas, where freed memory is fragmented and rarely returned.
/// A fixed mmap threshold keeps buffers of 256 KB and more in their own
/// mappings, given back to the kernel when freed; two arenas bound the
/// per-thread spread. `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_` in the
/// environment still win, for anyone tuning by hand.
fn tune_malloc() {
    // mimalloc's own default (1 s) left the bench's daemon at 140-146 MiB
    // after load; 50 ms gave 128-132 MiB at no CPU cost we could measure.
    // `MIMALLOC_PURGE_DELAY` in the environment still wins.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one documented option before any other thread exists.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 50) };
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; called before
        // any other thread exists.
        unsafe {
            if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
            if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
            }
        }
    }
}

unsafe extern "C" {
    /// mimalloc: free what this thread's heap (and, forced, the heaps of
    /// threads that have exited) holds unused, and return it to the kernel.
    fn mi_collect(force: bool);
    /// mimalloc: set an option (`mi_option_t`, a stable C enum).
    fn mi_option_set(option: i32, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc.h (v2 and v3): how long freed
/// memory stays committed before it goes back to the kernel.
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Give freed heap pages back to the kernel after a large request.
pub(crate) fn trim_heap() {
    // SAFETY: mi_collect only releases memory no allocation uses.
    unsafe { mi_collect(true) };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> ExitCode {
    tune_malloc();
    // One binary: installed (or symlinked) as sa-learn it is sa-learn, and
    // `spamd learn ...` is the same tool.
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name == "sa-learn" {
        return learn::main("sa-learn", args.collect());
    }
    let rest: Vec<std::ffi::OsString> = args.collect();
    if rest.first().is_some_and(|a| a == "learn") {
        return learn::main("spamd learn", rest[1..].to_vec());
    }
    let args: Vec<String> = rest
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match cli::parse(&args) {
        Ok(Parsed::Run(cli)) => *cli,
        Ok(Parsed::Removed(text)) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
        Err(e) => {
            // As SpamAssassin's spamd: the error, the usage, EX_USAGE.
            eprintln!("{e}\n{}", cli::usage());
            return ExitCode::from(64);
        }
    };
    if cli.help {
        println!("{}", cli::usage());
        return ExitCode::SUCCESS;
    }
    if cli.version {
        println!(
            "SpamAssassin Server version {} (Rust spamd {})",
            spamcore::SA_VERSION,
            env!("CARGO_PKG_VERSION")
        );
        println!("  compatible with the SPAMC/SPAMD protocol 1.5");
        return ExitCode::SUCCESS;
    }
    if cli.lint {
        return lint(&cli);
    }
    if let Err(e) = log::init(&cli.syslog, cli.debug.is_some()) {
        eprintln!("spamd: {e}");
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("spamd: {e}");
            eprintln!("spamd: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--lint`: print every configuration problem with file:line; exit 1 if any.
fn lint(cli: &Cli) -> ExitCode {
    let (engine, mut diags) = Engine::load(cli);
    // Build every automaton, so patterns that only fail there are reported.
    diags.extend(engine.rules.warm(|| {}));
    for d in &diags {
        println!("lint: {d}");
    }
    eprintln!(
        "lint: {} rules from {}, {} problem(s)",
        engine.rules.len(),
        engine.origin,
        diags.len()
    );
    if diags.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A parsed `-i` value.
enum ListenSpec {
    Unix(String),
    /// The addresses, and whether they speak TLS.
    Tcp(Vec<SocketAddr>, bool),
}

fn listen_specs(cli: &Cli) -> Result<Vec<ListenSpec>, String> {
    let mut specs: Vec<String> = cli.listen.clone();
    if let Some(p) = &cli.socketpath {
        if !p.starts_with('/') {
            return Err(format!(
                "socketpath option should specify an absolute path: {p}"
            ));
        }
        specs.push(p.clone());
    }
    if specs.is_empty() {
        specs.push("localhost".into());
    }
    let default_port: u16 = cli
        .port
        .parse()
        .map_err(|_| format!("invalid port: {}", cli.port))?;
    let mut out = Vec::new();
    for spec in specs {
        let spec = if spec.is_empty() {
            "*".to_string()
        } else {
            spec
        };
        // `ssl:` marks a TLS listener; --ssl (or --ssl-port) makes every
        // TCP listener one, and a Unix socket never is, as in SpamAssassin.
        let (prefixed, spec) = match spec.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("ssl:") => (true, spec[4..].to_string()),
            _ => (false, spec),
        };
        if spec.starts_with('/') {
            out.push(ListenSpec::Unix(spec));
            continue;
        }
        let ssl = prefixed || tls::wanted(cli);
        let spec = if spec.is_empty() {
            "localhost".to_string()
        } else {
            spec
        };
        // [v6]:port, v6, host:port, host, *, *:port
        let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("Invalid socket specification syntax: {spec}"))?;
            (h.to_string(), after.strip_prefix(':').map(str::to_string))
        } else if spec.matches(':').count() > 1 {
            (spec.clone(), None)
        } else if let Some((h, p)) = spec.split_once(':') {
            (h.to_string(), Some(p.to_string()))
        } else {
            (spec.clone(), None)
        };
        let ssl_port = cli.ssl_port.clone().filter(|_| ssl);
        let port = match port.or(ssl_port).filter(|p| !p.is_empty()) {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("invalid port: {p}, socket: {spec}"))?,
            None => default_port,
        };
        let ips: Vec<IpAddr> = match host.as_str() {
            "" | "*" => vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            "localhost" => vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
            h => match h.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => {
                    use std::net::ToSocketAddrs;
                    (h, port)
                        .to_socket_addrs()
                        .map_err(|e| format!("cannot resolve {h}: {e}"))?
                        .map(|a| a.ip())
                        .collect()
                }
            },
        };
        let ips = ips
            .into_iter()
            .filter(|ip| !(cli.ipv4 && ip.is_ipv6() || cli.ipv6 && ip.is_ipv4()))
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        out.push(ListenSpec::Tcp(ips, ssl));
    }
    Ok(out)
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // Keep IPv6 sockets IPv6-only so "*" can bind both families.
        sock.set_only_v6(true)?;
    }
    sock.bind(&addr.into())?;
    sock.listen(128)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

enum Bound {
    /// A TCP listener and whether it speaks TLS.
    Tcp(std::net::TcpListener, bool),
    /// A Unix listener, its path, and whether we made it (and so remove
    /// it at exit; systemd's sockets are systemd's).
    Unix(std::os::unix::net::UnixListener, String, bool),
}

fn bind_all(cli: &Cli) -> Result<Vec<Bound>, String> {
    let mut bound = Vec::new();
    for spec in listen_specs(cli)? {
        match spec {
            ListenSpec::Unix(path) => {
                if Path::new(&path).exists() {
                    // A stale socket from a previous run: refuse only if
                    // something still answers on it.
                    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                        return Err(format!("socket {path} is in use by another process"));
                    }
                    let _ = std::fs::remove_file(&path);
                }
                let l = std::os::unix::net::UnixListener::bind(&path)
                    .map_err(|e| format!("could not create UNIX socket on {path}: {e}"))?;
                l.set_nonblocking(true).map_err(|e| e.to_string())?;
                set_socket_perms(cli, &path)?;
                info!("spamd: server socket set to: {path}");
                bound.push(Bound::Unix(l, path, true));
            }
            ListenSpec::Tcp(addrs, ssl) => {
                let mut any = false;
                let mut last_err = None;
                for a in addrs {
                    match bind_tcp(a) {
                        Ok(l) => {
                            info!("spamd: server socket set to: [{}]:{}", a.ip(), a.port());
                            bound.push(Bound::Tcp(l, ssl));
                            any = true;
                        }
                        Err(e) => {
                            last_err = Some(format!("could not create INET socket on {a}: {e}"))
                        }
                    }
                }
                if !any {
                    return Err(last_err.unwrap_or_else(|| "no address to listen on".into()));
                }
            }
        }
    }
    Ok(bound)
}

/// How SpamAssassin names a listener in `server started on ...`.
fn listen_description(b: &Bound) -> String {
    match b {
        Bound::Unix(_, p, _) => format!("UNIX domain socket {p}"),
        Bound::Tcp(l, ssl) => {
            let (ip, port) = l
                .local_addr()
                .map(|a| (a.ip().to_string(), a.port()))
                .unwrap_or_default();
            if *ssl {
                format!("SSL [{ip}]:{port}")
            } else {
                format!("IO::Socket::IP [{ip}]:{port}")
            }
        }
    }
}

fn set_socket_perms(cli: &Cli, path: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(mode) = &cli.socketmode {
        let m = u32::from_str_radix(mode, 8).map_err(|_| format!("invalid socketmode {mode}"))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m))
            .map_err(|e| e.to_string())?;
    }
    let uid = match &cli.socketowner {
        Some(u) => Some(
            nix::unistd::User::from_name(u)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown socketowner {u}"))?
                .uid,
        ),
        None => None,
    };
    let gid = match &cli.socketgroup {
        Some(g) => Some(
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown socketgroup {g}"))?
                .gid,
        ),
        None => None,
    };
    if uid.is_some() || gid.is_some() {
        nix::unistd::chown(path, uid, gid).map_err(|e| format!("chown {path}: {e}"))?;
    }
    Ok(())
}

fn drop_privileges(cli: &Cli) -> Result<(), String> {
    let Some(name) = &cli.username else {
        return Ok(());
    };
    let user = nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .ok_or_else(|| format!("fatal: setuid to {name} failed: no such user"))?;
    if user.uid.is_root() {
        return Err("fatal: will not run as root; use -u with a non-root user".into());
    }
    let gid = match &cli.groupname {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| format!("unknown group {g}"))?
                .gid
        }
        None => user.gid,
    };
    if nix::unistd::geteuid().is_root() {
        nix::unistd::setgroups(&[gid]).map_err(|e| format!("setgroups: {e}"))?;
        nix::unistd::setgid(gid).map_err(|e| format!("setgid: {e}"))?;
        nix::unistd::setuid(user.uid).map_err(|e| format!("setuid: {e}"))?;
    }
    Ok(())
}

fn daemonize() -> Result<(), String> {
    use nix::unistd::{ForkResult, fork, setsid};
    // SAFETY: called before any thread or runtime exists.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => {}
    }
    setsid().map_err(|e| format!("setsid: {e}"))?;
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| e.to_string())?;
    use std::os::fd::AsRawFd;
    for fd in 0..3 {
        // SAFETY: both descriptors are valid; replacing stdio is the intent.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(format!("dup2: {}", std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    // Sockets from systemd first: the variables name our pid, so this must
    // happen before -d forks.
    let inherited = activation::take()?;
    let max_children = usize::try_from(cli.max_children)
        .ok()
        .filter(|&n| n > 0)
        .ok_or("--max-children must be at least 1")?;
    let max_size = usize::try_from(cli.max_size).map_err(|_| "--max-size must not be negative")?;
    for n in &cli.notices {
        info!("{n}");
    }
    if cli.virtual_config_dir.is_some() && cli.username.is_none() {
        return Err("cannot use --virtual-config-dir without -u".into());
    }
    let mut allowed = Vec::new();
    for a in cli.allowed_ips.iter().flat_map(|a| a.split(',')) {
        if !a.trim().is_empty() {
            allowed.push(Cidr::parse(a.trim())?);
        }
    }
    if allowed.is_empty() {
        allowed.push(Cidr::parse("127.0.0.1")?);
        allowed.push(Cidr::parse("::1")?);
    }
    // Bind first (may need root), then daemonize, then drop privileges.
    let bound = match inherited {
        Some(sockets) => sockets
            .into_iter()
            .map(|s| match s {
                activation::Inherited::Tcp(l, named_ssl) => {
                    Bound::Tcp(l, named_ssl || tls::wanted(&cli))
                }
                activation::Inherited::Unix(l, p) => Bound::Unix(l, p, false),
            })
            .collect(),
        None => bind_all(&cli)?,
    };
    let acceptor = if bound.iter().any(|b| matches!(b, Bound::Tcp(_, true))) {
        Some(tls::acceptor(&cli)?)
    } else {
        None
    };
    let metrics_listener = match &cli.metrics_listen {
        Some(addr) => Some(metrics::bind(addr)?),
        None => None,
    };
    if cli.daemonize {
        daemonize()?;
    }
    if let Some(p) = &cli.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| format!("cannot write pidfile {p}: {e}"))?;
    }
    drop_privileges(&cli)?;
    let started = std::time::Instant::now();
    let (engine, diags) = Engine::load(&cli);
    for d in diags.iter().take(50) {
        warning!("config: {d}");
    }
    if diags.len() > 50 {
        warning!(
            "config: ... and {} more problems (run spamd --lint)",
            diags.len() - 50
        );
    }
    if !cli.local && engine.rules.network_rules > 0 {
        info!(
            "spamd: {} network rules; DNS blocklist tests (DNSEval, URIDNSBL, AskDNS), SPF, DKIM and DMARC run, Razor, Pyzor and DCC are not run by this build",
            engine.rules.network_rules
        );
    }
    info!(
        "spamd: loaded {} rules from {} in {:.2} seconds",
        engine.rules.len(),
        engine.origin,
        started.elapsed().as_secs_f64()
    );
    metrics::METRICS.started(engine.rules.len());
    let shared = Arc::new(Shared {
        engine: RwLock::new(Arc::new(engine)),
        scan_slots: Semaphore::new(max_children),
        scan_pool: pool::ScanPool::new(max_children)
            .map_err(|e| format!("cannot start scan workers: {e}"))?,
        allowed,
        allow_tell: cli.allow_tell,
        // As in SpamAssassin, 0 (or less) means no limit.
        timeout_tcp: Duration::from_secs(match u64::try_from(cli.timeout_tcp) {
            Ok(t) if t > 0 => t,
            _ => 86400,
        }),
        timeout_child: u64::try_from(cli.timeout_child)
            .ok()
            .filter(|&t| t > 0)
            .map(Duration::from_secs),
        max_size,
        conn_slots: Arc::new(tokio::sync::Semaphore::new(server::connection_limit(
            max_children,
        ))),
    });
    server::set_write_timeout(shared.timeout_tcp);
    warm_in_background(shared.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(max_children + 2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start runtime: {e}"))?;
    let unix_paths: Vec<String> = bound
        .iter()
        .filter_map(|b| match b {
            Bound::Unix(_, p, true) => Some(p.clone()),
            Bound::Unix(..) | Bound::Tcp(..) => None,
        })
        .collect();
    let cli = Arc::new(cli);
    let cli_run = cli.clone();
    let result = runtime.block_on(async move {
        let cli = cli_run;
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut listen_info = Vec::new();
        let mut listeners = Vec::new();
        for b in bound {
            listen_info.push(listen_description(&b));
            listeners.push(match b {
                Bound::Tcp(l, ssl) => Listener::Tcp(
                    tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?,
                    acceptor.clone().filter(|_| ssl),
                ),
                Bound::Unix(l, p, _) => Listener::Unix(
                    tokio::net::UnixListener::from_std(l).map_err(|e| e.to_string())?,
                    p,
                ),
            });
        }
        let metrics_listener = match metrics_listener {
            Some(l) => Some(tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?),
            None => None,
        };
        // Logged before the first connection is accepted, as SpamAssassin
        // does: the sockets are already listening, so clients queue.
        info!(
            "spamd: server started on {} (running version {})",
            listen_info.join(", "),
            spamcore::SA_VERSION
        );
        info!("spamd: server pid: {}", std::process::id());
        for listener in listeners {
            tokio::spawn(server::serve(
                listener,
                shared.clone(),
                shutdown_rx.clone(),
                done_tx.clone(),
            ));
        }
        drop(done_tx);
        if let Some(l) = metrics_listener {
            tokio::spawn(metrics::serve(l));
        }
        sd_notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status("answering spamc requests"),
        ]);
        let sig = wait_for_signals(&cli, &shared).await;
        info!("spamd: server killed by {sig}, shutting down");
        sd_notify(&[sd_notify::NotifyState::Stopping]);
        let _ = shutdown_tx.send(true);
        // Let scans in flight finish, within the child timeout.
        let limit = Duration::from_secs(cli.timeout_child.clamp(1, 300) as u64);
        let _ = tokio::time::timeout(limit, done_rx.recv()).await;
        Ok::<(), String>(())
    });
    for p in &unix_paths {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = &cli.pidfile {
        let _ = std::fs::remove_file(p);
    }
    result
}

/// Tell systemd (Type=notify) about our state, when it asked to be told
/// ($NOTIFY_SOCKET); nothing happens without it.
fn sd_notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        warning!("spamd: cannot notify systemd: {e}");
    }
}

/// Why a freshly loaded configuration must not replace the running one, if
/// it must not: its rules directory cannot be read, or it has no rules.
fn reload_problem(cli: &Cli, engine: &Engine) -> Option<String> {
    let src = engine::sources(cli);
    if let Some(dir) = &src.rules_dir
        && let Err(e) = std::fs::read_dir(dir)
    {
        return Some(format!(
            "cannot read rules directory {}: {e}",
            dir.display()
        ));
    }
    if engine.rules.is_empty() {
        return Some(format!("no rules loaded from {}", engine.origin));
    }
    None
}

/// Rules load with their regexes checked but only the automata every scan
/// needs built (the rest is most of the start-up time): spamd answers at
/// once, another rule a scan needs is built on first use, and this thread
/// builds the rest while no scan runs (on two cores, building beside a
/// scan slowed the scan more than it saved).
fn warm_in_background(shared: Arc<Shared>) {
    let spawned = std::thread::Builder::new()
        .name("spamd-warm".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            let engine = shared.engine();
            let pause = || {
                while shared.scan_pool.is_busy() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            };
            for d in engine.rules.warm(pause) {
                warning!("config: {d}");
            }
            debug!(
                "spamd: rule automata built in {:.2} seconds",
                started.elapsed().as_secs_f64()
            );
        });
    if let Err(e) = spawned {
        // Each rule is still built when a scan first needs it.
        warning!("spamd: cannot start the rule warm-up thread: {e}");
    }
}

/// SIGHUP: load the configuration and rules on the blocking pool and swap
/// them in whole; scans in flight keep the engine they started with, and
/// the listeners never close. A configuration that fails keeps the old one.
async fn reload(cli: &Cli, shared: &Arc<Shared>) {
    // SpamAssassin's words, which log readers know; here the sockets stay open
    // and the pid stays (no re-exec).
    info!("spamd: server hit by SIGHUP, restarting");
    let started = std::time::Instant::now();
    let mut states = vec![sd_notify::NotifyState::Reloading];
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    sd_notify(&states);
    let cli2 = cli.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let (engine, mut diags) = Engine::load(&cli2);
        // Built before the swap, so scans after it do not wait for them.
        diags.extend(engine.rules.warm(|| {}));
        let problem = reload_problem(&cli2, &engine);
        (engine, diags, problem)
    })
    .await;
    match loaded {
        Ok((engine, diags, None)) => {
            for d in diags.iter().take(50) {
                warning!("config: {d}");
            }
            let n = engine.rules.len();
            match shared.engine.write() {
                Ok(mut g) => *g = Arc::new(engine),
                Err(p) => *p.into_inner() = Arc::new(engine),
            }
            metrics::METRICS.reloaded(true, n);
            info!(
                "spamd: reloaded {n} rules in {:.2} seconds",
                started.elapsed().as_secs_f64()
            );
            // SpamAssassin writes its pidfile again when a reload
            // completes, and tools wait for that.
            if let Some(p) = &cli.pidfile
                && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
            {
                warning!("spamd: cannot rewrite pidfile {p}: {e}");
            }
        }
        Ok((_, _, Some(why))) => {
            metrics::METRICS.reloaded(false, 0);
            error!("spamd: reload failed, keeping the running configuration: {why}");
        }
        Err(e) => {
            metrics::METRICS.reloaded(false, 0);
            error!("spamd: reload failed, keeping the running configuration: {e}");
        }
    }
    sd_notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status("answering spamc requests"),
    ]);
}

/// Wait for SIGTERM/SIGINT (returned) while handling SIGHUP (reload).
async fn wait_for_signals(cli: &Cli, shared: &Arc<Shared>) -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        warning!("spamd: cannot install signal handlers");
        std::future::pending::<()>().await;
        return "nothing";
    };
    loop {
        tokio::select! {
            _ = term.recv() => return "SIGTERM",
            _ = int.recv() => return "SIGINT",
            _ = hup.recv() => reload(cli, shared).await,
        }
    }
}
