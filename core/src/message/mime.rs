//! The MIME tree as SpamAssassin builds it (`Message.pm` `new`,
//! `_parse_multipart`, `_parse_normal`): line-oriented, tolerant, with its
//! particular answers for a missing separator, a missing boundary, a missing
//! Content-Type and nested message/rfc822 parts.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::decode::{base64_decode, qp_decode};
use super::headers::{Headers, MAX_KEY, MAX_VALUE, is_space};

/// `MAX_BODY_LINE_LENGTH`: MIME body lines are cut to this many bytes.
pub(crate) const MAX_LINE: usize = 2048;
/// How many MIME levels are parsed (SpamAssassin's `subparse` default).
const MAX_DEPTH: i32 = 20;
/// Parts per multipart before SpamAssassin stops parsing.
const MAX_PARTS: usize = 1000;

/// One node of the tree: the message itself, a MIME part, or an embedded
/// message/rfc822.
#[derive(Debug, Clone, Default)]
pub(crate) struct Node {
    pub headers: Headers,
    /// SpamAssassin's `{type}`: lowercased, defaults applied.
    pub ctype: String,
    pub charset: Option<String>,
    /// File name from Content-Disposition or Content-Type.
    pub name: Option<String>,
    /// The undecoded body of a leaf.
    pub body: Vec<u8>,
    /// Children; `None` for a leaf.
    pub children: Option<Vec<usize>>,
    /// Oddities the parser met in this node (see `ParseFlags`).
    pub flags: super::mime_stats::ParseFlags,
    /// Render with charset detection (`normalize_charset_detect`).
    pub detect: bool,
}

impl Node {
    /// `effective_type`: a part named `*.htm(l)`/`*.shtml` is HTML.
    pub fn effective_type(&self) -> &str {
        if let Some(name) = &self.name {
            let l = name.to_ascii_lowercase();
            if l.ends_with(".html")
                || l.ends_with(".htm")
                || l.ends_with(".shtml")
                || l.ends_with(".shtm")
            {
                return "text/html";
            }
        }
        &self.ctype
    }

    /// Transfer-decoded body (`Node::decode`): QP and base64 decoded, CRLF
    /// made LF where SpamAssassin does; other encodings passed through.
    pub fn decoded(&self) -> Vec<u8> {
        let cte = self
            .headers
            .last("content-transfer-encoding")
            .unwrap_or("")
            .to_ascii_lowercase();
        match cte.as_str() {
            "quoted-printable" => crlf_to_lf(qp_decode(&self.body)),
            "base64" => {
                let d = base64_decode(&self.body);
                let t = self.ctype.to_ascii_lowercase();
                if t.starts_with("text/") || t.starts_with("message/") {
                    crlf_to_lf(d)
                } else {
                    d
                }
            }
            _ => self.body.clone(),
        }
    }
}

fn crlf_to_lf(v: Vec<u8>) -> Vec<u8> {
    if !v.windows(2).any(|w| w == b"\r\n") {
        return v;
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\r' && v.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

/// The parsed message: the tree plus facts about the top-level header block.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    /// Length of a leading mbox `From ` line (0 if none).
    pub mbox_len: usize,
    /// Offset in the raw bytes where the body starts.
    pub body_offset: usize,
    /// The header block ended without a blank line.
    pub missing_separator: bool,
}

/// Split after each `\n` (Perl's `split /^/m`).
pub(crate) fn split_lines(data: &[u8]) -> Vec<Vec<u8>> {
    data.split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Does this line open like an mbox separator (`From` + blanks, no colon)?
pub(crate) fn is_mbox_from(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From") else {
        return false;
    };
    let n = rest.iter().take_while(|&&b| is_space(b)).count();
    n >= 2 || (n == 1 && rest.get(1) != Some(&b':'))
}

/// `^[\041-\071\073-\176]+[ \t]*:` — a header field line.
pub(crate) fn looks_like_field(line: &[u8]) -> bool {
    let n = line
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
        .count();
    if n == 0 {
        return false;
    }
    let rest = &line[n..];
    let blanks = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    rest.get(blanks) == Some(&b':')
}

/// `^[\041-\071\073-\176]+:` — a header field line with no blank before
/// the colon, what the boundary checks expect to follow a boundary.
fn strict_field(line: &[u8]) -> bool {
    let n = line
        .iter()
        .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
        .count();
    n > 0 && line.get(n) == Some(&b':')
}

/// Parse a whole message: the top-level node is `nodes[0]`.
pub(crate) fn parse(raw: &[u8]) -> Parsed {
    let mut nodes = Vec::new();
    let info = parse_message(split_lines(raw), MAX_DEPTH, &mut nodes, true);
    Parsed {
        nodes,
        mbox_len: info.mbox_len,
        body_offset: info.consumed.min(raw.len()),
        missing_separator: info.missing_separator,
    }
}

struct MessageInfo {
    mbox_len: usize,
    consumed: usize,
    missing_separator: bool,
}

/// `Message->new`: header block, body cleanup, then the MIME parse. Returns
/// the node index (always the first node it pushes).
fn parse_message(
    mut lines: Vec<Vec<u8>>,
    subparse: i32,
    nodes: &mut Vec<Node>,
    top: bool,
) -> MessageInfo {
    let idx = nodes.len();
    nodes.push(Node::default());
    if lines.is_empty() {
        lines.push(b"\n".to_vec());
    }
    let mut mbox_len = 0;
    let mut consumed = 0;
    let mut pos = 0;
    if is_mbox_from(&lines[0]) {
        mbox_len = lines[0].len();
        consumed = mbox_len;
        pos = 1;
    }
    let crlf = lines
        .get(pos)
        .is_some_and(|l| l.windows(2).any(|w| w == b"\r\n"))
        || lines
            .last()
            .is_some_and(|l| l.windows(2).any(|w| w == b"\r\n"));
    let ending: &[u8] = if crlf { b"\r\n" } else { b"\n" };

    let mut headers = Headers::default();
    let mut errors = 0;
    let mut missing_separator = false;
    let mut current_field: Option<Vec<u8>> = None;
    loop {
        let eof = pos >= lines.len();
        let mut current = if eof {
            ending.to_vec()
        } else {
            lines[pos].clone()
        };
        if crlf {
            current = lone_lf_to_crlf(&current);
        }
        if matches!(current.first(), Some(b' ' | b'\t')) {
            current_field
                .get_or_insert_with(Vec::new)
                .extend_from_slice(&current);
            consumed += if eof { 0 } else { lines[pos].len() };
            pos += 1;
            continue;
        }
        if let Some(field) = current_field.take() {
            nodes[idx].flags.truncated_header |= store_top_field(&mut headers, &field, crlf);
        }
        if current == ending {
            if eof {
                missing_separator = true;
            } else {
                consumed += lines[pos].len();
                pos += 1;
            }
            break;
        }
        if current.starts_with(b"--") {
            missing_separator = true;
            break;
        }
        if !looks_like_field(&current) {
            errors += 1;
            if errors > 3 {
                missing_separator = true;
                break;
            }
        }
        current_field = Some(current);
        consumed += if eof { 0 } else { lines[pos].len() };
        pos += 1;
    }
    if top {
        // SpamAssassin deletes incoming X-Spam-* before any rule runs.
        headers.remove_prefix("x-spam-");
    }

    let mut body: Vec<Vec<u8>> = lines.split_off(pos.min(lines.len()));
    if crlf {
        for l in &mut body {
            if l.ends_with(b"\r\n") {
                l.truncate(l.len() - 2);
                l.push(b'\n');
            }
        }
    }
    trim_blank_runs(&mut body);

    let ct = parse_content_type(headers.last("content-type"));
    let mut ctype = ct.ctype.clone();
    if ctype.starts_with("multipart/") && body.len() > 1 && body[0].iter().any(|&b| !is_space(b)) {
        let starts_with_boundary = ct.boundary.as_ref().is_some_and(|b| {
            let mut pat = b"--".to_vec();
            pat.extend_from_slice(b.as_bytes());
            body[0].starts_with(&pat)
        });
        if !starts_with_boundary {
            body.insert(0, b"\n".to_vec());
        }
    }
    if ctype.is_empty() {
        ctype = "text/plain".into();
    }
    nodes[idx].headers = headers;
    nodes[idx].ctype = ctype;
    parse_body(idx, ct.boundary, body, subparse, nodes);
    MessageInfo {
        mbox_len,
        consumed,
        missing_separator,
    }
}

/// A top-level field: split at the first colon, blanks before it dropped,
/// name and value capped; a line with no colon is dropped.
fn store_top_field(headers: &mut Headers, field: &[u8], crlf: bool) -> bool {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return false;
    };
    let mut key = &field[..colon];
    while let Some((&last, rest)) = key.split_last() {
        if last == b' ' || last == b'\t' {
            key = rest;
        } else {
            break;
        }
    }
    let truncated = key.len() > MAX_KEY;
    let key = &key[..key.len().min(MAX_KEY)];
    let mut value = field[colon + 1..].to_vec();
    if crlf {
        value = crlf_to_lf(value);
    }
    let truncated = truncated || value.len() > MAX_VALUE;
    value.truncate(MAX_VALUE);
    headers.push(key, value);
    truncated
}

fn lone_lf_to_crlf(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 1);
    for (i, &b) in line.iter().enumerate() {
        if b == b'\n' && (i == 0 || line[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// Keep at most about 20 lines of any run of blank lines (SpamAssassin
/// trims them to bound the work of line-based rules).
fn trim_blank_runs(lines: &mut Vec<Vec<u8>>) {
    const MAX_BLANK: usize = 20;
    let blank = |l: &Vec<u8>| l.iter().all(|&b| is_space(b));
    let mut start: Option<usize> = None;
    let mut cnt = lines.len();
    while cnt > 0 {
        cnt -= 1;
        if blank(&lines[cnt]) {
            if start.is_none() {
                start = Some(cnt);
            }
            if cnt != 0 {
                continue;
            }
        }
        if let Some(s) = start.take() {
            let num = s - cnt;
            if num > MAX_BLANK {
                let from = (cnt + 2).min(lines.len());
                let to = (from + num - MAX_BLANK).min(lines.len());
                lines.drain(from..to);
            }
        }
    }
}

/// `parse_body` for one queued node.
fn parse_body(
    idx: usize,
    boundary: Option<String>,
    body: Vec<Vec<u8>>,
    subparse: i32,
    nodes: &mut Vec<Node>,
) {
    let is_multipart = nodes[idx].ctype.starts_with("multipart/");
    match boundary {
        Some(b) if is_multipart && subparse > 0 => parse_multipart(idx, &b, body, subparse, nodes),
        boundary => {
            parse_normal(idx, boundary.as_deref(), body, nodes);
            let t = nodes[idx].ctype.clone();
            if t.starts_with("message/") && t != "message/partial" && subparse > 0 {
                let decoded = nodes[idx].decoded();
                if (t == "message/rfc822" || t == "message/global") && !decoded.is_empty() {
                    let child = nodes.len();
                    parse_message(split_lines(&decoded), subparse - 1, nodes, false);
                    nodes[idx].children = Some(vec![child]);
                    nodes[idx].body = Vec::new();
                }
            }
        }
    }
}

/// Is `line` `--boundary` (optionally `--` after), then only whitespace?
/// Returns Some(is_last) when it is.
fn boundary_line(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (last, rest) = match rest.strip_prefix(b"--") {
        Some(r) if r.iter().all(|&b| is_space(b)) => (true, r),
        _ => (false, rest),
    };
    rest.iter().all(|&b| is_space(b)).then_some(last)
}

/// Push a body line, cut into `MAX_LINE` pieces each given a newline.
fn push_cut(part: &mut Vec<Vec<u8>>, mut line: Vec<u8>) {
    while line.len() > MAX_LINE {
        let rest = line.split_off(MAX_LINE);
        line.push(b'\n');
        part.push(line);
        line = rest;
    }
    part.push(line);
}

/// Split a field of a MIME part: name up to the first colon, value after
/// the colon and any whitespace following it.
fn store_part_field(headers: &mut Headers, field: &[u8]) {
    let Some(colon) = field.iter().position(|&b| b == b':') else {
        return;
    };
    let mut v = colon + 1;
    while v < field.len() && is_space(field[v]) {
        v += 1;
    }
    headers.push(&field[..colon], field[v..].to_vec());
}

fn parse_multipart(
    idx: usize,
    boundary: &str,
    mut body: Vec<Vec<u8>>,
    subparse: i32,
    nodes: &mut Vec<Node>,
) {
    let subparse = subparse - 1;
    let bnd = boundary.as_bytes();
    nodes[idx].children = Some(Vec::new());
    // Skip the preamble up to the first boundary, if there is one.
    if let Some(first) = body
        .iter()
        .position(|l| boundary_line(l, bnd) == Some(false))
    {
        if body.get(first + 1).is_some_and(|l| !strict_field(l)) {
            nodes[idx].flags.missing_mime_headers = true;
        }
        body.drain(..=first);
    }
    let parent_type = nodes[idx].ctype.clone();
    let mut part_headers = Headers::default();
    let mut in_body = false;
    let mut field: Option<Vec<u8>> = None;
    let mut part: Option<Vec<Vec<u8>>> = None;
    let mut nested = false;
    let mut count = 0;
    let total = body.len();
    let mut remaining = total;
    let mut lines = body.into_iter();
    while let Some(line) = lines.next() {
        let b = boundary_line(&line, bnd);
        let mut found_end = b.is_some();
        let found_last = b == Some(true);
        if found_end && nested {
            found_end = false;
            if found_last {
                nested = false;
            }
        }
        remaining -= 1;
        if remaining == 0 || found_end {
            if !found_end {
                push_cut(part.get_or_insert_with(Vec::new), line);
            } else if let Some(p) = part.as_mut() {
                // The newline before a boundary belongs to the boundary.
                if let Some(last) = p.last_mut() {
                    if last.last() == Some(&b'\n') {
                        last.pop();
                    }
                    if last.is_empty() {
                        p.pop();
                    }
                }
            } else {
                part = Some(Vec::new());
            }
            // A field still pending when the boundary comes is dropped, as
            // SpamAssassin does.
            field = None;
            let ct = parse_content_type(part_headers.last("content-type"));
            let mut ctype = ct.ctype;
            if ct.missing && parent_type == "multipart/digest" {
                ctype = "message/rfc822".into();
            }
            let child = nodes.len();
            nodes.push(Node {
                headers: std::mem::take(&mut part_headers),
                ctype,
                ..Node::default()
            });
            if let Some(c) = nodes[idx].children.as_mut() {
                c.push(child);
            }
            let p_boundary = ct.boundary.or_else(|| Some(boundary.to_owned()));
            parse_body(
                child,
                p_boundary,
                part.take().unwrap_or_default(),
                subparse,
                nodes,
            );
            if found_last {
                // Text after the closing boundary other than blanks and
                // dots is an epilogue.
                if lines
                    .as_slice()
                    .iter()
                    .any(|l| l.iter().any(|&b| !is_space(b) && b != b'.'))
                {
                    nodes[idx].flags.mime_epilogue_exists = true;
                }
                return;
            }
            if lines.as_slice().first().is_some_and(|l| !strict_field(l)) {
                // A new part that does not open with a header.
                nodes[idx].flags.missing_mime_headers = true;
            }
            count += 1;
            if count == MAX_PARTS {
                nodes[idx].flags.mimepart_limit_exceeded = true;
                return;
            }
            in_body = false;
            continue;
        }
        if !in_body {
            if looks_like_field(&line) {
                if let Some(f) = field.take() {
                    store_part_field(&mut part_headers, &f);
                }
                field = Some(line);
                continue;
            }
            if matches!(line.first(), Some(b' ' | b'\t'))
                && let Some(f) = field.as_mut()
            {
                f.extend_from_slice(&line);
                continue;
            }
            if let Some(f) = field.take() {
                let is_ct = f
                    .iter()
                    .position(|&b| b == b':')
                    .is_some_and(|c| f[..c].eq_ignore_ascii_case(b"content-type"));
                store_part_field(&mut part_headers, &f);
                if is_ct {
                    let inner = parse_content_type(part_headers.last("content-type"));
                    if inner.boundary.as_deref() == Some(boundary) {
                        nested = true;
                    }
                }
            }
            in_body = true;
            if line == b"\n" || line == b"\r\n" || line.is_empty() || line == b"\r" {
                continue;
            }
            nodes[idx].flags.missing_mime_head_body_separator = true;
        }
        push_cut(part.get_or_insert_with(Vec::new), line);
    }
}

/// `_parse_normal`: settle type, charset and name of a leaf.
fn parse_normal(idx: usize, boundary: Option<&str>, body: Vec<Vec<u8>>, nodes: &mut [Node]) {
    let node = &mut nodes[idx];
    let ct = parse_content_type(node.headers.last("content-type"));
    if !ct.missing {
        node.ctype = if !ct.ctype.starts_with("multipart/") || boundary.is_some() {
            ct.ctype
        } else {
            "text/plain".into()
        };
    }
    node.charset = ct.charset;
    let disp = node.headers.last("content-disposition").unwrap_or("");
    node.name = disposition_name(disp).or(ct.name);
    if super::charset::detecting_now() {
        // RFC 2231 parameters, decoded (`normalize_charset_detect` only:
        // SpamAssassin joins `name*N` pieces but decodes none of them).
        let ctv = node.headers.last("content-type").unwrap_or("");
        if let Some(n) = rfc2231_param(disp, "filename").or_else(|| rfc2231_param(ctv, "name")) {
            node.name = Some(n);
        }
        if let Some(c) = rfc2231_param(ctv, "charset") {
            node.charset = Some(c);
        }
    }
    node.body = body.concat();
}

/// Split header parameters at semicolons outside double quotes: `(key,
/// value)` pairs, key lowercased, value unquoted.
fn split_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut push = |cur: &mut String| {
        if let Some((k, v)) = cur.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .map(|r| r.strip_suffix('"').unwrap_or(r))
                .unwrap_or(v);
            out.push((k.trim().to_ascii_lowercase(), v.replace("\\\"", "\"")));
        }
        cur.clear();
    };
    for c in value.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            push(&mut cur);
            continue;
        }
        cur.push(c);
    }
    push(&mut cur);
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = b.get(i + 1..i + 3)
            && let Ok(h) = std::str::from_utf8(h)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// RFC 2231 parameter `key` of a header value, when written in its RFC 2231
/// forms: `key*=charset'lang'%XX..`, or continuations `key*0`, `key*1*`, ...
/// joined in order, percent-decoded where marked with `*`, and decoded from
/// the declared charset (detected when missing or wrong). None when the
/// parameter is absent or plain (`key=...`).
pub(crate) fn rfc2231_param(value: &str, key: &str) -> Option<String> {
    let mut pieces: Vec<(usize, bool, String)> = Vec::new();
    for (k, v) in split_params(value) {
        let Some(rest) = k.strip_prefix(key).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        if rest.is_empty() {
            pieces.push((0, true, v));
            continue;
        }
        let (num, ext) = match rest.strip_suffix('*') {
            Some(n) => (n, true),
            None => (rest, false),
        };
        if let Ok(n) = num.parse::<usize>() {
            pieces.push((n, ext, v));
        }
    }
    if pieces.is_empty() {
        return None;
    }
    pieces.sort_by_key(|p| p.0);
    pieces.dedup_by_key(|p| p.0);
    let mut charset = String::new();
    let mut bytes = Vec::new();
    for (i, (_, ext, v)) in pieces.iter().enumerate() {
        if *ext {
            let mut v = v.as_str();
            if i == 0 {
                let mut parts = v.splitn(3, '\'');
                if let (Some(cs), Some(_lang), Some(rest)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    charset = cs.to_owned();
                    v = rest;
                }
            }
            bytes.extend(percent_decode(v));
        } else {
            bytes.extend_from_slice(v.as_bytes());
        }
    }
    let cs = if charset.is_empty() {
        "us-ascii"
    } else {
        charset.as_str()
    };
    Some(super::charset::normalize(&bytes, cs, true))
}

static DISP_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)name=\s*"?([^";]+)"?"#).unwrap_or_else(|_| unreachable!("constant regex"))
});
static CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)\bcharset\s*=\s*["']?(.*?)["']?(?:;|\n?\z)"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)\b(?:file)?name\s*=\s*["']?(.*?)["']?(?:;|\n?\z)"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static NAME_CONT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)\b(?:file)?name\*([0-9]+)\s*=\s*["']?(.*?)["']?(?:;|\n?\z)"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static BOUNDARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i-u)\bboundary\s*=\s*("[^"]+|[^\s";]+)"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});

fn disposition_name(disp: &str) -> Option<String> {
    DISP_NAME
        .captures(disp.as_bytes())
        .and_then(|c| c.get(1))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
}

/// What `parse_content_type` returns.
#[derive(Debug, Clone, Default)]
pub(crate) struct ContentType {
    pub ctype: String,
    pub boundary: Option<String>,
    pub charset: Option<String>,
    pub name: Option<String>,
    pub missing: bool,
}

/// `Util.pm` `parse_content_type` on the last Content-Type value.
pub(crate) fn parse_content_type(value: Option<&str>) -> ContentType {
    let mut missing = false;
    let ct: &str = match value {
        Some(v) if !v.is_empty() && v != "0" => v,
        _ => {
            missing = true;
            "text/plain; charset=us-ascii"
        }
    };
    let bytes = ct.as_bytes();
    let mut boundary = None;
    for c in BOUNDARY.captures_iter(bytes) {
        let (Some(all), Some(m)) = (c.get(0), c.get(1)) else {
            continue;
        };
        let v = m.as_bytes();
        let quoted = v.first() == Some(&b'"');
        let after = bytes.get(all.end()).copied();
        // An unquoted value must end at a blank, a semicolon or the end.
        if quoted || after.is_none_or(|b| is_space(b) || b == b';') {
            let s: Vec<u8> = v.iter().copied().filter(|&b| b != b'"').collect();
            boundary = Some(String::from_utf8_lossy(&s).into_owned());
            break;
        }
    }
    let cap1 = |re: &Regex| {
        re.captures(bytes)
            .and_then(|c| c.get(1))
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
    };
    let charset = cap1(&CHARSET);
    let mut name = cap1(&NAME).filter(|n| !n.is_empty());
    if name.is_none() {
        let mut pieces: Vec<(usize, String)> = NAME_CONT
            .captures_iter(bytes)
            .filter_map(|c| {
                let n = std::str::from_utf8(c.get(1)?.as_bytes())
                    .ok()?
                    .parse()
                    .ok()?;
                Some((
                    n,
                    String::from_utf8_lossy(c.get(2)?.as_bytes()).into_owned(),
                ))
            })
            .collect();
        if !pieces.is_empty() {
            pieces.sort_by_key(|p| p.0);
            pieces.dedup_by_key(|p| p.0);
            name = Some(pieces.into_iter().map(|p| p.1).collect());
        }
    }
    // The type proper: up to the first ';', `type/subtype` only, lowercased.
    let t = ct.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    let t = t.split(';').next().unwrap_or("");
    let t = match t.find('/') {
        Some(0) => "",
        Some(slash) => {
            let sub = &t[slash + 1..];
            let end = sub
                .find(|c: char| c == '/' || c.is_ascii_whitespace() || c == '\u{b}')
                .unwrap_or(sub.len());
            &t[..slash + 1 + end]
        }
        None => t,
    };
    let mut t = t.to_ascii_lowercase();
    if t.is_empty() {
        missing = true;
    }
    let texty = t.starts_with("text")
        && t.as_bytes()
            .get(4)
            .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_'));
    if t.is_empty()
        || (texty && !matches!(t.as_str(), "text/x-vcard" | "text/calendar" | "text/html"))
    {
        t = "text/plain".into();
    }
    t.retain(|c| {
        let b = c as u32;
        !(b <= 0x20
            || b >= 0x7f
            || matches!(
                c,
                '"' | '(' | ')' | ',' | ':' | ';' | '<' | '=' | '>' | '?' | '@' | '[' | '\\' | ']'
            ))
    });
    ContentType {
        ctype: t,
        boundary,
        charset,
        name,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type() {
        let ct = parse_content_type(Some("Multipart/Alternative; boundary=\"abc def\""));
        assert_eq!(ct.ctype, "multipart/alternative");
        assert_eq!(ct.boundary.as_deref(), Some("abc def"));
        let ct = parse_content_type(Some("text/html; charset=\"utf-8\"; format=flowed"));
        assert_eq!(ct.ctype, "text/html");
        assert_eq!(ct.charset.as_deref(), Some("utf-8"));
        let ct = parse_content_type(None);
        assert!(ct.missing);
        assert_eq!(ct.charset.as_deref(), Some("us-ascii"));
        assert_eq!(
            parse_content_type(Some("text/enriched")).ctype,
            "text/plain"
        );
        assert_eq!(
            parse_content_type(Some("image/gif; name=a.gif"))
                .name
                .as_deref(),
            Some("a.gif")
        );
    }

    #[test]
    fn rfc2231() {
        let _s = crate::message::charset::detect_scope(true);
        assert_eq!(
            rfc2231_param(
                "attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf",
                "filename"
            )
            .as_deref(),
            Some("請求書.pdf")
        );
        // Continuations, some percent-encoded, one quoted; Shift_JIS.
        let v = "attachment; filename*0*=shift_jis'ja'%90%BF%8B%81; filename*2=\".zip\"; filename*1*=%8F%91";
        assert_eq!(rfc2231_param(v, "filename").as_deref(), Some("請求書.zip"));
        // Declared wrong: Shift_JIS labelled ISO-8859-1.
        let v = "application/pdf; name*=iso-8859-1''%82%A8%8B%71%97%6C%82%CC%90%BF%8B%81%8F%91.pdf";
        assert_eq!(
            rfc2231_param(v, "name").as_deref(),
            Some("お客様の請求書.pdf")
        );
        assert_eq!(
            rfc2231_param("text/plain; charset*=us-ascii'en'ISO-2022-JP", "charset").as_deref(),
            Some("ISO-2022-JP")
        );
        assert_eq!(rfc2231_param("text/plain; name=\"a.txt\"", "name"), None);
        let m = crate::message::Message::parse_with(
            b"Content-Type: text/plain; charset*=''shift_jis\nContent-Disposition: attachment;\n filename*0*=utf-8''%E6%97%A5; filename*1*=%E6%9C%AC.htm\n\n\x93\xfa\x96\x7b\n",
            &crate::message::MessageOptions { charset_detect: true, ..Default::default() },
        );
        assert!(m.body_text().contains("日本"), "{}", m.body_text());
    }

    #[test]
    fn mbox_from() {
        assert!(is_mbox_from(b"From a@b Mon Jan  1 00:00:00 2024\n"));
        assert!(!is_mbox_from(b"From: a@b\n"));
        assert!(!is_mbox_from(b"From :x\n"));
    }
}
