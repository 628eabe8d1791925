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
    /// An ISO-8859 table WHATWG replaces by its Windows superset: the same
    /// except that 0x80-0x9F are C1 controls.
    IsoC1(&'static Encoding),
    /// Perl's strict GB2312 (EUC-CN): GBK-only sequences are errors.
    Gb2312,
    /// Perl's strict Shift_JIS (JIS X 0208): CP932 extensions are errors.
    ShiftJis,
    /// Perl's strict EUC-KR (KS X 1001): CP949 extensions are errors.
    EucKr,
}

/// Perl's Encode::find_encoding for the labels mail uses, with Encode's
/// aliases. Labels Perl does not know get no decoder (even where WHATWG has
/// one, e.g. "unicode"), so the Windows-1252 fallbacks apply as in
/// SpamAssassin.
fn find_decoder(label: &str) -> Option<Decoder> {
    let mut l = label.trim().to_ascii_lowercase();
    if let Some(stem) = l.strip_suffix("_charset") {
        l = stem.to_owned();
    }
    let rs = |name: &str| Encoding::for_label(name.as_bytes()).map(Decoder::Rs);
    // ISO-8859-N in its spellings: iso-8859-2, iso8859-2, iso_8859-2, ...
    let iso = l
        .strip_prefix("iso")
        .map(|r| r.trim_start_matches(['-', '_', ' ']))
        .and_then(|r| r.strip_prefix("8859"))
        .map(|r| r.trim_start_matches(['-', '_', ' ']));
    if let Some(n) = iso.and_then(|n| n.parse::<u32>().ok()) {
        return match n {
            1 => Some(Decoder::Latin1),
            9 => Some(Decoder::IsoC1(encoding_rs::WINDOWS_1254)),
            11 => Some(Decoder::IsoC1(encoding_rs::WINDOWS_874)),
            2..=8 | 10 | 13..=16 => rs(&format!("iso-8859-{n}")),
            _ => None,
        };
    }
    if let Some(n) = l.strip_prefix("latin").and_then(|n| n.parse::<u32>().ok()) {
        return match n {
            1 => Some(Decoder::Latin1),
            2 => rs("iso-8859-2"),
            3 => rs("iso-8859-3"),
            4 => rs("iso-8859-4"),
            5 => Some(Decoder::IsoC1(encoding_rs::WINDOWS_1254)),
            6 => rs("iso-8859-10"),
            7 => rs("iso-8859-13"),
            8 => rs("iso-8859-14"),
            9 => rs("iso-8859-15"),
            10 => rs("iso-8859-16"),
            _ => None,
        };
    }
    let win = l
        .strip_prefix("windows-")
        .or_else(|| l.strip_prefix("windows"))
        .or_else(|| l.strip_prefix("cp"))
        .or_else(|| l.strip_prefix("win"));
    if let Some(n) = win.and_then(|n| n.parse::<u32>().ok()) {
        return match n {
            1252 => Some(Decoder::Windows1252),
            1250 | 1251 | 1253..=1258 | 874 => rs(&format!("windows-{n}")),
            932 => rs("shift_jis"),
            936 => rs("gbk"),
            949 => rs("euc-kr"),
            950 => rs("big5"),
            866 => rs("ibm866"),
            _ => None,
        };
    }
    match l.as_str() {
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "ansi_x3.4-1986" | "iso646-us" | "us" => {
            Some(Decoder::Ascii)
        }
        "l1" | "iso-ir-100" | "ibm819" => Some(Decoder::Latin1),
        "utf-7" | "utf7" | "unicode-1-1-utf-7" => Some(Decoder::Utf7),
        "utf8" | "utf-8" | "unicode-1-1-utf-8" | "utf-8-strict" => Some(Decoder::Utf8),
        "koi8-r" | "koi8r" => rs("koi8-r"),
        "koi8-u" | "koi8u" => rs("koi8-u"),
        "ibm866" | "ibm-866" => rs("ibm866"),
        "tis-620" | "tis620" => Some(Decoder::IsoC1(encoding_rs::WINDOWS_874)),
        "big5" | "big-5" | "big5-eten" | "cn-big5" | "x-x-big5" | "big5-hkscs" | "big5hkscs" => {
            rs("big5")
        }
        "gb2312" | "euc-cn" | "euccn" | "x-euc-cn" | "gb_2312" | "gb_2312-80" => {
            Some(Decoder::Gb2312)
        }
        "gbk" => rs("gbk"),
        "euc-jp" | "eucjp" | "x-euc-jp" | "ujis" => rs("euc-jp"),
        "shift_jis" | "shift-jis" | "shiftjis" | "sjis" | "x-sjis" => Some(Decoder::ShiftJis),
        "windows-31j" | "ms932" => rs("shift_jis"),
        "iso-2022-jp" | "iso2022jp" | "jis" => rs("iso-2022-jp"),
        "euc-kr" | "euckr" => Some(Decoder::EucKr),
        "ks_c_5601-1987" | "uhc" => rs("euc-kr"),
        "macintosh" | "macroman" | "mac-roman" | "x-mac-roman" => rs("macintosh"),
        "x-mac-cyrillic" | "maccyrillic" => rs("x-mac-cyrillic"),
        _ => None,
    }
}

/// Two-byte sequences outside the strict charset's range make Perl's strict
/// decoder fail; `lead`/`trail` give the allowed ranges.
fn strict_double_byte(data: &[u8], lead: (u8, u8), trail: (u8, u8)) -> bool {
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b < 0x80 {
            i += 1;
            continue;
        }
        let t = data.get(i + 1).copied().unwrap_or(0);
        if !(lead.0..=lead.1).contains(&b) || !(trail.0..=trail.1).contains(&t) {
            return false;
        }
        i += 2;
    }
    true
}

/// Shift_JIS restricted to JIS X 0208 (no NEC/IBM rows, no user area).
fn strict_shift_jis(data: &[u8]) -> bool {
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        match b {
            0x00..=0x7f | 0xa1..=0xdf => i += 1,
            0x81..=0x86 | 0x88..=0x9f | 0xe0..=0xea => {
                let t = data.get(i + 1).copied().unwrap_or(0);
                if !matches!(t, 0x40..=0x7e | 0x80..=0xfc) {
                    return false;
                }
                i += 2;
            }
            _ => return false,
        }
    }
    true
}

/// ISO-2022-JP with the redundant escape pairs that adjacent RFC 2047 words
/// produce (`ESC ( B ESC $ B`) collapsed: WHATWG's decoder reports those as
/// errors, Perl's does not.
fn iso2022jp_squash_escapes(data: &[u8]) -> Vec<u8> {
    let is_esc = |d: &[u8]| {
        d.len() >= 3
            && d[0] == 0x1b
            && matches!(
                (d[1], d[2]),
                (b'(', b'B' | b'J' | b'I') | (b'$', b'@' | b'B')
            )
    };
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if is_esc(&data[i..]) && is_esc(&data[i + 3..]) {
            i += 3;
            continue;
        }
        out.push(data[i]);
        i += 1;
    }
    out
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
        Decoder::IsoC1(enc) => {
            let mut out = String::with_capacity(data.len());
            for chunk in data.chunk_by(|a, b| (0x80..0xa0).contains(a) == (0x80..0xa0).contains(b))
            {
                if chunk.first().is_some_and(|b| (0x80..0xa0).contains(b)) {
                    out.extend(chunk.iter().map(|&b| char::from(b)));
                } else {
                    out.push_str(&decode_with(Decoder::Rs(enc), chunk, strict)?);
                }
            }
            Some(out)
        }
        Decoder::Gb2312 => {
            if strict && !strict_double_byte(data, (0xa1, 0xf7), (0xa1, 0xfe)) {
                return None;
            }
            decode_with(Decoder::Rs(encoding_rs::GBK), data, strict)
        }
        Decoder::ShiftJis => {
            if strict && !strict_shift_jis(data) {
                return None;
            }
            decode_with(Decoder::Rs(encoding_rs::SHIFT_JIS), data, strict)
        }
        Decoder::EucKr => {
            if strict && !strict_double_byte(data, (0xa1, 0xfe), (0xa1, 0xfe)) {
                return None;
            }
            decode_with(Decoder::Rs(encoding_rs::EUC_KR), data, strict)
        }
        Decoder::Rs(enc) if enc == encoding_rs::ISO_2022_JP => {
            let squashed = iso2022jp_squash_escapes(data);
            if strict {
                enc.decode_without_bom_handling_and_without_replacement(&squashed)
                    .map(|c| c.into_owned())
            } else {
                Some(enc.decode_without_bom_handling(&squashed).0.into_owned())
            }
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
            find_decoder(declared).or_else(|| {
                // SpamAssassin's own fallback: GB18030 labels use GBK.
                let g = l.replace([' ', '-'], "");
                (g.starts_with("gb18030") && g.len() <= 11).then_some(Decoder::Rs(encoding_rs::GBK))
            })
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
