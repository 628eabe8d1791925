//! Requests: spamc -> spamd.

use super::{ProtocolError, perl_number};

/// Longest request line or header line spamd accepts.
///
/// SpamAssassin's spamd reads lines of any length; a client could make it
/// buffer gigabytes before deciding. We refuse a line past this bound with
/// `EX_PROTOCOL` instead. spamc's own lines are under 300 bytes.
/// 4 MiB: long enough that a client's 1 MB header line is judged as
/// SpamAssassin judges it (ignored, or a format error).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// The most header lines spamd reads before answering `(too many headers)`.
pub const MAX_HEADERS: usize = 256;

/// A request verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Check,
    Symbols,
    Report,
    ReportIfSpam,
    Skip,
    Ping,
    Process,
    Headers,
    Tell,
}

impl Command {
    /// The verb as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Check => "CHECK",
            Command::Symbols => "SYMBOLS",
            Command::Report => "REPORT",
            Command::ReportIfSpam => "REPORT_IFSPAM",
            Command::Skip => "SKIP",
            Command::Ping => "PING",
            Command::Process => "PROCESS",
            Command::Headers => "HEADERS",
            Command::Tell => "TELL",
        }
    }

    /// Whether the command carries a message to scan.
    pub fn scans(self) -> bool {
        !matches!(self, Command::Skip | Command::Ping | Command::Tell)
    }
}

/// The first line of a request: `VERB SPAMC/version`.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestLine {
    pub command: Command,
    /// The text after `SPAMC/`, as sent.
    pub version_text: String,
    /// Its numeric value, compared the way SpamAssassin compares it.
    pub version: f64,
}

impl RequestLine {
    /// Whether request headers follow (SpamAssassin: only when version > 1.0,
    /// and for SKIP/PING only from 1.5 on; TELL always reads them).
    pub fn has_headers(&self) -> bool {
        match self.command {
            Command::Tell => true,
            Command::Skip | Command::Ping => self.version >= 1.5,
            _ => self.version > 1.0,
        }
    }
}

/// Parse the request line (with or without its trailing CRLF).
///
/// SpamAssassin matches the verb with an unanchored, case-sensitive regex, so
/// `xxPROCESS SPAMC/1.5` is a PROCESS request; we do the same. Anything else
/// is answered with `SPAMD/1.0 76 Bad header line: <line>`.
pub fn parse_request_line(line: &[u8]) -> Result<RequestLine, ProtocolError> {
    let line = strip_eol(line);
    // One char per byte, so the error line echoes the client's bytes exactly.
    let text: String = line.iter().map(|&b| b as char).collect();
    // Order matters: the scanning verbs are tried first, then TELL, then
    // SKIP/PING, exactly as spamd's if/elsif chain does.
    const GROUPS: [&[Command]; 3] = [
        &[
            Command::Process,
            Command::Check,
            Command::Symbols,
            Command::Report,
            Command::Headers,
            Command::ReportIfSpam,
        ],
        &[Command::Tell],
        &[Command::Skip, Command::Ping],
    ];
    for group in GROUPS {
        if let Some((command, version_text)) = find_verb(&text, group) {
            return Ok(RequestLine {
                command,
                version: perl_number(&version_text),
                version_text,
            });
        }
    }
    Err(ProtocolError::bad_header(text))
}

/// Leftmost match of `(V1|V2|...) SPAMC/(.*)`, alternatives tried in order at
/// each start position, as Perl's regex engine does.
fn find_verb(text: &str, verbs: &[Command]) -> Option<(Command, String)> {
    for (start, _) in text.char_indices() {
        let rest = &text[start..];
        for &verb in verbs {
            let name = verb.as_str();
            if let Some(after) = rest.strip_prefix(name)
                && let Some(version) = after.strip_prefix(" SPAMC/")
            {
                return Some((verb, version.to_string()));
            }
        }
    }
    None
}

/// Request headers spamd understands. Names are case-sensitive, as in
/// SpamAssassin: `Content-Length` is not `Content-length` and is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders {
    pub content_length: Option<usize>,
    pub user: Option<String>,
    pub compress_zlib: bool,
    pub message_class: Option<String>,
    pub set_local: bool,
    pub set_remote: bool,
    pub remove_local: bool,
    pub remove_remote: bool,
}

/// What one header line meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderLine {
    /// The blank line that ends the header block.
    End,
    /// A header was read (known or ignored); more may follow.
    More,
}

impl RequestHeaders {
    /// Feed one header line (with or without CRLF).
    pub fn feed(&mut self, line: &[u8]) -> Result<HeaderLine, ProtocolError> {
        let line = strip_crlf(line);
        if line.is_empty() {
            return Ok(HeaderLine::End);
        }
        // spamd: split(/:\s*/, $line, 2)
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(ProtocolError::bad_header(
                "(header not in 'Name: value' format)",
            ));
        };
        let name = &line[..colon];
        let mut value = &line[colon + 1..];
        while let Some((&c, rest)) = value.split_first() {
            if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c) {
                value = rest;
            } else {
                break;
            }
        }
        match name {
            b"Content-length" => {
                if !value.iter().all(u8::is_ascii_digit) {
                    return Err(ProtocolError::bad_header(
                        "(Content-Length contains non-numeric bytes)",
                    ));
                }
                // An empty value is accepted by spamd and means 0.
                let text = std::str::from_utf8(value).unwrap_or("0");
                let n = if text.is_empty() {
                    0
                } else {
                    text.parse::<usize>().map_err(|_| {
                        ProtocolError::bad_header("(Content-Length contains non-numeric bytes)")
                    })?
                };
                self.content_length = Some(n);
            }
            b"User" => {
                if value.iter().any(|&b| b < 0x20) {
                    return Err(ProtocolError::bad_header(
                        "(User header contains control chars)",
                    ));
                }
                self.user = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"Message-class" => {
                // spamd's validity check can never fail; any value is kept.
                self.message_class = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"Set" => {
                let v = value.to_ascii_lowercase();
                self.set_local = contains(&v, b"local");
                self.set_remote = contains(&v, b"remote");
            }
            b"Remove" => {
                let v = value.to_ascii_lowercase();
                self.remove_local = contains(&v, b"local");
                self.remove_remote = contains(&v, b"remote");
            }
            b"Compress" => {
                if contains(&value.to_ascii_lowercase(), b"zlib") {
                    self.compress_zlib = true;
                } else {
                    return Err(ProtocolError::bad_header(format!(
                        "(compression type not supported: {})",
                        String::from_utf8_lossy(value)
                    )));
                }
            }
            _ => {}
        }
        Ok(HeaderLine::More)
    }
}

/// Turn the received body bytes into the message, checking the length the
/// way spamd does. `raw` is everything read after the header block (up to
/// EOF, or up to `content_length` bytes rounded up to a line end).
pub fn decode_body(headers: &RequestHeaders, raw: Vec<u8>) -> Result<Vec<u8>, ProtocolError> {
    decode_body_max(headers, raw, usize::MAX)
}

/// [`decode_body`] with a cap on the inflated size: a few kilobytes of
/// `Compress: zlib` can inflate to gigabytes, so inflating stops past
/// `max` bytes and the request is refused as too large.
pub fn decode_body_max(
    headers: &RequestHeaders,
    raw: Vec<u8>,
    max: usize,
) -> Result<Vec<u8>, ProtocolError> {
    if headers.compress_zlib {
        let Some(expected) = headers.content_length else {
            return Err(ProtocolError::unavailable(
                "Compress requires Content-length header",
            ));
        };
        let compressed = if raw.len() > expected {
            &raw[..expected]
        } else {
            &raw[..]
        };
        let out = inflate(compressed, max)
            .map_err(|e| ProtocolError::unavailable(format!("zlib: {e}")))?;
        if out.len() > max {
            return Err(ProtocolError::bad_header(format!(
                "(message larger than {max} bytes)"
            )));
        }
        return Ok(out);
    }
    if let Some(expected) = headers.content_length
        && raw.len() != expected
    {
        return Err(ProtocolError::bad_header(format!(
            "(Content-Length mismatch: Expected {expected} bytes, got {} bytes)",
            raw.len()
        )));
    }
    Ok(raw)
}

/// Inflate at most `max + 1` bytes (one more shows the cap was passed).
fn inflate(data: &[u8], max: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    let dec = flate2::read::ZlibDecoder::new(data);
    dec.take((max as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| "failed to find end of zlib stream".to_string())?;
    Ok(out)
}

/// Compress a message body for `Compress: zlib` (spamc `-z`).
pub fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// A request as spamc builds it.
#[derive(Debug, Clone, Default)]
pub struct ClientRequest<'a> {
    pub user: Option<&'a str>,
    pub compress: bool,
    pub message_class: Option<&'a str>,
    pub set: Option<&'a str>,
    pub remove: Option<&'a str>,
}

/// Encode a request exactly as spamc 4.0.1 does: verb line, `User:`,
/// `Compress:`, `Content-length:`; for TELL `Message-class:`/`Set:`/`Remove:`
/// come first and `User:` after them; then a blank line, then the (possibly compressed) body. PING and SKIP send just
/// the verb line and a blank line.
pub fn encode_request(command: Command, req: &ClientRequest<'_>, body: &[u8]) -> Vec<u8> {
    let mut out = format!("{} SPAMC/1.5\r\n", command.as_str()).into_bytes();
    if matches!(command, Command::Ping | Command::Skip) {
        out.extend_from_slice(b"\r\n");
        return out;
    }
    // spamc sends User before anything else, except in TELL, where it
    // comes after Message-class/Set/Remove.
    let user_line = req.user.map(|user| format!("User: {user}\r\n"));
    if command != Command::Tell
        && let Some(line) = &user_line
    {
        out.extend_from_slice(line.as_bytes());
    }
    if let Some(class) = req.message_class {
        out.extend_from_slice(format!("Message-class: {class}\r\n").as_bytes());
    }
    if let Some(set) = req.set {
        out.extend_from_slice(format!("Set: {set}\r\n").as_bytes());
    }
    if let Some(remove) = req.remove {
        out.extend_from_slice(format!("Remove: {remove}\r\n").as_bytes());
    }
    if command == Command::Tell
        && let Some(line) = &user_line
    {
        out.extend_from_slice(line.as_bytes());
    }
    let compressed;
    let payload = if req.compress {
        out.extend_from_slice(b"Compress: zlib\r\n");
        compressed = deflate(body);
        &compressed[..]
    } else {
        body
    };
    out.extend_from_slice(format!("Content-length: {}\r\n\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out
}

fn strip_eol(line: &[u8]) -> &[u8] {
    // spamd: s/\r?\n// on the request line (first occurrence only).
    if let Some(pos) = line.iter().position(|&b| b == b'\n') {
        let mut end = pos;
        if end > 0 && line[end - 1] == b'\r' {
            end -= 1;
        }
        let mut v = &line[..end];
        if pos + 1 < line.len() {
            // Bytes after the first newline cannot occur with line reading.
            v = &line[..end];
        }
        return v;
    }
    line
}

fn strip_crlf(line: &[u8]) -> &[u8] {
    // spamd: s/\r\n$// on header lines; a bare LF line keeps its "\n" and
    // is therefore never empty. Treat a lone "\n" as the end of headers too:
    // spamd would wait for more input, which gains nothing.
    if let Some(v) = line.strip_suffix(b"\r\n") {
        return v;
    }
    line.strip_suffix(b"\n").unwrap_or(line)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EX_PROTOCOL, EX_UNAVAILABLE};

    #[test]
    fn request_lines() {
        let r = parse_request_line(b"PROCESS SPAMC/1.5\r\n").unwrap();
        assert_eq!(r.command, Command::Process);
        assert_eq!(r.version, 1.5);
        let r = parse_request_line(b"REPORT_IFSPAM SPAMC/1.2\r\n").unwrap();
        assert_eq!(r.command, Command::ReportIfSpam);
        let r = parse_request_line(b"REPORT SPAMC/1.3\n").unwrap();
        assert_eq!(r.command, Command::Report);
        let r = parse_request_line(b"xxCHECK SPAMC/1.5").unwrap();
        assert_eq!(r.command, Command::Check);
        let r = parse_request_line(b"PING SPAMC/1.2\r\n").unwrap();
        assert_eq!(r.command, Command::Ping);
        assert!(!r.has_headers());
        let r = parse_request_line(b"TELL SPAMC/1.5\r\n").unwrap();
        assert_eq!(r.command, Command::Tell);
    }

    #[test]
    fn bad_request_lines() {
        let e = parse_request_line(b"FOO SPAMC/1.5\r\n").unwrap_err();
        assert_eq!(e.code, EX_PROTOCOL);
        assert_eq!(
            e.status_line(),
            b"SPAMD/1.0 76 Bad header line: FOO SPAMC/1.5\r\n"
        );
        assert!(parse_request_line(b"check SPAMC/1.5\r\n").is_err());
        assert!(parse_request_line(b"CHECK SPAMD/1.5\r\n").is_err());
        assert!(parse_request_line(b"\x00\xff\xfe garbage").is_err());
        assert!(parse_request_line(b"").is_err());
    }

    #[test]
    fn headers() {
        let mut h = RequestHeaders::default();
        assert_eq!(h.feed(b"User: joe\r\n").unwrap(), HeaderLine::More);
        assert_eq!(h.feed(b"Content-length: 12\r\n").unwrap(), HeaderLine::More);
        assert_eq!(h.feed(b"Content-Length: 99\r\n").unwrap(), HeaderLine::More);
        assert_eq!(h.feed(b"X-Whatever:1\r\n").unwrap(), HeaderLine::More);
        assert_eq!(h.feed(b"Set: local, remote\r\n").unwrap(), HeaderLine::More);
        assert_eq!(h.feed(b"\r\n").unwrap(), HeaderLine::End);
        assert_eq!(h.user.as_deref(), Some("joe"));
        assert_eq!(h.content_length, Some(12));
        assert!(h.set_local && h.set_remote && !h.remove_local);
    }

    #[test]
    fn bad_headers() {
        let mut h = RequestHeaders::default();
        let e = h.feed(b"Content-length: 12x\r\n").unwrap_err();
        assert_eq!(
            e.status_line(),
            b"SPAMD/1.0 76 Bad header line: (Content-Length contains non-numeric bytes)\r\n"
        );
        let e = h.feed(b"no colon here\r\n").unwrap_err();
        assert!(e.text.contains("'Name: value'"));
        let e = h.feed(b"User: a\x01b\r\n").unwrap_err();
        assert!(e.text.contains("control chars"));
        let e = h.feed(b"Compress: gzip\r\n").unwrap_err();
        assert!(e.text.contains("compression type not supported: gzip"));
        // A 20-digit length overflows usize on no platform we target but is
        // still numeric; it must be an error, not a panic.
        assert!(
            h.feed(b"Content-length: 999999999999999999999999\r\n")
                .is_err()
        );
    }

    #[test]
    fn body_lengths() {
        let h = RequestHeaders {
            content_length: Some(5),
            ..Default::default()
        };
        assert_eq!(decode_body(&h, b"hello".to_vec()).unwrap(), b"hello");
        let e = decode_body(&h, b"hel".to_vec()).unwrap_err();
        assert_eq!(
            e.status_line(),
            b"SPAMD/1.0 76 Bad header line: (Content-Length mismatch: Expected 5 bytes, got 3 bytes)\r\n"
        );
        let h = RequestHeaders::default();
        assert_eq!(
            decode_body(&h, b"any length".to_vec()).unwrap(),
            b"any length"
        );
    }

    #[test]
    fn zlib_bodies() {
        let packed = deflate(b"Subject: hi\r\n\r\nbody\r\n");
        let h = RequestHeaders {
            content_length: Some(packed.len()),
            compress_zlib: true,
            ..Default::default()
        };
        assert_eq!(
            decode_body(&h, packed.clone()).unwrap(),
            b"Subject: hi\r\n\r\nbody\r\n"
        );
        let no_len = RequestHeaders {
            compress_zlib: true,
            ..Default::default()
        };
        assert_eq!(
            decode_body(&no_len, packed).unwrap_err().code,
            EX_UNAVAILABLE
        );
        let e = decode_body(&h, b"not zlib at all".to_vec()).unwrap_err();
        assert_eq!(e.code, EX_UNAVAILABLE);
    }

    #[test]
    fn encode_matches_spamc() {
        let req = ClientRequest {
            user: Some("joe"),
            ..Default::default()
        };
        assert_eq!(
            encode_request(Command::Check, &req, b"abc"),
            b"CHECK SPAMC/1.5\r\nUser: joe\r\nContent-length: 3\r\n\r\nabc"
        );
        assert_eq!(
            encode_request(Command::Ping, &req, b""),
            b"PING SPAMC/1.5\r\n\r\n"
        );
        let tell = ClientRequest {
            user: Some("joe"),
            message_class: Some("ham"),
            set: Some("local"),
            remove: Some("remote"),
            ..Default::default()
        };
        assert_eq!(
            encode_request(Command::Tell, &tell, b"m"),
            b"TELL SPAMC/1.5\r\nMessage-class: ham\r\nSet: local\r\nRemove: remote\r\nUser: joe\r\nContent-length: 1\r\n\r\nm"
        );
    }
}
