//! Finding and connecting to spamd: host list resolution, fail-over across
//! hosts and addresses, connect retries and timeouts (libspamc's
//! `transport_setup` and `_try_to_connect_*`).

use std::ffi::{CString, OsString};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use spamcore::protocol::{EX_NOHOST, EX_NOPERM, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE};

use crate::args::Options;
use crate::log::{Level, Logger};

/// libspamc keeps at most this many hosts from `-d`.
const MAX_HOSTS: usize = 256;

/// Where spamd is.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Unix(OsString),
    /// One entry per `-d` host, each with all its addresses, tried in order.
    Tcp(Vec<Vec<SocketAddr>>),
}

/// A resolved destination plus the connection policy.
#[derive(Debug, Clone)]
pub struct Transport {
    pub target: Target,
    pub connect_retries: u32,
    pub retry_sleep: Duration,
    pub connect_timeout: Option<Duration>,
    pub io_timeout: Option<Duration>,
    /// `-S`: TLS over TCP (a Unix socket never uses it, as in spamc).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// A connected socket.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    pub fn shutdown_write(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            // spamc does not half-close a TLS connection; spamd reads the
            // body by its Content-length.
            Stream::Tls(_) => Ok(()),
        };
    }

    fn set_timeouts(&self, t: Option<Duration>) {
        let _ = match self {
            Stream::Tcp(s) => s.set_read_timeout(t).and(s.set_write_timeout(t)),
            Stream::Unix(s) => s.set_read_timeout(t).and(s.set_write_timeout(t)),
            Stream::Tls(s) => s.sock.set_read_timeout(t).and(s.sock.set_write_timeout(t)),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

/// Seconds as spamc takes them: 0 (or less) means no limit.
fn seconds(s: i32) -> Option<Duration> {
    u64::try_from(s)
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
}

/// Resolve the destination (`transport_setup`). Errors are sysexits codes.
pub fn setup(opts: &Options, log: &Logger) -> Result<Transport, i32> {
    let family = match (opts.ipv4, opts.ipv6) {
        (true, false) => libc::AF_INET,
        (false, true) => libc::AF_INET6,
        _ => libc::AF_UNSPEC,
    };
    let target = if let Some(path) = &opts.socket {
        Target::Unix(path.clone())
    } else if let Some(dest) = &opts.dest {
        let mut hosts = resolve_hosts(dest, opts.port, family, log)?;
        if opts.randomize && hosts.len() > 1 {
            let n = pseudo_random() % hosts.len();
            hosts.rotate_left(n);
        }
        // Without safe fallback spamc gives up after the first host.
        if !opts.safe_fallback {
            hosts.truncate(1);
        }
        Target::Tcp(hosts)
    } else {
        // getaddrinfo(NULL, port) yields the loopback addresses, IPv6 first.
        let mut addrs = Vec::new();
        if family != libc::AF_INET {
            addrs.push(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), opts.port));
        }
        if family != libc::AF_INET6 {
            addrs.push(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), opts.port));
        }
        Target::Tcp(vec![addrs])
    };
    let retries = if opts.connect_retries == 0 {
        3
    } else {
        opts.connect_retries
    };
    let sleep = if opts.retry_sleep < 0 {
        1
    } else {
        opts.retry_sleep
    };
    let tls = if opts.ssl && opts.socket.is_none() {
        let settings = crate::tls::Settings {
            cert: opts.ssl_cert.as_ref(),
            key: opts.ssl_key.as_ref(),
            ca_file: opts.ssl_ca_file.as_ref(),
            ca_path: opts.ssl_ca_path.as_ref(),
        };
        match crate::tls::config(&settings) {
            Ok(c) => Some(c),
            Err(e) => {
                log.err(&format!("SSL setup failed: {e}"));
                return Err(EX_SOFTWARE);
            }
        }
    } else {
        None
    };
    Ok(Transport {
        tls,
        target,
        connect_retries: u32::try_from(retries).unwrap_or(0),
        retry_sleep: Duration::from_secs(u64::try_from(sleep).unwrap_or(1)),
        connect_timeout: seconds(opts.connect_timeout.unwrap_or(opts.timeout)),
        io_timeout: seconds(opts.timeout),
    })
}

fn resolve_hosts(
    dest: &str,
    port: u16,
    family: libc::c_int,
    log: &Logger,
) -> Result<Vec<Vec<SocketAddr>>, i32> {
    let mut hosts = Vec::new();
    let mut temporary = false;
    for name in dest.split(',') {
        match getaddrinfo(name, port, family) {
            Ok(addrs) if addrs.is_empty() => temporary = true,
            Ok(addrs) => {
                if hosts.len() == MAX_HOSTS {
                    log.log(
                        Level::Notice,
                        &format!("hit limit of {MAX_HOSTS} hosts, ignoring remainder"),
                    );
                    break;
                }
                hosts.push(addrs);
            }
            Err((code, text)) => {
                log.log(Level::Debug, &format!("getaddrinfo({name}) failed: {text}"));
                if code == libc::EAI_AGAIN {
                    temporary = true;
                }
            }
        }
    }
    if hosts.is_empty() {
        if temporary {
            log.err(&format!(
                "could not resolve any hosts ({dest}): a temporary error occurred"
            ));
            return Err(EX_TEMPFAIL);
        }
        log.err(&format!(
            "could not resolve any hosts ({dest}): no such host"
        ));
        return Err(EX_NOHOST);
    }
    Ok(hosts)
}

/// getaddrinfo(3) with spamc's hints; `Err((EAI_*, gai_strerror))`.
fn getaddrinfo(
    host: &str,
    port: u16,
    family: libc::c_int,
) -> Result<Vec<SocketAddr>, (libc::c_int, String)> {
    let no_name = || (libc::EAI_NONAME, "Name or service not known".to_string());
    let c_host = CString::new(host).map_err(|_| no_name())?;
    let c_port = CString::new(port.to_string()).map_err(|_| no_name())?;
    // SAFETY: a zeroed addrinfo is the documented way to build hints.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: both strings are NUL-terminated and outlive the call; `res`
    // is only read after success and freed exactly once below.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), c_port.as_ptr(), &hints, &mut res) };
    if rc != 0 {
        // SAFETY: gai_strerror returns a pointer to a static string.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(rc)) }
            .to_string_lossy()
            .into_owned();
        return Err((rc, text));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` walks the list getaddrinfo returned; each ai_addr
        // points to a sockaddr of the family it names.
        unsafe {
            let ai = &*cur;
            if let Some(addr) = sockaddr_to_std(ai.ai_family, ai.ai_addr) {
                out.push(addr);
            }
            cur = ai.ai_next;
        }
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// # Safety
/// `sa` must point to a valid sockaddr of the given family (or be null).
unsafe fn sockaddr_to_std(family: libc::c_int, sa: *const libc::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    match family {
        libc::AF_INET => {
            // SAFETY: the caller guarantees an AF_INET sockaddr_in.
            let sin = unsafe { &*(sa as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(sin.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the caller guarantees an AF_INET6 sockaddr_in6.
            let sin6 = unsafe { &*(sa as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(
                SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )
                .into(),
            )
        }
        _ => None,
    }
}

/// Good enough to spread load (`-H`); spamc seeds rand() with pid ^ time.
fn pseudo_random() -> usize {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x as usize
}

/// libspamc's mapping of a connect(2) failure to a sysexits code.
pub fn connect_errno_code(errno: i32) -> i32 {
    match errno {
        libc::ECONNREFUSED | libc::ETIMEDOUT | libc::ENETUNREACH => EX_UNAVAILABLE,
        libc::EACCES => EX_NOPERM,
        _ => EX_SOFTWARE,
    }
}

fn errno_of(e: &io::Error) -> i32 {
    match e.raw_os_error() {
        Some(n) => n,
        None if e.kind() == io::ErrorKind::TimedOut => libc::ETIMEDOUT,
        None => libc::EIO,
    }
}

/// strerror(3) text, without Rust's " (os error N)" suffix.
pub fn strerror(errno: i32) -> String {
    let s = io::Error::from_raw_os_error(errno).to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Transport {
    /// Rotate the host list by one (used between filter retries).
    pub fn next_host(&mut self) {
        if let Target::Tcp(hosts) = &mut self.target
            && hosts.len() > 1
        {
            hosts.rotate_left(1);
        }
    }

    /// Connect, with spamc's retries and fail-over. Errors are sysexits codes.
    pub fn connect(&self, log: &Logger) -> Result<Stream, i32> {
        let stream = match &self.target {
            Target::Unix(path) => self.connect_unix(path, log)?,
            Target::Tcp(hosts) => self.connect_tcp(hosts, log)?,
        };
        stream.set_timeouts(self.io_timeout);
        match (&self.tls, stream) {
            (Some(config), Stream::Tcp(tcp)) => Self::handshake(config, tcp, log),
            (_, stream) => Ok(stream),
        }
    }

    /// The TLS handshake over a connected socket.
    fn handshake(
        config: &std::sync::Arc<rustls::ClientConfig>,
        mut tcp: TcpStream,
        log: &Logger,
    ) -> Result<Stream, i32> {
        let peer = tcp
            .peer_addr()
            .map(|a| a.ip())
            .unwrap_or(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));
        let name = rustls::pki_types::ServerName::IpAddress(peer.into());
        let mut conn = rustls::ClientConnection::new(config.clone(), name).map_err(|e| {
            log.err(&format!("SSL connect failed: {e}"));
            EX_SOFTWARE
        })?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                log.err(&format!("SSL connect failed: {e}"));
                return Err(EX_UNAVAILABLE);
            }
        }
        Ok(Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
    }

    fn connect_unix(&self, path: &OsString, log: &Logger) -> Result<Stream, i32> {
        match UnixStream::connect(path) {
            Ok(s) => Ok(Stream::Unix(s)),
            Err(e) => {
                let errno = errno_of(&e);
                log.err(&format!(
                    "connect(AF_UNIX) to spamd using --socket='{}' failed: {}",
                    path.to_string_lossy(),
                    strerror(errno)
                ));
                Err(connect_errno_code(errno))
            }
        }
    }

    fn connect_tcp(&self, hosts: &[Vec<SocketAddr>], log: &Logger) -> Result<Stream, i32> {
        let retries = self.connect_retries;
        let mut last_errno = 0;
        for attempt in 0..retries {
            let Some(addrs) = hosts.get(attempt as usize % hosts.len().max(1)) else {
                break;
            };
            let mut innocent = false;
            for addr in addrs {
                let ip = addr.ip().to_string();
                if ip == "255.255.255.255" {
                    // spamc's built-in "always fails" test address.
                    log.err(&format!("connect to spamd on {ip} failed, broadcast addr"));
                    continue;
                }
                let result = match self.connect_timeout {
                    Some(t) => TcpStream::connect_timeout(addr, t),
                    None => TcpStream::connect(addr),
                };
                match result {
                    Ok(s) => return Ok(Stream::Tcp(s)),
                    Err(e) => {
                        last_errno = errno_of(&e);
                        // A refused host is expected when others remain.
                        innocent = last_errno == libc::ECONNREFUSED
                            && (attempt as usize + 1) < hosts.len();
                        log.log(
                            if innocent { Level::Debug } else { Level::Err },
                            &format!(
                                "connect to spamd on {ip} failed, retrying (#{} of {retries}): {}",
                                attempt + 1,
                                strerror(last_errno)
                            ),
                        );
                    }
                }
            }
            if attempt + 1 < retries && !innocent {
                std::thread::sleep(self.retry_sleep);
            }
        }
        log.err(&format!(
            "connection attempt to spamd aborted after {retries} retries"
        ));
        // No attempt at all (errno 0) maps to EX_SOFTWARE, as in libspamc.
        Err(connect_errno_code(last_errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_mapping() {
        assert_eq!(connect_errno_code(libc::ECONNREFUSED), EX_UNAVAILABLE);
        assert_eq!(connect_errno_code(libc::ETIMEDOUT), EX_UNAVAILABLE);
        assert_eq!(connect_errno_code(libc::EACCES), EX_NOPERM);
        assert_eq!(connect_errno_code(libc::ENOENT), EX_SOFTWARE);
        assert_eq!(strerror(libc::ECONNREFUSED), "Connection refused");
    }

    #[test]
    fn localhost_order_and_families() {
        let log = Logger::new();
        let t = setup(&Options::default(), &log).unwrap();
        let Target::Tcp(hosts) = t.target else {
            panic!("tcp expected")
        };
        assert_eq!(hosts.len(), 1);
        assert!(hosts[0][0].is_ipv6() && hosts[0][1].is_ipv4());
        let four = Options {
            ipv4: true,
            ..Options::default()
        };
        let Target::Tcp(hosts) = setup(&four, &log).unwrap().target else {
            panic!("tcp expected")
        };
        assert!(hosts[0].iter().all(SocketAddr::is_ipv4));
    }

    #[test]
    fn host_lists() {
        let log = Logger::new();
        let opts = Options {
            dest: Some("127.0.0.1,127.0.0.2".into()),
            port: 9,
            ..Options::default()
        };
        let Target::Tcp(hosts) = setup(&opts, &log).unwrap().target else {
            panic!("tcp expected")
        };
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[1][0], "127.0.0.2:9".parse().unwrap());
        // -x disables fail-over.
        let strict = Options {
            safe_fallback: false,
            ..opts
        };
        let Target::Tcp(hosts) = setup(&strict, &log).unwrap().target else {
            panic!("tcp expected")
        };
        assert_eq!(hosts.len(), 1);
    }

    #[test]
    fn timeouts() {
        let log = Logger::new();
        let t = setup(&Options::default(), &log).unwrap();
        assert_eq!(t.io_timeout, Some(Duration::from_secs(600)));
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(600)));
        assert_eq!(t.connect_retries, 3);
        let opts = Options {
            timeout: 0,
            connect_timeout: Some(7),
            ..Options::default()
        };
        let t = setup(&opts, &log).unwrap();
        assert_eq!(t.io_timeout, None);
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(7)));
    }
}
