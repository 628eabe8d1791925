//! spamc against fake spamd servers on 127.0.0.1: the message must come
//! through byte for byte when spamd is down, silent, or talks nonsense, and
//! `-x` must turn each failure into SpamAssassin's exit code. Every wait is
//! bounded, so a hang fails the test instead of blocking it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How a fake spamd behaves once it has read the whole request.
#[derive(Clone)]
enum Behaviour {
    /// Never answer (holds the connection for a while).
    Silent,
    /// Send these bytes, then close.
    Reply(&'static [u8]),
    /// Send these bytes, then reset the connection.
    Reset(&'static [u8]),
}

/// A fake spamd; `requests` records what each connection sent.
struct Fake {
    port: u16,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn fake(behaviour: Behaviour) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let behaviour = behaviour.clone();
            let log = Arc::clone(&log);
            thread::spawn(move || serve(conn, behaviour, log));
        }
    });
    Fake { port, requests }
}

fn serve(mut conn: TcpStream, behaviour: Behaviour, log: Arc<Mutex<Vec<Vec<u8>>>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut request = Vec::new();
    let _ = conn.read_to_end(&mut request);
    if let Ok(mut l) = log.lock() {
        l.push(request);
    }
    match behaviour {
        Behaviour::Silent => thread::sleep(Duration::from_secs(15)),
        Behaviour::Reply(bytes) => {
            let _ = conn.write_all(bytes);
        }
        Behaviour::Reset(bytes) => {
            let _ = conn.write_all(bytes);
            let linger = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: a valid socket fd and a correctly sized linger struct.
            unsafe {
                libc::setsockopt(
                    conn.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&linger as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
    }
}

/// A port nobody listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
    elapsed: Duration,
}

/// Run spamc against 127.0.0.1:`port`, feeding `input`; give up after 30 s.
fn spamc(port: u16, extra: &[&str], input: &[u8]) -> Run {
    let port = port.to_string();
    let mut args = vec![
        "-l",
        "-d",
        "127.0.0.1",
        "-p",
        &port,
        "--connect-retries",
        "1",
        "-t",
        "2",
    ];
    args.extend_from_slice(extra);
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_spamc"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spamc");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    // spamc may stop reading early (-x); a broken pipe is fine then.
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        let _ = stderr.read_to_end(&mut err);
        let _ = tx.send((out, err));
    });
    let (out, err) = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill();
            panic!("spamc {args:?} did not finish within 30 s");
        }
    };
    let status = child.wait().expect("wait");
    let _ = feeder.join();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out,
        stderr: String::from_utf8_lossy(&err).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// A message with the awkward bits: CRLF, 8-bit bytes, no final newline.
fn message() -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: test\r\n\r\n".to_vec();
    for i in 0..2000u32 {
        m.extend_from_slice(format!("line {i} ").as_bytes());
        m.extend_from_slice(b"\xe9\xff\x00 text\n");
    }
    m.extend_from_slice(b"no final newline");
    m
}

fn assert_passthrough(r: &Run, what: &str) {
    assert_eq!(r.code, 0, "{what}: exit code; stderr: {}", r.stderr);
    assert!(r.stdout == message(), "{what}: output differs from input");
}

const HALF: &[u8] =
    b"SPAMD/1.1 0 EX_OK\r\nContent-length: 1000\r\nSpam: True ; 5.0 / 5.0\r\n\r\nshort";
const OK: &[u8] = b"SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 7.5 / 5.0\r\n\r\nHELLO";

#[test]
fn refused_passes_through() {
    let port = closed_port();
    assert_passthrough(&spamc(port, &[], &message()), "refused");
    assert_passthrough(&spamc(port, &["-E"], &message()), "refused -E");
    let r = spamc(port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (69, 0));
    let r = spamc(port, &["-x", "-X"], &message());
    assert_eq!((r.code, r.stdout.len()), (75, 0));
    let r = spamc(port, &["-X", "-x"], &message());
    assert_eq!(r.code, 69, "-X before -x has no effect");
    assert!(r.stderr.contains("only valid if -x"));
}

#[test]
fn refused_short_outputs() {
    let port = closed_port();
    for flag in ["-c", "-r", "-R"] {
        let r = spamc(port, &[flag], &message());
        assert_eq!((r.code, &r.stdout[..]), (0, &b"0/0\n"[..]), "{flag}");
        let r = spamc(port, &[flag, "-x"], &message());
        assert_eq!((r.code, &r.stdout[..]), (69, &b"0/0\n"[..]), "{flag} -x");
    }
    let r = spamc(port, &["-y"], &message());
    assert_eq!((r.code, &r.stdout[..]), (0, &b"\n"[..]));
}

#[test]
fn ping_learn_report_on_refused() {
    let port = closed_port();
    let r = spamc(port, &["-K"], &message());
    assert_eq!((r.code, r.stdout.len()), (69, 0));
    let r = spamc(port, &["-L", "spam"], &message());
    assert_eq!((r.code, r.stdout.len()), (69, 0));
    let r = spamc(port, &["-L", "spam", "-x", "-X"], &message());
    assert_eq!(r.code, 69, "-X does not apply to -L");
    // -C falls back like a normal scan.
    assert_passthrough(&spamc(port, &["-C", "report"], &message()), "-C");
}

#[test]
fn silent_server_times_out() {
    let f = fake(Behaviour::Silent);
    let r = spamc(f.port, &[], &message());
    assert_passthrough(&r, "silent");
    assert!(r.elapsed < Duration::from_secs(10), "took {:?}", r.elapsed);
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (74, 0));
    let r = spamc(f.port, &["-x", "-X"], &message());
    assert_eq!(r.code, 74, "-X only maps 69");
}

#[test]
fn garbage_reply() {
    let f = fake(Behaviour::Reply(b"HTTP/1.0 200 OK\r\n\r\n<html>"));
    assert_passthrough(&spamc(f.port, &[], &message()), "garbage");
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (76, 0));
    assert!(r.stderr.contains("bad string"), "{}", r.stderr);
}

#[test]
fn error_status_line_alone_is_a_short_read() {
    let f = fake(Behaviour::Reply(b"SPAMD/1.0 76 Bad header line: x\r\n"));
    assert_passthrough(&spamc(f.port, &[], &message()), "error line");
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (74, 0));
    // -K prints whatever status line came back.
    let r = spamc(f.port, &["-K"], b"");
    assert_eq!((r.code, &r.stdout[..]), (0, &b"SPAMD/1.0 76\n"[..]));
}

#[test]
fn half_reply() {
    let f = fake(Behaviour::Reply(HALF));
    assert_passthrough(&spamc(f.port, &[], &message()), "half");
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (76, 0));
    // CHECK has no body, so the headers are enough.
    let r = spamc(f.port, &["-c"], &message());
    assert_eq!((r.code, &r.stdout[..]), (1, &b"5.0/5.0\n"[..]));
    let f = fake(Behaviour::Reply(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 10"));
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!((r.code, r.stdout.len()), (74, 0));
    assert_passthrough(&spamc(f.port, &[], &message()), "cut in headers");
}

#[test]
fn reset_mid_reply() {
    let f = fake(Behaviour::Reset(HALF));
    assert_passthrough(&spamc(f.port, &[], &message()), "reset");
    let r = spamc(f.port, &["-x"], &message());
    assert_eq!(r.stdout.len(), 0);
    assert!(r.code == 76 || r.code == 74, "exit {}", r.code);
}

#[test]
fn oversized_input_is_not_sent() {
    let f = fake(Behaviour::Reply(OK));
    for extra in [&[][..], &["-x"], &["-x", "-E"], &["-E"]] {
        let mut args = vec!["-s", "1000"];
        args.extend_from_slice(extra);
        assert_passthrough(&spamc(f.port, &args, &message()), "oversized");
    }
    let r = spamc(f.port, &["-s", "1000", "-c", "-x"], &message());
    assert_eq!((r.code, &r.stdout[..]), (0, &b"0/0\n"[..]));
    let r = spamc(f.port, &["-s", "1000", "-L", "spam"], &message());
    assert_eq!((r.code, r.stdout.len()), (98, 0));
    assert!(f.requests.lock().map(|r| r.is_empty()).unwrap_or(false));
}

#[test]
fn big_input_streams_through() {
    // Far over --max-size: what is not buffered must still reach stdout.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let r = spamc(closed_port(), &[], &big);
    assert_eq!(r.code, 0);
    assert!(r.stdout == big, "big message altered");
}

#[test]
fn empty_input() {
    let port = closed_port();
    let r = spamc(port, &[], b"");
    assert_eq!((r.code, r.stdout.len()), (0, 0));
    let r = spamc(port, &["-x"], b"");
    assert_eq!(r.code, 74);
    let r = spamc(port, &["-c"], b"");
    assert_eq!(&r.stdout[..], b"0/0\n");
}

#[test]
fn successful_exchange() {
    let f = fake(Behaviour::Reply(OK));
    let r = spamc(f.port, &["-u", "joe"], b"Subject: hi\n\nbody\n");
    assert_eq!((r.code, &r.stdout[..]), (0, &b"HELLO"[..]));
    let r = spamc(f.port, &["-E"], b"Subject: hi\n\nbody\n");
    assert_eq!(r.code, 1);
    let r = spamc(f.port, &["--headers"], b"Subject: hi\n\nbody\n");
    assert_eq!(&r.stdout[..], b"HELLObody\n");
    let requests = f.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(
        requests.first().map(Vec::as_slice),
        Some(
            &b"PROCESS SPAMC/1.5\r\nUser: joe\r\nContent-length: 18\r\n\r\nSubject: hi\n\nbody\n"[..]
        )
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with(b"HEADERS SPAMC/1.5\r\n"))
    );
}

#[test]
fn learn_and_ping_requests() {
    let f = fake(Behaviour::Reply(
        b"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n",
    ));
    let r = spamc(
        f.port,
        &["-u", "joe", "-L", "ham"],
        b"Subject: hi\n\nbody\n",
    );
    assert_eq!(
        (r.code, &r.stdout[..]),
        (0, &b"Message successfully un/learned\n"[..])
    );
    let r = spamc(
        f.port,
        &["-u", "joe", "-L", "forget"],
        b"Subject: hi\n\nbody\n",
    );
    assert_eq!(&r.stdout[..], b"Message was already un/learned\n");
    let requests = f.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(
        requests.first().map(Vec::as_slice),
        Some(&b"TELL SPAMC/1.5\r\nMessage-class: ham\r\nSet: local\r\nUser: joe\r\nContent-length: 18\r\n\r\nSubject: hi\n\nbody\n"[..])
    );
    let p = fake(Behaviour::Reply(b"SPAMD/1.5 0 PONG\r\n"));
    let r = spamc(p.port, &["-K"], b"");
    assert_eq!((r.code, &r.stdout[..]), (0, &b"SPAMD/1.5 0\n"[..]));
    let requests = p.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(requests, vec![b"PING SPAMC/1.5\r\n\r\n".to_vec()]);
}

#[test]
fn usage_errors_print_usage_not_the_message() {
    let r = spamc(closed_port(), &["-Q"], &message());
    assert_eq!(r.code, 64);
    assert!(String::from_utf8_lossy(&r.stdout).contains("Usage: spamc"));
    assert!(r.stderr.contains("option not found Q"));
    let r = spamc(
        closed_port(),
        &["-F", "/nonexistent/spamc.conf"],
        &message(),
    );
    assert_eq!((r.code, r.stdout.len()), (78, 0));
}
