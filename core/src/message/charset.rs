//! Charset normalisation with SpamAssassin's `normalize_charset 1` semantics
//! (`Message/Node.pm` `_normalize`): which charset wins, when UTF-8 is tried
//! first, and the Windows-1252 fallbacks that turn unlabeled 8-bit text into
//! the same mojibake SpamAssassin's rules see.
//!
//! With `normalize_charset_detect 1` (our addition, on in the embedded
//! configuration only) a detector stands in for the Encode::Detect::Detector
//! SpamAssassin can use but the reference installation lacks: text with no
//! charset, an unknown one, one it does not decode in, or a single-byte one
//! that is really Japanese, Chinese or Korean is decoded from what the bytes
//! are (see `detect_decode`).

use std::cell::Cell;
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
    if detecting()
        && let Some(s) = detect_decode(data, declared, insist)
    {
        return (s, true);
    }
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

thread_local! {
    /// Whether the parse or render running on this thread detects charsets.
    static DETECT: Cell<bool> = const { Cell::new(false) };
}

/// Restores the previous detection setting when dropped.
pub(crate) struct DetectScope(bool);

impl Drop for DetectScope {
    fn drop(&mut self) {
        DETECT.set(self.0);
    }
}

/// Turn charset detection on or off until the returned guard is dropped.
pub(crate) fn detect_scope(on: bool) -> DetectScope {
    DetectScope(DETECT.replace(on))
}

/// 7-bit header text that still needs decoding: raw ISO-2022-JP.
pub(crate) fn has_raw_jis(data: &[u8]) -> bool {
    detecting() && data.contains(&0x1b) && has_jis_escape(data)
}

/// 7-bit header text that is raw UTF-7 (detection on only).
pub(crate) fn has_raw_utf7(data: &[u8]) -> bool {
    detecting() && data.contains(&b'+') && super::utf7::detect(data).is_some()
}

/// Whether this thread is parsing with detection on.
pub(crate) fn detecting_now() -> bool {
    detecting()
}

fn detecting() -> bool {
    DETECT.get()
}

/// Encodings of many bytes per character that a mislabeled text can be.
fn is_cjk(enc: &'static Encoding) -> bool {
    enc == encoding_rs::SHIFT_JIS
        || enc == encoding_rs::EUC_JP
        || enc == encoding_rs::ISO_2022_JP
        || enc == encoding_rs::GBK
        || enc == encoding_rs::GB18030
        || enc == encoding_rs::BIG5
        || enc == encoding_rs::EUC_KR
}

/// ISO-2022-JP escape sequences (JIS X 0208, JIS X 0212, JIS X 0201 kana).
fn has_jis_escape(data: &[u8]) -> bool {
    data.windows(3).any(|w| {
        w[0] == 0x1b
            && matches!(
                (w[1], w[2]),
                (b'$', b'B' | b'@' | b'(') | (b'(', b'I' | b'J')
            )
    })
}

/// chardetng's guess for `data` (UTF-8 not allowed: valid UTF-8 has been
/// taken before this is asked).
fn guess(data: &[u8]) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    det.feed(data, true);
    det.guess(None, chardetng::Utf8Detection::Deny)
}

/// Decode strictly with a WHATWG encoding, ISO-2022-JP with CP50220's
/// extensions.
fn strict_rs(enc: &'static Encoding, data: &[u8]) -> Option<String> {
    if enc == encoding_rs::ISO_2022_JP {
        let cp = cp50220_to_jis(data);
        return decode_with(Decoder::Rs(enc), &cp, true);
    }
    decode_with(Decoder::Rs(enc), data, true)
}

/// Share of half-width katakana among the non-ASCII characters: EUC-JP read
/// as Shift_JIS (or the reverse) turns into runs of them.
fn halfwidth_kana_share(s: &str) -> f64 {
    let (mut kana, mut wide) = (0usize, 0usize);
    for c in s.chars().filter(|c| !c.is_ascii()) {
        wide += 1;
        if ('\u{ff61}'..='\u{ff9f}').contains(&c) {
            kana += 1;
        }
    }
    if wide == 0 {
        0.0
    } else {
        kana as f64 / wide as f64
    }
}

/// Decoding with detection (`normalize_charset_detect 1`). None leaves the
/// text to SpamAssassin's path (`normalize_flagged`), which is what happens
/// whenever the declared charset is right: all-ASCII text, valid UTF-8, and
/// text that decodes cleanly in the charset it names (unless that is a
/// single-byte charset and the bytes are plainly Japanese, Chinese or
/// Korean, or it is Shift_JIS that is really EUC-JP).
///
/// Detection decides when there is no charset (or US-ASCII) and the text has
/// 8-bit bytes, when the charset is unknown, when the text does not decode
/// in it, and for 7-bit text carrying ISO-2022-JP escapes whatever the
/// label. `insist` (RFC 2047 words) keeps the declared charset when nothing
/// better decodes.
fn detect_decode(data: &[u8], declared: &str, insist: bool) -> Option<String> {
    let eight_bit = data.iter().any(|&b| b >= 0x80);
    let label = declared.trim().to_ascii_lowercase();
    let jis_label = matches!(
        label.as_str(),
        "iso-2022-jp" | "iso2022jp" | "jis" | "csiso2022jp" | "cp50220" | "cp50221" | "cp50222"
    );
    if !eight_bit {
        if (data.contains(&0x1b) && has_jis_escape(data)) || (jis_label && data.contains(&0x0e)) {
            return strict_rs(encoding_rs::ISO_2022_JP, data).or_else(|| {
                decode_with(
                    Decoder::Rs(encoding_rs::ISO_2022_JP),
                    &cp50220_to_jis(data),
                    false,
                )
            });
        }
        if matches!(label.as_str(), "utf-7" | "utf7" | "unicode-1-1-utf-7") {
            return decode_with(Decoder::Utf7, data, false);
        }
        // UTF-7 with no label or another ASCII-compatible one: only when
        // the whole text is well-formed UTF-7 of one script (see `utf7`).
        if !is_utf16_label(&label) {
            return super::utf7::detect(data);
        }
        return None;
    }
    if std::str::from_utf8(data).is_ok() {
        return None;
    }
    let declared_dec = match label.as_str() {
        "" | "us-ascii" | "ascii" => None,
        "iso-8859-1" | "iso8859-1" | "latin1" | "windows-1252" | "cp1252" => {
            Some(Decoder::Windows1252)
        }
        _ if is_utf16_label(&label) => return None,
        "iso-2022-jp" | "iso2022jp" | "jis" | "csiso2022jp" | "cp50220" | "cp50221" | "cp50222"
        | "iso-2022-jp-1" | "iso-2022-jp-2" | "iso-2022-jp-3" => {
            Some(Decoder::Rs(encoding_rs::ISO_2022_JP))
        }
        "x-sjis" | "shift_jis" | "shift-jis" | "sjis" | "ms_kanji" | "csshiftjis" => {
            // CP932 is what "Shift_JIS" mail is in practice.
            Some(Decoder::Rs(encoding_rs::SHIFT_JIS))
        }
        "gb2312" | "euc-cn" | "gb_2312-80" | "csgb2312" | "x-gbk" | "chinese" => {
            Some(Decoder::Rs(encoding_rs::GBK))
        }
        _ if label.replace([' ', '-', '_'], "").starts_with("gb18030") => {
            Some(Decoder::Rs(encoding_rs::GB18030))
        }
        "euc-kr" | "ks_c_5601-1987" | "cp949" | "ksc5601" => Some(Decoder::Rs(encoding_rs::EUC_KR)),
        _ => find_decoder(declared)
            .or_else(|| Encoding::for_label(label.as_bytes()).map(Decoder::Rs)),
    };
    let declared_enc = match declared_dec {
        Some(Decoder::Rs(e) | Decoder::IsoC1(e)) => Some(e),
        Some(Decoder::Gb2312) => Some(encoding_rs::GBK),
        Some(Decoder::ShiftJis) => Some(encoding_rs::SHIFT_JIS),
        Some(Decoder::EucKr) => Some(encoding_rs::EUC_KR),
        Some(Decoder::Windows1252 | Decoder::Latin1) => Some(encoding_rs::WINDOWS_1252),
        _ => None,
    };
    let strict_declared = match declared_dec {
        Some(Decoder::Rs(e)) => strict_rs(e, data),
        Some(d) => decode_with(d, data, true),
        None => None,
    };
    let guessed = guess(data);
    if let Some(text) = &strict_declared {
        let enc = declared_enc.unwrap_or(encoding_rs::WINDOWS_1252);
        if is_cjk(enc) {
            // Shift_JIS that reads as a run of half-width katakana while
            // EUC-JP reads cleanly was EUC-JP.
            if enc == encoding_rs::SHIFT_JIS
                && halfwidth_kana_share(text) > 0.3
                && let Some(euc) = strict_rs(encoding_rs::EUC_JP, data)
                && halfwidth_kana_share(&euc) < 0.1
            {
                return Some(euc);
            }
            // Japanese labelled as Chinese or Korean: those charsets have
            // the kana rows too, so it decodes, but the kanji come out wrong.
            let japanese = |e| {
                e == encoding_rs::SHIFT_JIS
                    || e == encoding_rs::EUC_JP
                    || e == encoding_rs::ISO_2022_JP
            };
            if !japanese(enc)
                && japanese(guessed)
                && let Some(t) = strict_rs(guessed, data)
            {
                return Some(t);
            }
            return Some(text.clone());
        }
        // A single-byte charset decodes anything; trust it unless the bytes
        // are plainly a multi-byte Asian encoding.
        if is_cjk(guessed)
            && guessed != enc
            && let Some(t) = strict_rs(guessed, data)
        {
            return Some(t);
        }
        return Some(text.clone());
    }
    // No charset, an unknown one, or one the text is not in. Text that reads
    // as Latin-1 letters and Windows punctuation keeps SpamAssassin's
    // Windows-1252 guess unless the detector sees CJK or Cyrillic (it can
    // take a few accented letters for Hebrew, SpamAssassin bug 7656).
    let cyrillic = [
        encoding_rs::WINDOWS_1251,
        encoding_rs::KOI8_R,
        encoding_rs::KOI8_U,
        encoding_rs::IBM866,
        encoding_rs::ISO_8859_5,
    ]
    .contains(&guessed);
    if guessed == encoding_rs::WINDOWS_1252
        || (!is_cjk(guessed) && !cyrillic && data.iter().all(|&b| w1252_plausible(b)))
    {
        // SpamAssassin's own Windows-1252 decoding (U+FFFD for its five
        // holes, which the mojibake rules look for).
        return None;
    }
    if let Some(t) = strict_rs(guessed, data) {
        return Some(t);
    }
    // The guess had stray bytes too: the other Japanese encodings, then the
    // declared charset and the guess with replacement characters.
    for enc in [
        encoding_rs::SHIFT_JIS,
        encoding_rs::EUC_JP,
        encoding_rs::GBK,
        encoding_rs::BIG5,
        encoding_rs::EUC_KR,
    ] {
        if enc != guessed
            && is_cjk(guessed)
            && let Some(t) = strict_rs(enc, data)
        {
            return Some(t);
        }
    }
    if insist && let Some(d) = declared_dec {
        return decode_with(d, data, false);
    }
    if is_cjk(guessed) {
        return decode_with(Decoder::Rs(guessed), data, false);
    }
    None
}

/// A JIS X 0208 code point WHATWG's index has no character for.
fn jis_pair_unmapped(a: u8, b: u8) -> bool {
    let one = [0x1b, b'$', b'B', a, b, 0x1b, b'(', b'B'];
    encoding_rs::ISO_2022_JP
        .decode_without_bom_handling_and_without_replacement(&one)
        .is_none()
}

/// CP50220's extensions turned into what the WHATWG ISO-2022-JP decoder
/// reads: half-width katakana shifted out with SO ... SI becomes an
/// `ESC ( I` run followed by the escape of the set in use before it. (NEC
/// row 13 and the IBM extensions are already in WHATWG's JIS X 0208 index,
/// and `ESC ( I` is read natively.) Code points no table maps (the mobile
/// carriers' emoji rows) become 〓, the geta mark Japanese mail readers show
/// for them, instead of an error.
fn cp50220_to_jis(data: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !data.contains(&0x0e) && !data.contains(&0x1b) {
        return std::borrow::Cow::Borrowed(data);
    }
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut current: [u8; 3] = *b"\x1b(B";
    let mut shifted = false;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == 0x1b && i + 2 < data.len() {
            let esc = [data[i], data[i + 1], data[i + 2]];
            // `ESC $ ( D` and the like are four bytes long.
            let len = if esc[1] == b'$' && esc[2] == b'(' {
                4
            } else {
                3
            };
            if !shifted && len == 3 {
                current = esc;
            }
            let end = (i + len).min(data.len());
            out.extend_from_slice(&data[i..end]);
            i = end;
            continue;
        }
        let double = !shifted && current[1] == b'$' && matches!(current[2], b'B' | b'@');
        if double
            && (0x21..=0x7e).contains(&b)
            && let Some(&t) = data.get(i + 1)
            && (0x21..=0x7e).contains(&t)
        {
            if jis_pair_unmapped(b, t) {
                out.extend_from_slice(b"\".");
            } else {
                out.extend_from_slice(&[b, t]);
            }
            i += 2;
            continue;
        }
        match b {
            0x0e if !shifted => {
                shifted = true;
                out.extend_from_slice(b"\x1b(I");
            }
            0x0f if shifted => {
                shifted = false;
                out.extend_from_slice(&current);
            }
            0x0e | 0x0f => {}
            _ => out.push(b),
        }
        i += 1;
    }
    if shifted {
        out.extend_from_slice(b"\x1b(B");
    }
    std::borrow::Cow::Owned(out)
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

#[cfg(test)]
mod detect_tests {
    use super::*;

    const JA: &str = "お客様のアカウントは一時的に利用を停止しました。本人確認のため、以下のリンクからログインしてください。";
    const ZH_HANS: &str = "尊敬的客户，您的账户已被暂时冻结。请立即点击下面的链接验证您的身份，否则账户将被永久关闭。";
    const ZH_HANT: &str = "親愛的客戶，您的帳戶已被暫時凍結。請立即點擊下面的連結驗證您的身份，否則帳戶將被永久關閉。";
    const KO: &str = "고객님의 계정이 일시적으로 정지되었습니다. 본인 확인을 위해 아래 링크에서 로그인해 주십시오.";
    const RU: &str = "Ваша учетная запись временно заблокирована. Пожалуйста, подтвердите свои данные по ссылке ниже.";

    fn enc(text: &str, e: &'static Encoding) -> Vec<u8> {
        let (b, _, errors) = e.encode(text);
        assert!(!errors, "{} cannot encode the sample", e.name());
        b.into_owned()
    }

    fn with_detect(data: &[u8], declared: &str, insist: bool) -> String {
        let _s = detect_scope(true);
        normalize(data, declared, insist)
    }

    #[test]
    fn declared_charsets_decode() {
        let cases: [(&str, &'static Encoding, &str); 12] = [
            (JA, encoding_rs::SHIFT_JIS, "shift_jis"),
            (JA, encoding_rs::SHIFT_JIS, "windows-31j"),
            (JA, encoding_rs::EUC_JP, "euc-jp"),
            (JA, encoding_rs::ISO_2022_JP, "iso-2022-jp"),
            (ZH_HANS, encoding_rs::GBK, "gb2312"),
            (ZH_HANS, encoding_rs::GBK, "gbk"),
            (ZH_HANS, encoding_rs::GB18030, "gb18030"),
            (ZH_HANT, encoding_rs::BIG5, "big5"),
            (KO, encoding_rs::EUC_KR, "euc-kr"),
            (RU, encoding_rs::KOI8_R, "koi8-r"),
            (RU, encoding_rs::WINDOWS_1251, "windows-1251"),
            (
                "Grüße aus Köln – schöne Straße",
                encoding_rs::WINDOWS_1252,
                "windows-1252",
            ),
        ];
        for (text, e, label) in cases {
            let data = enc(text, e);
            assert_eq!(with_detect(&data, label, false), text, "{label}");
            assert_eq!(with_detect(&data, label, true), text, "{label} (insist)");
        }
        for label in [
            "windows-1250",
            "windows-1253",
            "windows-1254",
            "windows-1257",
        ] {
            let e = Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::WINDOWS_1252);
            let text = match label {
                "windows-1250" => "Zażółć gęślą jaźń, příliš žluťoučký kůň",
                "windows-1253" => "Καλημέρα σας, ο λογαριασμός σας έχει ανασταλεί",
                "windows-1254" => "Hesabınız askıya alındı, lütfen giriş yapın",
                _ => "Jūsų paskyra užblokuota, prašome prisijungti",
            };
            assert_eq!(with_detect(&enc(text, e), label, false), text, "{label}");
        }
    }

    #[test]
    fn undeclared_is_detected() {
        let cases: [(&str, &'static Encoding); 7] = [
            (JA, encoding_rs::SHIFT_JIS),
            (JA, encoding_rs::EUC_JP),
            (JA, encoding_rs::ISO_2022_JP),
            (ZH_HANS, encoding_rs::GBK),
            (ZH_HANT, encoding_rs::BIG5),
            (KO, encoding_rs::EUC_KR),
            (RU, encoding_rs::WINDOWS_1251),
        ];
        for (text, e) in cases {
            let data = enc(text, e);
            assert_eq!(with_detect(&data, "us-ascii", false), text, "{}", e.name());
            assert_eq!(with_detect(&data, "", false), text, "{}", e.name());
            // Without detection SpamAssassin's path gives mojibake.
            assert_ne!(normalize(&data, "us-ascii", false), text, "{}", e.name());
        }
    }

    #[test]
    fn misdeclared_is_detected() {
        let sjis = enc(JA, encoding_rs::SHIFT_JIS);
        let euc = enc(JA, encoding_rs::EUC_JP);
        for label in [
            "iso-8859-1",
            "windows-1252",
            "iso-2022-jp",
            "utf-8",
            "euc-kr",
        ] {
            assert_eq!(with_detect(&sjis, label, false), JA, "Shift_JIS as {label}");
            assert_eq!(
                with_detect(&sjis, label, true),
                JA,
                "Shift_JIS as {label} (insist)"
            );
        }
        assert_eq!(
            with_detect(&euc, "shift_jis", false),
            JA,
            "EUC-JP as Shift_JIS"
        );
        assert_eq!(
            with_detect(&euc, "iso-2022-jp", false),
            JA,
            "EUC-JP as ISO-2022-JP"
        );
        let gbk = enc(ZH_HANS, encoding_rs::GBK);
        assert_eq!(with_detect(&gbk, "iso-8859-1", false), ZH_HANS);
        assert_eq!(with_detect(&euc, "gb2312", false), JA, "EUC-JP as GB2312");
        assert_eq!(with_detect(&euc, "euc-kr", false), JA, "EUC-JP as EUC-KR");
        assert_eq!(with_detect(&gbk, "gb2312", false), ZH_HANS);
        let jis = enc(JA, encoding_rs::ISO_2022_JP);
        assert_eq!(with_detect(&jis, "us-ascii", false), JA);
        assert_eq!(with_detect(&jis, "iso-8859-1", false), JA);
        // Unknown labels.
        assert_eq!(with_detect(&sjis, "x-unknown", false), JA);
        assert_eq!(with_detect(&sjis, "x-unknown", true), JA);
        // Real Latin-1 text stays Latin-1.
        let de = "Sehr geehrte Kundin, Ihre Bestellung über 45 € wurde verschickt. Grüße";
        assert_eq!(
            with_detect(&enc(de, encoding_rs::WINDOWS_1252), "iso-8859-1", false),
            de
        );
    }

    #[test]
    fn cp50220_extensions() {
        // Half-width katakana by SO/SI inside and outside a JIS X 0208 run.
        let so = b"\x1b$B$*5RMM\x1b(B \x0e60\x0f\x1b$B$H\x0e1\x0f\x1b(B.";
        let _s = detect_scope(true);
        assert_eq!(normalize(so, "iso-2022-jp", false), "お客様 ｶｰとｱ.");
        assert_eq!(normalize(so, "iso-2022-jp", true), "お客様 ｶｰとｱ.");
        // ESC ( I.
        assert_eq!(normalize(b"\x1b(I60\x1b(B", "iso-2022-jp", false), "ｶｰ");
        // NEC row 13 (circled 1, roman numeral I) and an IBM extension kanji.
        assert_eq!(normalize(b"\x1b$B-!-5\x1b(B", "iso-2022-jp", false), "①Ⅰ");
        let ibm = enc("髙", encoding_rs::ISO_2022_JP);
        assert_eq!(normalize(&ibm, "iso-2022-jp", false), "髙");
        // A carrier emoji (unmapped row 88) reads as the geta mark.
        assert_eq!(
            normalize(b"\x1b$B%F%9%Hx4\x1b(B", "iso-2022-jp", false),
            "テスト〓"
        );
        // Declared nothing, still decoded.
        assert_eq!(normalize(so, "us-ascii", false), "お客様 ｶｰとｱ.");
    }

    #[test]
    fn utf7() {
        let _s = detect_scope(true);
        assert_eq!(normalize(b"Hi +ZeVnLIqe-", "utf-7", false), "Hi 日本語");
        assert_eq!(normalize(b"Hi +ZeVnLIqe-", "utf-7", true), "Hi 日本語");
        // Unlabelled or mislabelled UTF-7 is detected.
        // Python's encoder: "お客様のアカウントを停止しました".
        let ja = b"+MEpbomnYMG4wojCrMKYw8zDIMJJQXGtiMFcwfjBXMF8-";
        for label in ["", "us-ascii", "iso-8859-1", "utf-8", "iso-2022-jp"] {
            assert_eq!(
                normalize(ja, label, false),
                "お客様のアカウントを停止しました",
                "as {label:?}"
            );
        }
        // ASCII with plus signs stays as it is.
        for label in ["", "us-ascii", "utf-8"] {
            assert_eq!(normalize(b"C++ and a+b-c", label, false), "C++ and a+b-c");
        }
    }

    #[test]
    fn detection_off_keeps_spamassassin_results() {
        let sjis = enc(JA, encoding_rs::SHIFT_JIS);
        let off = normalize(&sjis, "iso-8859-1", false);
        assert_ne!(off, JA);
        let _s = detect_scope(false);
        assert_eq!(normalize(&sjis, "iso-8859-1", false), off);
    }
}
