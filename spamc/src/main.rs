//! spamc: the SpamAssassin-compatible client. Reads a message on stdin,
//! has spamd judge it, prints the result; never loses mail on network
//! errors (the original is passed through unless `-x`).
//!
//! Output and exit codes follow Debian's spamc 4.0.1, checked against it
//! with fake servers and a real spamd. Deliberate differences:
//! - short flags may be bundled (`-cx`, `-p783`); spamc 4.0.1 reads only
//!   the first letter of each word;
//! - `-z` works (Debian's build lacks zlib); `-S` is accepted but TLS is not
//!   built in, so it fails like a refused connection (69, or fallback);
//! - `-e` finds the command on `PATH` and also receives `-L`/`-C` verdicts;
//! - on fallback a BSMTP message is passed through as read (spamc re-stuffs
//!   its unstuffed copy), and `-B --headers` appends the unstuffed body.

mod args;
mod config;
mod cparse;
mod exchange;
mod log;
mod message;
mod outcome;
mod tls;
mod transport;

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::process::{Command as Process, Stdio};

use spamcore::protocol::{
    ClientRequest, Command, EX_CONFIG, EX_OSERR, EX_TOOBIG, EX_USAGE, encode_request,
};

use args::{Diag, Learn, Options, Report, Status};
use exchange::Mode;
use log::{Level, Logger};
use message::Input;
use outcome::{Outcome, Output, Plan};

fn main() {
    let code = run();
    std::process::exit(outcome::exit_status(code));
}

fn run() -> i32 {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let log = Logger::new();
    let combined = match config::combine(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return EX_CONFIG;
        }
    };
    let parsed = args::parse(&combined);
    for d in &parsed.diags {
        match d {
            Diag::Stderr(text) => eprintln!("{text}"),
            Diag::Log { to_stderr, msg } => log::emit(*to_stderr, Level::Err, msg),
        }
    }
    match parsed.status {
        Status::Help => return print_stdout(&args::usage_text(), 0),
        Status::Version => return print_stdout(&args::version_text(), 0),
        Status::Usage { show_usage } => {
            if show_usage {
                print_stdout(&args::usage_text(), 0);
            }
            return EX_USAGE;
        }
        Status::Run => {}
    }
    let opts = parsed.opts;
    log.set_stderr(opts.log_to_stderr);

    let user = match opts.username.clone().or_else(current_user) {
        Some(u) => u.to_string_lossy().into_owned(),
        None => {
            eprintln!("getpwuid() failed: {}", io::Error::last_os_error());
            if opts.check {
                return print_stdout("0/0\n", 0);
            }
            return EX_OSERR;
        }
    };

    let mut stdin = io::stdin().lock();
    let (input, outcome) = talk(&opts, &log, &user, &mut stdin);
    let plan = outcome::plan(&opts, &outcome);
    deliver(&opts, &log, &plan, &input, &mut stdin)
}

fn print_stdout(text: &str, code: i32) -> i32 {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    code
}

/// The effective user's login name, as spamc sends it by default.
fn current_user() -> Option<OsString> {
    // SAFETY: getpwuid_r only writes into the buffers we pass, and the name
    // pointer is read only after success, while `buf` is still alive.
    unsafe {
        let uid = libc::geteuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 16384];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_bytes().to_vec();
        Some(OsString::from_vec(name))
    }
}

/// Read the message and have spamd judge it (or learn it, or PING).
fn talk(opts: &Options, log: &Logger, user: &str, stdin: &mut impl Read) -> (Input, Outcome) {
    let mut transport = match transport::setup(opts, log) {
        Ok(t) => t,
        Err(code) => return (Input::default(), Outcome::Failed(code)),
    };
    let mut input = Input::default();
    if !opts.ping {
        let (read, result) = message::read(stdin, opts.max_size, opts.bsmtp);
        input = read;
        if let Err(code) = result {
            if code == EX_TOOBIG {
                log.log(
                    Level::Notice,
                    &format!(
                        "skipped message, greater than max message size ({} bytes)",
                        opts.max_size
                    ),
                );
            }
            return (input, Outcome::Failed(code));
        }
    }
    if opts.learn.is_some() || opts.report.is_some() {
        let request = tell_request(opts, user, &input.msg);
        let outcome = match exchange::tell(&transport, log, &request) {
            Ok(reply) => Outcome::Told(reply),
            Err(code) => Outcome::Failed(code),
        };
        return (input, outcome);
    }
    let command = exchange::scan_command(
        opts.check,
        opts.report_ifspam,
        opts.full_report,
        opts.symbols,
        opts.ping,
        opts.headers,
    );
    let mode = Mode {
        ping: opts.ping,
        check: opts.check,
        report_ifspam: opts.report_ifspam,
        full_report: opts.full_report,
        max_size: usize::try_from(opts.max_size).unwrap_or(0),
    };
    let request = exchange::scan_request(command, user, opts.compress, &input.msg);
    let result = exchange::filter(
        &mut transport,
        log,
        &request,
        &mode,
        opts.filter_retries,
        opts.filter_retry_sleep,
    );
    let mut reply = match result {
        Ok(r) => r,
        Err(code) => return (input, Outcome::Failed(code)),
    };
    // The body comes from the message as sent: for BSMTP that is the
    // dot-unstuffed DATA (libspamc reads a half-rewritten buffer there and
    // appends stale envelope bytes; we do not reproduce that corruption).
    if command == Command::Headers
        && !exchange::append_body(&mut reply, &input.msg, mode.max_size, log)
    {
        // libspamc then prints the message as it was sent.
        reply.out = input.msg.clone();
    }
    let out = if opts.check || opts.ping {
        reply.out
    } else {
        message::wrap_result(&input, &reply.out)
    };
    let is_spam = reply.is_spam;
    (input, Outcome::Scanned { out, is_spam })
}

/// TELL for `-L` (local Bayes) or `-C` (collaborative databases).
fn tell_request(opts: &Options, user: &str, msg: &[u8]) -> Vec<u8> {
    let (class, set, remove) = match (opts.learn, opts.report) {
        (Some(Learn::Spam), _) => (Some("spam"), Some("local"), None),
        (Some(Learn::Ham), _) => (Some("ham"), Some("local"), None),
        (Some(Learn::Forget), _) => (None, None, Some("local")),
        (None, Some(Report::Revoke)) => (Some("ham"), Some("local"), Some("remote")),
        (None, _) => (Some("spam"), Some("local,remote"), None),
    };
    let req = ClientRequest {
        user: Some(user),
        compress: false,
        message_class: class,
        set,
        remove,
    };
    encode_request(Command::Tell, &req, msg)
}

/// Write the planned output (to stdout or the `-e` command) and return the
/// exit code.
fn deliver(opts: &Options, log: &Logger, plan: &Plan, input: &Input, stdin: &mut impl Read) -> i32 {
    let Some(cmd) = &opts.pipe_to else {
        let mut out = io::stdout().lock();
        if let Err(e) = write_output(&plan.output, input, stdin, &mut out) {
            log.err(&format!("failed to write the result: {e}"));
        }
        return plan.exit;
    };
    let Some((prog, args)) = cmd.split_first().filter(|_| plan.run_command) else {
        return plan.exit;
    };
    let child = Process::new(prog).args(args).stdin(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            log.err(&format!("exec failed: {e}"));
            return EX_OSERR;
        }
    };
    if let Some(mut pipe) = child.stdin.take()
        && let Err(e) = write_output(&plan.output, input, stdin, &mut pipe)
    {
        log.err(&format!("failed to write to the -e command: {e}"));
    }
    // spamc execs the command, so the invoker sees the command's status.
    match child.wait() {
        Ok(status) => match status.code() {
            Some(c) => c,
            None => {
                use std::os::unix::process::ExitStatusExt;
                128 + status.signal().unwrap_or(0)
            }
        },
        Err(e) => {
            log.err(&format!("wait for the -e command failed: {e}"));
            EX_OSERR
        }
    }
}

fn write_output(
    output: &Output,
    input: &Input,
    stdin: &mut impl Read,
    out: &mut impl Write,
) -> io::Result<()> {
    match output {
        Output::Nothing => Ok(()),
        Output::Bytes(b) => out.write_all(b).and_then(|()| out.flush()),
        Output::Original => message::dump(input, stdin, out),
    }
}
