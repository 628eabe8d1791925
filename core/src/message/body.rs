//! The text views of the body: SpamAssassin's rendered body array for
//! `body` rules (`Message.pm` `get_body_text_array_common`) and the decoded
//! body array for `rawbody` rules (`get_decoded_body_text_array`).

use super::charset::normalize_flagged;
use super::html;
use super::html_stats::HtmlStats;
use super::mime::{MAX_LINE, Node, Parsed};

/// `body_part_scan_size`: characters of each rendered part that are kept.
pub(crate) const BODY_PART_SCAN_SIZE: usize = 50_000;
/// `rawbody_part_scan_size`: bytes of each decoded part that are kept.
pub(crate) const RAWBODY_PART_SCAN_SIZE: usize = 500_000;
/// How far past the scan size a cut may look for a line end or blank.
const CUT_SLACK: usize = 1024;

/// Leaves of the tree in document order (`find_parts(qr/./, 1)`).
pub(crate) fn leaves(p: &Parsed) -> Vec<usize> {
    let mut out = Vec::new();
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        let Some(node) = p.nodes.get(i) else { continue };
        match &node.children {
            None => {
                if !node.ctype.is_empty() {
                    out.push(i);
                }
            }
            Some(c) => stack.extend(c.iter().rev()),
        }
    }
    out
}

/// A text part rendered: plain text decoded, HTML turned into text.
pub(crate) struct RenderedPart {
    pub text: String,
    /// Perl would hold this text as characters (UTF-8 flag on).
    pub flagged: bool,
    /// The text given to the HTML parser was characters (decoded).
    pub input_flagged: bool,
    pub html: Option<html::Rendered>,
}

/// `Node::rendered` under `normalize_charset 1`; None for non-text parts.
pub(crate) fn render_part(node: &Node) -> Option<RenderedPart> {
    let ty = node.effective_type();
    if ty != "text/plain" && ty != "text/html" {
        return None;
    }
    let is_html = ty == "text/html";
    let raw = node.decoded();
    let charset = node.charset.as_deref().unwrap_or("us-ascii");
    let _scope = super::charset::detect_scope(node.detect);
    let (text, flagged) = normalize_flagged(&raw, charset, false);
    if is_html && !raw.is_empty() {
        let mut r = html::render(&text);
        // Entities above U+00FF force Perl to upgrade the string.
        let input_flagged = flagged;
        let flagged = flagged || r.text.chars().any(|c| u32::from(c) > 0xff);
        r.stats.finish(&r.text, flagged);
        Some(RenderedPart {
            text: r.text.clone(),
            flagged,
            input_flagged,
            html: Some(r),
        })
    } else {
        Some(RenderedPart {
            text,
            flagged,
            input_flagged: flagged,
            html: None,
        })
    }
}

/// Cut `s` after `limit` characters, preferring a newline (then a blank)
/// within the next KiB, as SpamAssassin does.
fn cut_chars(s: &mut String, limit: usize) {
    let Some((byte_at, _)) = s.char_indices().nth(limit) else {
        return;
    };
    let find_within = |needle: char| {
        s[byte_at..]
            .char_indices()
            .take(CUT_SLACK + 1)
            .find(|&(_, c)| c == needle)
            .map(|(i, c)| byte_at + i + c.len_utf8())
    };
    let end = find_within('\n')
        .or_else(|| find_within(' '))
        .unwrap_or(byte_at);
    s.truncate(end);
}

/// Whitespace normalisation of the rendered text: a run of whitespace that
/// holds two or more newlines becomes a paragraph break (keeping any blanks
/// before the first and after the last newline as a space each); every
/// other run becomes one space.
pub(crate) fn squeeze(text: &str, unicode: bool) -> String {
    // Perl's `\s` is Unicode-aware only on strings with the UTF-8 flag.
    let is_ws = |c: char| {
        if unicode {
            c.is_whitespace()
        } else {
            matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if !is_ws(c) {
            out.push(c);
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, d)) = chars.peek() {
            if !is_ws(d) {
                break;
            }
            end = i + d.len_utf8();
            chars.next();
        }
        let run = &text[start..end];
        let first = run.find('\n');
        let last = run.rfind('\n');
        match (first, last) {
            (Some(f), Some(l)) if f != l => {
                if f > 0 {
                    out.push(' ');
                }
                out.push('\n');
                if l + 1 < run.len() {
                    out.push(' ');
                }
            }
            _ => out.push(' '),
        }
    }
    out
}

/// Split into lines after each `\n`; lines over 2048 bytes are cut after
/// the last blank within the limit, else hard at the limit.
pub(crate) fn split_short_lines(s: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in s.split_inclusive(|&b| b == b'\n') {
        let mut line = line;
        while line.len() > MAX_LINE {
            let window = &line[..=MAX_LINE];
            let len = window
                .iter()
                .rposition(|&b| b == b' ')
                .map_or(MAX_LINE, |p| p + 1);
            out.push(line[..len].to_vec());
            line = &line[len..];
        }
        out.push(line.to_vec());
    }
    out
}

/// Split raw text into chunks of 2 to 4 KiB, preferring to end them at a
/// newline, then '>', then a blank.
pub(crate) fn split_short_paragraphs(s: &[u8]) -> Vec<Vec<u8>> {
    let n = s.len();
    if n <= MAX_LINE {
        return vec![s.to_vec()];
    }
    let find_from = |needle: u8, from: usize| {
        s[from.min(n)..]
            .iter()
            .position(|&b| b == needle)
            .map(|p| p + from)
    };
    let mut out = Vec::new();
    let mut ofs = 0;
    while n - ofs > 2 * MAX_LINE {
        let ok = |j: Option<usize>| j.filter(|&j| j - ofs < 2 * MAX_LINE);
        let j = ok(find_from(b'\n', ofs + MAX_LINE))
            .or_else(|| ok(find_from(b'>', ofs + MAX_LINE)))
            .or_else(|| ok(find_from(b' ', ofs + MAX_LINE)))
            .unwrap_or(ofs + MAX_LINE);
        out.push(s[ofs..=j].to_vec());
        ofs = j + 1;
    }
    if ofs < n {
        out.push(s[ofs..].to_vec());
    }
    out
}

/// Everything the body views need, computed in one pass over the parts.
pub(crate) struct BodyViews {
    /// Exact SpamAssassin body array (Subject line first), as bytes.
    pub lines: Vec<Vec<u8>>,
    /// The rendered, squeezed text without the Subject line (lossy UTF-8
    /// when SpamAssassin would keep Latin-1 bytes).
    pub text: String,
    /// URIs from HTML attributes, raw.
    pub html_uris: Vec<String>,
    /// For each of `html_uris`: Perl holds it as characters (its part was
    /// decoded, or it has a character above U+00FF).
    pub html_uris_flagged: Vec<bool>,
    /// Facts about each non-empty HTML part, in order.
    pub html_stats: Vec<HtmlStats>,
}

/// Build the body rule input.
pub(crate) fn body_views(p: &Parsed) -> BodyViews {
    let mut text = String::new();
    let mut html_uris = Vec::new();
    let mut html_uris_flagged = Vec::new();
    let mut html_stats = Vec::new();
    let mut flagged = false;
    for i in leaves(p) {
        if !text.is_empty() {
            text.push('\n');
        }
        if let Some(mut r) = render_part(&p.nodes[i]) {
            cut_chars(&mut r.text, BODY_PART_SCAN_SIZE);
            text.push_str(&r.text);
            flagged |= r.flagged;
            if let Some(h) = r.html {
                html_uris_flagged.extend(
                    h.uris
                        .iter()
                        .map(|u| r.input_flagged || u.chars().any(|c| u32::from(c) > 0xff)),
                );
                html_uris.extend(h.uris);
                html_stats.push(h.stats);
            }
        }
    }
    // SpamAssassin marks paragraph breaks with NUL, so NULs already in the
    // text end up as line breaks too.
    let text = squeeze(&text, flagged).replace('\0', "\n");
    let subject = p
        .nodes
        .first()
        .and_then(|n| n.headers.last("subject"))
        .map_or_else(|| "\n".to_owned(), |s| format!("{s}\n"));
    let mut all = subject.into_bytes();
    if flagged {
        all.extend_from_slice(text.as_bytes());
    } else {
        // Every character is below U+0100 here: one byte each, as Perl
        // leaves a string without the UTF-8 flag.
        all.extend(
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
        );
    }
    BodyViews {
        lines: split_short_lines(&all),
        text,
        html_uris,
        html_uris_flagged,
        html_stats,
    }
}

/// Cut raw bytes after `limit`, preferring a newline, '>' or blank within
/// the next KiB.
fn cut_bytes(v: &mut Vec<u8>, limit: usize) {
    if v.len() <= limit {
        return;
    }
    let within = |needle: u8| {
        v[limit..]
            .iter()
            .position(|&b| b == needle)
            .filter(|&p| p <= CUT_SLACK)
            .map(|p| limit + p + 1)
    };
    let end = within(b'\n')
        .or_else(|| within(b'>'))
        .or_else(|| within(b' '))
        .unwrap_or(limit);
    v.truncate(end);
}

/// Build the rawbody rule input.
pub(crate) fn rawbody_chunks(p: &Parsed) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in leaves(p) {
        let node = &p.nodes[i];
        let et = node.effective_type();
        let texty = et.starts_with("text") || et.starts_with("message");
        let word_end = |prefix: &str| {
            et.as_bytes()
                .get(prefix.len())
                .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
        };
        if !texty || !(word_end("text") || word_end("message")) || node.ctype == "text/calendar" {
            continue;
        }
        let mut raw = node.decoded();
        cut_bytes(&mut raw, RAWBODY_PART_SCAN_SIZE);
        out.extend(split_short_paragraphs(&raw));
    }
    out
}

/// Whether Perl holds one view (visible or invisible text) of a rendered
/// HTML part as characters.
fn view_flagged(r: &RenderedPart, view: &str) -> bool {
    !view.is_empty() && (r.input_flagged || view.chars().any(|c| u32::from(c) > 0xff))
}

/// Which rendering of the text parts Bayes reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visibility {
    Visible,
    Invisible,
}

/// SpamAssassin's visible or invisible rendered body array (Bayes'
/// token sources): like the body rule input, but HTML parts contribute
/// only their visible (or only their invisible) text, and the invisible
/// array has no Subject line.
pub(crate) fn visibility_lines(p: &Parsed, which: Visibility) -> Vec<Vec<u8>> {
    let mut text = String::new();
    let mut flagged = false;
    for i in leaves(p) {
        if !text.is_empty() {
            text.push('\n');
        }
        if let Some(r) = render_part(&p.nodes[i]) {
            // Each view is its own Perl string: an HTML view is the join of
            // its chunks (flagged when the part was decoded or one of its
            // chunks holds an entity above U+00FF; an empty view is a plain
            // ''), and a plain part's invisible view is always ''.
            let (mut t, f) = match (&r.html, which) {
                (Some(h), Visibility::Visible) => (h.visible.clone(), view_flagged(&r, &h.visible)),
                (Some(h), Visibility::Invisible) => {
                    (h.invisible.clone(), view_flagged(&r, &h.invisible))
                }
                (None, Visibility::Visible) => (r.text.clone(), r.flagged),
                (None, Visibility::Invisible) => (String::new(), false),
            };
            cut_chars(&mut t, BODY_PART_SCAN_SIZE);
            text.push_str(&t);
            flagged |= f;
        }
    }
    let text = squeeze(&text, flagged).replace('\0', "\n");
    let mut all = match which {
        Visibility::Invisible => Vec::new(),
        Visibility::Visible => p
            .nodes
            .first()
            .and_then(|n| n.headers.last("subject"))
            .map_or_else(|| "\n".to_owned(), |s| format!("{s}\n"))
            .into_bytes(),
    };
    if flagged {
        all.extend_from_slice(text.as_bytes());
    } else {
        all.extend(
            text.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
        );
    }
    split_short_lines(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeeze_paragraphs() {
        assert_eq!(squeeze("a  b\nc\n\n d \n \n\ne\n", true), "a b c\n d \ne ");
        assert_eq!(squeeze("x\u{3000}y\u{a0}z", true), "x y z");
        assert_eq!(squeeze("x\u{a0}z", false), "x\u{a0}z");
    }

    #[test]
    fn short_lines() {
        let long = format!("{} {}\n", "a".repeat(2000), "b".repeat(100));
        let v = split_short_lines(long.as_bytes());
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].len(), 2001);
        let hard = "c".repeat(5000);
        let v = split_short_lines(hard.as_bytes());
        assert_eq!(
            v.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![2048, 2048, 904]
        );
    }
}
