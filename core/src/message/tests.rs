//! Message views checked against SpamAssassin 4.0.1 itself: the fixtures in
//! `testdata/` hold a message and the views `testdata/oracle.pl` dumped from
//! the installed SpamAssassin for it.

use super::*;

#[test]
fn never_panics_on_odd_input() {
    for raw in [
        &b""[..],
        b"\n",
        b"\r\n\r\n",
        b"no headers at all",
        b"\xff\xfe\x00\x01binary\x00garbage\x80\x81",
        b"Subject: x",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>trunc",
        b"From x\n",
    ] {
        let m = Message::parse(raw);
        let _ = (
            m.header("Subject"),
            m.header("ALL"),
            m.body_lines(),
            m.rawbody_chunks(),
            m.uris(),
        );
        let _ = (
            m.from_addrs(),
            m.log_msgids(),
            m.header_raw("ALL"),
            m.body_offset(),
        );
    }
}

/// JSON string literal for bytes, each byte ≥ 0x80 as a Latin-1 code point
/// (the same convention `oracle.pl` uses, so the two compare byte for byte).
fn json_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(c)),
            _ => s.push_str(&format!("\\u{:04x}", c)),
        }
    }
    s.push('"');
    s
}

fn json_list<T: AsRef<[u8]>>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(|x| json_bytes(x.as_ref())).collect();
    format!("[{}]", items.join(","))
}

/// The same views `oracle.pl` prints, as JSON, for a differential check:
/// `MSG_DUMP_FILES=a,b` (or `@list`) `MSG_DUMP_OUT=out.json cargo test -p spamcore
/// message::tests::dump_views -- --ignored`.
#[test]
#[ignore]
fn dump_views() {
    let (Ok(files), Ok(out)) = (
        std::env::var("MSG_DUMP_FILES"),
        std::env::var("MSG_DUMP_OUT"),
    ) else {
        return;
    };
    // `@list.txt` names a file with one path per line (long lists).
    let files = match files.strip_prefix('@') {
        Some(list) => std::fs::read_to_string(list)
            .unwrap_or_default()
            .replace('\n', ","),
        None => files,
    };
    let mut docs = Vec::new();
    for f in files.split(',').filter(|f| !f.is_empty()) {
        let Ok(raw) = std::fs::read(f) else { continue };
        let m = Message::parse(&raw);
        let mut h = Vec::new();
        for name in [
            "Subject",
            "From",
            "To",
            "Cc",
            "ALL",
            "ToCc",
            "MESSAGEID",
            "EnvelopeFrom",
            "Message-Id",
            "Received",
            "Content-Type",
            "X-Mailer",
            "Date",
            "X-Spam-Status",
            "Nonexistent-Header",
        ] {
            let v = m
                .header(name)
                .map_or("null".to_owned(), |s| json_bytes(s.as_bytes()));
            h.push(format!("{}:{}", json_bytes(name.as_bytes()), v));
        }
        for name in ["Subject", "From"] {
            let v = m
                .header_raw(name)
                .map_or("null".to_owned(), |s| json_bytes(&s));
            h.push(format!(
                "{}:{}",
                json_bytes(format!("{name}:raw").as_bytes()),
                v
            ));
        }
        h.push(format!(
            "\"Received:last\":{}",
            m.header_instances("Received", Instances::Last)
                .map_or("null".to_owned(), |s| json_bytes(s.as_bytes()))
        ));
        for name in [
            "From:addr",
            "From:name",
            "To:addr",
            "To:name",
            "Cc:addr",
            "Reply-To:addr",
            "From:first:addr",
        ] {
            let v = m.get_list(name);
            let j = if v.is_empty() {
                "null".to_owned()
            } else {
                json_list(&v)
            };
            h.push(format!("{}:{}", json_bytes(name.as_bytes()), j));
        }
        let mut fa = m.from_addrs();
        fa.sort();
        docs.push(format!(
            "{{\"file\":{},\"headers\":{{{}}},\"body\":{},\"rawbody\":{},\"uris\":{},\"from_addrs\":{}}}",
            json_bytes(f.as_bytes()),
            h.join(","),
            json_list(m.body_lines_bytes()),
            json_list(m.rawbody_chunks()),
            json_list(m.uris()),
            json_list(&fa),
        ));
    }
    let _ = std::fs::write(out, format!("[{}]", docs.join(",\n")));
}
