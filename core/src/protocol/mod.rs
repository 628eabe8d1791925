//! The SPAMC/SPAMD wire protocol (1.0 through 1.5), as SpamAssassin 4.0.1 speaks it.
//!
//! Parsing and encoding only: no sockets, no runtime. The daemon feeds request
//! lines in and writes the bytes this module returns; spamc does the reverse.
//! SpamAssassin's spamd is line oriented (`getline`), so the request side here
//! is too: the caller reads one `\n`-terminated line at a time.

mod codes;
mod request;
mod response;

pub use codes::*;
pub use request::*;
pub use response::*;

/// A protocol-level failure that spamd reports on the wire and then closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", String::from_utf8_lossy(&self.status_line()))]
pub struct ProtocolError {
    /// sysexits code sent in the status line (76, 69 or 79 in practice).
    pub code: i32,
    /// The text after the code, e.g. `Bad header line: (EOF during headers)`.
    pub text: String,
}

impl ProtocolError {
    /// `EX_PROTOCOL`: `SPAMD/1.0 76 Bad header line: <detail>`.
    pub fn bad_header(detail: impl Into<String>) -> Self {
        ProtocolError {
            code: EX_PROTOCOL,
            text: format!("Bad header line: {}", detail.into()),
        }
    }

    /// `EX_UNAVAILABLE`: `SPAMD/1.0 69 Service Unavailable: <detail>`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ProtocolError {
            code: EX_UNAVAILABLE,
            text: format!("Service Unavailable: {}", detail.into()),
        }
    }

    /// `EX_TIMEOUT`: `SPAMD/1.0 79 Timeout: <detail>`.
    pub fn timeout(detail: impl Into<String>) -> Self {
        ProtocolError {
            code: EX_TIMEOUT,
            text: format!("Timeout: {}", detail.into()),
        }
    }

    /// The single status line spamd sends for this error (CRLF included).
    /// Characters up to U+00FF are written as single bytes: texts that echo
    /// client input carry it one char per byte.
    pub fn status_line(&self) -> Vec<u8> {
        let mut out = format!("SPAMD/1.0 {} ", self.code).into_bytes();
        for c in self.text.chars() {
            match u8::try_from(u32::from(c)) {
                Ok(b) => out.push(b),
                Err(_) => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Perl's numeric value of a string: the longest leading decimal number,
/// 0 when there is none. SpamAssassin compares protocol versions this way
/// (`$version >= 1.3` on the text after `SPAMC/`).
pub fn perl_number(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if end < b.len() && (b[end] == b'+' || b[end] == b'-') {
        end += 1;
    }
    let digits_start = end;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start || (end == digits_start + 1 && b[digits_start] == b'.') {
        return 0.0;
    }
    t[..end].parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_numbers() {
        assert_eq!(perl_number("1.5"), 1.5);
        assert_eq!(perl_number("1.5junk"), 1.5);
        assert_eq!(perl_number(""), 0.0);
        assert_eq!(perl_number("abc"), 0.0);
        assert_eq!(perl_number("2"), 2.0);
        assert_eq!(perl_number("."), 0.0);
    }

    #[test]
    fn error_lines_echo_bytes() {
        let e = crate::protocol::parse_request_line(b"\xff\x00junk\r\n").unwrap_err();
        assert_eq!(
            e.status_line(),
            b"SPAMD/1.0 76 Bad header line: \xff\x00junk\r\n"
        );
    }

    #[test]
    fn error_lines() {
        assert_eq!(
            ProtocolError::bad_header("(EOF during headers)").status_line(),
            b"SPAMD/1.0 76 Bad header line: (EOF during headers)\r\n"
        );
        assert_eq!(
            ProtocolError::unavailable("x").status_line(),
            b"SPAMD/1.0 69 Service Unavailable: x\r\n"
        );
    }
}
