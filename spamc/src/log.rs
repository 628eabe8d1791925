//! Error and notice logging: syslog (facility mail) by default, stderr with
//! `-l`, as libspamc does. Logging must never make spamc fail, so every
//! error here is ignored.

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// syslog severities spamc uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Err = 3,
    Notice = 5,
    Debug = 7,
}

const LOG_MAIL: u8 = 2 << 3;
/// libspamc formats log lines into a 1024-byte buffer.
const MAX_LINE: usize = 1022;

/// Where log lines go. `-l` can be seen late in argv, so it is switchable.
#[derive(Debug, Default)]
pub struct Logger {
    to_stderr: Cell<bool>,
}

impl Logger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_stderr(&self, on: bool) {
        self.to_stderr.set(on);
    }

    pub fn log(&self, level: Level, msg: &str) {
        emit(self.to_stderr.get(), level, msg);
    }

    pub fn err(&self, msg: &str) {
        self.log(Level::Err, msg);
    }
}

/// Write one line to stderr (`spamc: msg`) or syslog.
pub fn emit(to_stderr: bool, level: Level, msg: &str) {
    let msg = truncate(msg, MAX_LINE);
    if to_stderr {
        let _ = writeln!(std::io::stderr(), "spamc: {msg}");
    } else {
        syslog(level, msg);
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An RFC 3164 datagram to /dev/log, like openlog("spamc", LOG_PID, LOG_MAIL).
fn syslog(level: Level, msg: &str) {
    send_syslog(Path::new("/dev/log"), level, msg);
}

fn send_syslog(socket: &Path, level: Level, msg: &str) {
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let _ = sock.send_to(syslog_line(level, msg).as_bytes(), socket);
}

fn syslog_line(level: Level, msg: &str) -> String {
    format!(
        "<{}>{} spamc[{}]: {}",
        LOG_MAIL | level as u8,
        timestamp(),
        std::process::id(),
        msg
    )
}

/// `Mmm dd hh:mm:ss` in local time.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(NULL) has no preconditions; localtime_r writes only into
    // the zeroed struct we own and returns NULL on failure, which we check.
    let tm = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Jan  1 00:00:00".to_string();
        }
        tm
    };
    let month = MONTHS
        .get(usize::try_from(tm.tm_mon).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{month} {:2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_utf8() {
        let s = "é".repeat(600);
        let t = truncate(&s, MAX_LINE);
        assert!(t.len() <= MAX_LINE);
        assert!(t.chars().all(|c| c == 'é'));
    }

    #[test]
    fn syslog_datagrams() {
        let dir = std::env::temp_dir().join(format!("spamc-log-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        send_syslog(&path, Level::Err, "connection refused");
        let mut buf = [0u8; 512];
        let n = server.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).into_owned();
        // mail.err is facility 2, severity 3: 2 * 8 + 3.
        assert!(line.starts_with("<19>"), "{line}");
        let pid = std::process::id();
        assert!(
            line.ends_with(&format!(" spamc[{pid}]: connection refused")),
            "{line}"
        );
        assert!(syslog_line(Level::Debug, "x").starts_with("<23>"));
        let _ = std::fs::remove_dir_all(&dir);
        // A missing socket is silently ignored.
        send_syslog(&dir.join("nope"), Level::Notice, "dropped");
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 15, "{t}");
        assert_eq!(&t[9..10], ":");
    }
}
