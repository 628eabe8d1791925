//! Perl regex -> `regex` crate (bytes mode) translation.
//!
//! Only constructs whose meaning is the same in both dialects are
//! translated; anything else returns `Err` and the pattern runs on PCRE2.
//! The traps this guards against are silent ones: `\<` is a word boundary to
//! `regex` but a literal in Perl, `a++` is possessive in Perl, Perl's `$`
//! also matches before a final newline, `[[]` opens a nested class in
//! `regex`, and `&&`/`--`/`~~` inside a class are set operations there.

/// Why a pattern is left to the backtracking engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub &'static str);

/// Translate a Perl pattern body (each char one byte). `$` is translated for
/// patterns without `/m`; a pattern that turns `m` on inline is refused.
pub fn to_rust(body: &str) -> Result<String, Untranslatable> {
    translate(body, false)
}

/// A translation that matches at least everything the Perl pattern does
/// (for the literal prefilter of patterns that only PCRE2 can run):
/// lookarounds become empty groups, back-references match anything,
/// atomic groups and possessive quantifiers become ordinary ones, `\K` is
/// dropped. Each change only widens what matches.
pub fn to_rust_weakened(body: &str) -> Result<String, Untranslatable> {
    translate(body, true)
}

fn translate(body: &str, weak: bool) -> Result<String, Untranslatable> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len() + 16);
    let mut i = 0;
    // Whether the previous token can take a quantifier.
    let mut quantifiable = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                if weak && let Some((text, used)) = weak_escape(&chars, i) {
                    out.push_str(text);
                    i += used;
                    quantifiable = !text.is_empty() || quantifiable;
                    continue;
                }
                let (text, used) = escape_outside(&chars, i)?;
                out.push_str(&text);
                i += used;
                quantifiable = true;
            }
            '[' => {
                let (text, used) = class(&chars, i)?;
                out.push_str(&text);
                i += used;
                quantifiable = true;
            }
            '(' => {
                if weak && let Some((text, used)) = weak_group(&chars, i) {
                    out.push_str(text);
                    i += used;
                    quantifiable = text == "(?:)";
                    continue;
                }
                if chars.get(i + 1) == Some(&'?') {
                    let (text, used) = group_open(&chars, i)?;
                    out.push_str(&text);
                    i += used;
                    quantifiable = text.is_empty() && quantifiable;
                } else {
                    out.push('(');
                    i += 1;
                    quantifiable = false;
                }
            }
            ')' => {
                out.push(')');
                i += 1;
                quantifiable = true;
            }
            '|' => {
                out.push('|');
                i += 1;
                quantifiable = false;
            }
            '^' => {
                out.push('^');
                i += 1;
                quantifiable = false;
            }
            '$' => {
                out.push_str("(?:\\n?\\z)");
                i += 1;
                quantifiable = false;
            }
            '.' => {
                out.push('.');
                i += 1;
                quantifiable = true;
            }
            '*' | '+' | '?' => {
                if !quantifiable {
                    return Err(Untranslatable("quantifier follows nothing"));
                }
                out.push(c);
                i += 1;
                i = quantifier_suffix(&chars, i, &mut out, weak)?;
                quantifiable = false;
            }
            '{' => {
                if let Some((q, used)) = brace_quantifier(&chars, i) {
                    if !quantifiable {
                        return Err(Untranslatable("quantifier follows nothing"));
                    }
                    out.push_str(&q);
                    i += used;
                    i = quantifier_suffix(&chars, i, &mut out, weak)?;
                    quantifiable = false;
                } else {
                    out.push_str("\\{");
                    i += 1;
                    quantifiable = true;
                }
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
                quantifiable = true;
            }
            _ => {
                push_literal(&mut out, c)?;
                i += 1;
                quantifiable = true;
            }
        }
    }
    Ok(out)
}

/// After a quantifier: a lazy `?` is fine, a possessive `+` is not (in a
/// weakened translation it becomes an ordinary, greedy quantifier).
fn quantifier_suffix(
    chars: &[char],
    i: usize,
    out: &mut String,
    weak: bool,
) -> Result<usize, Untranslatable> {
    match chars.get(i) {
        Some('?') => {
            out.push('?');
            Ok(i + 1)
        }
        Some('+') if weak => Ok(i + 1),
        Some('+') => Err(Untranslatable("possessive quantifier")),
        _ => Ok(i),
    }
}

/// Weakened forms of escapes: back-references match anything, `\K` goes.
/// Returns the replacement and the chars used, or None for other escapes.
fn weak_escape(chars: &[char], i: usize) -> Option<(&'static str, usize)> {
    const ANY: &str = "(?s:.*)";
    match *chars.get(i + 1)? {
        '1'..='9' => {
            let digits = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            Some((ANY, 1 + digits))
        }
        'K' => Some(("", 2)),
        'g' | 'k' => {
            let close = match *chars.get(i + 2)? {
                '{' => '}',
                '<' => '>',
                '\'' => '\'',
                c if c.is_ascii_digit() || c == '-' => {
                    let n = chars[i + 3..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    return Some((ANY, 3 + n));
                }
                _ => return None,
            };
            let end = chars[i + 3..].iter().position(|&c| c == close)? + i + 3;
            Some((ANY, end + 1 - i))
        }
        _ => None,
    }
}

/// Weakened forms of groups: a lookaround becomes an empty group, an atomic
/// group an ordinary one. Returns the replacement and the chars used.
fn weak_group(chars: &[char], i: usize) -> Option<(&'static str, usize)> {
    let rest: String = chars[i + 1..chars.len().min(i + 4)].iter().collect();
    if rest.starts_with("?>") {
        return Some(("(?:", 3));
    }
    if !(rest.starts_with("?=")
        || rest.starts_with("?!")
        || rest.starts_with("?<=")
        || rest.starts_with("?<!"))
    {
        return None;
    }
    // Skip to the matching close paren, past escapes and classes.
    let mut depth = 0usize;
    let mut j = i;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 1,
            '[' => {
                j += 1;
                if chars.get(j) == Some(&'^') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' {
                        j += 1;
                    } else if chars[j] == '[' && chars.get(j + 1) == Some(&':') {
                        j += chars[j..]
                            .windows(2)
                            .position(|w| w == [':', ']'])
                            .map_or(0, |p| p + 1);
                    }
                    j += 1;
                }
            }
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(("(?:)", j + 1 - i));
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// `{n}`, `{n,}`, `{n,m}`, `{,m}` (Perl >= 5.34) at `i`; None when the brace
/// is a literal.
fn brace_quantifier(chars: &[char], i: usize) -> Option<(String, usize)> {
    let close = chars[i..].iter().position(|&c| c == '}')? + i;
    let inner: String = chars[i + 1..close].iter().collect();
    let (lo, hi) = match inner.split_once(',') {
        Some((a, b)) => (a.trim(), Some(b.trim())),
        None => (inner.trim(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if inner.contains(' ') {
        return None;
    }
    let q = match hi {
        None if digits(lo) => format!("{{{lo}}}"),
        Some("") if digits(lo) => format!("{{{lo},}}"),
        Some(h) if digits(h) && digits(lo) => format!("{{{lo},{h}}}"),
        Some(h) if digits(h) && lo.is_empty() => format!("{{0,{h}}}"),
        _ => return None,
    };
    Some((q, close - i + 1))
}

fn group_open(chars: &[char], i: usize) -> Result<(String, usize), Untranslatable> {
    // chars[i] == '(' and chars[i+1] == '?'
    let rest: String = chars[i + 2..chars.len().min(i + 6)].iter().collect();
    if rest.starts_with(':') {
        return Ok(("(?:".into(), 3));
    }
    if rest.starts_with('#') {
        let close = chars[i..]
            .iter()
            .position(|&c| c == ')')
            .ok_or(Untranslatable("unterminated comment"))?;
        return Ok((String::new(), close + 1));
    }
    if rest.starts_with("P<")
        || (rest.starts_with('<') && !rest.starts_with("<=") && !rest.starts_with("<!"))
    {
        let start = if rest.starts_with("P<") { i + 4 } else { i + 3 };
        let close = chars[start..]
            .iter()
            .position(|&c| c == '>')
            .ok_or(Untranslatable("unterminated group name"))?
            + start;
        let name: String = chars[start..close].iter().collect();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(Untranslatable("bad group name"));
        }
        return Ok((format!("(?P<{name}>"), close + 1 - i));
    }
    // Inline flags: (?imsx-imsx) or (?imsx-imsx: ...
    let mut j = i + 2;
    let mut flags = String::new();
    while let Some(&c) = chars.get(j) {
        match c {
            'i' | 's' | '-' => flags.push(c),
            'm' | 'x' | 'n' | '^' | 'a' | 'u' | 'l' | 'd' | 'p' => {
                return Err(Untranslatable("inline flag without an exact equivalent"));
            }
            ')' | ':' => {
                if flags.is_empty() || flags == "-" {
                    return Err(Untranslatable("empty inline flags"));
                }
                return Ok((format!("(?{flags}{c}"), j + 1 - i));
            }
            _ => return Err(Untranslatable("extended group syntax")),
        }
        j += 1;
    }
    Err(Untranslatable("unterminated group"))
}

/// An escape outside a class at `i` (a backslash). Returns text and chars used.
fn escape_outside(chars: &[char], i: usize) -> Result<(String, usize), Untranslatable> {
    let Some(&e) = chars.get(i + 1) else {
        return Err(Untranslatable("trailing backslash"));
    };
    let simple = |s: &str| Ok((s.to_string(), 2));
    match e {
        'd' | 'D' | 'w' | 'W' | 's' | 'S' | 'b' | 'B' | 'A' | 'z' | 'n' | 't' | 'r' | 'f' => {
            simple(&format!("\\{e}"))
        }
        'Z' => simple("(?:\\n?\\z)"),
        'e' => simple("\\x1B"),
        'a' => simple("\\x07"),
        'x' => {
            let (v, used) = hex_escape(chars, i)?;
            Ok((format!("\\x{v:02X}"), used))
        }
        '0' => {
            let (v, used) = octal_escape(chars, i)?;
            Ok((format!("\\x{v:02X}"), used))
        }
        '1'..='9' => Err(Untranslatable("back-reference")),
        c if c.is_ascii_alphanumeric() => Err(Untranslatable("escape without an exact equivalent")),
        c => {
            let mut s = String::new();
            push_byte_escape(&mut s, c)?;
            Ok((s, 2))
        }
    }
}

/// `\xH`, `\xHH`, `\x{H...}` at `i`; values above 0xFF are not bytes.
fn hex_escape(chars: &[char], i: usize) -> Result<(u32, usize), Untranslatable> {
    if chars.get(i + 2) == Some(&'{') {
        let close = chars[i + 3..]
            .iter()
            .position(|&c| c == '}')
            .ok_or(Untranslatable("unterminated \\x{"))?
            + i
            + 3;
        let hex: String = chars[i + 3..close]
            .iter()
            .filter(|c| !c.is_whitespace())
            .collect();
        let v = if hex.is_empty() {
            0
        } else {
            u32::from_str_radix(&hex, 16).map_err(|_| Untranslatable("bad \\x{}"))?
        };
        if v > 0xFF {
            return Err(Untranslatable("code point above 0xFF"));
        }
        return Ok((v, close + 1 - i));
    }
    let mut v = 0u32;
    let mut n = 0;
    while n < 2 {
        match chars.get(i + 2 + n).and_then(|c| c.to_digit(16)) {
            Some(d) => {
                v = v * 16 + d;
                n += 1;
            }
            None => break,
        }
    }
    Ok((v, 2 + n))
}

/// `\0`, `\0N`, `\0NN` at `i`.
fn octal_escape(chars: &[char], i: usize) -> Result<(u32, usize), Untranslatable> {
    let mut v = 0u32;
    let mut n = 0;
    while n < 3 {
        match chars.get(i + 1 + n).and_then(|c| c.to_digit(8)) {
            Some(d) => {
                v = v * 8 + d;
                n += 1;
            }
            None => break,
        }
    }
    if v > 0xFF {
        return Err(Untranslatable("octal above 0xFF"));
    }
    Ok((v, 1 + n))
}

/// A bracketed class starting at `i`.
fn class(chars: &[char], i: usize) -> Result<(String, usize), Untranslatable> {
    let mut out = String::from("[");
    let mut j = i + 1;
    if chars.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    // Items as (text, Some(byte) when a single char that can start a range).
    let mut first = true;
    let mut prev_single = false;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err(Untranslatable("unterminated class"));
        };
        if c == ']' && !first {
            out.push(']');
            return Ok((out, j + 1 - i));
        }
        first = false;
        if c == '[' && chars.get(j + 1) == Some(&':') {
            // POSIX class [:name:] / [:^name:]
            let close = chars[j + 2..]
                .windows(2)
                .position(|w| w == [':', ']'])
                .ok_or(Untranslatable("bad POSIX class"))?
                + j
                + 2;
            let name: String = chars[j + 2..close].iter().collect();
            let bare = name.strip_prefix('^').unwrap_or(&name);
            const NAMES: [&str; 14] = [
                "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print",
                "punct", "space", "upper", "word", "xdigit",
            ];
            if !NAMES.contains(&bare) {
                return Err(Untranslatable("unknown POSIX class"));
            }
            out.push_str(&format!("[:{name}:]"));
            j = close + 2;
            prev_single = false;
            continue;
        }
        if c == '-' {
            let next = chars.get(j + 1).copied();
            let is_range = prev_single && next.is_some_and(|n| n != ']');
            if is_range {
                // The range end must be a single char too.
                let (end_text, used, single) = class_item(chars, j + 1)?;
                if !single {
                    return Err(Untranslatable("range to a class escape"));
                }
                out.push('-');
                out.push_str(&end_text);
                j += 1 + used;
                prev_single = false;
                continue;
            }
            out.push_str("\\-");
            j += 1;
            prev_single = true;
            continue;
        }
        let (text, used, single) = class_item(chars, j)?;
        out.push_str(&text);
        j += used;
        prev_single = single;
    }
}

/// One class member at `j`: (text, chars used, is a single byte).
fn class_item(chars: &[char], j: usize) -> Result<(String, usize, bool), Untranslatable> {
    let c = chars[j];
    if c != '\\' {
        let mut s = String::new();
        push_class_literal(&mut s, c)?;
        return Ok((s, 1, true));
    }
    let Some(&e) = chars.get(j + 1) else {
        return Err(Untranslatable("trailing backslash in class"));
    };
    match e {
        'd' | 'D' | 'w' | 'W' | 's' | 'S' => Ok((format!("\\{e}"), 2, false)),
        'n' | 't' | 'r' | 'f' => Ok((format!("\\{e}"), 2, true)),
        'e' => Ok(("\\x1B".into(), 2, true)),
        'a' => Ok(("\\x07".into(), 2, true)),
        'b' => Ok(("\\x08".into(), 2, true)),
        'h' => Ok(("\\t\\x20\\xA0".into(), 2, false)),
        'v' => Ok(("\\n\\x0B\\x0C\\r\\x85".into(), 2, false)),
        'x' => {
            let (v, used) = hex_escape(chars, j)?;
            Ok((format!("\\x{v:02X}"), used, true))
        }
        '0'..='7' => {
            let (v, used) = octal_escape(chars, j)?;
            Ok((format!("\\x{v:02X}"), used, true))
        }
        c if c.is_ascii_alphanumeric() => {
            Err(Untranslatable("class escape without an exact equivalent"))
        }
        c => {
            let mut s = String::new();
            push_byte_escape(&mut s, c)?;
            Ok((s, 2, true))
        }
    }
}

fn push_literal(out: &mut String, c: char) -> Result<(), Untranslatable> {
    if c.is_ascii_alphanumeric() || c == ' ' || c == '_' {
        out.push(c);
        Ok(())
    } else {
        push_byte_escape(out, c)
    }
}

fn push_class_literal(out: &mut String, c: char) -> Result<(), Untranslatable> {
    push_literal(out, c)
}

/// Any byte as `\xHH`: safe in and out of classes, whatever `regex` thinks
/// of the character.
fn push_byte_escape(out: &mut String, c: char) -> Result<(), Untranslatable> {
    let v = c as u32;
    if v > 0xFF {
        return Err(Untranslatable("character above 0xFF"));
    }
    out.push_str(&format!("\\x{v:02X}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(s: &str) -> String {
        to_rust(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn rx(s: &str) -> regex::bytes::Regex {
        regex::bytes::Regex::new(&format!("(?-u){}", tr(s))).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn refuses_what_differs() {
        for p in [
            "a++", "a*+", "(?=x)", "(?!x)", "(?<=x)", "(?<!x)", "(?>x)", "(a)\\1", "\\h", "\\K",
            "\\Qx\\E", "(?m)x", "(?x)a b", "\\x{456}", "\\p{L}", "\\G",
        ] {
            assert!(to_rust(p).is_err(), "{p} should be refused");
        }
    }

    #[test]
    fn weakened_matches_a_superset() {
        for (p, w) in [
            ("a++b", "a+b"),
            ("x(?=ab(c))y", "x(?:)y"),
            ("x(?<![)]z)y", "x(?:)y"),
            ("(a)\\1b", "(a)(?s:.*)b"),
            ("(?<n>a)\\k<n>", "(?P<n>a)(?s:.*)"),
            ("(?>ab)c", "(?:ab)c"),
            ("ab\\Kc", "abc"),
        ] {
            assert_eq!(to_rust_weakened(p).as_deref(), Ok(w), "{p}");
        }
    }

    #[test]
    fn perl_literals() {
        assert!(rx("\\<b\\>").is_match(b"<b>"));
        assert!(rx("[[]").is_match(b"["));
        assert!(rx("[]a]").is_match(b"]"));
        assert!(rx("[a&&b]").is_match(b"&"));
        assert!(rx("[-a]").is_match(b"-"));
        assert!(rx("[a-]").is_match(b"-"));
        assert!(rx("[!--]").is_match(b","));
        assert!(!rx("[!--]").is_match(b"a"));
        assert!(rx("[~~]").is_match(b"~"));
        assert!(rx("a{,2}b").is_match(b"aab"));
        assert!(rx("x{a}").is_match(b"x{a}"));
        assert!(rx("\\@\\/\\#").is_match(b"@/#"));
        assert!(rx("[\\b]").is_match(b"\x08"));
        assert!(rx("\\x41\\x4").is_match(b"A\x04"));
        assert!(rx("\\0101").is_match(b"\x081"));
        assert!(rx("[\\x80-\\xff]").is_match(b"\xe9"));
        assert!(rx("[[:alpha:]]+").is_match(b"abc"));
        assert!(rx("a(?#comment)b").is_match(b"ab"));
        assert!(rx("(?i:ab)c").is_match(b"ABc"));
        assert!(rx("(?<n>a)").is_match(b"a"));
        assert!(rx("a#b").is_match(b"a#b"));
        assert!(rx("[a-z-]").is_match(b"-"));
        assert!(rx("[\\w-.]").is_match(b"."));
    }

    #[test]
    fn ascii_classes() {
        assert!(!rx("\\w").is_match("é".as_bytes()));
        assert!(!rx("\\s").is_match(b"\xa0"));
        assert!(rx("\\s").is_match(b"\x0b"));
        assert!(rx(".").is_match(b"\xff"));
    }
}
