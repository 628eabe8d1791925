//! Charset normalisation with SpamAssassin's `normalize_charset 1` semantics
//! (`Message/Node.pm` `_normalize`): which charset wins, when UTF-8 is tried
//! first, and the Windows-1252 fallbacks that turn unlabeled 8-bit text into
//! the same mojibake SpamAssassin's rules see.

use std::sync::LazyLock;

use encoding_rs::Encoding;
use regex::Regex;

/// Declared as US-ASCII: all-ASCII data is returned untouched.
static ASCII_NAMES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\A(?:(?:US-)?ASCII|ANSI[_ ]?X3\.4-(?:1986|1968)|ISO646-US)\z")
        .unwrap_or_else(|_| never())
});

/// ASCII-compatible charsets: all-ASCII data in them needs no decoding.
static EXTENDED_ASCII_NAMES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\A(?:ISO[ -]?8859(?:-[0-9]{1,2})?|Windows-[0-9]{4}|UTF-?8|(?:KOI8|EUC)-[A-Z]{1,2}|Big5|GBK|GB[ -]?18030(?:-20[0-9][0-9])?)\z",
    )
    .unwrap_or_else(|_| never())
});

/// A constant pattern failed to compile: a programming error caught by the
/// unit tests, never by input. Falls back to a regex that matches nothing.
fn never() -> Regex {
    Regex::new(r"[^\s\S]").unwrap_or_else(|_| unreachable!("trivial regex compiles"))
}

/// A decoder chosen for a declared charset, as Perl's Encode would pick it.
#[derive(Clone, Copy)]
enum Decoder {
    Utf8,
    Windows1252,
    Latin1,
    Ascii,
    Utf7,
    Rs(&'static Encoding),
}

/// Perl's Encode::find_encoding, approximated with WHATWG labels. Labels that
/// WHATWG maps to its "replacement" encoding have no usable decoder.
fn find_decoder(label: &str) -> Option<Decoder> {
    let l = label.trim().to_ascii_lowercase();
    match l.as_str() {
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "ansi_x3.4-1986" | "iso646-us" => {
            return Some(Decoder::Ascii);
        }
        "latin1" | "iso_8859-1" | "iso8859-1" | "l1" | "iso-ir-100" | "csisolatin1" | "ibm819"
        | "cp819" | "iso_8859-1:1987" | "iso-8859-1" => return Some(Decoder::Latin1),
        "utf-7" | "utf7" | "unicode-1-1-utf-7" | "x-unicode-2-0-utf-7" => {
            return Some(Decoder::Utf7);
        }
        "utf8" | "utf-8" => return Some(Decoder::Utf8),
        _ => {}
    }
    let enc = Encoding::for_label_no_replacement(l.as_bytes())?;
    if enc == encoding_rs::UTF_8 {
        Some(Decoder::Utf8)
    } else if enc == encoding_rs::WINDOWS_1252 {
        Some(Decoder::Windows1252)
    } else {
        Some(Decoder::Rs(enc))
    }
}

/// Windows-1252 as Perl's Encode has it: five bytes are unmapped, which is an
/// error when strict and U+FFFD otherwise (WHATWG maps them to C1 controls).
fn decode_windows1252(data: &[u8], strict: bool) -> Option<String> {
    let mut out = String::with_capacity(data.len() + data.len() / 4);
    for &b in data {
        match b {
            0x81 | 0x8d | 0x8f | 0x90 | 0x9d => {
                if strict {
                    return None;
                }
                out.push('\u{fffd}');
            }
            0x80..=0x9f => {
                let one = [b];
                let (s, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&one);
                out.push_str(&s);
            }
            _ => out.push(char::from(b)),
        }
    }
    Some(out)
}

fn decode_with(dec: Decoder, data: &[u8], strict: bool) -> Option<String> {
    match dec {
        Decoder::Utf8 => {
            if strict {
                std::str::from_utf8(data).ok().map(str::to_owned)
            } else {
                Some(String::from_utf8_lossy(data).into_owned())
            }
        }
        Decoder::Windows1252 => decode_windows1252(data, strict),
        Decoder::Latin1 => Some(data.iter().map(|&b| char::from(b)).collect()),
        Decoder::Ascii => {
            if strict && data.iter().any(|&b| b >= 0x80) {
                return None;
            }
            Some(
                data.iter()
                    .map(|&b| if b < 0x80 { char::from(b) } else { '\u{fffd}' })
                    .collect(),
            )
        }
        Decoder::Utf7 => {
            let f = mail_parser::decoders::charsets::map::charset_decoder(b"utf-7")?;
            Some(f(data))
        }
        Decoder::Rs(enc) => {
            if strict {
                enc.decode_without_bom_handling_and_without_replacement(data)
                    .map(|c| c.into_owned())
            } else {
                Some(enc.decode_without_bom_handling(data).0.into_owned())
            }
        }
    }
}

/// Guess the byte order of BOM-less UTF-16 from where the zero bytes sit
/// next to spaces and which half of each pair carries more bits.
fn detect_utf16(data: &[u8]) -> Option<&'static Encoding> {
    if data.starts_with(&[0xff, 0xfe]) || data.starts_with(&[0xfe, 0xff]) {
        return None;
    }
    let (mut le, mut be) = (0u32, 0u32);
    let (mut even, mut odd) = (0u64, 0u64);
    let mut i = 0;
    while i < data.len() {
        let a = data[i];
        let b = data.get(i + 1).copied().unwrap_or(0);
        even += u64::from(a >> 4) + u64::from(a & 0xf);
        odd += u64::from(b >> 4) + u64::from(b & 0xf);
        if a == 0x20 && b == 0 {
            le += 1;
        }
        if a == 0 && b == 0x20 {
            be += 1;
        }
        i += 2;
    }
    if even > odd * 4 {
        le += 1;
    }
    if odd * 4 > even {
        be += 1;
    }
    match le.cmp(&be) {
        std::cmp::Ordering::Greater => Some(encoding_rs::UTF_16LE),
        std::cmp::Ordering::Less => Some(encoding_rs::UTF_16BE),
        std::cmp::Ordering::Equal => None,
    }
}

/// Bytes Windows-1252 may guess at before the last resort: ASCII, NBSP, SHY,
/// common punctuation and Latin-1 letters.
fn w1252_plausible(b: u8) -> bool {
    matches!(b, 0x00..=0x7f | 0xa0 | 0xa9 | 0xad | 0x82 | 0x84 | 0x85 | 0x91..=0x97 | 0x99
        | 0xc0..=0xd6 | 0xd8..=0xde | 0xe0..=0xf6 | 0xf8..=0xfe)
}

/// Decode `data` declared as `declared` to UTF-8 text. `insist` (used for
/// RFC 2047 words) decodes by the declared charset with replacement instead
/// of trying UTF-8 first and failing over to Windows-1252.
pub(crate) fn normalize(data: &[u8], declared: &str, insist: bool) -> String {
    normalize_flagged(data, declared, insist).0
}

/// `normalize`, also telling whether the text was decoded (a Perl string
/// with the UTF-8 flag) or returned as the original all-ASCII octets. The
/// difference shows in SpamAssassin's body text: when no part was decoded,
/// characters from HTML entities stay single Latin-1 bytes.
pub(crate) fn normalize_flagged(data: &[u8], declared: &str, insist: bool) -> (String, bool) {
    let eight_bit = data.iter().any(|&b| b >= 0x80);
    if !eight_bit && (ASCII_NAMES.is_match(declared) || EXTENDED_ASCII_NAMES.is_match(declared)) {
        return (ascii_string(data), false);
    }
    let mut tried_utf8 = false;
    if eight_bit && !insist {
        if let Ok(s) = std::str::from_utf8(data) {
            return (s.to_owned(), true);
        }
        tried_utf8 = true;
    }
    let mut rv: Option<String> = None;
    let is_ascii_label = {
        let l = declared.to_ascii_lowercase();
        l == "ascii" || l == "us-ascii"
    };
    if is_ascii_label && !insist {
        // Nothing to decode with: fall through to the guesses below.
    } else if is_utf16_label(declared) {
        if let Some(enc) = detect_utf16(data) {
            rv = enc
                .decode_without_bom_handling_and_without_replacement(data)
                .map(|c| c.into_owned());
        }
    } else {
        let l = declared.to_ascii_lowercase();
        let dec = if matches!(
            l.as_str(),
            "iso-8859-1" | "iso8859-1" | "windows-1252" | "cp1252"
        ) {
            Some(Decoder::Windows1252)
        } else if l == "utf-8" || l == "utf8" {
            Some(Decoder::Utf8)
        } else {
            find_decoder(declared)
        };
        match dec {
            None => {}
            Some(Decoder::Utf8) if tried_utf8 => {}
            Some(d) => rv = decode_with(d, data, !insist),
        }
    }
    if rv.is_none() && !eight_bit {
        return (ascii_string(data), false);
    }
    if rv.is_none() && data.iter().all(|&b| w1252_plausible(b)) {
        rv = decode_windows1252(data, true);
    }
    match rv {
        Some(s) => (s, true),
        None => (decode_windows1252(data, false).unwrap_or_default(), true),
    }
}

/// `^UTF[ -]?16`, case-insensitive.
fn is_utf16_label(l: &str) -> bool {
    let l = l.to_ascii_lowercase();
    l.starts_with("utf16") || l.starts_with("utf-16") || l.starts_with("utf 16")
}

/// All-ASCII bytes as a string (NULs and controls included).
fn ascii_string(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_tried_first() {
        assert_eq!(normalize("é".as_bytes(), "iso-8859-1", false), "é");
        assert_eq!(normalize(b"caf\xe9", "iso-8859-1", false), "café");
    }

    #[test]
    fn windows1252_fallbacks() {
        assert_eq!(
            normalize(b"\x93x\x94", "us-ascii", false),
            "\u{201c}x\u{201d}"
        );
        // 0x81 is unmapped in Perl's cp1252: the last resort gives U+FFFD.
        assert_eq!(normalize(b"a\x81b", "bogus", false), "a\u{fffd}b");
    }

    #[test]
    fn japanese() {
        let sjis = b"\x93\xfa\x96\x7b";
        assert_eq!(normalize(sjis, "shift_jis", false), "日本");
        let jis = b"\x1b$BF|K\\\x1b(B";
        assert_eq!(normalize(jis, "iso-2022-jp", false), "日本");
        let euc = b"\xc6\xfc\xcb\xdc";
        assert_eq!(normalize(euc, "euc-jp", false), "日本");
    }

    #[test]
    fn insist_uses_declared() {
        assert_eq!(normalize(b"\xe9", "us-ascii", true), "\u{fffd}");
        assert_eq!(normalize(b"\xe9", "iso-8859-1", true), "é");
    }
}
