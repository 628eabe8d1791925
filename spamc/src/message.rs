//! The message from stdin: reading it within `--max-size`, BSMTP envelopes,
//! and writing results back (libspamc's `message_read`/`message_write`).

use std::io::{self, Read, Write};

use spamcore::protocol::{EX_DATAERR, EX_IOERR, EX_TOOBIG};

/// What was read from stdin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Input {
    /// The bytes read, unchanged: at most max-size + 1 of them.
    pub raw: Vec<u8>,
    /// The part sent to spamd (BSMTP: the DATA section, dot-unstuffed).
    pub msg: Vec<u8>,
    /// BSMTP envelope before and after the DATA section.
    pub bsmtp: Option<(Vec<u8>, Vec<u8>)>,
}

/// Read the message. On error the bytes read so far are still returned, so
/// that they can be passed through. Errors are sysexits codes (`EX_TOOBIG`
/// for oversized input).
pub fn read(input: &mut impl Read, max_size: i32, bsmtp: bool) -> (Input, Result<(), i32>) {
    let max = u64::try_from(max_size).unwrap_or(0);
    let mut raw = Vec::new();
    // Read one byte past the limit to know whether the message is too big.
    let read = input.take(max + 1).read_to_end(&mut raw);
    let mut inp = Input {
        raw,
        ..Input::default()
    };
    if read.is_err() || inp.raw.is_empty() {
        return (inp, Err(EX_IOERR));
    }
    if inp.raw.len() as u64 > max {
        return (inp, Err(EX_TOOBIG));
    }
    if !bsmtp {
        inp.msg = inp.raw.clone();
        return (inp, Ok(()));
    }
    match split_bsmtp(&inp.raw) {
        Some((pre, msg, post)) => {
            inp.msg = msg;
            inp.bsmtp = Some((pre, post));
            (inp, Ok(()))
        }
        None => (inp, Err(EX_DATAERR)),
    }
}

/// Split a BSMTP transaction into (envelope before, unstuffed DATA, rest
/// from the lone dot on). `None` when there is no DATA line or no lone dot.
pub fn split_bsmtp(raw: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let start = find_data_line(raw)?;
    let data = &raw[start..];
    let mut msg = Vec::with_capacity(data.len());
    let mut prev = b'\n';
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if prev == b'\n' && c == b'.' {
            let next = data.get(i + 1).copied();
            let lone = next.is_none()
                || next == Some(b'\n')
                || (next == Some(b'\r') && data.get(i + 2) == Some(&b'\n'));
            if lone {
                return Some((raw[..start].to_vec(), msg, data[i..].to_vec()));
            }
            if next == Some(b'.') {
                // An escaping dot: drop it, keep the one after.
                prev = b'.';
                i += 1;
                continue;
            }
        }
        prev = c;
        msg.push(c);
        i += 1;
    }
    None
}

/// Offset just after the first `\nDATA\n` (case-insensitive, CR allowed)
/// that leaves room for at least `\n.\n` after it, as libspamc requires.
fn find_data_line(raw: &[u8]) -> Option<usize> {
    let mut p = 0;
    while raw.len() - p > 8 {
        let window = &raw[p..raw.len() - 8];
        let nl = window.iter().position(|&b| b == b'\n')?;
        let q = p + nl + 1;
        if raw[q..q + 4].eq_ignore_ascii_case(b"data") {
            let mut r = q + 4;
            if raw[r] == b'\r' {
                r += 1;
            }
            if raw[r] == b'\n' {
                return Some(r + 1);
            }
        }
        p = q;
    }
    None
}

/// Re-stuff dots for BSMTP output: every `\n.` becomes `\n..`.
pub fn stuff_dots(out: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(out.len() + 16);
    let mut i = 0;
    while i < out.len() {
        if out[i] == b'\n' && out.get(i + 1) == Some(&b'.') {
            v.extend_from_slice(b"\n..");
            i += 2;
        } else {
            v.push(out[i]);
            i += 1;
        }
    }
    v
}

/// The result of a PROCESS/HEADERS exchange as spamc writes it: in BSMTP mode
/// the envelope goes around it again.
pub fn wrap_result(inp: &Input, out: &[u8]) -> Vec<u8> {
    match &inp.bsmtp {
        Some((pre, post)) => {
            let mut v = pre.clone();
            v.extend_from_slice(&stuff_dots(out));
            v.extend_from_slice(post);
            v
        }
        None => out.to_vec(),
    }
}

/// The original message's body (after the first blank line), which spamc
/// appends to the headers spamd returns for `--headers`.
pub fn original_body(raw: &[u8]) -> Option<&[u8]> {
    for i in 0..raw.len() {
        if raw[i..].starts_with(b"\r\n\r\n") {
            return Some(&raw[i + 4..]);
        }
        if raw[i..].starts_with(b"\n\n") {
            return Some(&raw[i + 2..]);
        }
    }
    None
}

/// Pass the input through unchanged: what was read, then the rest of stdin.
pub fn dump(inp: &Input, stdin: &mut impl Read, out: &mut impl Write) -> io::Result<()> {
    out.write_all(&inp.raw)?;
    io::copy(stdin, out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_within_limit() {
        let (inp, r) = read(&mut &b"Subject: x\n\nhi\n"[..], 100, false);
        assert_eq!(r, Ok(()));
        assert_eq!(inp.msg, b"Subject: x\n\nhi\n");
    }

    #[test]
    fn too_big_keeps_what_was_read() {
        let data = vec![b'a'; 50];
        let mut src = &data[..];
        let (inp, r) = read(&mut src, 10, false);
        assert_eq!(r, Err(EX_TOOBIG));
        assert_eq!(inp.raw.len(), 11);
        // The rest is still in the reader for the pass-through.
        let mut out = Vec::new();
        dump(&inp, &mut src, &mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn exact_limit_is_fine() {
        let (_, r) = read(&mut &b"0123456789"[..], 10, false);
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn empty_input_is_an_io_error() {
        let (_, r) = read(&mut &b""[..], 10, false);
        assert_eq!(r, Err(EX_IOERR));
    }

    #[test]
    fn bsmtp_round_trip() {
        let raw = b"MAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\nSubject: x\n\n..dotted\nbody\n.\nQUIT\n";
        let (inp, r) = read(&mut &raw[..], 1000, true);
        assert_eq!(r, Ok(()));
        assert_eq!(inp.msg, b"Subject: x\n\n.dotted\nbody\n");
        let (pre, post) = inp.bsmtp.clone().unwrap();
        assert_eq!(pre, b"MAIL FROM:<a@b>\nRCPT TO:<c@d>\nDATA\n");
        assert_eq!(post, b".\nQUIT\n");
        assert_eq!(wrap_result(&inp, &inp.msg), raw);
    }

    #[test]
    fn bsmtp_without_data_is_a_data_error() {
        let (_, r) = read(&mut &b"Subject: x\n\nbody\n"[..], 1000, true);
        assert_eq!(r, Err(EX_DATAERR));
        let (_, r) = read(
            &mut &b"HELO x\nDATA\nSubject: x\n\nno end\n"[..],
            1000,
            true,
        );
        assert_eq!(r, Err(EX_DATAERR));
    }

    #[test]
    fn body_split() {
        assert_eq!(original_body(b"A: b\n\nbody\n"), Some(&b"body\n"[..]));
        assert_eq!(original_body(b"A: b\r\n\r\nbody"), Some(&b"body"[..]));
        assert_eq!(original_body(b"A: b\n"), None);
    }
}
