//! Responses: spamd -> spamc.

use super::{Command, EX_OK};

/// The verdict summary carried in the `Spam:` response header.
#[derive(Debug, Clone, PartialEq)]
pub struct SpamHeader {
    pub is_spam: bool,
    /// Score as displayed (`%2.1f`, with the ham-below-threshold rule applied).
    pub score: String,
    /// Threshold as displayed (`%2.1f`).
    pub threshold: String,
}

/// Encode a successful reply to a scanning command, byte for byte as
/// SpamAssassin 4.0.1's spamd writes it for the client's protocol version.
///
/// `body` is: the rewritten message for PROCESS, the header block for
/// HEADERS, the report for REPORT/REPORT_IFSPAM (ignored for ham under
/// REPORT_IFSPAM), the comma-joined rule names for SYMBOLS, and unused for
/// CHECK.
pub fn encode_scan_response(
    command: Command,
    version: f64,
    spam: &SpamHeader,
    body: &[u8],
) -> Vec<u8> {
    let flag = match (command, spam.is_spam) {
        (Command::ReportIfSpam, true) => "Yes",
        (Command::ReportIfSpam, false) => "No",
        (_, true) => "True",
        (_, false) => "False",
    };
    let spam_hdr = format!("Spam: {flag} ; {} / {}", spam.score, spam.threshold);
    let ok = format!("SPAMD/1.1 {EX_OK} EX_OK\r\n");
    let mut out = Vec::with_capacity(body.len() + 128);
    match command {
        Command::Process | Command::Headers => {
            if version >= 1.3 {
                out.extend_from_slice(ok.as_bytes());
                out.extend_from_slice(
                    format!("Content-length: {}\r\n{spam_hdr}\r\n\r\n", body.len()).as_bytes(),
                );
            } else if version >= 1.2 {
                out.extend_from_slice(ok.as_bytes());
                out.extend_from_slice(format!("Content-length: {}\r\n\r\n", body.len()).as_bytes());
            } else {
                out.extend_from_slice(b"SPAMD/1.0 0 EX_OK\r\n");
            }
            out.extend_from_slice(body);
        }
        Command::Check => {
            out.extend_from_slice(ok.as_bytes());
            out.extend_from_slice(format!("{spam_hdr}\r\n\r\n").as_bytes());
        }
        _ => {
            let mut payload: Vec<u8> = match command {
                Command::ReportIfSpam if !spam.is_spam => Vec::new(),
                _ => body.to_vec(),
            };
            if command == Command::Symbols && version < 1.3 {
                payload.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(ok.as_bytes());
            if version >= 1.3 {
                out.extend_from_slice(
                    format!("Content-length: {}\r\n{spam_hdr}\r\n\r\n", payload.len()).as_bytes(),
                );
            } else {
                out.extend_from_slice(format!("{spam_hdr}\r\n\r\n").as_bytes());
            }
            out.extend_from_slice(&payload);
        }
    }
    out
}

/// The reply to PING.
pub fn encode_pong() -> Vec<u8> {
    b"SPAMD/1.5 0 PONG\r\n".to_vec()
}

/// The reply to TELL: status, `DidSet:`/`DidRemove:` when something was done,
/// then the extra blank pair spamd 4.0.1 sends.
pub fn encode_tell_response(did_set: &[&str], did_remove: &[&str]) -> Vec<u8> {
    let mut out = format!("SPAMD/1.1 {EX_OK} EX_OK\r\n");
    if !did_set.is_empty() {
        out.push_str(&format!("DidSet: {}\r\n", did_set.join(",")));
    }
    if !did_remove.is_empty() {
        out.push_str(&format!("DidRemove: {}\r\n", did_remove.join(",")));
    }
    out.push_str("\r\n\r\n");
    out.into_bytes()
}

/// A parsed spamd reply, as spamc sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Text after `SPAMD/` in the status line (`1.1`, `1.5`, `1.0`).
    pub version: String,
    /// The numeric code in the status line.
    pub code: i32,
    /// The rest of the status line (`EX_OK`, `PONG`, an error text).
    pub message: String,
    /// `Spam:` header: (is_spam, score, threshold).
    pub spam: Option<(bool, f64, f64)>,
    pub content_length: Option<usize>,
    pub did_set: Option<String>,
    pub did_remove: Option<String>,
    /// Everything after the header block.
    pub body: Vec<u8>,
}

/// Why a reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("spamd response has no status line")]
    NoStatusLine,
    #[error("spamd response status line is malformed: {0}")]
    BadStatusLine(String),
    #[error("spamd response header is malformed: {0}")]
    BadHeader(String),
    #[error("spamd response ended before its header block did")]
    TruncatedHeaders,
    #[error("spamd response body is {got} bytes, Content-length said {expected}")]
    LengthMismatch { expected: usize, got: usize },
}

/// Parse a complete reply (everything read until EOF).
///
/// A status line alone (PONG, or an error line) is a complete reply. A reply
/// with code 0 must carry a terminated header block; a body shorter or
/// longer than `Content-length` is an error, as in libspamc.
pub fn parse_response(bytes: &[u8]) -> Result<Response, ResponseError> {
    let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
        return Err(ResponseError::NoStatusLine);
    };
    let status = trim_cr(&bytes[..nl]);
    let status = std::str::from_utf8(status)
        .map_err(|_| ResponseError::BadStatusLine(String::from_utf8_lossy(status).into_owned()))?;
    let bad = || ResponseError::BadStatusLine(status.to_string());
    let rest = status.strip_prefix("SPAMD/").ok_or_else(bad)?;
    let (version, rest) = rest.split_once(' ').ok_or_else(bad)?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    let (code, message) = match rest.split_once(' ') {
        Some((c, m)) => (c, m),
        None => (rest, ""),
    };
    let code: i32 = code.parse().map_err(|_| bad())?;
    let mut resp = Response {
        version: version.to_string(),
        code,
        message: message.to_string(),
        spam: None,
        content_length: None,
        did_set: None,
        did_remove: None,
        body: Vec::new(),
    };
    let mut pos = nl + 1;
    if pos >= bytes.len() {
        return Ok(resp);
    }
    loop {
        let Some(off) = bytes[pos..].iter().position(|&b| b == b'\n') else {
            return Err(ResponseError::TruncatedHeaders);
        };
        let line = trim_cr(&bytes[pos..pos + off]);
        pos += off + 1;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| ResponseError::BadHeader(text.to_string()))?;
        let value = value.trim();
        match name {
            "Content-length" => {
                resp.content_length = Some(
                    value
                        .parse()
                        .map_err(|_| ResponseError::BadHeader(text.to_string()))?,
                );
            }
            "Spam" => {
                resp.spam = Some(
                    parse_spam_value(value)
                        .ok_or_else(|| ResponseError::BadHeader(text.to_string()))?,
                )
            }
            "DidSet" => resp.did_set = Some(value.to_string()),
            "DidRemove" => resp.did_remove = Some(value.to_string()),
            _ => {}
        }
    }
    resp.body = bytes[pos..].to_vec();
    if let Some(expected) = resp.content_length
        && expected != resp.body.len()
    {
        return Err(ResponseError::LengthMismatch {
            expected,
            got: resp.body.len(),
        });
    }
    Ok(resp)
}

/// `True ; 15.2 / 5.0` (also `Yes`/`No`) -> (is_spam, score, threshold).
fn parse_spam_value(v: &str) -> Option<(bool, f64, f64)> {
    let (flag, nums) = v.split_once(';')?;
    let is_spam = match flag.trim() {
        "True" | "Yes" => true,
        "False" | "No" => false,
        _ => return None,
    };
    let (score, threshold) = nums.split_once('/')?;
    Some((
        is_spam,
        score.trim().parse().ok()?,
        threshold.trim().parse().ok()?,
    ))
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spam() -> SpamHeader {
        SpamHeader {
            is_spam: true,
            score: "1000.0".into(),
            threshold: "5.0".into(),
        }
    }

    #[test]
    fn check_has_no_length() {
        assert_eq!(
            encode_scan_response(Command::Check, 1.5, &spam(), b""),
            b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n"
        );
    }

    #[test]
    fn symbols_by_version() {
        assert_eq!(
            encode_scan_response(Command::Symbols, 1.5, &spam(), b"GTUBE,NO_RECEIVED"),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 17\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE,NO_RECEIVED"
        );
        assert_eq!(
            encode_scan_response(Command::Symbols, 1.2, &spam(), b"GTUBE"),
            b"SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nGTUBE\r\n"
        );
    }

    #[test]
    fn process_by_version() {
        assert_eq!(
            encode_scan_response(Command::Process, 1.5, &spam(), b"msg"),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nmsg"
        );
        assert_eq!(
            encode_scan_response(Command::Process, 1.2, &spam(), b"msg"),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\n\r\nmsg"
        );
        assert_eq!(
            encode_scan_response(Command::Process, 1.0, &spam(), b"msg"),
            b"SPAMD/1.0 0 EX_OK\r\nmsg"
        );
    }

    #[test]
    fn report_ifspam_on_ham() {
        let ham = SpamHeader {
            is_spam: false,
            score: "0.3".into(),
            threshold: "5.0".into(),
        };
        assert_eq!(
            encode_scan_response(Command::ReportIfSpam, 1.5, &ham, b"ignored"),
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: No ; 0.3 / 5.0\r\n\r\n"
        );
    }

    #[test]
    fn tell_reply() {
        assert_eq!(
            encode_tell_response(&["local"], &[]),
            b"SPAMD/1.1 0 EX_OK\r\nDidSet: local\r\n\r\n\r\n"
        );
    }

    #[test]
    fn parse_replies() {
        let r = parse_response(
            b"SPAMD/1.1 0 EX_OK\r\nContent-length: 3\r\nSpam: True ; 1000.0 / 5.0\r\n\r\nmsg",
        )
        .unwrap();
        assert_eq!(r.code, 0);
        assert_eq!(r.spam, Some((true, 1000.0, 5.0)));
        assert_eq!(r.body, b"msg");
        let r = parse_response(b"SPAMD/1.5 0 PONG\r\n").unwrap();
        assert_eq!(r.message, "PONG");
        let r = parse_response(b"SPAMD/1.0 76 Bad header line: x\r\n").unwrap();
        assert_eq!(r.code, 76);
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\n\r\nmsg").is_err());
        assert!(parse_response(b"SPAMD/1.1 0 EX_OK\r\nSpam: Maybe ; 1 / 2\r\n\r\n").is_err());
    }
}
