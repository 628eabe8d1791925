//! UTF-7 (RFC 2152): a strict decoder and a detector for text that is UTF-7
//! but says nothing (or the wrong thing) about it.
//!
//! encoding_rs has no UTF-7, and the lenient decoder a declared `utf-7`
//! label uses (mail-parser's) accepts anything, which is what a declared
//! charset wants but not what a guess may rest on. This decoder refuses
//! every ill-formed shift sequence, so detection only says "UTF-7" when the
//! whole text reads as it.
//!
//! A shift sequence is `+`, modified base64 (the standard alphabet, no
//! padding) of big-endian UTF-16 code units, then an optional `-` that is
//! absorbed; `+-` is a literal `+`. Strict means: every `+` starts either
//! `+-` or a run of base64; a run holds whole code units, with fewer than six
//! bits left over and those bits zero (what an encoder writes); surrogates
//! come in pairs; and no byte is 8-bit.

/// The value of a base64 character, or None.
fn b64(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// What a strict decode found: the text and the characters that came out
/// of base64 runs (which detection judges).
pub(crate) struct Decoded {
    pub text: String,
    pub shifted: Vec<char>,
    /// How many base64 runs there were.
    pub runs: usize,
}

/// Decode `data` as UTF-7; None when it is not well-formed UTF-7.
pub(crate) fn decode_strict(data: &[u8]) -> Option<Decoded> {
    let mut text = String::with_capacity(data.len());
    let mut shifted = Vec::new();
    let mut runs = 0usize;
    let mut i = 0;
    while i < data.len() {
        let c = data[i];
        if c >= 0x80 {
            return None;
        }
        if c != b'+' {
            text.push(char::from(c));
            i += 1;
            continue;
        }
        i += 1;
        if data.get(i) == Some(&b'-') {
            text.push('+');
            i += 1;
            continue;
        }
        // A base64 run: collect 16-bit units.
        let (mut acc, mut nbits) = (0u32, 0u32);
        let mut units: Vec<u16> = Vec::new();
        let start = i;
        while let Some(v) = data.get(i).copied().and_then(b64) {
            acc = (acc << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(u16::try_from((acc >> nbits) & 0xffff).ok()?);
                acc &= (1 << nbits) - 1;
            }
            i += 1;
        }
        if i == start || units.is_empty() || nbits >= 6 || acc != 0 {
            return None;
        }
        let before = shifted.len();
        for ch in char::decode_utf16(units.iter().copied()) {
            let ch = ch.ok()?;
            shifted.push(ch);
            text.push(ch);
        }
        if shifted.len() == before {
            return None;
        }
        runs += 1;
        // The `-` that ends a run is absorbed.
        if data.get(i) == Some(&b'-') {
            i += 1;
        }
    }
    Some(Decoded {
        text,
        shifted,
        runs,
    })
}

/// Which writing system a character from a base64 run belongs to; None
/// for characters no UTF-7 text would carry (controls, private use,
/// surrogates, unassigned-looking blocks).
fn script(c: char) -> Option<u8> {
    let u = u32::from(c);
    Some(match u {
        // Punctuation an encoder may shift along with the letters.
        0x20..=0x7e | 0xa0..=0xbf | 0x2000..=0x206f | 0x20a0..=0x20bf | 0x2100..=0x22ff => 0,
        0x25a0..=0x27bf | 0x3000..=0x303f | 0xff01..=0xff60 | 0xffe0..=0xffee => 0,
        0xc0..=0x24f | 0x1e00..=0x1eff => 1,
        0x370..=0x3ff => 2,
        0x400..=0x52f => 3,
        0x590..=0x5ff => 4,
        0x600..=0x6ff => 5,
        0xe00..=0xe7f => 6,
        // Japanese and Chinese: kana, ideographs, half-width kana. (Rare
        // blocks such as CJK extension A are left out: random base64 lands
        // in them as often as in the common ones.)
        0x3040..=0x30ff | 0x4e00..=0x9fff | 0xff61..=0xff9f => 7,
        // Korean: Hangul syllables (and ideographs above).
        0xac00..=0xd7a3 => 8,
        0x1f300..=0x1faff => 0,
        _ => return None,
    })
}

/// Characters of base64 runs a text must carry before it is taken for
/// UTF-7 (a Subject of three Japanese characters is enough; fewer is too
/// easily a `+` in a URL or an address).
const MIN_CHARS: usize = 3;

/// `data` decoded as UTF-7 when it plainly is UTF-7: 7-bit, well-formed
/// throughout (so "C++", "a+b-c" or a `+` in a URL query rule it out), at
/// least [`MIN_CHARS`] characters from base64 runs, none of them ASCII
/// letters or digits (an encoder writes those directly), none outside
/// the scripts above, and all letters of one script (Japanese and Chinese
/// count as one; Korean may mix with ideographs); Japanese or Chinese with
/// at least one kana or CJK punctuation mark, Korean in at least two runs.
/// Random base64 that happens to be well-formed (a PGP signature line, an
/// Outlook Thread-Index) decodes to scattered ideographs and fails here.
pub(crate) fn detect(data: &[u8]) -> Option<String> {
    if !data.contains(&b'+') {
        return None;
    }
    let d = decode_strict(data)?;
    if d.shifted.len() < MIN_CHARS {
        return None;
    }
    let mut letters: Option<u8> = None;
    let mut non_punct = 0usize;
    // Kana or CJK and full-width punctuation: Japanese and Chinese text
    // always has some, random base64 almost never (0.4% of code points).
    let mut kana_or_punct = 0usize;
    for &c in &d.shifted {
        if matches!(u32::from(c), 0x3000..=0x30ff | 0xff01..=0xff60) {
            kana_or_punct += 1;
        }
        if c.is_ascii_alphanumeric() || c.is_control() {
            return None;
        }
        let s = script(c)?;
        if s == 0 {
            continue;
        }
        non_punct += 1;
        match letters {
            None => letters = Some(s),
            Some(l) if l == s => {}
            // Korean text may carry Hanja.
            Some(8) if s == 7 => {}
            Some(7) if s == 8 => letters = Some(8),
            Some(_) => return None,
        }
    }
    let plausible = match letters {
        Some(7) => kana_or_punct > 0,
        // Korean separates words with spaces, so its text has several runs.
        Some(8) => d.runs >= 2,
        _ => true,
    };
    (non_punct >= MIN_CHARS && plausible).then_some(d.text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encoder for the tests: every non-ASCII run shifted, `+` as `+-`.
    fn encode(s: &str) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        let chars: Vec<char> = s.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '+' {
                out.push_str("+-");
                i += 1;
            } else if c.is_ascii() {
                out.push(c);
                i += 1;
            } else {
                let mut units = Vec::new();
                while i < chars.len() && !chars[i].is_ascii() {
                    let mut b = [0u16; 2];
                    units.extend_from_slice(chars[i].encode_utf16(&mut b));
                    i += 1;
                }
                let (mut acc, mut n) = (0u32, 0u32);
                out.push('+');
                for u in units {
                    acc = (acc << 16) | u32::from(u);
                    n += 16;
                    while n >= 6 {
                        n -= 6;
                        out.push(char::from(A[((acc >> n) & 63) as usize]));
                    }
                    acc &= (1 << n) - 1;
                }
                if n > 0 {
                    out.push(char::from(A[((acc << (6 - n)) & 63) as usize]));
                }
                out.push('-');
            }
        }
        out
    }

    #[test]
    fn decodes_japanese() {
        let ja = "お客様のアカウントは一時的に停止されました。";
        let enc = encode(&format!("Dear user, {ja} 1+1=2"));
        assert!(enc.contains("+MEpbom"), "{enc}");
        let d = decode_strict(enc.as_bytes()).map(|d| d.text);
        assert_eq!(
            d.as_deref(),
            Some(format!("Dear user, {ja} 1+1=2").as_str())
        );
        assert_eq!(
            detect(enc.as_bytes()).as_deref(),
            Some(format!("Dear user, {ja} 1+1=2").as_str())
        );
        assert_eq!(
            detect(b"Hi +ZeVnLIqeMGcwWQ-").as_deref(),
            Some("Hi 日本語です")
        );
        // Three kanji alone could be chance: no kana, no punctuation.
        assert!(detect(b"Hi +ZeVnLIqe-").is_none());
        // RFC 2152's example: a run ended by a non-base64 character.
        assert_eq!(
            decode_strict(b"Hi Mom -+Jjo--!").map(|d| d.text).as_deref(),
            Some("Hi Mom -\u{263a}-!")
        );
    }

    #[test]
    fn surrogate_pairs() {
        let s = "絵文字 😀 です";
        let enc = encode(s);
        assert_eq!(
            decode_strict(enc.as_bytes()).map(|d| d.text).as_deref(),
            Some(s)
        );
        // A lone high surrogate (D83D) is ill-formed.
        assert!(decode_strict(b"+2D0-").is_none());
    }

    #[test]
    fn other_scripts() {
        for s in [
            "Ваша учетная запись заблокирована",
            "고객님의 계정이 정지되었습니다",
            "Grüße aus Köln, schöne Straße",
        ] {
            assert_eq!(detect(encode(s).as_bytes()).as_deref(), Some(s), "{s}");
        }
    }

    #[test]
    fn plain_ascii_is_not_utf7() {
        for s in [
            "C++ and a+b-c",
            "Call +1-800-555-0199 or +44 20 7946 0958 now",
            "https://example.com/search?q=hello+world+foo",
            "see http://x.example/?q=+foo",
            "a+foo-b",
            "user+tag@example.com wrote:",
            "2+2=4, 3+4=7",
            "Message-ID: <CAKv+Gu9xYzAbCdEf@mail.gmail.com>",
            "plain text without any plus",
            "+ZeVnLIqe- and then C++",
            // Base64 lines and header values found in the public corpus
            // that are well-formed UTF-7 by chance.
            "iD8DBQE9ZV2CK9b4h5R0IUIRAnWSAJwLZJvK8S4LQRv57W3WIbG9U2P+ywCdExEL",
            "tCJKb2huIE1jQ29ybWFjIDxqbWNjQGhhY2t3YXRjaC5jb20+tBJqbWNjQGhhY2t3",
            "4WxStwUoFvwYKxVlV7+UNjVjLUo",
            "AcJD5GmIQVEF4DKyQy+RFg1ZDaBggQ==",
            "+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4+Pj4",
            "PHAgYWxpZ249ImNlbnRlciI+Jm5ic3A7Jm5ic3A7Jm5ic3A7Jm5ic3A7Jm5ic3A7Jm5ic3A7",
            "PGJyPg0KPHA+VG8gYmUgZXhjbHVkZWQgZnJvbSBmdXJ0aGVyIG5vdGljZXMg",
        ] {
            assert!(detect(s.as_bytes()).is_none(), "{s}");
        }
        // Well-formed but too short, or letters of mixed scripts.
        assert!(detect(b"x +ZeU-").is_none());
        // Well-formed runs that decode to ASCII letters are not what an
        // encoder writes.
        assert!(detect(b"+AEEAQgBD-").is_none());
        // 8-bit bytes are never UTF-7.
        assert!(decode_strict("+ZeVnLIqe- é".as_bytes()).is_none());
    }
}
