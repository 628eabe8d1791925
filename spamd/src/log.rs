//! Logging in SpamAssassin's shape: `Nov 22 10:34:12.910 [pid] info: spamd: ...`
//! to stderr or a file, or RFC 3164 datagrams to /dev/log (facility `mail`
//! by default), so existing log tooling keeps matching our lines.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::{Mutex, OnceLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "dbg",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
    fn syslog_severity(self) -> u8 {
        match self {
            Level::Debug => 7,
            Level::Info => 6,
            Level::Warn => 4,
            Level::Error => 3,
        }
    }
}

enum Target {
    Stderr,
    File(std::fs::File),
    Syslog { sock: UnixDatagram, facility: u8 },
    Null,
}

struct Logger {
    target: Mutex<Target>,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn facility_code(name: &str) -> Option<u8> {
    Some(match name {
        "kern" => 0,
        "user" => 1,
        "mail" => 2,
        "daemon" => 3,
        "auth" => 4,
        "syslog" => 5,
        "lpr" => 6,
        "news" => 7,
        "local0" => 16,
        "local1" => 17,
        "local2" => 18,
        "local3" => 19,
        "local4" => 20,
        "local5" => 21,
        "local6" => 22,
        "local7" => 23,
        _ => return None,
    })
}

/// Set up logging from spamd's `-s` value. Falls back to stderr when the
/// syslog socket is absent (containers, CI), saying so once.
pub fn init(spec: &str, debug: bool) -> Result<(), String> {
    let target = match spec {
        "stderr" => Target::Stderr,
        "null" => Target::Null,
        s if s.contains('/') || s == "file" => {
            let path = if s == "file" { "spamd.log" } else { s };
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file {path}: {e}"))?;
            Target::File(f)
        }
        fac => {
            let facility =
                facility_code(fac).ok_or_else(|| format!("unknown syslog facility '{fac}'"))?;
            match UnixDatagram::unbound().and_then(|s| s.connect("/dev/log").map(|_| s)) {
                Ok(sock) => Target::Syslog { sock, facility },
                Err(_) => Target::Stderr,
            }
        }
    };
    let _ = LOGGER.set(Logger {
        target: Mutex::new(target),
        debug,
    });
    Ok(())
}

/// Write one log line.
pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        eprintln!("{msg}");
        return;
    };
    if level == Level::Debug && !logger.debug {
        return;
    }
    let Ok(mut target) = logger.target.lock() else {
        return;
    };
    let pid = std::process::id();
    match &mut *target {
        Target::Null => {}
        Target::Stderr => {
            let _ = writeln!(
                std::io::stderr(),
                "{} [{pid}] {}: {msg}",
                timestamp(true),
                level.name()
            );
        }
        Target::File(f) => {
            let _ = writeln!(f, "{} [{pid}] {}: {msg}", timestamp(true), level.name());
        }
        Target::Syslog { sock, facility } => {
            let pri = u16::from(*facility) * 8 + u16::from(level.syslog_severity());
            let line = format!("<{pri}>{} spamd[{pid}]: {msg}", timestamp(false));
            if sock.send(line.as_bytes()).is_err() {
                let _ = writeln!(
                    std::io::stderr(),
                    "{} [{pid}] {}: {msg}",
                    timestamp(true),
                    level.name()
                );
            }
        }
    }
}

/// `Nov 22 10:34:12.910` (local time), as SpamAssassin's logger prints.
fn timestamp(millis: bool) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes into the tm we own; a zeroed tm is valid.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
    if millis {
        format!(
            "{mon} {:2} {:02}:{:02}:{:02}.{:03}",
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            now.subsec_millis()
        )
    } else {
        format!(
            "{mon} {:2} {:02}:{:02}:{:02}",
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
        )
    }
}

macro_rules! info {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, &format!($($t)*)) };
}
macro_rules! warning {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, &format!($($t)*)) };
}
macro_rules! error {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Error, &format!($($t)*)) };
}
#[allow(unused_macros)]
macro_rules! debug {
    ($($t:tt)*) => { $crate::log::log($crate::log::Level::Debug, &format!($($t)*)) };
}
#[allow(unused_imports)]
pub(crate) use {debug, error, info, warning};
