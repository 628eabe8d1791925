//! Command-line flags: one table that defines every flag (letter, long name,
//! argument, help), and a getopt that reads argv the way SpamAssassin's
//! spamc does.
//!
//! spamc's own getopt differs from GNU getopt, and scripts depend on that:
//! parsing stops at the first word that is not an option (and at `-` or
//! `--`); an option's argument in a separate word may not start with `-`;
//! long options must be spelled out exactly (`--name value` or
//! `--name=value`). One deliberate extension: short flags may be bundled
//! (`-cx`, `-p783`), where spamc 4.0.1 silently ignores everything after
//! the first letter of a word.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::cparse::atoi;

/// What a flag takes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    No,
    Required,
    /// Only in the long form (`--ssl[=x]`), as in spamc.
    Optional,
}

/// Every flag spamc understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Dest,
    Randomize,
    Port,
    Ssl,
    SslCert,
    SslKey,
    SslCaFile,
    SslCaPath,
    Socket,
    Config,
    Timeout,
    ConnectTimeout,
    FilterRetries,
    FilterRetrySleep,
    ConnectRetries,
    RetrySleep,
    MaxSize,
    Username,
    LearnType,
    ReportType,
    Bsmtp,
    Check,
    Tests,
    FullSpam,
    Full,
    Headers,
    ExitCode,
    NoSafeFallback,
    UnavailableTempfail,
    LogToStderr,
    PipeTo,
    Help,
    Version,
    Ping,
    Compress,
    Obsolete,
    Ipv4,
    Ipv6,
}

/// One row of the flag table.
#[derive(Debug)]
pub struct Flag {
    pub id: Id,
    pub short: Option<u8>,
    /// spamc accepts `-0`, `-1`, `-2` for three long-only options; they work
    /// but are not advertised.
    pub hidden_short: bool,
    pub long: Option<&'static str>,
    pub arg: Arg,
    /// Placeholder shown in the help for the argument.
    pub value: &'static str,
    pub help: &'static str,
}

const fn flag(
    id: Id,
    short: Option<u8>,
    long: Option<&'static str>,
    arg: Arg,
    value: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        id,
        short,
        hidden_short: false,
        long,
        arg,
        value,
        help,
    }
}

const fn hidden(mut f: Flag) -> Flag {
    f.hidden_short = true;
    f
}

use Arg::{No, Optional, Required};

/// The flag table, in help order.
pub const FLAGS: &[Flag] = &[
    flag(
        Id::Dest,
        Some(b'd'),
        Some("dest"),
        Required,
        "host[,host2]",
        "spamd host(s) to connect to, tried in order [default: localhost]",
    ),
    flag(
        Id::Randomize,
        Some(b'H'),
        Some("randomize"),
        No,
        "",
        "Shuffle the addresses of the spamd hosts (load balancing)",
    ),
    flag(
        Id::Port,
        Some(b'p'),
        Some("port"),
        Required,
        "port",
        "TCP port of spamd [default: 783]",
    ),
    flag(
        Id::Ssl,
        Some(b'S'),
        Some("ssl"),
        Optional,
        "",
        "Talk to spamd over TLS (not available in this build)",
    ),
    flag(
        Id::SslCert,
        None,
        Some("ssl-cert"),
        Required,
        "cert",
        "TLS client certificate",
    ),
    flag(
        Id::SslKey,
        None,
        Some("ssl-key"),
        Required,
        "key",
        "TLS client key (PEM)",
    ),
    flag(
        Id::SslCaFile,
        None,
        Some("ssl-ca-file"),
        Required,
        "file",
        "CA certificates file (PEM)",
    ),
    flag(
        Id::SslCaPath,
        None,
        Some("ssl-ca-path"),
        Required,
        "path",
        "Directory of CA certificates",
    ),
    flag(
        Id::Socket,
        Some(b'U'),
        Some("socket"),
        Required,
        "path",
        "Connect to spamd over this UNIX domain socket",
    ),
    flag(
        Id::Config,
        Some(b'F'),
        Some("config"),
        Required,
        "path",
        "Read extra options from this file",
    ),
    flag(
        Id::Timeout,
        Some(b't'),
        Some("timeout"),
        Required,
        "timeout",
        "Seconds to wait for spamd, 0 for ever [default: 600]",
    ),
    flag(
        Id::ConnectTimeout,
        Some(b'n'),
        Some("connect-timeout"),
        Required,
        "timeout",
        "Seconds to wait for a connection [default: the -t value]",
    ),
    flag(
        Id::FilterRetries,
        None,
        Some("filter-retries"),
        Required,
        "retries",
        "Attempts at the whole exchange when spamd fails [default: 1]",
    ),
    flag(
        Id::FilterRetrySleep,
        None,
        Some("filter-retry-sleep"),
        Required,
        "sleep",
        "Seconds between those attempts [default: 1]",
    ),
    hidden(flag(
        Id::ConnectRetries,
        Some(b'0'),
        Some("connect-retries"),
        Required,
        "retries",
        "Connection attempts [default: 3]",
    )),
    hidden(flag(
        Id::RetrySleep,
        Some(b'1'),
        Some("retry-sleep"),
        Required,
        "sleep",
        "Seconds between connection attempts [default: 1]",
    )),
    flag(
        Id::MaxSize,
        Some(b's'),
        Some("max-size"),
        Required,
        "size",
        "Larger messages are passed through unscanned [default: 500k]",
    ),
    flag(
        Id::Username,
        Some(b'u'),
        Some("username"),
        Required,
        "username",
        "User whose preferences spamd applies [default: current user]",
    ),
    flag(
        Id::LearnType,
        Some(b'L'),
        Some("learntype"),
        Required,
        "learntype",
        "Train Bayes: spam, ham or forget",
    ),
    flag(
        Id::ReportType,
        Some(b'C'),
        Some("reporttype"),
        Required,
        "reporttype",
        "Report to collaborative databases: report (spam) or revoke (ham)",
    ),
    flag(
        Id::Bsmtp,
        Some(b'B'),
        Some("bsmtp"),
        No,
        "",
        "Input is one BSMTP message (DATA ... lone dot)",
    ),
    flag(
        Id::Check,
        Some(b'c'),
        Some("check"),
        No,
        "",
        "Print only score/threshold; exit 1 for spam, 0 for ham",
    ),
    flag(
        Id::Tests,
        Some(b'y'),
        Some("tests"),
        No,
        "",
        "Print only the names of the rules that hit",
    ),
    flag(
        Id::FullSpam,
        Some(b'r'),
        Some("full-spam"),
        No,
        "",
        "Print the report, for spam only",
    ),
    flag(
        Id::Full,
        Some(b'R'),
        Some("full"),
        No,
        "",
        "Print the report, for every message",
    ),
    hidden(flag(
        Id::Headers,
        Some(b'2'),
        Some("headers"),
        No,
        "",
        "Let spamd rewrite only the header; the body is kept here",
    )),
    flag(
        Id::ExitCode,
        Some(b'E'),
        Some("exitcode"),
        No,
        "",
        "Filter as usual, and exit 1 for spam",
    ),
    flag(
        Id::NoSafeFallback,
        Some(b'x'),
        Some("no-safe-fallback"),
        No,
        "",
        "On errors print nothing and exit with the error code",
    ),
    flag(
        Id::UnavailableTempfail,
        Some(b'X'),
        Some("unavailable-tempfail"),
        No,
        "",
        "After -x: report 'unavailable' (69) as 'tempfail' (75)",
    ),
    flag(
        Id::LogToStderr,
        Some(b'l'),
        Some("log-to-stderr"),
        No,
        "",
        "Log to stderr instead of syslog",
    ),
    flag(
        Id::PipeTo,
        Some(b'e'),
        Some("pipe-to"),
        Required,
        "command [args]",
        "Send the output to this command; must come last",
    ),
    flag(
        Id::Help,
        Some(b'h'),
        Some("help"),
        No,
        "",
        "Print this help and exit",
    ),
    flag(
        Id::Version,
        Some(b'V'),
        Some("version"),
        No,
        "",
        "Print the version and exit",
    ),
    flag(
        Id::Ping,
        Some(b'K'),
        None,
        No,
        "",
        "Check that spamd is alive",
    ),
    flag(
        Id::Compress,
        Some(b'z'),
        Some("compress"),
        No,
        "",
        "Compress the message sent to spamd (zlib)",
    ),
    flag(
        Id::Obsolete,
        Some(b'f'),
        None,
        No,
        "",
        "Ignored (safe fallback is the default)",
    ),
    flag(Id::Ipv4, Some(b'4'), None, No, "", "Use IPv4 only"),
    flag(Id::Ipv6, Some(b'6'), None, No, "", "Use IPv6 only"),
];

/// Largest `-s` value spamc accepts (256 MiB).
pub const MAX_MESSAGE_LEN: i32 = 256 * 1024 * 1024;

/// What to do with the message in learn mode (`-L`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learn {
    Spam,
    Ham,
    Forget,
}

/// What to tell the collaborative databases (`-C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Report,
    Revoke,
}

/// Everything the flags set.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub dest: Option<String>,
    pub port: u16,
    pub socket: Option<OsString>,
    pub ipv4: bool,
    pub ipv6: bool,
    pub randomize: bool,
    pub ssl: bool,
    pub ssl_cert: Option<OsString>,
    pub ssl_key: Option<OsString>,
    pub ssl_ca_file: Option<OsString>,
    pub ssl_ca_path: Option<OsString>,
    pub timeout: i32,
    pub connect_timeout: Option<i32>,
    pub connect_retries: i32,
    pub retry_sleep: i32,
    pub filter_retries: i32,
    pub filter_retry_sleep: i32,
    pub max_size: i32,
    pub username: Option<OsString>,
    pub learn: Option<Learn>,
    pub report: Option<Report>,
    pub bsmtp: bool,
    pub check: bool,
    pub symbols: bool,
    pub report_ifspam: bool,
    pub full_report: bool,
    pub headers: bool,
    pub ping: bool,
    pub exit_code: bool,
    pub safe_fallback: bool,
    pub unavailable_tempfail: bool,
    pub log_to_stderr: bool,
    pub compress: bool,
    /// `-e`: the command and its arguments.
    pub pipe_to: Option<Vec<OsString>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            dest: None,
            port: 783,
            socket: None,
            ipv4: false,
            ipv6: false,
            randomize: false,
            ssl: false,
            ssl_cert: None,
            ssl_key: None,
            ssl_ca_file: None,
            ssl_ca_path: None,
            timeout: 600,
            connect_timeout: None,
            connect_retries: 0,
            retry_sleep: -1,
            filter_retries: 0,
            filter_retry_sleep: -1,
            max_size: 500 * 1024,
            username: None,
            learn: None,
            report: None,
            bsmtp: false,
            check: false,
            symbols: false,
            report_ifspam: false,
            full_report: false,
            headers: false,
            ping: false,
            exit_code: false,
            safe_fallback: true,
            unavailable_tempfail: false,
            log_to_stderr: false,
            compress: false,
            pipe_to: None,
        }
    }
}

/// How parsing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Run,
    /// `-h`: usage on stdout, exit 0.
    Help,
    /// `-V`: version on stdout, exit 0.
    Version,
    /// Exit 64; `show_usage` when spamc prints the usage text too.
    Usage {
        show_usage: bool,
    },
}

/// A message produced while parsing, in the order spamc emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diag {
    /// Written straight to stderr by spamc's getopt.
    Stderr(String),
    /// Sent through the logger; `to_stderr` is the `-l` state at that point.
    Log { to_stderr: bool, msg: String },
}

/// The result of reading argv.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub status: Status,
    pub opts: Options,
    pub diags: Vec<Diag>,
}

fn find_short(c: u8) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.short == Some(c))
}

fn find_long(name: &[u8]) -> Option<&'static Flag> {
    FLAGS
        .iter()
        .find(|f| f.long.is_some_and(|l| l.as_bytes() == name))
}

fn starts_with_dash(a: &OsStr) -> bool {
    a.as_bytes().first() == Some(&b'-')
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Parse argv (`argv[0]` is the program name) into options.
pub fn parse(argv: &[OsString]) -> Parsed {
    let mut p = Parser {
        opts: Options::default(),
        diags: Vec::new(),
        usage_error: false,
    };
    let status = p.run(argv);
    Parsed {
        status,
        opts: p.opts,
        diags: p.diags,
    }
}

struct Parser {
    opts: Options,
    diags: Vec<Diag>,
    /// spamc keeps parsing after a bad value and fails at the end.
    usage_error: bool,
}

enum Step {
    Continue,
    Stop(Status),
}

impl Parser {
    fn log(&mut self, msg: impl Into<String>) {
        self.diags.push(Diag::Log {
            to_stderr: self.opts.log_to_stderr,
            msg: msg.into(),
        });
    }

    /// A getopt error: spamc prints it, logs "invalid usage" and shows usage.
    fn getopt_error(&mut self, text: String) -> Status {
        self.diags.push(Diag::Stderr(text));
        self.log("invalid usage");
        Status::Usage { show_usage: true }
    }

    fn run(&mut self, argv: &[OsString]) -> Status {
        let mut i = 1;
        while i < argv.len() {
            let word = argv[i].as_bytes();
            if word.len() < 2 || word[0] != b'-' || word == b"--" {
                break;
            }
            let index = i;
            i += 1;
            if word[1] == b'-' {
                let body = &word[2..];
                if body.first() == Some(&b':') {
                    // spamc reports the index after the word here.
                    return self.getopt_error(format!("Error in argument {i} : : in flags"));
                }
                let (name, inline) = match body.iter().position(|&b| b == b'=') {
                    Some(eq) => (
                        &body[..eq],
                        Some(OsString::from_vec(body[eq + 1..].to_vec())),
                    ),
                    None => (body, None),
                };
                let Some(flag) = find_long(name) else {
                    return self.getopt_error(format!(
                        "Error in argument {index} : option not found {}",
                        lossy(word)
                    ));
                };
                let value = match flag.arg {
                    Arg::No => None,
                    Arg::Required | Arg::Optional => match inline {
                        Some(v) => Some(v),
                        None if i < argv.len() && !starts_with_dash(&argv[i]) => {
                            i += 1;
                            Some(argv[i - 1].clone())
                        }
                        None if flag.arg == Arg::Optional => None,
                        None => {
                            return self.getopt_error(format!(
                                "Error in argument {index} : argument required for option {}",
                                lossy(word)
                            ));
                        }
                    },
                };
                if let Step::Stop(s) = self.apply(flag.id, value, &argv[i..]) {
                    return s;
                }
                continue;
            }
            let mut k = 1;
            while k < word.len() {
                let c = word[k];
                let chr = k + 1;
                if c == b':' {
                    return self.getopt_error(format!(
                        "Error in argument {index}, char {chr}: : in flags"
                    ));
                }
                let Some(flag) = find_short(c) else {
                    return self.getopt_error(format!(
                        "Error in argument {index}, char {chr}: option not found {}",
                        c as char
                    ));
                };
                k += 1;
                let value = if flag.arg == Arg::Required {
                    if k < word.len() {
                        let v = OsString::from_vec(word[k..].to_vec());
                        k = word.len();
                        Some(v)
                    } else if i < argv.len() && !starts_with_dash(&argv[i]) {
                        i += 1;
                        Some(argv[i - 1].clone())
                    } else {
                        return self.getopt_error(format!(
                            "Error in argument {index}, char {chr}: argument required for option {}",
                            c as char
                        ));
                    }
                } else {
                    None
                };
                if let Step::Stop(s) = self.apply(flag.id, value, &argv[i..]) {
                    return s;
                }
            }
        }
        self.finish()
    }

    /// Checks spamc makes after the whole command line was read.
    fn finish(&mut self) -> Status {
        if self.opts.max_size > MAX_MESSAGE_LEN {
            self.log(format!("-s parameter is beyond max of {MAX_MESSAGE_LEN}"));
            self.usage_error = true;
        }
        if self.opts.learn.is_some() {
            let o = &self.opts;
            let conflicts = [
                (o.check, "Learning excludes check only"),
                (o.ping, "Learning excludes ping"),
                (o.report_ifspam, "Learning excludes report if spam"),
                (o.full_report, "Learning excludes report"),
                (o.symbols, "Learning excludes symbols"),
                (
                    o.report.is_some(),
                    "Learning excludes reporting to collaborative filtering databases",
                ),
            ];
            for (set, msg) in conflicts {
                if set {
                    self.log(msg);
                    self.usage_error = true;
                }
            }
        }
        if self.opts.ssl_cert.is_some() != self.opts.ssl_key.is_some() {
            self.log("--ssl-cert and --ssl-key must be used together");
            self.usage_error = true;
        }
        if self.usage_error {
            Status::Usage { show_usage: false }
        } else {
            Status::Run
        }
    }

    fn apply(&mut self, id: Id, value: Option<OsString>, rest: &[OsString]) -> Step {
        let v = value.unwrap_or_default();
        let num = || atoi(v.as_bytes());
        let o = &mut self.opts;
        match id {
            Id::Dest => o.dest = Some(v.to_string_lossy().into_owned()),
            Id::Randomize => o.randomize = true,
            Id::Port => o.port = num() as u16,
            Id::Ssl => {
                o.ssl = true;
                if !v.is_empty() {
                    self.log("Explicit specification of an SSL/TLS version no longer supported.");
                    self.usage_error = true;
                }
            }
            Id::SslCert => o.ssl_cert = Some(v),
            Id::SslKey => o.ssl_key = Some(v),
            Id::SslCaFile => o.ssl_ca_file = Some(v),
            Id::SslCaPath => o.ssl_ca_path = Some(v),
            Id::Socket => o.socket = Some(v),
            // The file itself is loaded before parsing (see config.rs).
            Id::Config => {}
            Id::Timeout => o.timeout = num(),
            Id::ConnectTimeout => o.connect_timeout = Some(num()),
            Id::FilterRetries => o.filter_retries = num(),
            Id::FilterRetrySleep => o.filter_retry_sleep = num(),
            Id::ConnectRetries => o.connect_retries = num(),
            Id::RetrySleep => o.retry_sleep = num(),
            Id::MaxSize => o.max_size = num(),
            Id::Username => o.username = Some(v),
            Id::LearnType => {
                o.learn = Some(match v.as_bytes() {
                    b"spam" => Learn::Spam,
                    b"ham" => Learn::Ham,
                    b"forget" => Learn::Forget,
                    _ => {
                        // spamc still switches to learn mode.
                        o.learn.get_or_insert(Learn::Spam);
                        self.log("Please specify a legal learn type");
                        self.usage_error = true;
                        return Step::Continue;
                    }
                });
            }
            Id::ReportType => {
                o.report = Some(match v.as_bytes() {
                    b"report" => Report::Report,
                    b"revoke" => Report::Revoke,
                    _ => {
                        o.report.get_or_insert(Report::Report);
                        self.log("Please specify a legal report type");
                        self.usage_error = true;
                        return Step::Continue;
                    }
                });
            }
            Id::Bsmtp => o.bsmtp = true,
            Id::Check => o.check = true,
            Id::Tests => o.symbols = true,
            Id::FullSpam => o.report_ifspam = true,
            Id::Full => o.full_report = true,
            Id::Headers => o.headers = true,
            Id::ExitCode => o.exit_code = true,
            Id::NoSafeFallback => o.safe_fallback = false,
            Id::UnavailableTempfail => {
                if o.safe_fallback {
                    self.log("This option is only valid if -x is set first");
                } else {
                    o.unavailable_tempfail = true;
                }
            }
            Id::LogToStderr => o.log_to_stderr = true,
            Id::PipeTo => {
                let mut cmd = vec![v];
                cmd.extend(rest.iter().cloned());
                o.pipe_to = Some(cmd);
                // Everything after -e belongs to the command; spamc returns
                // at once, without the end-of-line checks.
                return Step::Stop(if self.usage_error {
                    Status::Usage { show_usage: false }
                } else {
                    Status::Run
                });
            }
            Id::Help => {
                return Step::Stop(if self.usage_error {
                    Status::Usage { show_usage: true }
                } else {
                    Status::Help
                });
            }
            Id::Version => return Step::Stop(Status::Version),
            Id::Ping => o.ping = true,
            Id::Compress => o.compress = true,
            Id::Obsolete => {}
            Id::Ipv4 => o.ipv4 = true,
            Id::Ipv6 => o.ipv6 = true,
        }
        Step::Continue
    }
}

/// The version banner (`-V`, and the first line of the usage text).
pub fn version_text() -> String {
    format!(
        "SpamAssassin Client version 4.0.1\n  (Rust spamc {}, built without SSL support)\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The usage text, generated from the flag table.
pub fn usage_text() -> String {
    let mut out = version_text();
    out.push_str("\nUsage: spamc [options] [-e command [args]] < message\n\nOptions:\n");
    for f in FLAGS {
        let mut left = String::from("  ");
        match (f.short.filter(|_| !f.hidden_short), f.long) {
            (Some(s), Some(l)) => left.push_str(&format!("-{}, --{l}", s as char)),
            (Some(s), None) => left.push_str(&format!("-{}", s as char)),
            (None, Some(l)) => left.push_str(&format!("--{l}")),
            (None, None) => continue,
        }
        if !f.value.is_empty() {
            left.push(' ');
            left.push_str(f.value);
        }
        const COL: usize = 22;
        if left.len() < COL {
            out.push_str(&format!("{left:<COL$}{}\n", f.help));
        } else {
            out.push_str(&format!("{left}\n{:COL$}{}\n", "", f.help));
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("spamc")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn run(words: &[&str]) -> Parsed {
        parse(&argv(words))
    }

    #[test]
    fn defaults() {
        let p = run(&[]);
        assert_eq!(p.status, Status::Run);
        assert_eq!(p.opts, Options::default());
        assert_eq!(p.opts.max_size, 512_000);
        assert!(p.opts.safe_fallback);
    }

    #[test]
    fn short_and_long_forms() {
        let p = run(&[
            "-d",
            "a,b",
            "--port",
            "1234",
            "-c",
            "--username=bob",
            "-t",
            "5",
        ]);
        assert_eq!(p.status, Status::Run);
        assert_eq!(p.opts.dest.as_deref(), Some("a,b"));
        assert_eq!(p.opts.port, 1234);
        assert!(p.opts.check);
        assert_eq!(p.opts.username, Some(OsString::from("bob")));
        assert_eq!(p.opts.timeout, 5);
    }

    #[test]
    fn bundled_short_flags() {
        let p = run(&["-cx", "-p783", "-lL", "spam"]);
        assert!(p.opts.check && !p.opts.safe_fallback && p.opts.log_to_stderr);
        assert_eq!(p.opts.port, 783);
        assert_eq!(p.opts.learn, Some(Learn::Spam));
        // Learning excludes -c: a usage error without the usage text.
        assert_eq!(p.status, Status::Usage { show_usage: false });
    }

    #[test]
    fn parsing_stops_at_non_options() {
        let p = run(&["-c", "file", "-x"]);
        assert!(p.opts.check);
        assert!(p.opts.safe_fallback);
        let p = run(&["--", "-x"]);
        assert!(p.opts.safe_fallback);
        let p = run(&["-", "-x"]);
        assert!(p.opts.safe_fallback);
    }

    #[test]
    fn unknown_options() {
        let p = run(&["-Q"]);
        assert_eq!(p.status, Status::Usage { show_usage: true });
        assert_eq!(
            p.diags[0],
            Diag::Stderr("Error in argument 1, char 2: option not found Q".into())
        );
        assert!(matches!(&p.diags[1], Diag::Log { msg, .. } if msg == "invalid usage"));
        let p = run(&["-c", "--bogus=1"]);
        assert_eq!(
            p.diags[0],
            Diag::Stderr("Error in argument 2 : option not found --bogus=1".into())
        );
        // Long names must be exact: no abbreviations.
        assert_eq!(run(&["--chec"]).status, Status::Usage { show_usage: true });
    }

    #[test]
    fn missing_arguments() {
        let p = run(&["-p"]);
        assert_eq!(
            p.diags[0],
            Diag::Stderr("Error in argument 1, char 2: argument required for option p".into())
        );
        // A separate argument may not start with a dash.
        let p = run(&["-s", "-5"]);
        assert_eq!(p.status, Status::Usage { show_usage: true });
        let p = run(&["--port", "-c"]);
        assert_eq!(
            p.diags[0],
            Diag::Stderr("Error in argument 1 : argument required for option --port".into())
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run(&["-h", "-Q"]).status, Status::Help);
        assert_eq!(run(&["-V"]).status, Status::Version);
        assert_eq!(run(&["--help"]).status, Status::Help);
        assert_eq!(
            run(&["-L", "bad", "-h"]).status,
            Status::Usage { show_usage: true }
        );
        assert_eq!(run(&["-L", "bad", "-V"]).status, Status::Version);
    }

    #[test]
    fn learn_and_report_types() {
        assert_eq!(run(&["-L", "ham"]).opts.learn, Some(Learn::Ham));
        assert_eq!(run(&["-L", "forget"]).opts.learn, Some(Learn::Forget));
        let p = run(&["-L", "bogus"]);
        assert_eq!(p.status, Status::Usage { show_usage: false });
        assert!(p.diags.iter().any(
            |d| matches!(d, Diag::Log { msg, .. } if msg == "Please specify a legal learn type")
        ));
        assert_eq!(run(&["-C", "revoke"]).opts.report, Some(Report::Revoke));
        assert_eq!(
            run(&["-C", "x"]).status,
            Status::Usage { show_usage: false }
        );
        assert_eq!(
            run(&["-L", "spam", "-K"]).status,
            Status::Usage { show_usage: false }
        );
    }

    #[test]
    fn max_size_limit() {
        assert_eq!(run(&["-s", "268435456"]).status, Status::Run);
        assert_eq!(
            run(&["-s", "268435457"]).status,
            Status::Usage { show_usage: false }
        );
    }

    #[test]
    fn tempfail_needs_x_first() {
        let p = run(&["-X", "-x"]);
        assert!(!p.opts.unavailable_tempfail);
        assert_eq!(p.status, Status::Run);
        let p = run(&["-x", "-X"]);
        assert!(p.opts.unavailable_tempfail);
    }

    #[test]
    fn pipe_to_takes_the_rest() {
        let p = run(&["-c", "-e", "/bin/cat", "-x", "--port", "1"]);
        assert_eq!(p.status, Status::Run);
        let cmd = p.opts.pipe_to.unwrap_or_default();
        assert_eq!(cmd, ["/bin/cat", "-x", "--port", "1"].map(OsString::from));
        assert!(p.opts.safe_fallback);
    }

    #[test]
    fn hidden_digit_flags() {
        let p = run(&["-0", "5", "-1", "2", "-2"]);
        assert_eq!(p.opts.connect_retries, 5);
        assert_eq!(p.opts.retry_sleep, 2);
        assert!(p.opts.headers);
    }

    #[test]
    fn ssl_flags() {
        assert!(run(&["-S"]).opts.ssl);
        assert_eq!(
            run(&["--ssl=tlsv1"]).status,
            Status::Usage { show_usage: false }
        );
        assert_eq!(
            run(&["--ssl-cert", "c"]).status,
            Status::Usage { show_usage: false }
        );
    }

    #[test]
    fn log_state_is_recorded_per_message() {
        let p = run(&["-L", "x", "-l", "-C", "y"]);
        let states: Vec<bool> = p
            .diags
            .iter()
            .filter_map(|d| match d {
                Diag::Log { to_stderr, .. } => Some(*to_stderr),
                Diag::Stderr(_) => None,
            })
            .collect();
        // The last one is the learn/report conflict found at the end.
        assert_eq!(states, vec![false, true, true]);
    }

    #[test]
    fn usage_lists_every_flag() {
        let u = usage_text();
        for f in FLAGS {
            if let Some(l) = f.long {
                assert!(u.contains(&format!("--{l}")), "{l}");
            }
        }
        assert!(u.contains("  -K "));
    }
}
