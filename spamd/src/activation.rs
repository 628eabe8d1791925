//! Socket activation: listening sockets handed over by systemd
//! (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, descriptors from 3 on),
//! used instead of binding `-i`/`--port`/`--socketpath`.

use std::os::fd::{FromRawFd, RawFd};

use crate::log::info;

/// One inherited listener.
pub enum Inherited {
    /// A TCP listener; `tls` when its `FileDescriptorName=` starts with
    /// `ssl` (with `--ssl` every TCP listener speaks TLS anyway).
    Tcp(std::net::TcpListener, bool),
    Unix(std::os::unix::net::UnixListener, String),
}

/// The sockets systemd passed us, or `None` when it passed none. Must run
/// before any thread exists: it unsets the variables so nothing we start
/// inherits them.
pub fn take() -> Result<Option<Vec<Inherited>>, String> {
    // SAFETY: called from main before the runtime or any thread starts.
    let fds: Vec<(RawFd, String)> = unsafe { sd_notify::listen_fds_with_names_and_unset_env() }
        .map_err(|e| format!("socket activation: {e}"))?
        .collect();
    if fds.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for (fd, name) in fds {
        out.push(adopt(fd, &name)?);
    }
    Ok(Some(out))
}

fn adopt(fd: RawFd, name: &str) -> Result<Inherited, String> {
    use nix::sys::socket::{
        AddressFamily, SockType, SockaddrLike, SockaddrStorage, getsockname, getsockopt, sockopt,
    };
    let bad = |why: String| format!("socket activation: descriptor {fd} ({name}): {why}");
    // SAFETY: systemd passed this descriptor to us to own; nothing else in
    // the process uses it.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let ty = getsockopt(&owned, sockopt::SockType).map_err(|e| bad(e.to_string()))?;
    if ty != SockType::Stream {
        return Err(bad("not a stream socket".into()));
    }
    if !getsockopt(&owned, sockopt::AcceptConn).map_err(|e| bad(e.to_string()))? {
        return Err(bad("not listening (Accept=no sockets are expected)".into()));
    }
    let addr: SockaddrStorage =
        getsockname(std::os::fd::AsRawFd::as_raw_fd(&owned)).map_err(|e| bad(e.to_string()))?;
    match addr.family() {
        Some(AddressFamily::Unix) => {
            let path = addr
                .as_unix_addr()
                .and_then(|u| u.path())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("fd {fd}"));
            let l = std::os::unix::net::UnixListener::from(owned);
            l.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            info!("spamd: server socket set to: {path} (from systemd)");
            Ok(Inherited::Unix(l, path))
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            let l = std::net::TcpListener::from(owned);
            l.set_nonblocking(true).map_err(|e| bad(e.to_string()))?;
            if let Ok(a) = l.local_addr() {
                info!(
                    "spamd: server socket set to: [{}]:{} (from systemd)",
                    a.ip(),
                    a.port()
                );
            }
            Ok(Inherited::Tcp(l, name.starts_with("ssl")))
        }
        other => Err(bad(format!("unsupported address family {other:?}"))),
    }
}
