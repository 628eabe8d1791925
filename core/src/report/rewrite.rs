//! `rewrite_mail`: the message as spamd's PROCESS returns it, with the
//! X-Spam-* headers added and, for spam, the configured rewriting.

use super::tags::{TagContext, Tagger};
use super::text::is_perl_space;
use super::{added_headers, report_text};
use crate::config::ReportConf;
use crate::message::{is_mbox_from, looks_like_field};
use crate::scan::Verdict;

/// The raw message split the way SpamAssassin's Message.pm splits it.
struct Pristine<'a> {
    /// An mbox `From ` line, re-emitted before the output.
    mbox_sep: &'a [u8],
    /// The header block, including the blank separator line when present.
    headers: Vec<u8>,
    body: Vec<u8>,
    crlf: bool,
}

fn squash_crlf(line: &[u8]) -> Vec<u8> {
    // Bug 7785 in SpamAssassin: a bare LF in a CRLF message gets its CR.
    let mut out = Vec::with_capacity(line.len() + 1);
    for (i, &b) in line.iter().enumerate() {
        if b == b'\n' && (i == 0 || line[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

impl<'a> Pristine<'a> {
    fn parse(raw: &'a [u8]) -> Self {
        let mut lines: Vec<&'a [u8]> = raw.split_inclusive(|&b| b == b'\n').collect();
        if lines.is_empty() {
            // SpamAssassin scans an empty input as a single newline.
            lines.push(b"\n");
        }
        let mut mbox_sep: &[u8] = b"";
        let mut start = 0;
        if is_mbox_from(lines[0]) {
            mbox_sep = lines[0];
            start = 1;
        }
        let rest = &lines[start..];
        let has_crlf = |l: &[u8]| l.windows(2).any(|w| w == b"\r\n");
        let crlf = match (rest.first(), rest.last()) {
            (Some(f), Some(l)) => has_crlf(f) || has_crlf(l),
            _ => false,
        };
        let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let mut headers = Vec::new();
        let mut body_head: Vec<u8> = Vec::new();
        let mut i = 0;
        let mut hdr_errors = 0;
        loop {
            let eof = i >= rest.len();
            let raw_line = if eof { ending } else { rest[i] };
            i += 1;
            let current = if crlf {
                squash_crlf(raw_line)
            } else {
                raw_line.to_vec()
            };
            if current.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                headers.extend_from_slice(&current);
                continue;
            }
            if current == ending {
                if !eof {
                    headers.extend_from_slice(&current);
                }
                break;
            }
            if current.starts_with(b"--")
                || (!looks_like_field(&current) && {
                    hdr_errors += 1;
                    hdr_errors > 3
                })
            {
                // The body begins with this line (as modified above).
                body_head = current;
                break;
            }
            headers.extend_from_slice(&current);
        }
        let consumed = i.min(rest.len());
        let mut body = body_head;
        for l in &rest[consumed..] {
            body.extend_from_slice(l);
        }
        Pristine {
            mbox_sep,
            headers,
            body,
            crlf,
        }
    }

    /// `get_pristine_header($name)` in list context: each value after the
    /// colon and blanks, continuation lines and final newline included.
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        let h = &self.headers;
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < h.len() {
            let line_end = h[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(h.len(), |p| pos + p + 1);
            let line = &h[pos..line_end];
            if line.len() > name.len() && line[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
                let after = &line[name.len()..];
                let blanks = after
                    .iter()
                    .take_while(|&&b| b == b' ' || b == b'\t')
                    .count();
                if after.get(blanks) == Some(&b':') {
                    let mut vstart = pos + name.len() + blanks + 1;
                    while vstart < h.len() && (h[vstart] == b' ' || h[vstart] == b'\t') {
                        vstart += 1;
                    }
                    // The value ends at the first newline not followed by a blank.
                    let mut end = None;
                    let mut k = vstart;
                    while k < h.len() {
                        if h[k] == b'\n' && !h.get(k + 1).is_some_and(|&b| b == b' ' || b == b'\t')
                        {
                            end = Some(k + 1);
                            break;
                        }
                        k += 1;
                    }
                    if let Some(e) = end {
                        out.push(&h[vstart..e]);
                        pos = e;
                        continue;
                    }
                }
            }
            pos = line_end;
        }
        out
    }

    /// `get_pristine_header($name)` in scalar context: the last value. A
    /// last field without a final newline escapes SpamAssassin's pristine
    /// regex; it then falls back to the parsed value (unfolded, trimmed,
    /// plus `\n`), which this mimics without RFC 2047 decoding.
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        if let Some(v) = self.header_values(name).last() {
            return Some(v.to_vec());
        }
        let h = &self.headers;
        let last_start = h.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if last_start >= h.len() {
            return None;
        }
        // The unterminated field may have started on an earlier line.
        let mut start = last_start;
        while h.get(start).is_some_and(|&b| b == b' ' || b == b'\t') && start > 0 {
            let prev_end = start - 1;
            start = h[..prev_end]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
        }
        let field = &h[start..];
        let colon = field.iter().position(|&b| b == b':')?;
        let key = field[..colon].trim_ascii_end();
        if !key.eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        let mut value = Vec::new();
        let mut i = colon + 1;
        while i < field.len() {
            if field[i] == b'\n' && field.get(i + 1).is_some_and(|&b| b == b' ' || b == b'\t') {
                value.push(b' ');
                i += 1;
                while field.get(i).is_some_and(|&b| b == b' ' || b == b'\t') {
                    i += 1;
                }
                continue;
            }
            value.push(field[i]);
            i += 1;
        }
        let mut value = value.trim_ascii().to_vec();
        value.push(b'\n');
        Some(value)
    }

    /// `_fixup_report_line_endings`: generated text follows the message.
    fn fix_endings(&self, text: &[u8]) -> Vec<u8> {
        if !self.crlf {
            return text.to_vec();
        }
        let mut out = Vec::with_capacity(text.len() + text.len() / 20);
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'\r' && text.get(i + 1) == Some(&b'\n') {
                i += 1;
                continue;
            }
            if text[i] == b'\n' {
                out.extend_from_slice(b"\r\n");
            } else {
                out.push(text[i]);
            }
            i += 1;
        }
        out
    }
}

/// The message as SpamAssassin's `rewrite_mail` returns it: for ham, or
/// spam with `report_safe 0`, the original with incoming X-Spam-* headers
/// replaced by ours and `rewrite_header` applied to spam; for spam with
/// `report_safe` 1 or 2, a new MIME message carrying the report and the
/// untouched original. The body of the original is never altered.
pub fn rewrite_mail(raw: &[u8], verdict: &Verdict, conf: &ReportConf, ctx: &TagContext) -> Vec<u8> {
    let msg = Pristine::parse(raw);
    let mut out = msg.mbox_sep.to_vec();
    if verdict.is_spam && conf.report_safe > 0 {
        out.extend(rewrite_report_safe(&msg, verdict, conf, ctx));
    } else {
        out.extend(rewrite_no_report_safe(&msg, verdict, conf, ctx));
    }
    out
}

/// A tag text for a header: expanded, newlines turned into `nl`.
fn header_tag(t: &Tagger, template: &str, nl: &str) -> Vec<u8> {
    t.expand(template).replace('\n', nl).into_bytes()
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

/// `s/^([^:]+:)[ \t]*(?:\Q$tag\E )?/$1 $tag /i` on one header line.
fn prefix_header_line(line: &[u8], tag: &[u8]) -> Vec<u8> {
    let Some(colon) = line.iter().position(|&b| b == b':').filter(|&c| c > 0) else {
        return line.to_vec();
    };
    let mut rest = &line[colon + 1..];
    while rest.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        rest = &rest[1..];
    }
    let mut tag_sp = tag.to_vec();
    tag_sp.push(b' ');
    if starts_with_ci(rest, &tag_sp) {
        rest = &rest[tag_sp.len()..];
    }
    let mut out = line[..=colon].to_vec();
    out.push(b' ');
    out.extend_from_slice(&tag_sp);
    out.extend_from_slice(rest);
    out
}

fn rewrite_no_report_safe(
    msg: &Pristine,
    verdict: &Verdict,
    conf: &ReportConf,
    ctx: &TagContext,
) -> Vec<u8> {
    let tagger = Tagger { verdict, conf, ctx };
    let mut lines: Vec<Vec<u8>> = msg
        .headers
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();

    // Incoming X-Spam-* fields (not X-Spam-Prev-*) go, with any following
    // X-Spam-* or continuation lines.
    let is_ours = |l: &[u8]| starts_with_ci(l, b"X-Spam-") && !starts_with_ci(&l[7..], b"Prev-");
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(lines.len());
    let mut dropping = false;
    for l in lines.drain(..) {
        if is_ours(&l) || (dropping && l.first().is_some_and(|&b| b == b' ' || b == b'\t')) {
            dropping = true;
            continue;
        }
        dropping = false;
        kept.push(l);
    }
    let mut lines = kept;
    let mut separator = Vec::new();
    if lines
        .last()
        .is_some_and(|l| l.iter().all(|&b| is_perl_space(b)))
    {
        separator = lines.pop().unwrap_or_default();
    }

    let has_subject = msg.header("Subject").is_some();
    let mut created_subject = false;
    if !has_subject && conf.rewrite_subject.is_some() {
        lines.push(b"Subject: \n".to_vec());
        created_subject = true;
    }
    let subjprefix = ctx.subjprefix.as_ref().map(|p| {
        let mut t = header_tag(&tagger, p, " ");
        while t.last().is_some_and(|&b| is_perl_space(b)) {
            t.pop();
        }
        t
    });
    let mut prev: Vec<Vec<u8>> = Vec::new();
    for line in lines.iter_mut() {
        let which = if starts_with_ci(line, b"Subject:") {
            conf.rewrite_subject.as_ref().map(|t| (t, false))
        } else if !verdict.is_spam {
            None
        } else if starts_with_ci(line, b"From:") {
            conf.rewrite_from.as_ref().map(|t| (t, true))
        } else if starts_with_ci(line, b"To:") {
            conf.rewrite_to.as_ref().map(|t| (t, true))
        } else {
            None
        };
        let Some((template, comment)) = which else {
            continue;
        };
        if verdict.is_spam {
            // SpamAssassin records "(nonexistent)" for every rewritten
            // field once it had to create the Subject.
            if created_subject {
                prev.push(b"X-Spam-Prev-Subject: (nonexistent)\n".to_vec());
            } else {
                let mut p = b"X-Spam-Prev-".to_vec();
                p.extend_from_slice(line);
                prev.push(p);
            }
        }
        if let Some(ntag) = &subjprefix {
            *line = prefix_header_line(line, ntag);
        }
        if verdict.is_spam {
            let mut tag = header_tag(&tagger, template, " ");
            if comment {
                tag.insert(0, b'(');
                tag.push(b')');
            }
            *line = prefix_header_line(line, &tag);
        }
    }
    lines.extend(prev);

    let mut pre: Vec<u8> = Vec::new();
    let mut rest = lines.as_slice();
    if rest
        .first()
        .is_some_and(|l| starts_with_ci(l, b"Return-Path:"))
    {
        pre.extend_from_slice(&rest[0]);
        rest = &rest[1..];
        while rest
            .first()
            .is_some_and(|l| l.first().is_some_and(|&b| b == b' ' || b == b'\t'))
        {
            pre.extend_from_slice(&rest[0]);
            rest = &rest[1..];
        }
    }
    pre.extend_from_slice(added_headers(verdict, conf, ctx).as_bytes());
    for l in rest {
        pre.extend_from_slice(l);
    }
    pre.extend_from_slice(&separator);
    let mut out = msg.fix_endings(&pre);
    out.extend_from_slice(&msg.body);
    out
}

/// `s/(?:\t\Q($tag)\E)?$/\t($tag)/`: the comment goes before the value's
/// final newline, replacing one already there.
fn append_comment(value: &[u8], tag: &[u8]) -> Vec<u8> {
    let dollar = if value.ends_with(b"\n") {
        value.len() - 1
    } else {
        value.len()
    };
    let mut comment = b"\t(".to_vec();
    comment.extend_from_slice(tag);
    comment.push(b')');
    let cut = if value[..dollar].ends_with(&comment) {
        dollar - comment.len()
    } else {
        dollar
    };
    let mut out = value[..cut].to_vec();
    out.extend_from_slice(&comment);
    out.extend_from_slice(&value[dollar..]);
    out
}

/// A pseudo-random sequence for boundary extensions (xorshift32).
fn next_random(x: u32) -> u32 {
    let mut x = if x == 0 { 0x9e37_79b9 } else { x };
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

fn contains_boundary_line(original: &[u8], boundary: &[u8]) -> bool {
    // /^\Q$boundary\E(?:--)?$/m
    original.split(|&b| b == b'\n').any(|l| {
        l == boundary
            || (l.len() == boundary.len() + 2 && l.starts_with(boundary) && l.ends_with(b"--"))
    })
}

fn rewrite_report_safe(
    msg: &Pristine,
    verdict: &Verdict,
    conf: &ReportConf,
    ctx: &TagContext,
) -> Vec<u8> {
    let tagger = Tagger { verdict, conf, ctx };
    let charset = if conf.report_charset.is_empty() {
        "UTF-8"
    } else {
        conf.report_charset.as_str()
    };
    let mut report = report_text(verdict, conf, ctx);

    let mut from = msg.header("From");
    let mut to = msg.header("To");
    let cc = msg.header("Cc");
    let mut subject = msg.header("Subject");
    let msgid = msg.header("Message-Id");
    let date = msg.header("Date");

    if let Some(t) = &conf.rewrite_subject {
        let mut s = subject.take().unwrap_or_else(|| b"\n".to_vec());
        if let Some(p) = &ctx.subjprefix {
            let mut v = header_tag(&tagger, p, " ");
            v.extend_from_slice(&s);
            s = v;
        }
        let mut tag = header_tag(&tagger, t, " ");
        tag.push(b' ');
        // The tag may already be there: replace rather than repeat it.
        let body = if s.starts_with(&tag) {
            &s[tag.len()..]
        } else {
            &s[..]
        };
        let mut v = tag.clone();
        v.extend_from_slice(body);
        subject = Some(v);
    }
    if let Some(t) = &conf.rewrite_to {
        let v = to.take().unwrap_or_else(|| b"\n".to_vec());
        to = Some(append_comment(&v, &header_tag(&tagger, t, " ")));
    }
    if let Some(t) = &conf.rewrite_from {
        // From's tag loses its newlines instead of turning them into spaces.
        let v = from.take().unwrap_or_else(|| b"\n".to_vec());
        from = Some(append_comment(&v, &header_tag(&tagger, t, "")));
    }

    let mut newmsg: Vec<u8> = Vec::new();
    for (name, value) in [
        ("From", &from),
        ("To", &to),
        ("Cc", &cc),
        ("Subject", &subject),
        ("Date", &date),
        ("Message-Id", &msgid),
    ] {
        if let Some(v) = value {
            newmsg.extend_from_slice(name.as_bytes());
            newmsg.extend_from_slice(b": ");
            newmsg.extend_from_slice(v);
        }
    }
    newmsg.extend_from_slice(added_headers(verdict, conf, ctx).as_bytes());

    let mut done: Vec<String> = ["from", "to", "cc", "subject", "date", "message-id"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for hdr in &conf.report_safe_copy_headers {
        let lc = hdr.to_ascii_lowercase();
        if done.contains(&lc) {
            continue;
        }
        done.push(lc.clone());
        let mut text = Vec::new();
        for v in msg.header_values(hdr) {
            text.extend_from_slice(hdr.as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(v);
        }
        if lc == "received" {
            // Received fields belong at the top.
            text.extend_from_slice(&newmsg);
            newmsg = text;
        } else {
            newmsg.extend_from_slice(&text);
        }
    }

    let mut top = format!(
        "Received: from localhost by {}\n\twith SpamAssassin (version {});\n\t{}\n",
        ctx.hostname,
        crate::SA_VERSION,
        ctx.date
    )
    .into_bytes();
    top.extend_from_slice(&newmsg);
    let mut newmsg = top;

    let original: Vec<u8> = [msg.headers.as_slice(), msg.body.as_slice()].concat();
    let mut boundary = format!("----------=_{:08X}.{:08X}", ctx.time as u32, ctx.random);
    let mut r = ctx.random;
    while contains_boundary_line(&original, boundary.as_bytes()) {
        r = next_random(r);
        boundary.push_str(&format!("/{r:08X}"));
    }

    let attachment = msg.header("Content-Type").is_some_and(|ct| {
        !String::from_utf8_lossy(&ct)
            .to_ascii_lowercase()
            .contains("text/plain")
    });
    if attachment {
        report.push_str(&tagger.expand(&conf.unsafe_report_template));
    }
    let kind = if conf.report_safe > 1 {
        "text/plain"
    } else {
        "message/rfc822"
    };
    let disposition = if attachment { "attachment" } else { "inline" };
    let structure = format!(
        "MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\
         \n\
         This is a multi-part message in MIME format.\n\
         \n\
         --{boundary}\n\
         Content-Type: text/plain; charset={charset}\n\
         Content-Disposition: inline\n\
         Content-Transfer-Encoding: 8bit\n\
         \n\
         {report}\n\
         \n\
         --{boundary}\n\
         Content-Type: {kind}; x-spam-type=original\n\
         Content-Description: {}\n\
         Content-Disposition: {disposition}\n\
         Content-Transfer-Encoding: 8bit\n\
         \n",
        conf.encapsulated_content_description
    );
    newmsg.extend_from_slice(structure.as_bytes());
    let trailer = format!("\n--{boundary}--\n\n");
    let mut out = msg.fix_endings(&newmsg);
    out.extend_from_slice(&original);
    out.extend_from_slice(&msg.fix_endings(trailer.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_shapes() {
        let m = Pristine::parse(b"From x@y Mon Jan  1 00:00:00 2024\nSubject: a\n b\n\nbody\n");
        assert_eq!(m.mbox_sep, b"From x@y Mon Jan  1 00:00:00 2024\n");
        assert_eq!(m.headers, b"Subject: a\n b\n\n");
        assert_eq!(m.body, b"body\n");
        assert_eq!(m.header("subject").as_deref(), Some(&b"a\n b\n"[..]));

        let m = Pristine::parse(b"Subject: x");
        assert_eq!(m.headers, b"Subject: x");
        assert!(m.body.is_empty());
        // An unterminated last field is still found, as SpamAssassin's
        // fallback to the parsed header finds it.
        assert_eq!(m.header("Subject").as_deref(), Some(&b"x\n"[..]));
        assert_eq!(
            Pristine::parse(b"A: 1\nB: 2\n 3").header("b").as_deref(),
            Some(&b"2 3\n"[..])
        );
        assert_eq!(m.header("Cc"), None);

        let m = Pristine::parse(b"");
        assert_eq!(m.headers, b"\n");

        let m = Pristine::parse(b"A: 1\r\nB: 2\n\r\nbody\n");
        assert!(m.crlf);
        assert_eq!(m.headers, b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(m.body, b"body\n");

        let m = Pristine::parse(b"A: 1\n--b\nrest\n");
        assert_eq!(m.headers, b"A: 1\n");
        assert_eq!(m.body, b"--b\nrest\n");

        let m = Pristine::parse(b"a\nb\nc\nd\ne\n");
        assert_eq!(m.headers, b"a\nb\nc\n");
        assert_eq!(m.body, b"d\ne\n");
        assert!(Pristine::parse(b"From\n").mbox_sep == b"From\n");
        assert!(Pristine::parse(b"From : x\n\n").mbox_sep.is_empty());
    }

    #[test]
    fn comments() {
        assert_eq!(append_comment(b"a@b\n", b"SPAM"), b"a@b\t(SPAM)\n");
        assert_eq!(append_comment(b"a@b\t(SPAM)\n", b"SPAM"), b"a@b\t(SPAM)\n");
        assert_eq!(append_comment(b"a@b\r\n", b"S"), b"a@b\r\t(S)\n");
        assert_eq!(
            prefix_header_line(b"Subject: [s] hi\n", b"[S]"),
            b"Subject: [S] hi\n"
        );
        assert_eq!(
            prefix_header_line(b"Subject:\n", b"[S]"),
            b"Subject: [S] \n"
        );
    }
}
