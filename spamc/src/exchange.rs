//! One conversation with spamd, read the way libspamc reads it.
//!
//! The request bytes come from `spamcore::protocol::encode_request`. The
//! reply is read incrementally, line by line, with libspamc's rules rather
//! than `parse_response`'s: spamc must tell a short read (EX_IOERR) from a
//! malformed reply (EX_PROTOCOL) and an oversized one (EX_TOOBIG), does not
//! look at the status code, and reads `Spam:` with `sscanf`.

use std::io::{BufRead, BufReader, Read, Write};

use spamcore::protocol::{
    ClientRequest, Command, EX_IOERR, EX_PROTOCOL, EX_TOOBIG, encode_request,
};

use crate::cparse::{Scan, Scanned, fmt_1, spamc_float, sscanf};
use crate::log::Logger;
use crate::transport::{Stream, Transport};

/// libspamc's line buffer: 8192 bytes minus breathing room and the NUL.
const MAX_LINE: usize = 8192 - 4 - 1;
/// How much a reply may exceed the message (added headers, report).
const EXPANSION_ALLOWANCE: usize = 16384;

/// What spamd's reply said, as far as spamc cares.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reply {
    /// What spamc prints on success.
    pub out: Vec<u8>,
    /// From the `Spam:` header; `None` when there was none.
    pub is_spam: Option<bool>,
    pub did_set_local: bool,
    pub did_set_remote: bool,
    pub did_remove_local: bool,
    pub did_remove_remote: bool,
}

/// The parts of the options an exchange needs.
#[derive(Debug, Clone, Copy)]
pub struct Mode {
    /// `-K`: print the status line only.
    pub ping: bool,
    /// `-c`: the reply has no body.
    pub check: bool,
    /// `-r`/`-R`: a score line goes before the report.
    pub report_ifspam: bool,
    pub full_report: bool,
    /// `--max-size`, which bounds the reply too.
    pub max_size: usize,
}

/// Which verb spamc sends for its flags, in libspamc's order of precedence.
pub fn scan_command(
    check: bool,
    ifspam: bool,
    report: bool,
    symbols: bool,
    ping: bool,
    headers: bool,
) -> Command {
    if check {
        Command::Check
    } else if ifspam {
        Command::ReportIfSpam
    } else if report {
        Command::Report
    } else if symbols {
        Command::Symbols
    } else if ping {
        Command::Ping
    } else if headers {
        Command::Headers
    } else {
        Command::Process
    }
}

/// Send a scanning request (or PING) and read the reply, with
/// `--filter-retries` attempts when spamd fails before its status line.
pub fn filter(
    transport: &mut Transport,
    log: &Logger,
    request: &[u8],
    mode: &Mode,
    filter_retries: i32,
    filter_retry_sleep: i32,
) -> Result<Reply, i32> {
    let sleep = std::time::Duration::from_secs(u64::try_from(filter_retry_sleep).unwrap_or(1));
    let mut attempt = 0;
    let (mut reader, status) = loop {
        if attempt > 0 {
            transport.next_host();
            std::thread::sleep(sleep);
        }
        attempt += 1;
        let mut stream = transport.connect(log)?;
        send(&mut stream, request);
        let mut reader = BufReader::new(stream);
        match read_line(&mut reader, log) {
            Ok(line) => break (reader, line),
            Err(EX_IOERR) if attempt < filter_retries => continue,
            Err(e) => return Err(e),
        }
    };
    let (version, code) = status_line(&status, log)?;
    if mode.ping {
        let out = format!("SPAMD/{} {code}\n", String::from_utf8_lossy(&version)).into_bytes();
        return Ok(Reply {
            out,
            is_spam: Some(false),
            ..Reply::default()
        });
    }
    let mut reply = Reply::default();
    let mut content_length: Option<i64> = None;
    read_headers(&mut reader, log, mode, &mut reply, &mut content_length)?;
    if mode.check {
        if reply.is_spam.is_none() {
            return Err(EX_PROTOCOL);
        }
        return Ok(reply);
    }
    let Some(mut expected) = content_length else {
        return Err(EX_PROTOCOL);
    };
    // The score line spamc made from `Spam:` counts towards the check.
    if !reply.out.is_empty() {
        expected += reply.out.len() as i64;
    }
    let room = mode.max_size + EXPANSION_ALLOWANCE + 1;
    let budget = room.saturating_sub(reply.out.len());
    let mut body = Vec::new();
    let read_ok = reader
        .by_ref()
        .take(budget as u64)
        .read_to_end(&mut body)
        .is_ok();
    if body.len() + reply.out.len() > room - 1 {
        return Err(EX_TOOBIG);
    }
    reply.out.extend_from_slice(&body);
    if !read_ok || reply.out.len() as i64 != expected {
        log.err(&format!(
            "failed sanity check, {expected} bytes claimed, {} bytes seen",
            reply.out.len()
        ));
        return Err(EX_PROTOCOL);
    }
    Ok(reply)
}

/// Send a TELL request and read its header block (no retries, as in spamc).
pub fn tell(transport: &Transport, log: &Logger, request: &[u8]) -> Result<Reply, i32> {
    let mut stream = transport.connect(log)?;
    send(&mut stream, request);
    let mut reader = BufReader::new(stream);
    let status = read_line(&mut reader, log)?;
    status_line(&status, log)?;
    let mode = Mode {
        ping: false,
        check: false,
        report_ifspam: false,
        full_report: false,
        max_size: 0,
    };
    let mut reply = Reply::default();
    read_headers(&mut reader, log, &mode, &mut reply, &mut None)?;
    reply.out.clear();
    Ok(reply)
}

/// Build the request bytes for a scan or PING.
pub fn scan_request(command: Command, user: &str, compress: bool, msg: &[u8]) -> Vec<u8> {
    let req = ClientRequest {
        user: Some(user),
        compress,
        ..ClientRequest::default()
    };
    encode_request(command, &req, msg)
}

/// Write the request and half-close. Write errors are ignored, as in
/// libspamc: whatever spamd answered is still read.
fn send(stream: &mut Stream, request: &[u8]) {
    let _ = stream.write_all(request);
    stream.shutdown_write();
}

/// One reply line without its `\n` (and one `\r` before it).
fn read_line(reader: &mut BufReader<Stream>, log: &Logger) -> Result<Vec<u8>, i32> {
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(EX_IOERR),
        };
        if buf.is_empty() {
            return Err(EX_IOERR);
        }
        let room = MAX_LINE - line.len();
        let chunk = &buf[..buf.len().min(room)];
        if let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..nl]);
            reader.consume(nl + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(line);
        }
        let n = chunk.len();
        line.extend_from_slice(chunk);
        reader.consume(n);
        if line.len() >= MAX_LINE {
            log.err(&format!(
                "spamd responded with line of {MAX_LINE} bytes, dying"
            ));
            return Err(EX_TOOBIG);
        }
    }
}

/// `SPAMD/<version> <code>`; spamc ignores the code except for `-K`.
fn status_line(line: &[u8], log: &Logger) -> Result<(Vec<u8>, i32), i32> {
    let fields = sscanf(
        line,
        &[Scan::Lit(b"SPAMD/"), Scan::Str(18), Scan::Ws, Scan::Int],
    );
    let (Some(Scanned::Str(version)), Some(Scanned::Int(code))) = (fields.first(), fields.get(1))
    else {
        log.err(&format!(
            "spamd responded with bad string '{}'",
            String::from_utf8_lossy(line)
        ));
        return Err(EX_PROTOCOL);
    };
    if spamc_float(version) < 1.0 {
        log.err(&format!(
            "spamd responded with bad version string '{}'",
            String::from_utf8_lossy(version)
        ));
        return Err(EX_PROTOCOL);
    }
    Ok((version.clone(), *code))
}

fn read_headers(
    reader: &mut BufReader<Stream>,
    log: &Logger,
    mode: &Mode,
    reply: &mut Reply,
    content_length: &mut Option<i64>,
) -> Result<(), i32> {
    loop {
        let line = read_line(reader, log)?;
        if line.is_empty() {
            return Ok(());
        }
        header(&line, log, mode, reply, content_length)?;
    }
}

/// libspamc's `"Spam: %5s ; %20s / %20s"`.
pub(crate) const SPAM_HEADER: &[Scan] = &[
    Scan::Lit(b"Spam:"),
    Scan::Ws,
    Scan::Str(5),
    Scan::Ws,
    Scan::Lit(b";"),
    Scan::Ws,
    Scan::Str(20),
    Scan::Ws,
    Scan::Lit(b"/"),
    Scan::Ws,
    Scan::Str(20),
];

/// One reply header (libspamc's `_handle_spamd_header`).
fn header(
    line: &[u8],
    log: &Logger,
    mode: &Mode,
    reply: &mut Reply,
    content_length: &mut Option<i64>,
) -> Result<(), i32> {
    let spam = sscanf(line, SPAM_HEADER);
    if let [
        Scanned::Str(flag),
        Scanned::Str(score),
        Scanned::Str(threshold),
    ] = &spam[..]
    {
        let score = spamc_float(score).clamp(-1e10, 1e10);
        let threshold = spamc_float(threshold).clamp(-1e10, 1e10);
        // Only "true" counts: REPORT_IFSPAM's "Yes" reads as ham, so spamc
        // -r prints no score line, exactly like SpamAssassin's spamc.
        let is_spam = flag.eq_ignore_ascii_case(b"true");
        reply.is_spam = Some(is_spam);
        if mode.check || (mode.report_ifspam && is_spam) || mode.full_report {
            reply.out = format!("{}/{}\n", fmt_1(score), fmt_1(threshold)).into_bytes();
        }
        return Ok(());
    }
    if let [Scanned::Int(n)] =
        &sscanf(line, &[Scan::Lit(b"Content-length:"), Scan::Ws, Scan::Int])[..]
    {
        if *n < 0 {
            log.err(&format!(
                "spamd responded with bad Content-length '{}'",
                String::from_utf8_lossy(line)
            ));
            return Err(EX_PROTOCOL);
        }
        *content_length = Some(i64::from(*n));
        return Ok(());
    }
    if let [Scanned::Str(v)] = &sscanf(line, &[Scan::Lit(b"DidSet:"), Scan::Ws, Scan::Str(14)])[..]
    {
        reply.did_set_local |= contains(v, b"local");
        reply.did_set_remote |= contains(v, b"remote");
    } else if let [Scanned::Str(v)] =
        &sscanf(line, &[Scan::Lit(b"DidRemove:"), Scan::Ws, Scan::Str(14)])[..]
    {
        reply.did_remove_local |= contains(v, b"local");
        reply.did_remove_remote |= contains(v, b"remote");
    }
    Ok(())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// `--headers`: spamd sent only the rewritten header block; put the
/// original body after it, within the reply size limit. Without a blank
/// line in the original, libspamc falls back to the original message.
pub fn append_body(reply: &mut Reply, raw: &[u8], max_size: usize, log: &Logger) -> bool {
    let Some(body) = crate::message::original_body(raw) else {
        log.err("failed to find end-of-headers");
        return false;
    };
    let room = (max_size + EXPANSION_ALLOWANCE).saturating_sub(reply.out.len());
    reply.out.extend_from_slice(&body[..body.len().min(room)]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(check: bool, ifspam: bool, full: bool) -> Mode {
        Mode {
            ping: false,
            check,
            report_ifspam: ifspam,
            full_report: full,
            max_size: 1000,
        }
    }

    fn hdr(line: &[u8], m: &Mode) -> (Result<(), i32>, Reply, Option<i64>) {
        let mut r = Reply::default();
        let mut cl = None;
        let res = header(line, &Logger::new(), m, &mut r, &mut cl);
        (res, r, cl)
    }

    #[test]
    fn spam_header_makes_score_line() {
        let (_, r, _) = hdr(b"Spam: True ; 1000.0 / 5.0", &mode(true, false, false));
        assert_eq!(r.out, b"1000.0/5.0\n");
        assert_eq!(r.is_spam, Some(true));
        let (_, r, _) = hdr(b"Spam: False ; 0.3 / 5.0", &mode(false, false, true));
        assert_eq!(r.out, b"0.3/5.0\n");
        assert_eq!(r.is_spam, Some(false));
        // PROCESS prints no score line.
        let (_, r, _) = hdr(b"Spam: True ; 7.5 / 5.0", &mode(false, false, false));
        assert!(r.out.is_empty());
        // REPORT_IFSPAM's "Yes" is not "true".
        let (_, r, _) = hdr(b"Spam: Yes ; 7.5 / 5.0", &mode(false, true, false));
        assert!(r.out.is_empty());
        assert_eq!(r.is_spam, Some(false));
    }

    #[test]
    fn content_length() {
        let m = mode(false, false, false);
        assert_eq!(hdr(b"Content-length: 42", &m).2, Some(42));
        assert_eq!(hdr(b"Content-length:7", &m).2, Some(7));
        assert_eq!(hdr(b"Content-length: -1", &m).0, Err(EX_PROTOCOL));
        assert_eq!(hdr(b"Content-Length: 42", &m).2, None);
        assert_eq!(hdr(b"Content-length: x", &m).2, None);
    }

    #[test]
    fn tell_headers() {
        let m = mode(false, false, false);
        let (_, r, _) = hdr(b"DidSet: local,remote", &m);
        assert!(r.did_set_local && r.did_set_remote);
        let (_, r, _) = hdr(b"DidRemove: remote", &m);
        assert!(!r.did_remove_local && r.did_remove_remote);
    }

    #[test]
    fn verb_precedence() {
        assert_eq!(
            scan_command(false, false, false, false, false, false),
            Command::Process
        );
        assert_eq!(
            scan_command(true, true, true, true, true, true),
            Command::Check
        );
        assert_eq!(
            scan_command(false, true, true, false, false, false),
            Command::ReportIfSpam
        );
        assert_eq!(
            scan_command(false, false, false, true, false, true),
            Command::Symbols
        );
        assert_eq!(
            scan_command(false, false, false, false, true, true),
            Command::Ping
        );
        assert_eq!(
            scan_command(false, false, false, false, false, true),
            Command::Headers
        );
    }

    #[test]
    fn headers_mode_appends_body() {
        let mut r = Reply {
            out: b"X-Spam: yes\nSubject: a\n\n".to_vec(),
            ..Reply::default()
        };
        assert!(append_body(
            &mut r,
            b"Subject: a\n\nbody\n",
            1000,
            &Logger::new()
        ));
        assert_eq!(r.out, b"X-Spam: yes\nSubject: a\n\nbody\n");
        assert!(!append_body(&mut r, b"no blank line", 1000, &Logger::new()));
    }
}
