//! Header fields as SpamAssassin stores them (`Message/Node.pm` `header`,
//! `_decode_header`): the raw value kept as written (folding included), the
//! decoded value unfolded, trimmed and RFC 2047-decoded to UTF-8.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::charset::normalize;
use super::decode::qp_decode;

/// Longest header name SpamAssassin keeps (`MAX_HEADER_KEY_LENGTH`).
pub(crate) const MAX_KEY: usize = 256;
/// Longest header value SpamAssassin keeps (`MAX_HEADER_VALUE_LENGTH`).
pub(crate) const MAX_VALUE: usize = 8192;
/// Cap on the size of the `ALL` pseudo-header (`MAX_HEADER_LENGTH`).
pub(crate) const MAX_ALL: usize = 65536;

/// One RFC 2047 encoded-word: charset, B/Q, payload.
static ENCODED_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)=\?([A-Za-z0-9*_-]+)\?([bqBQ])\?([^?]*)\?=")
        .unwrap_or_else(|_| unreachable!("constant regex"))
});

/// One header field of a message or MIME part.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The name as written (trailing blanks before the colon removed).
    pub name: String,
    /// Lowercased name, the lookup key.
    pub key: String,
    /// Value after the colon as SpamAssassin keeps it: folding and the final
    /// newline included, CRLF already squashed to LF.
    pub raw: Vec<u8>,
    /// Unfolded, trimmed, RFC 2047-decoded UTF-8 value.
    pub decoded: String,
}

/// The header fields of one node, in order, duplicates kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct Headers {
    pub fields: Vec<Field>,
}

impl Headers {
    /// Store one field the way `Node::header($key, $value)` does.
    pub fn push(&mut self, name: &[u8], raw: Vec<u8>) {
        let name = String::from_utf8_lossy(name).into_owned();
        let key = name.to_ascii_lowercase();
        let decoded = decode_field(&unfold_trim(&raw), &key);
        self.fields.push(Field {
            name,
            key,
            raw,
            decoded,
        });
    }

    /// Every instance of `name` (case-insensitive), in order.
    pub fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Field> + 'a {
        let key = name.to_ascii_lowercase();
        self.fields.iter().filter(move |f| f.key == key)
    }

    /// Decoded value of the last instance (SpamAssassin's scalar `header`).
    pub fn last(&self, name: &str) -> Option<&str> {
        self.all(name).last().map(|f| f.decoded.as_str())
    }

    /// Drop every field whose name starts with `prefix` (lowercase).
    pub fn remove_prefix(&mut self, prefix: &str) {
        self.fields.retain(|f| !f.key.starts_with(prefix));
    }
}

/// Perl's `\s` on bytes.
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Fold runs `\n[ \t]+` into one space, then trim whitespace at both ends.
fn unfold_trim(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\n' && i + 1 < raw.len() && matches!(raw[i + 1], b' ' | b'\t') {
            out.push(b' ');
            i += 1;
            while i < raw.len() && matches!(raw[i], b' ' | b'\t') {
                i += 1;
            }
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    trim(&out).to_vec()
}

/// Trim Perl whitespace at both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Headers whose encoded-words SpamAssassin leaves alone.
fn keeps_encoded_words(key: &str) -> bool {
    matches!(
        key,
        "received"
            | "message-id"
            | "resent-message-id"
            | "date"
            | "resent-date"
            | "mime-version"
            | "references"
            | "in-reply-to"
    ) || key.starts_with("list-")
}

/// `_decode_header`: drop line breaks, make 8-bit text UTF-8 (or guess
/// Windows-1252), then decode RFC 2047 words unless the header is exempt.
pub(crate) fn decode_field(value: &[u8], key: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let mut body: Vec<u8> = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        if value[i] == b'\r' && value.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else if value[i] == b'\n' {
            i += 1;
        } else {
            body.push(value[i]);
            i += 1;
        }
    }
    let text = if body.iter().any(|&b| b >= 0x80)
        || super::charset::has_raw_jis(&body)
        || (!keeps_encoded_words(key)
            && !ENCODED_WORD.is_match(&body)
            && super::charset::has_raw_utf7(&body))
    {
        normalize(&body, "UTF-8", false)
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    if keeps_encoded_words(key) || !text.contains("=?") {
        return text;
    }
    decode_encoded_words(text.as_bytes())
}

/// Decode RFC 2047 words. Whitespace between adjacent words is dropped, and
/// consecutive words in one charset are joined before charset decoding, so a
/// multi-byte character split across two words survives.
pub(crate) fn decode_encoded_words(text: &[u8]) -> String {
    // Pass 1: remove whitespace runs that separate two encoded-words.
    let matches: Vec<_> = ENCODED_WORD.find_iter(text).collect();
    let mut joined = Vec::with_capacity(text.len());
    let mut pos = 0;
    for (n, m) in matches.iter().enumerate() {
        joined.extend_from_slice(&text[pos..m.end()]);
        pos = m.end();
        if let Some(next) = matches.get(n + 1) {
            let gap = &text[m.end()..next.start()];
            if !gap.is_empty() && gap.iter().all(|&b| is_space(b)) {
                pos = next.start();
            }
        }
    }
    joined.extend_from_slice(&text[pos..]);

    // Pass 2: split into sections of one charset ("" = plain text).
    let mut sections: Vec<(Vec<u8>, String)> = Vec::new();
    let mut i = 0;
    while i < joined.len() {
        let (piece, charset, next) = match ENCODED_WORD.captures_at(&joined, i) {
            Some(c) if c.get(0).is_some_and(|m| m.start() == i) => {
                let whole = c.get(0).map_or(i + 1, |m| m.end());
                let cs = c
                    .get(1)
                    .map(|m| String::from_utf8_lossy(m.as_bytes()).to_ascii_lowercase())
                    .unwrap_or_default();
                let q = c
                    .get(2)
                    .is_some_and(|m| m.as_bytes().eq_ignore_ascii_case(b"q"));
                let data = c.get(3).map_or(&[][..], |m| m.as_bytes());
                let bytes = if q {
                    let underscored: Vec<u8> = data
                        .iter()
                        .flat_map(|&b| if b == b'_' { b"=20".to_vec() } else { vec![b] })
                        .collect();
                    qp_decode(&underscored)
                } else {
                    super::decode::base64_decode(data)
                };
                (bytes, cs, whole)
            }
            _ => {
                let end = if joined[i] == b'=' {
                    i + 1
                } else {
                    joined[i..]
                        .iter()
                        .position(|&b| b == b'=')
                        .map_or(joined.len(), |p| i + p)
                };
                (joined[i..end].to_vec(), String::new(), end)
            }
        };
        match sections.last_mut() {
            Some(last) if last.1 == charset => last.0.extend_from_slice(&piece),
            _ => sections.push((piece, charset)),
        }
        i = next;
    }
    let mut out = String::with_capacity(joined.len());
    for (bytes, charset) in sections {
        if charset.is_empty() {
            out.push_str(&String::from_utf8_lossy(&bytes));
        } else {
            // RFC 2231 language suffix: `utf-8*en`.
            let cs = charset.split('*').next().unwrap_or("");
            out.push_str(&normalize(&bytes, cs, true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words() {
        assert_eq!(
            decode_encoded_words(b"=?ISO-2022-JP?B?GyRCJEckOSEjGyhC?= hello"),
            "です。 hello"
        );
        assert_eq!(
            decode_encoded_words(b"=?utf-8?Q?a_b?= =?utf-8?Q?c?="),
            "a bc"
        );
        assert_eq!(decode_encoded_words(b"x =?bogus?Q?=E9?= y"), "x é y");
    }

    #[test]
    fn exempt_headers_stay_encoded() {
        assert_eq!(
            decode_field(b"<=?utf-8?Q?a?=@x>", "message-id"),
            "<=?utf-8?Q?a?=@x>"
        );
        assert_eq!(decode_field(b"=?utf-8?Q?a?=", "subject"), "a");
    }

    fn b64(data: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in data.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(char::from(T[((n >> (18 - 6 * k)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn q(data: &[u8]) -> String {
        data.iter().map(|b| format!("={b:02X}")).collect()
    }

    #[test]
    fn split_encoded_words() {
        let text = "【重要】お客様のアカウント確認";
        for (label, e) in [
            ("UTF-8", encoding_rs::UTF_8),
            ("Shift_JIS", encoding_rs::SHIFT_JIS),
            ("EUC-JP", encoding_rs::EUC_JP),
            ("GB2312", encoding_rs::GBK),
        ] {
            let (bytes, _, _) = e.encode(text);
            // Cut inside a character (odd offsets split two-byte ones).
            let (a, b) = bytes.split_at((bytes.len() / 2) | 1);
            for header in [
                format!("=?{label}?B?{}?= =?{label}?B?{}?=", b64(a), b64(b)),
                format!("=?{label}?Q?{}?=\n =?{label}?q?{}?=", q(a), q(b)),
                format!("=?{label}?B?{}?= =?{label}?Q?{}?=", b64(a), q(b)),
            ] {
                assert_eq!(decode_field(header.as_bytes(), "subject"), text, "{header}");
                let _s = super::super::charset::detect_scope(true);
                assert_eq!(decode_field(header.as_bytes(), "subject"), text, "{header}");
            }
        }
    }

    #[test]
    fn detection_in_headers() {
        let _s = super::super::charset::detect_scope(true);
        let text = "お客様のアカウントは停止されました";
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        let (euc, _, _) = encoding_rs::EUC_JP.encode(text);
        let (jis, _, _) = encoding_rs::ISO_2022_JP.encode(text);
        // Raw 8-bit and raw 7-bit ISO-2022-JP header text.
        assert_eq!(decode_field(&sjis, "subject"), text);
        assert_eq!(decode_field(&euc, "subject"), text);
        assert_eq!(decode_field(&jis, "subject"), text);
        // Encoded words with a wrong or unknown charset.
        for label in [
            "iso-8859-1",
            "us-ascii",
            "x-unknown",
            "iso-2022-jp",
            "utf-8",
        ] {
            let h = format!("=?{label}?B?{}?=", b64(&sjis));
            assert_eq!(decode_field(h.as_bytes(), "subject"), text, "{label}");
        }
        let h = format!("\"=?x-bogus?Q?{}?=\" <a@b.example>", q(&euc));
        assert_eq!(
            decode_field(h.as_bytes(), "from"),
            format!("\"{text}\" <a@b.example>")
        );
        drop(_s);
        // Without detection: SpamAssassin's mojibake.
        assert_ne!(decode_field(&sjis, "subject"), text);
    }

    #[test]
    fn folding() {
        let mut h = Headers::default();
        h.push(b"Subject", b" a\n\tb  \n".to_vec());
        assert_eq!(h.last("SUBJECT"), Some("a b"));
    }
}
