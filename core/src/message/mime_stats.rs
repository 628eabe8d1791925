//! The MIME structure as SpamAssassin's MIMEEval, BodyEval, ImageInfo and
//! MIMEHeader plugins see it: every part in parse order with its headers
//! and raw lines, the parser's oddity flags, and the per-message counts of
//! `MIMEEval::_check_attachments` (encodings, charsets, QP quality,
//! text/html balance).

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::Message;
use super::body::render_part;
use super::html_stats::HtmlStats;
use super::mime::{Node, parse_content_type};

/// Oddities the MIME parser notes while building the tree
/// (`check_msg_parse_flags`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ParseFlags {
    /// A boundary line not followed by a header line.
    pub missing_mime_headers: bool,
    /// A part's header block not ended by a blank line.
    pub missing_mime_head_body_separator: bool,
    /// Non-blank text after the closing boundary.
    pub mime_epilogue_exists: bool,
    /// A header name or value longer than what is kept.
    pub truncated_header: bool,
    /// A multipart with more parts than are parsed.
    pub mimepart_limit_exceeded: bool,
}

/// One node of the MIME tree (the message itself, a part, a container or
/// an embedded message), as the plugins walk it.
#[derive(Clone, Copy)]
pub(crate) struct MimePart<'a> {
    nodes: &'a [Node],
    idx: usize,
}

impl<'a> MimePart<'a> {
    fn node(&self) -> &'a Node {
        &self.nodes[self.idx]
    }

    /// SpamAssassin's `{type}`: lowercased, defaults applied.
    pub fn ctype(&self) -> &'a str {
        &self.node().ctype
    }

    pub fn is_leaf(&self) -> bool {
        self.node().children.is_none()
    }

    /// File name from Content-Disposition or Content-Type.
    pub fn name(&self) -> Option<&'a str> {
        self.node().name.as_deref()
    }

    /// Decoded value of the last instance of `name` (no trailing newline).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.node().headers.last(name)
    }

    /// Raw value of the last instance of `name`, as stored.
    pub fn header_raw(&self, name: &str) -> Option<&'a [u8]> {
        self.node()
            .headers
            .all(name)
            .last()
            .map(|f| f.raw.as_slice())
    }

    /// Every header as `Name: value\n` (decoded) or `Name:raw` (raw).
    pub fn all_headers(&self, raw: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for f in &self.node().headers.fields {
            out.extend_from_slice(f.name.as_bytes());
            out.push(b':');
            if raw {
                out.extend_from_slice(&f.raw);
                if !f.raw.ends_with(b"\n") {
                    out.push(b'\n');
                }
            } else {
                out.push(b' ');
                out.extend_from_slice(f.decoded.as_bytes());
                out.push(b'\n');
            }
        }
        out
    }

    /// The undecoded body lines of a leaf, each with its newline.
    pub fn raw_lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.node().body.split_inclusive(|&b| b == b'\n')
    }

    /// Transfer-decoded body.
    pub fn decoded(&self) -> Vec<u8> {
        self.node().decoded()
    }

    /// The type its own Content-Type header declares (defaults applied),
    /// which may differ from `ctype` (e.g. digest members).
    pub fn declared_type(&self) -> String {
        parse_content_type(self.header("content-type")).ctype
    }

    /// The direct children of a container (none for a leaf).
    pub fn children(&self) -> Vec<MimePart<'a>> {
        self.node()
            .children
            .iter()
            .flatten()
            .map(|&i| MimePart {
                nodes: self.nodes,
                idx: i,
            })
            .collect()
    }

    /// This node and everything below it, in parse order.
    pub fn subtree(&self) -> Vec<MimePart<'a>> {
        let mut out = Vec::new();
        let mut stack = vec![self.idx];
        while let Some(i) = stack.pop() {
            let Some(node) = self.nodes.get(i) else {
                continue;
            };
            out.push(MimePart {
                nodes: self.nodes,
                idx: i,
            });
            if let Some(c) = &node.children {
                stack.extend(c.iter().rev());
            }
        }
        out
    }

    /// The text of a text/plain or text/html part as rendered for body
    /// rules (before any size cut), whether it was HTML, whether Perl holds
    /// it as characters, and the HTML facts. None for other types.
    pub fn rendered(&self) -> Option<(String, bool, bool, Option<HtmlStats>)> {
        render_part(self.node()).map(|r| {
            let is_html = r.html.is_some() || self.node().effective_type() == "text/html";
            (r.text, is_html, r.flagged, r.html.map(|h| h.stats))
        })
    }
}

/// What `_check_attachments` counts over the whole message.
#[derive(Debug, Clone, Default)]
pub(crate) struct MimeStats {
    pub base64_count: u32,
    pub base64_encoded_text: bool,
    pub body_html_count: u32,
    pub body_text_count: u32,
    pub multipart_alternative: bool,
    pub multipart_ratio: f64,
    /// Parts with a QP encoding until QP lines were seen, then the number
    /// of needlessly encoded characters in them.
    pub qp_count: f64,
    pub qp_long_line: bool,
    pub qp_ratio: f64,
    pub ascii_text_illegal: u32,
    pub text_unicode_ratio: f64,
    /// Parts with `attachment` in their Content-Disposition (None: never).
    pub attachment: Option<u32>,
    pub bad_iso_charset: bool,
    /// Every declared charset that has a letter, lowercased.
    pub charsets: Vec<String>,
}

/// Needlessly QP-encoded characters (printable ASCII written as `=XX`).
static QP_NEEDLESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)=(?:09|3[0-9ABCEF]|[2456][0-9A-F]|7[0-9A-E])")
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
/// Encoded tabs and blanks at the end of a line (those must be encoded).
static QP_TRAILING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)((?:=09|=20)+)[ \t\n\r\x0b\x0c]*\n?\z")
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static UNICODE_ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)&#x[0-9A-F]{4};").unwrap_or_else(|_| unreachable!("constant regex"))
});
static ASCII_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:us-ascii|ansi_x3\.4-1968|iso-ir-6|ansi_x3\.4-1986|iso_646\.irv:1991|ascii|iso646-us|us|ibm367|cp367|csascii)",
    )
    .unwrap_or_else(|_| unreachable!("constant regex"))
});
static BAD_ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)iso-\S+-\S+\b").unwrap_or_else(|_| unreachable!("constant regex"))
});
static GOOD_ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"iso-(?:8859-\d{1,2}|2022-(?:jp|kr))\b")
        .unwrap_or_else(|_| unreachable!("constant regex"))
});

fn compute_stats(parts: &[MimePart<'_>]) -> MimeStats {
    let mut st = MimeStats {
        multipart_ratio: 1.0,
        ..MimeStats::default()
    };
    let (mut qp_bytes, mut qp_needless) = (0usize, 0f64);
    let (mut normal_chars, mut unicode_chars) = (0usize, 0usize);
    // (type, text bytes) of each leaf; bytes None for attachments.
    let mut leaves: Vec<(String, Option<usize>)> = Vec::new();
    for p in parts {
        let ct = parse_content_type(p.header("content-type"));
        let ctype = ct.ctype;
        if ctype == "multipart/alternative" {
            st.multipart_alternative = true;
        }
        let cte = p.header("content-transfer-encoding").unwrap_or("");
        let cte = cte.to_ascii_lowercase();
        let cd = p
            .header("content-disposition")
            .unwrap_or("")
            .to_ascii_lowercase();
        let charset = ct.charset.map(|c| c.to_lowercase());
        let cs = charset.as_deref().unwrap_or("");

        if ctype == "text/html" {
            st.body_html_count += 1;
        } else if ctype.starts_with("text") {
            st.body_text_count += 1;
        }
        if cte.contains("base64") {
            st.base64_count += 1;
        } else if cte.contains("quoted-printable") {
            st.qp_count += 1.0;
        }
        if cd.contains("attachment") {
            *st.attachment.get_or_insert(0) += 1;
        }
        if ctype.starts_with("text")
            && cte.contains("base64")
            && (cs.is_empty() || ASCII_CHARSET.is_match(cs.as_bytes()))
            && !(cd.starts_with("attachment") || cd.starts_with("inline"))
        {
            st.base64_encoded_text = true;
        }
        if BAD_ISO.is_match(cs.as_bytes()) && !GOOD_ISO.is_match(cs.as_bytes()) {
            st.bad_iso_charset = true;
        }
        if cs.bytes().any(|b| b.is_ascii_alphabetic()) {
            st.charsets.push(cs.to_owned());
        }

        if !p.is_leaf() {
            continue;
        }
        let counts_bytes = !cd.contains("attachment");
        let mut bytes = 0usize;
        let plain = ctype == "text/plain";
        let ascii_plain = plain && charset.as_deref().is_none_or(|c| c == "us-ascii");
        let unencoded_plain = plain && matches!(cte.as_str(), "" | "7bit" | "8bit");
        for line in p.raw_lines() {
            if st.multipart_alternative
                && counts_bytes
                && (ctype == "text/plain" || ctype == "text/html")
            {
                bytes += line.len();
            }
            if cte == "quoted-printable" && !line.starts_with(b"SPAM: ") {
                if line.len() > 78 + 1 {
                    st.qp_long_line = true;
                }
                qp_bytes += line.len();
                if line.contains(&b'=') {
                    let n = QP_NEEDLESS.find_iter(line).count();
                    if n > 0 {
                        qp_needless += n as f64;
                        if let Some(t) = QP_TRAILING.captures(line).and_then(|c| c.get(1)) {
                            qp_needless -= (t.as_bytes().len() / 3) as f64;
                        }
                    }
                }
            }
            if ascii_plain && line.iter().any(|&b| b == 0 || b == b'\r' || b >= 0x80) {
                st.ascii_text_illegal += 1;
            }
            if unencoded_plain {
                let subs = UNICODE_ENTITY.find_iter(line).count();
                normal_chars += line.len() - subs * 8;
                unicode_chars += subs;
            }
        }
        leaves.push((ctype.clone(), counts_bytes.then_some(bytes)));
    }
    if qp_bytes > 0 {
        st.qp_ratio = qp_needless / qp_bytes as f64;
        st.qp_count = qp_needless;
    }
    if normal_chars > 0 {
        st.text_unicode_ratio = unicode_chars as f64 / normal_chars as f64;
    }
    if st.multipart_alternative {
        // The last text/plain and text/html leaves decide the ratio.
        let (mut text, mut html) = (None, None);
        for (ty, bytes) in leaves.iter().rev() {
            let Some(b) = bytes else { continue };
            if html.is_none() && ty == "text/html" {
                html = Some(*b);
            } else if text.is_none() && ty == "text/plain" {
                text = Some(*b);
            }
            if html.is_some() && text.is_some() {
                break;
            }
        }
        if let (Some(t), Some(h)) = (text, html)
            && h > 0
        {
            st.multipart_ratio = t as f64 / h as f64;
        }
    }
    st
}

impl Message {
    /// Facts about each non-empty HTML part, in order (`html_all`).
    pub(crate) fn html_parts(&self) -> &[HtmlStats] {
        &self.body_views().html_stats
    }

    /// Every node of the MIME tree in parse order (`find_parts(qr/./)`):
    /// the message itself first, containers before their children.
    pub(crate) fn mime_parts(&self) -> Vec<MimePart<'_>> {
        if self.parsed.nodes.is_empty() {
            return Vec::new();
        }
        MimePart {
            nodes: &self.parsed.nodes,
            idx: 0,
        }
        .subtree()
    }

    /// The counts of `_check_attachments`.
    pub(crate) fn mime_stats(&self) -> &MimeStats {
        self.mime_stats
            .get_or_init(|| compute_stats(&self.mime_parts()))
    }

    /// A `check_msg_parse_flags` flag by SpamAssassin's name.
    pub(crate) fn parse_flag(&self, name: &str) -> bool {
        let top = self
            .parsed
            .nodes
            .first()
            .map(|n| n.flags)
            .unwrap_or_default();
        // Multipart oddities are noted on the top message whatever the
        // depth of the part they were found in.
        let any = |f: fn(&ParseFlags) -> bool| self.parsed.nodes.iter().any(|n| f(&n.flags));
        match name {
            "missing_head_body_separator" => self.parsed.missing_separator,
            "truncated_header" => top.truncated_header,
            "missing_mime_headers" => any(|f| f.missing_mime_headers),
            "missing_mime_head_body_separator" => any(|f| f.missing_mime_head_body_separator),
            "mime_epilogue_exists" => any(|f| f.mime_epilogue_exists),
            "mimepart_limit_exceeded" => any(|f| f.mimepart_limit_exceeded),
            _ => false,
        }
    }

    /// Bytes of the body as received, after the header block.
    pub(crate) fn pristine_body_length(&self) -> usize {
        self.raw.len().saturating_sub(self.parsed.body_offset)
    }
}

/// Text cut into the 2–4 KiB chunks SpamAssassin scans paragraph-wise.
pub(crate) fn short_paragraphs(text: &str) -> Vec<String> {
    super::body::split_short_paragraphs(text.as_bytes())
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .collect()
}
