//! One parse of a raw RFC 822 message into the views SpamAssassin 4.0.1's
//! rules read: decoded and raw headers (`header`), the rendered body
//! (`body`), the decoded body (`rawbody`), the pristine text (`full`) and
//! the URI list (`uri`).
//!
//! The parser follows SpamAssassin's own line-oriented rules (`Message.pm`,
//! `Message/Node.pm`, `HTML.pm`) rather than a general MIME library, because
//! rules are written against SpamAssassin's quirks: a non-header line ends
//! the header block, both halves of multipart/alternative are rendered,
//! body "lines" are paragraphs, and 8-bit text falls back to Windows-1252.
//! Views are computed on first use and cached; `Message` is `Send + Sync`.

pub(crate) mod address;
pub mod auth;
mod body;
mod charset;
mod colors;
pub mod date;
mod decode;
mod entities;
mod headers;
mod html;
pub(crate) mod html_stats;
mod idn;
mod mime;
/// Header-block line shapes, shared with the report rewriter.
pub(crate) use headers::is_space;
pub(crate) use mime::{is_mbox_from, looks_like_field};
pub mod images;
pub(crate) mod mime_stats;
mod netset;
mod options;
pub mod received;
pub mod script;
mod tlds;
mod uri;
mod utf7;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use netset::NetSet;
pub use options::MessageOptions;
/// For the URI blocklist tests (eval::net::dnsbl).
pub(crate) use received::ip_is_private;
pub use received::{Relay, RelayInfo};
pub use uri::Redirector;
pub(crate) use uri::uri_host;

/// Which instances of a header a request selects (`:first` / `:last`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Instances {
    /// Every instance, in order.
    #[default]
    All,
    /// The topmost instance only.
    First,
    /// The bottommost instance only.
    Last,
}

/// Whether `needle` occurs in `hay`, ASCII case ignored (the empty needle
/// occurs everywhere).
pub fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Bayes' visible and invisible body arrays.
type BayesText = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// A parsed message and its lazily computed rule views.
#[derive(Debug)]
pub struct Message {
    raw: Vec<u8>,
    parsed: mime::Parsed,
    body: OnceLock<body::BodyViews>,
    body_strings: OnceLock<Vec<String>>,
    rawbody: OnceLock<Vec<Vec<u8>>>,
    uris: OnceLock<Vec<String>>,
    opts: MessageOptions,
    relays: OnceLock<RelayInfo>,
    mime_stats: OnceLock<mime_stats::MimeStats>,
    images: OnceLock<images::Images>,
    from_addrs: OnceLock<Vec<String>>,
    /// `ALL` as decoded lines (many rules read it).
    all_decoded: OnceLock<Vec<Vec<u8>>>,
    /// Bayes' visible and invisible rendered text, computed on first use.
    bayes_text: OnceLock<BayesText>,
    /// SPF/DKIM/DMARC results: set by `crate::auth`, or waited for on first
    /// read when the checks were launched in the background.
    auth: OnceLock<Option<auth::AuthFacts>>,
    auth_pending: auth::Pending,
    /// Values several eval rules derive from the message, computed once.
    memo: Memo,
}

/// Values that several eval rules of one scan derive from the message
/// (each eval would otherwise recompute them on every call).
#[derive(Debug, Default)]
pub struct Memo {
    /// Date header time minus the closest Received time.
    pub date_diff: OnceLock<i64>,
    /// Free mail addresses named in the body (None: over the limits).
    pub body_freemails: OnceLock<Option<Vec<String>>>,
    /// Recipient addresses (`all_to_addrs`), lowercased.
    pub to_addrs: OnceLock<Vec<String>>,
    /// `EnvelopeFrom` (header rules, the SPF check and several evals ask).
    envelope_from: OnceLock<Option<String>>,
}

impl std::fmt::Debug for body::BodyViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyViews")
            .field("lines", &self.lines.len())
            .finish()
    }
}

impl Message {
    /// Parse raw bytes. Never fails, never panics, on any input (empty,
    /// binary, no headers, truncated MIME).
    pub fn parse(raw: &[u8]) -> Message {
        Message::parse_with(raw, &MessageOptions::default())
    }

    /// `parse` with configuration-dependent options (trust path,
    /// envelope sender header).
    /// Per-message values shared by eval rules.
    pub fn memo(&self) -> &Memo {
        &self.memo
    }

    pub fn parse_with(raw: &[u8], opts: &MessageOptions) -> Message {
        let parsed = {
            let _scope = charset::detect_scope(opts.charset_detect);
            let mut p = mime::parse(raw);
            for n in &mut p.nodes {
                n.detect = opts.charset_detect;
            }
            p
        };
        Message {
            raw: raw.to_vec(),
            parsed,
            body: OnceLock::new(),
            body_strings: OnceLock::new(),
            rawbody: OnceLock::new(),
            uris: OnceLock::new(),
            opts: opts.clone(),
            relays: OnceLock::new(),
            mime_stats: OnceLock::new(),
            images: OnceLock::new(),
            from_addrs: OnceLock::new(),
            all_decoded: OnceLock::new(),
            bayes_text: OnceLock::new(),
            auth: OnceLock::new(),
            auth_pending: auth::Pending::default(),
            memo: Memo::default(),
        }
    }

    /// Record what the authentication checks found (first call wins).
    pub fn set_auth(&self, facts: auth::AuthFacts) {
        let _ = self.auth.set(Some(facts));
    }

    /// Checks running in the background: `auth()` calls `wait` once.
    pub fn set_auth_pending(&self, wait: auth::Waiter) {
        self.auth_pending.set(wait);
    }

    /// What the authentication checks found; None when they did not run
    /// (or never answered).
    pub fn auth(&self) -> Option<&auth::AuthFacts> {
        self.auth
            .get_or_init(|| self.auth_pending.take().and_then(|w| w()))
            .as_ref()
    }

    /// The Received trail split by trust (computed on first use).
    pub fn relays(&self) -> &RelayInfo {
        self.relays.get_or_init(|| {
            // Decoded values: 8-bit text is made UTF-8 first, as in SpamAssassin.
            let received: Vec<Vec<u8>> = self
                .top()
                .all("Received")
                .map(|f| f.decoded.clone().into_bytes())
                .collect();
            // The last instance of each originating-IP header, decoded.
            let originating: Vec<Vec<u8>> = self
                .opts
                .trust
                .originating_ip_headers
                .iter()
                .filter_map(|h| {
                    self.top()
                        .all(h)
                        .last()
                        .map(|f| f.decoded.clone().into_bytes())
                })
                .collect();
            received::parse_trail(&received, &originating, &self.opts.trust)
        })
    }

    /// `ALL-TRUSTED`, `ALL-INTERNAL`, `ALL-UNTRUSTED`, `ALL-EXTERNAL`: the
    /// header lines above (or from) the first Received header added by an
    /// untrusted/external relay, counting Received headers from the top.
    fn all_in_rcvd_range(&self, name: &str, raw: bool) -> Option<Vec<Vec<u8>>> {
        let info = || self.relays();
        let (start, end) = match name {
            "ALL-TRUSTED" => (None, Some(info().last_trusted_relay_index + 1)),
            "ALL-INTERNAL" => (None, Some(info().last_internal_relay_index + 1)),
            "ALL-UNTRUSTED" => (Some(info().last_trusted_relay_index + 1), None),
            "ALL-EXTERNAL" => (Some(info().last_internal_relay_index + 1), None),
            _ => return None,
        };
        let lines: Vec<Vec<u8>> = if raw {
            self.all_raw_lines()
        } else {
            self.all_decoded_lines()
                .concat()
                .split_inclusive(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect()
        };
        let mut out = Vec::new();
        let mut idx: i64 = -1;
        for l in lines {
            if l.len() >= 9 && l[..9].eq_ignore_ascii_case(b"received:") {
                idx += 1;
            }
            let after_start = start.is_none_or(|s| s <= idx);
            if after_start && end.is_none_or(|e| idx < e) {
                out.push(l);
            } else if end == Some(idx) {
                // The Received header at the boundary is included.
                out.push(l);
                break;
            }
        }
        Some(out)
    }

    /// The bytes exactly as received (mbox `From ` line included, if any).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// What SpamAssassin's `full` rules see: the message without a leading
    /// mbox `From ` line (incoming X-Spam-* headers still present).
    pub fn pristine(&self) -> &[u8] {
        &self.raw[self.parsed.mbox_len.min(self.raw.len())..]
    }

    /// The leading mbox `From ` line, if the message had one.
    pub fn mbox_separator(&self) -> Option<&[u8]> {
        (self.parsed.mbox_len > 0).then(|| &self.raw[..self.parsed.mbox_len])
    }

    /// Byte offset in `raw()` where the body starts (after the blank line
    /// ending the headers; `raw().len()` if there is none).
    pub fn body_offset(&self) -> usize {
        self.parsed.body_offset
    }

    /// True when the header block did not end with a blank line
    /// (SpamAssassin's `missing_head_body_separator`).
    pub fn missing_head_body_separator(&self) -> bool {
        self.parsed.missing_separator
    }

    fn top(&self) -> &headers::Headers {
        static EMPTY: OnceLock<headers::Headers> = OnceLock::new();
        self.parsed.nodes.first().map_or_else(
            || EMPTY.get_or_init(headers::Headers::default),
            |n| &n.headers,
        )
    }

    /// Decoded value of every instance of header `name` (case-insensitive),
    /// as SpamAssassin's `get(name)`: unfolded, trimmed, RFC 2047-decoded to
    /// UTF-8 (except Received, Message-ID, Date, References, In-Reply-To,
    /// MIME-Version, List-*), each instance followed by "\n", concatenated.
    /// None when absent. Incoming X-Spam-* headers are invisible. Supports
    /// the pseudo-headers `ALL`, `ToCc`, `MESSAGEID`, `EnvelopeFrom`,
    /// `X-Spam-Relays-*` and `ALL-TRUSTED`/`-INTERNAL`/`-UNTRUSTED`/`-EXTERNAL`
    /// (through `get`).
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_instances(name, Instances::All)
    }

    /// `header` restricted to the first or last instance (`:first`/`:last`).
    pub fn header_instances(&self, name: &str, which: Instances) -> Option<String> {
        let values = self.values(name, false, which);
        if values.is_empty() {
            return None;
        }
        Some(
            values
                .into_iter()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
                .collect(),
        )
    }

    /// `Name:raw`: the undecoded value of every instance, as SpamAssassin
    /// gives it: text after the colon (leading blank included), folding
    /// kept, CRLF made LF, each instance ending in "\n". `ALL:raw` is the
    /// pristine header block.
    pub fn header_raw(&self, name: &str) -> Option<Vec<u8>> {
        self.header_raw_instances(name, Instances::All)
    }

    /// `header_raw` restricted to the first or last instance.
    pub fn header_raw_instances(&self, name: &str, which: Instances) -> Option<Vec<u8>> {
        let values = self.values(name, true, which);
        if values.is_empty() {
            return None;
        }
        Some(values.concat())
    }

    /// The list of values `get(name[:raw])` would return (one per instance).
    fn values(&self, name: &str, raw: bool, which: Instances) -> Vec<Vec<u8>> {
        let lname = name.to_ascii_lowercase();
        let out: Vec<Vec<u8>> = if name == "ALL" {
            if raw {
                self.all_raw_lines()
            } else {
                self.all_decoded_lines()
            }
        } else if let Some(v) = self.relay_pseudo(&lname) {
            vec![v]
        } else if lname == "envelopefrom" {
            self.envelope_from()
                .map(String::into_bytes)
                .into_iter()
                .collect()
        } else if lname == "tocc" {
            let mut v = self.get_header_values("To", raw);
            v.extend(self.get_header_values("Cc", raw));
            v
        } else if name == "MESSAGEID" {
            [
                "X-Message-Id",
                "Resent-Message-Id",
                "X-Original-Message-ID",
                "Message-Id",
            ]
            .iter()
            .flat_map(|h| self.get_header_values(h, raw))
            .filter(|v| !v.is_empty())
            .collect()
        } else if raw {
            self.top().all(name).map(|f| f.raw.clone()).collect()
        } else {
            self.get_header_values(name, false)
        };
        pick(out, which)
    }

    /// `get_header(name, raw)` in list context: decoded values with "\n",
    /// or raw values with folding collapsed to one space.
    fn get_header_values(&self, name: &str, raw: bool) -> Vec<Vec<u8>> {
        self.top()
            .all(name)
            .map(|f| {
                if raw {
                    collapse_folds(&f.raw)
                } else {
                    let mut v = f.decoded.clone().into_bytes();
                    v.push(b'\n');
                    v
                }
            })
            .collect()
    }

    /// `ALL`: every header as `Name: value\n`, in order, size-capped.
    fn all_decoded_lines(&self) -> Vec<Vec<u8>> {
        self.all_decoded
            .get_or_init(|| self.build_all_decoded())
            .clone()
    }

    /// Names in order of first appearance, each name's instances together
    /// (in their original positions), cut once MAX_ALL bytes are reached.
    /// Linear in the number of fields: a hostile message can carry 100,000.
    fn build_all_decoded(&self) -> Vec<Vec<u8>> {
        let fields = &self.top().fields;
        let mut order: Vec<&str> = Vec::new();
        let mut by_name: std::collections::HashMap<&str, Vec<usize>> =
            std::collections::HashMap::new();
        for (pos, f) in fields.iter().enumerate() {
            let e = by_name.entry(f.key.as_str()).or_default();
            if e.is_empty() {
                order.push(&f.key);
            }
            e.push(pos);
        }
        let mut lines: Vec<Option<Vec<u8>>> = vec![None; fields.len()];
        let mut size = 0;
        'outer: for key in order {
            for &pos in by_name.get(key).map(Vec::as_slice).unwrap_or(&[]) {
                let f = &fields[pos];
                size += key.len() + f.decoded.len() + 1 + 2;
                if size > headers::MAX_ALL {
                    break 'outer;
                }
                lines[pos] = Some(format!("{}: {}\n", f.name, f.decoded).into_bytes());
            }
        }
        lines.into_iter().flatten().collect()
    }

    /// `ALL:raw`: the pristine header lines, continuation lines attached.
    fn all_raw_lines(&self) -> Vec<Vec<u8>> {
        let start = self.parsed.mbox_len.min(self.raw.len());
        let end = self.parsed.body_offset.max(start).min(self.raw.len());
        let block = &self.raw[start..end];
        let mut out: Vec<Vec<u8>> = Vec::new();
        for line in block.split_inclusive(|&b| b == b'\n') {
            let cont = matches!(line.first(), Some(b' ' | b'\t'));
            if line == b"\n" || line == b"\r\n" {
                continue;
            }
            match (cont, out.last_mut()) {
                (true, Some(last)) => last.extend_from_slice(line),
                (true, None) => {}
                (false, _) => out.push(line.to_vec()),
            }
        }
        out.retain(|l| l.last() == Some(&b'\n'));
        out
    }

    /// `Name:addr`: every address in every selected instance.
    pub fn header_addrs(&self, name: &str) -> Vec<String> {
        self.header_addrs_instances(name, Instances::All)
    }

    /// `header_addrs` with `:first`/`:last`.
    pub fn header_addrs_instances(&self, name: &str, which: Instances) -> Vec<String> {
        self.get_list(&format!("{name}{}:addr", suffix(which)))
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect()
    }

    /// `Name:name`: display names, RFC 2047-decoded, blanks squeezed, one
    /// level of single quotes removed.
    pub fn header_names(&self, name: &str) -> Vec<String> {
        self.header_names_instances(name, Instances::All)
    }

    /// `header_names` with `:first`/`:last`.
    pub fn header_names_instances(&self, name: &str, which: Instances) -> Vec<String> {
        self.get_list(&format!("{name}{}:name", suffix(which)))
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect()
    }

    /// The string a `header` rule matches for `request` (`Name` plus any of
    /// the modifiers `:raw :addr :name :first :last`, or a pseudo-header),
    /// exactly as SpamAssassin's header test builds it: the list `get`
    /// returns, joined with "" when its items end in "\n", else with "\n".
    /// None when there is nothing (the rule's `[if-unset: ...]` applies).
    pub fn get(&self, request: &str) -> Option<Vec<u8>> {
        let list = self.get_list(request);
        let first = list.first()?;
        let sep: &[u8] = if first.ends_with(b"\n") { b"" } else { b"\n" };
        Some(list.join(sep))
    }

    /// SpamAssassin's `get(request)` in list context, as bytes: one item per
    /// header instance, or per address/name with `:addr`/`:name`.
    /// (`:host`, `:domain`, `:ip`, `:revip` are not supported and give the
    /// unmodified values.)
    pub fn get_list(&self, request: &str) -> Vec<Vec<u8>> {
        let mut parts = request.split(':');
        let name = parts.next().unwrap_or("");
        let (mut raw, mut addr, mut names, mut first, mut last) =
            (false, false, false, false, false);
        for m in parts {
            match m {
                "raw" => raw = true,
                "addr" => addr = true,
                "name" => names = true,
                "first" => first = true,
                "last" => last = true,
                _ => {}
            }
        }
        let which = if first {
            Instances::First
        } else if last {
            Instances::Last
        } else {
            Instances::All
        };
        if name == "ALL" {
            return if raw {
                self.all_raw_lines()
            } else {
                self.all_decoded_lines()
            };
        }
        if let Some(v) = self.all_in_rcvd_range(name, raw) {
            return v;
        }
        let lname = name.to_ascii_lowercase();
        let pseudo = lname == "envelopefrom"
            || lname == "tocc"
            || name == "MESSAGEID"
            || lname.starts_with("x-spam-relays-");
        let values = if pseudo || !(raw || addr || names) {
            self.values(name, raw, which)
        } else {
            pick(self.top().all(name).map(|f| f.raw.clone()).collect(), which)
        };
        if !(addr || names) {
            return values;
        }
        let mut out = Vec::new();
        for v in &values {
            // Parse bytes as Latin-1 so 8-bit addresses survive unchanged.
            let text: String = v.iter().map(|&b| char::from(b)).collect();
            for mb in address::parse(&text) {
                let to_bytes = |s: &str| {
                    s.chars()
                        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                        .collect::<Vec<u8>>()
                };
                if addr {
                    if let Some(a) = mb.address {
                        out.push(to_bytes(&a));
                    }
                } else if let Some(p) = mb.phrase {
                    let p = to_bytes(&p);
                    if raw {
                        out.push(p);
                        continue;
                    }
                    let d = {
                        let _scope = charset::detect_scope(self.opts.charset_detect);
                        headers::decode_field(&p, "pms:get:name")
                    };
                    out.push(tidy_name(&d).into_bytes());
                }
            }
        }
        out
    }

    /// `X-Spam-Relays-{Trusted,Untrusted,Internal,External}` (lowercased
    /// name): the relay strings, present even when empty.
    fn relay_pseudo(&self, lname: &str) -> Option<Vec<u8>> {
        if !lname.starts_with("x-spam-relays-") {
            return None;
        }
        let r = self.relays();
        Some(match lname {
            "x-spam-relays-trusted" => r.trusted_str(),
            "x-spam-relays-untrusted" => r.untrusted_str(),
            "x-spam-relays-internal" => r.internal_str(),
            "x-spam-relays-external" => r.external_str(),
            _ => return None,
        })
    }

    /// True if the message has at least one header field called `name`
    /// (case-insensitive; X-Spam-* excluded), for `exists:` rules. As in
    /// SpamAssassin (`defined get(name)`), pseudo-headers such as `ToCc`
    /// and `EnvelopeFrom` count too.
    pub fn has_header(&self, name: &str) -> bool {
        !self.values(name, false, Instances::All).is_empty()
    }

    /// Header field names in order, as written (X-Spam-* excluded).
    pub fn header_field_names(&self) -> Vec<&str> {
        self.top().fields.iter().map(|f| f.name.as_str()).collect()
    }

    /// `EnvelopeFrom`: the `envelope_sender_header` if configured; else the
    /// envelope sender recorded by the last untrusted relay; else
    /// X-Envelope-From, then Envelope-Sender, then Return-Path, each only
    /// when no Received header precedes it; nothing if X-Sender and a
    /// fetchmail Received show up.
    pub fn envelope_from(&self) -> Option<String> {
        self.memo
            .envelope_from
            .get_or_init(|| self.compute_envelope_from())
            .clone()
    }

    fn compute_envelope_from(&self) -> Option<String> {
        // Usable: has an '@' after the first character, or is empty ("<>").
        let usable = |e: &str| e.is_empty() || e.find('@').is_some_and(|i| i > 0);
        if let Some(h) = &self.opts.envelope_sender_header {
            let e = self
                .header_addrs_instances(h, Instances::First)
                .into_iter()
                .next();
            return e.filter(|e| usable(e));
        }
        // The envelope sender the last untrusted relay (or, for all-trusted
        // mail, the first trusted one) recorded.
        let info = self.relays();
        if let Some(e) = info
            .untrusted
            .first()
            .or(info.trusted.last())
            .and_then(|r| r.envfrom.as_ref())
        {
            let e = String::from_utf8_lossy(e);
            if usable(&e) {
                return Some(e.into_owned());
            }
        }
        let fields = &self.top().fields;
        let x_sender = self.header_addrs_instances("X-Sender", Instances::First);
        if x_sender.first().is_some_and(|a| a.contains('@'))
            && self
                .top()
                .all("Received")
                .any(|f| f.decoded.contains("(fetchmail"))
        {
            return None;
        }
        let after_received = |key: &str| {
            let first_rcvd = fields.iter().position(|f| f.key == "received");
            let last = fields.iter().rposition(|f| f.key == key);
            matches!((first_rcvd, last), (Some(r), Some(k)) if r < k)
        };
        for (h, key, final_if_blocked) in [
            ("X-Envelope-From", "x-envelope-from", true),
            ("Envelope-Sender", "envelope-sender", false),
            ("Return-Path", "return-path", false),
        ] {
            if let Some(a) = self
                .header_addrs_instances(h, Instances::First)
                .into_iter()
                .next()
            {
                if after_received(key) {
                    if final_if_blocked {
                        return None;
                    }
                    continue;
                }
                return Some(a);
            }
        }
        None
    }

    /// Body rule input: SpamAssassin's rendered body array. The decoded
    /// Subject plus "\n" comes first, then the text of every text/plain and
    /// text/html part (HTML rendered, charset-decoded to UTF-8), whitespace
    /// squeezed so that each element is a paragraph, cut at 2048 bytes.
    /// A cut that would split a UTF-8 character is moved back to the
    /// character start (see `body_lines_bytes` for the exact bytes).
    pub fn body_lines(&self) -> &[String] {
        self.body_strings.get_or_init(|| {
            let views = self.body_views();
            let mut out = Vec::with_capacity(views.lines.len());
            let mut carry: Vec<u8> = Vec::new();
            for l in &views.lines {
                carry.extend_from_slice(l);
                match std::str::from_utf8(&carry) {
                    Ok(s) => {
                        out.push(s.to_owned());
                        carry.clear();
                    }
                    Err(e) if e.error_len().is_none() => {
                        // Incomplete character at the end: keep its bytes
                        // for the next line.
                        let valid = e.valid_up_to();
                        let rest = carry.split_off(valid);
                        out.push(String::from_utf8_lossy(&carry).into_owned());
                        carry = rest;
                    }
                    Err(_) => {
                        out.push(String::from_utf8_lossy(&carry).into_owned());
                        carry.clear();
                    }
                }
            }
            if !carry.is_empty() {
                out.push(String::from_utf8_lossy(&carry).into_owned());
            }
            out
        })
    }

    /// The body array exactly as SpamAssassin splits it (a hard cut at 2048
    /// bytes may fall inside a UTF-8 character).
    pub fn body_lines_bytes(&self) -> &[Vec<u8>] {
        &self.body_views().lines
    }

    /// Rendered body text without the Subject line (for the report's
    /// content preview).
    pub fn body_text(&self) -> &str {
        &self.body_views().text
    }

    /// URIs taken from HTML attributes (links, images, ...), as written.
    pub fn html_uris(&self) -> &[String] {
        &self.body_views().html_uris
    }

    fn body_views(&self) -> &body::BodyViews {
        self.body.get_or_init(|| body::body_views(&self.parsed))
    }

    /// rawbody rule input: transfer-decoded text parts, not charset-converted
    /// nor rendered, in chunks of 2–4 KiB.
    pub fn rawbody_chunks(&self) -> &[Vec<u8>] {
        self.rawbody
            .get_or_init(|| body::rawbody_chunks(&self.parsed))
    }

    /// uri rule input: canonicalised URIs from the rendered text and HTML
    /// attributes, unique, sorted (SpamAssassin's order is unspecified).
    pub fn uris(&self) -> &[String] {
        self.uris.get_or_init(|| self.uris_with(&[]))
    }

    /// The URI list Bayes tokenizes (`get_uri_list` as Perl strings): each
    /// URI as bytes, and whether Perl holds it as characters (see
    /// `uri::collect_bayes`).
    pub fn bayes_uris(&self) -> Vec<(Vec<u8>, bool)> {
        let v = self.body_views();
        uri::collect_bayes(&v.lines, &v.html_uris, &v.html_uris_flagged)
    }

    /// `uris` with the config's `redirector_pattern`s applied (each returns
    /// the redirect target it captures). Not cached.
    pub fn uris_with(&self, redirectors: &[Box<Redirector>]) -> Vec<String> {
        let v = self.body_views();
        uri::collect(&v.lines, &v.html_uris, redirectors)
    }

    /// Bayes' visible text (`get_visible_rendered_body_text_array`): the
    /// body array without invisible HTML text, Subject line first.
    pub fn visible_body_lines(&self) -> &[Vec<u8>] {
        &self.bayes_text().0
    }

    /// Bayes' invisible HTML text (`get_invisible_rendered_body_text_array`).
    pub fn invisible_body_lines(&self) -> &[Vec<u8>] {
        &self.bayes_text().1
    }

    fn bayes_text(&self) -> &BayesText {
        self.bayes_text.get_or_init(|| {
            (
                body::visibility_lines(&self.parsed, body::Visibility::Visible),
                body::visibility_lines(&self.parsed, body::Visibility::Invisible),
            )
        })
    }

    /// Sender addresses for welcomelist/blocklist checks, lowercased, as
    /// SpamAssassin's `all_from_addrs`: the first Resent-From if present,
    /// else From, Envelope-Sender, Resent-Sender, X-Envelope-From and the
    /// envelope sender; repeated dots squeezed, duplicates removed.
    /// Computed on first use (a dozen list and welcomelist evals ask).
    pub fn from_addrs(&self) -> &[String] {
        self.from_addrs.get_or_init(|| self.compute_from_addrs())
    }

    fn compute_from_addrs(&self) -> Vec<String> {
        let resent = self.header_addrs_instances("Resent-From", Instances::First);
        let addrs: Vec<String> = if !resent.is_empty() {
            resent
        } else {
            let mut v = Vec::new();
            for h in [
                "From",
                "Envelope-Sender",
                "Resent-Sender",
                "X-Envelope-From",
                "EnvelopeFrom",
            ] {
                v.extend(
                    self.header_addrs(h)
                        .into_iter()
                        .filter(|a| !a.is_empty())
                        .map(|a| squeeze_dots(&a)),
                );
            }
            v
        };
        let mut out: Vec<String> = Vec::new();
        for a in addrs {
            let a = a.to_lowercase();
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// The Message-Id and Resent-Message-Id as spamd logs them: comments and
    /// blanks removed, the id between angle brackets, odd characters as '?'.
    pub fn log_msgids(&self) -> (Option<String>, Option<String>) {
        (
            self.log_msgid("Message-Id"),
            self.log_msgid("Resent-Message-Id"),
        )
    }

    fn log_msgid(&self, name: &str) -> Option<String> {
        let raw = self.top().all(name).last()?.raw.clone();
        let mut id = String::from_utf8_lossy(&raw).into_owned();
        if id.is_empty() || id == "0" {
            return Some(id);
        }
        // Remove innermost comments until none is left.
        while let Some(close) = id.find(')') {
            let Some(open) = id[..close].rfind('(') else {
                break;
            };
            if id[open + 1..close].contains('(') {
                break;
            }
            id.replace_range(open..=close, "");
        }
        let id = id.split_whitespace().collect::<Vec<_>>().join(" ");
        let id = match id.find('<') {
            Some(lt) => match id[lt + 1..].find('>') {
                Some(gt) => id[lt + 1..lt + 1 + gt].to_owned(),
                None => id,
            },
            None => id,
        };
        let id: String = id
            .chars()
            .map(|c| {
                if ('\x21'..='\x7e').contains(&c) && c != '<' && c != '>' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        Some(if id.is_empty() { id } else { format!("<{id}>") })
    }
}

/// The request suffix for an instance selection.
fn suffix(which: Instances) -> &'static str {
    match which {
        Instances::All => "",
        Instances::First => ":first",
        Instances::Last => ":last",
    }
}

/// A decoded display name: blanks squeezed and trimmed, one pair of single
/// quotes removed (only when it has a non-blank character).
fn tidy_name(d: &str) -> String {
    // Perl's `\s` on octets: ASCII whitespace only.
    let ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}');
    if d.chars().all(ws) {
        return d.to_owned();
    }
    let squeezed = d
        .split(ws)
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match squeezed
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
    {
        Some(inner) => inner.to_owned(),
        None => squeezed,
    }
}

fn pick<T>(mut v: Vec<T>, which: Instances) -> Vec<T> {
    match which {
        Instances::All => v,
        Instances::First => {
            v.truncate(1);
            v
        }
        Instances::Last => v.pop().into_iter().collect(),
    }
}

/// `s/\r?\n\s+/ /g`.
fn collapse_folds(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let nl = if raw[i] == b'\n' {
            Some(i + 1)
        } else if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            Some(i + 2)
        } else {
            None
        };
        if let Some(j) = nl {
            let mut k = j;
            while k < raw.len() && headers::is_space(raw[k]) {
                k += 1;
            }
            if k > j {
                out.push(b' ');
                i = k;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn squeeze_dots(a: &str) -> String {
    let mut out = String::with_capacity(a.len());
    for c in a.chars() {
        if c == '.' && out.ends_with('.') {
            continue;
        }
        out.push(c);
    }
    out
}
