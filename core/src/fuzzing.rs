//! Entry points for the fuzz targets (`fuzz/`) and their stable-Rust
//! counterpart (`core/tests/fuzzish.rs`): each takes untrusted bytes the
//! way the daemon or spamc does and walks everything derived from them.
//! None may panic, hang or allocate without bound, whatever the input.

use crate::protocol::{self, HeaderLine, RequestHeaders};

/// The SPAMC request reader: request line, header lines, body (lengths,
/// `Compress: zlib`), as spamd reads them off the socket.
pub fn spamc_request(data: &[u8]) {
    let mut lines = data.split_inclusive(|&b| b == b'\n');
    let Some(first) = lines.next() else { return };
    if protocol::parse_request_line(first).is_err() {
        return;
    }
    let mut headers = RequestHeaders::default();
    let mut used = first.len();
    for line in lines.by_ref().take(protocol::MAX_HEADERS) {
        used += line.len();
        match headers.feed(line) {
            Ok(HeaderLine::End) => break,
            Ok(HeaderLine::More) => {}
            Err(_) => return,
        }
    }
    let body = data.get(used..).unwrap_or_default().to_vec();
    // The cap spamd gives it by default is far larger; a small one keeps
    // the fuzzer fast and still proves inflating stops there.
    let _ = protocol::decode_body_max(&headers, body, 1 << 20);
}

/// spamc's reply parser.
pub fn spamd_reply(data: &[u8]) {
    let _ = protocol::parse_response(data);
}

/// The message parser and its views: headers, MIME parts, charsets,
/// rendered and raw bodies, HTML, URIs, Received headers.
#[cfg(feature = "engine")]
pub fn message(data: &[u8]) {
    use crate::message::Message;
    let m = Message::parse(data);
    let _ = m.relays();
    for name in [
        "From",
        "To",
        "Subject",
        "Received",
        "Content-Type",
        "Message-ID",
    ] {
        let _ = m.header(name);
        let _ = m.header_raw(name);
        let _ = m.header_addrs(name);
        let _ = m.header_names(name);
    }
    for request in [
        "ALL",
        "From:addr",
        "To:name",
        "Subject:raw",
        "EnvelopeFrom",
        "ToCc",
    ] {
        let _ = m.get(request);
        let _ = m.get_list(request);
    }
    let _ = m.header_field_names();
    let _ = m.envelope_from();
    let _ = m.body_lines();
    let _ = m.body_lines_bytes();
    let _ = m.body_text();
    let _ = m.html_uris();
    let _ = m.rawbody_chunks();
    let _ = m.uris();
    let _ = m.visible_body_lines();
    let _ = m.invisible_body_lines();
    let _ = m.from_addrs();
    let _ = m.log_msgids();
}

/// The `.cf` reader, on arbitrary text.
#[cfg(feature = "engine")]
pub fn cf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::config::Config::from_text("fuzz.cf", &text);
}
