//! Text helpers that reproduce SpamAssassin's line wrapping, header folding
//! and RFC 2047 encoding byte for byte. Lengths are counted in bytes because
//! SpamAssassin works on UTF-8 octets at these points.

/// Perl's `\s` on octets: ASCII whitespace only.
pub(crate) use crate::message::is_space as is_perl_space;

/// `s/\s+$//` on one string.
pub(crate) fn trim_end_perl(s: &mut String) {
    let keep = s
        .trim_end_matches(|c: char| c.is_ascii() && is_perl_space(c as u8))
        .len();
    s.truncate(keep);
}

/// Where `wrap` may break a line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Break {
    /// `(\s)`: every whitespace byte is its own element (the default).
    Space,
    /// `((?<=[\s,]))`: after whitespace or a comma, as header folding uses.
    AfterSpaceOrComma,
}

/// Perl's `split(/($break)/, $s)`: fields with the captured separators kept,
/// a leading empty field kept, trailing empty fields dropped.
fn perl_split(s: &str, brk: Break) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match brk {
            Break::Space => {
                if is_perl_space(b) {
                    out.push(s[start..i].to_string());
                    out.push(s[i..=i].to_string());
                    start = i + 1;
                }
            }
            Break::AfterSpaceOrComma => {
                // A zero-width match at the very end only adds empty trailing
                // fields, which split drops anyway.
                if (is_perl_space(b) || b == b',') && i + 1 < bytes.len() {
                    out.push(s[start..=i].to_string());
                    out.push(String::new());
                    start = i + 1;
                }
            }
        }
    }
    out.push(s[start..].to_string());
    while out.last().is_some_and(|f| f.is_empty()) {
        out.pop();
    }
    out
}

/// Display width as SpamAssassin's `wrap` counts it: a tab is 8.
fn width(s: &str) -> usize {
    s.len() + s.bytes().filter(|&b| b == b'\t').count() * 7
}

/// `Mail::SpamAssassin::Util::wrap`: greedy line filling with SpamAssassin's
/// exact quirks (the first element of a line is always taken, `overflow`
/// only looks at the current line, trailing whitespace of a full line is
/// dropped, lines are joined with `\n`).
pub(crate) fn wrap(
    s: &str,
    prefix: &str,
    first: &str,
    length: f64,
    overflow: bool,
    brk: Break,
) -> String {
    // Perl's `shift || default`: "0" and "" are false.
    let falsy = |v: &str| v.is_empty() || v == "0";
    let s = if falsy(s) { "" } else { s };
    let prefix = if falsy(prefix) { "" } else { prefix };
    let length = if length == 0.0 { 77.0 } else { length };

    let mut elems = perl_split(s, brk);
    if !falsy(first) {
        elems.insert(0, first.to_string());
    }
    let mut iter = elems.into_iter();
    let Some(mut cur) = iter.next() else {
        return String::new();
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line_started = false; // Perl's $pos_mod
    let mut next = iter.next();
    while let Some(elem) = next.take() {
        let mut len = width(&cur);
        if line_started && !overflow {
            len += width(&elem);
        }
        // A prefix wider than the limit would make Perl loop forever; take
        // the element instead.
        let stuck = !line_started && cur == prefix && !lines.is_empty();
        if len as f64 <= length || stuck {
            cur.push_str(&elem);
            line_started = true;
            next = iter.next();
        } else {
            trim_end_perl(&mut cur);
            lines.push(std::mem::replace(&mut cur, prefix.to_string()));
            line_started = false;
            next = Some(elem);
        }
    }
    lines.push(cur);
    lines.join("\n")
}

/// `s/^\s*\n//gm`: drop lines that hold only whitespace.
fn remove_blank_lines(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut at_line_start = true;
    while i < b.len() {
        if at_line_start {
            let mut j = i;
            let mut last_nl = None;
            while j < b.len() && is_perl_space(b[j]) {
                if b[j] == b'\n' {
                    last_nl = Some(j);
                }
                j += 1;
            }
            if let Some(n) = last_nl {
                i = n + 1;
                continue;
            }
        }
        out.push(b[i]);
        at_line_start = b[i] == b'\n';
        i += 1;
    }
    // Only ASCII bytes were removed, so the rest is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `s/\s*\n\s*/\n\t/g`: a template with explicit newlines is folded there.
fn fold_at_newlines(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if is_perl_space(b[i]) {
            let mut j = i;
            let mut last_nl = None;
            while j < b.len() && is_perl_space(b[j]) {
                if b[j] == b'\n' {
                    last_nl = Some(j);
                }
                j += 1;
            }
            if last_nl.is_some() {
                out.push_str(&s[copied..i]);
                out.push_str("\n\t");
                i = j;
                copied = j;
                continue;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&s[copied..]);
    out
}

/// `_process_header`: the tag-expanded value of `X-Spam-<name>` folded as
/// SpamAssassin folds it (79 columns counting the name, TAB continuation).
pub(crate) fn fold_header_value(name: &str, value: &str, fold: bool) -> String {
    let value = value.trim_end_matches(['\r', '\n']);
    if !fold {
        return value.replace('\n', " ");
    }
    if value.contains('\n') {
        return fold_at_newlines(value);
    }
    // `!!` keeps wrap from breaking between the name and the value.
    let hdr = format!("X-Spam-{name}!!{value}");
    let wrapped = wrap(&hdr, "\t", "", 79.0, false, Break::AfterSpaceOrComma);
    let wrapped = remove_blank_lines(&wrapped);
    match wrapped.split_once("!!") {
        Some((_, v)) => v.to_string(),
        None => String::new(),
    }
}

fn is_printable_ascii(b: u8) -> bool {
    b == b'\t' || (0x20..=0x7e).contains(&b)
}

/// `mime_encode_header`: each line that is not plain printable ASCII gets its
/// non-ASCII middle RFC 2047 encoded (Q or B, whichever is shorter).
pub(crate) fn mime_encode_header(text: &str) -> String {
    let mut result = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let b = line.as_bytes();
        let body_end = b.len() - line_ending_len(b);
        if b.ends_with(b"\n") && b[..body_end].iter().all(|&c| is_printable_ascii(c)) {
            result.push_str(line);
            continue;
        }
        // Suffix: the leftmost (start or blank) position from which the rest
        // is printable ASCII, else just the line ending.
        let content = &b[..body_end];
        let mut tail_start = content.len();
        while tail_start > 0 && is_printable_ascii(content[tail_start - 1]) {
            tail_start -= 1;
        }
        let suffix_start = if tail_start == 0 {
            0
        } else {
            match content[tail_start..]
                .iter()
                .position(|&c| c == b' ' || c == b'\t')
            {
                Some(p) => tail_start + p,
                None => body_end,
            }
        };
        let (rest, suffix) = line.split_at(suffix_start);
        // Prefix: a printable ASCII run ending in a blank (or the whole rest).
        let rb = rest.as_bytes();
        let run = rb.iter().take_while(|&&c| is_printable_ascii(c)).count();
        let prefix_len = if run == rb.len() {
            run
        } else {
            rb[..run]
                .iter()
                .rposition(|&c| c == b' ' || c == b'\t')
                .map_or(0, |p| p + 1)
        };
        let (prefix, word) = rest.split_at(prefix_len);
        if word.is_empty() {
            result.push_str(prefix);
            result.push_str(suffix);
            continue;
        }
        result.push_str(prefix);
        let wb = word.as_bytes();
        let qp_count = wb
            .iter()
            .filter(|&&c| matches!(c, b'=' | b'?' | b'_' | 0x00..=0x1f | 0x7f..=0xff))
            .count();
        // Perl: length + 2*count <= 4 * int(length + 2) / 3 (float division).
        if (wb.len() + qp_count * 2) as f64 <= (4 * (wb.len() + 2)) as f64 / 3.0 {
            result.push_str("=?UTF-8?Q?");
            for &c in wb {
                match c {
                    b' ' => result.push('_'),
                    b'=' | b'?' | b'_' | 0x00..=0x20 | 0x7f..=0xff => {
                        result.push_str(&format!("={c:02X}"))
                    }
                    _ => result.push(c as char),
                }
            }
        } else {
            result.push_str("=?UTF-8?B?");
            result.push_str(&base64(wb));
        }
        result.push_str("?=");
        result.push_str(suffix);
    }
    result
}

fn line_ending_len(b: &[u8]) -> usize {
    if b.ends_with(b"\r\n") {
        2
    } else if b.ends_with(b"\n") {
        1
    } else {
        0
    }
}

/// Standard base64 without line breaks.
fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= n {
                out.push(T[((v >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_like_perl() {
        assert_eq!(
            perl_split(" a b ", Break::Space),
            ["", " ", "a", " ", "b", " "]
        );
        assert_eq!(
            perl_split("a, b", Break::AfterSpaceOrComma),
            ["a,", "", " ", "", "b"]
        );
        assert!(perl_split("", Break::Space).is_empty());
    }

    #[test]
    fn wrap_first_word_always_fits() {
        let w = wrap("aaaaaaaaaa bbb", "  ", "", 5.0, false, Break::Space);
        // Perl breaks before an over-long first word, leaving an empty line.
        assert_eq!(w, "aaaaaaaaaa\n\n  bbb");
    }

    #[test]
    fn fold_status() {
        let v = "Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED,NO_RELAYS autolearn=no autolearn_force=no version=4.0.1";
        assert_eq!(
            fold_header_value("Status", v, true),
            "Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED,\n\tNO_RELAYS autolearn=no autolearn_force=no version=4.0.1"
        );
        assert_eq!(fold_header_value("Level", "", true), "");
        assert_eq!(fold_header_value("X", "a\n  b\n", true), "a\n\tb");
        assert_eq!(fold_header_value("X", "a\nb", false), "a b");
    }

    #[test]
    fn rfc2047() {
        assert_eq!(mime_encode_header("plain text"), "plain text");
        assert_eq!(mime_encode_header("a\n\tb"), "a\n\tb");
        assert_eq!(mime_encode_header("abc é def"), "abc =?UTF-8?B?w6k=?= def");
        assert_eq!(
            mime_encode_header("caf\u{e9} au lait"),
            "=?UTF-8?Q?caf=C3=A9?= au lait"
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
