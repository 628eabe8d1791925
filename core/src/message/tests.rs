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
        let mut fa = m.from_addrs().to_vec();
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

/// A JSON value, just enough to read `oracle.pl` output.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Str(Vec<u8>),
    List(Vec<Json>),
    Map(Vec<(String, Json)>),
    Other,
}

impl Json {
    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Map(m) => m
                .iter()
                .find(|(k, _)| k == key)
                .map_or(&Json::Null, |(_, v)| v),
            _ => &Json::Null,
        }
    }

    fn bytes_list(&self) -> Vec<Vec<u8>> {
        match self {
            Json::List(l) => l
                .iter()
                .filter_map(|j| match j {
                    Json::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Parse oracle JSON. The file is Latin-1: a character up to U+00FF is one
/// byte of the Perl string; a `\uXXXX` escape above that is a Perl
/// character, kept as UTF-8.
fn parse_json(src: &[u8]) -> Json {
    fn ws(s: &[u8], i: &mut usize) {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn value(s: &[u8], i: &mut usize) -> Json {
        ws(s, i);
        match s.get(*i) {
            Some(b'{') => {
                *i += 1;
                let mut m = Vec::new();
                loop {
                    ws(s, i);
                    if s.get(*i) == Some(&b'}') {
                        *i += 1;
                        return Json::Map(m);
                    }
                    let Json::Str(k) = value(s, i) else {
                        return Json::Other;
                    };
                    ws(s, i);
                    *i += 1; // ':'
                    let v = value(s, i);
                    m.push((String::from_utf8_lossy(&k).into_owned(), v));
                    ws(s, i);
                    if s.get(*i) == Some(&b',') {
                        *i += 1;
                    }
                }
            }
            Some(b'[') => {
                *i += 1;
                let mut l = Vec::new();
                loop {
                    ws(s, i);
                    if s.get(*i) == Some(&b']') {
                        *i += 1;
                        return Json::List(l);
                    }
                    l.push(value(s, i));
                    ws(s, i);
                    if s.get(*i) == Some(&b',') {
                        *i += 1;
                    }
                }
            }
            Some(b'"') => {
                *i += 1;
                let mut out = Vec::new();
                while *i < s.len() && s[*i] != b'"' {
                    if s[*i] == b'\\' {
                        *i += 1;
                        match s.get(*i) {
                            Some(b'n') => out.push(b'\n'),
                            Some(b't') => out.push(b'\t'),
                            Some(b'r') => out.push(b'\r'),
                            Some(b'f') => out.push(0x0c),
                            Some(b'b') => out.push(0x08),
                            Some(b'u') => {
                                let hex = std::str::from_utf8(&s[*i + 1..*i + 5]).unwrap_or("0");
                                let mut cp = u32::from_str_radix(hex, 16).unwrap_or(0);
                                *i += 4;
                                if (0xd800..0xdc00).contains(&cp) && s.get(*i + 1) == Some(&b'\\') {
                                    let lo = std::str::from_utf8(&s[*i + 3..*i + 7]).unwrap_or("0");
                                    let lo = u32::from_str_radix(lo, 16).unwrap_or(0);
                                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                    *i += 6;
                                }
                                if cp <= 0xff {
                                    out.push(cp as u8);
                                } else {
                                    let c = char::from_u32(cp).unwrap_or('\u{fffd}');
                                    out.extend_from_slice(c.to_string().as_bytes());
                                }
                            }
                            Some(&c) => out.push(c),
                            None => {}
                        }
                    } else {
                        out.push(s[*i]);
                    }
                    *i += 1;
                }
                *i += 1;
                Json::Str(out)
            }
            Some(b'n') => {
                *i += 4;
                Json::Null
            }
            _ => {
                *i += 1;
                Json::Other
            }
        }
    }
    let mut i = 0;
    value(src, &mut i)
}

/// Every fixture in `testdata/fixtures` against the views SpamAssassin
/// 4.0.1 produced for it (`oracle.pl`): body, rawbody, URIs, sender
/// addresses, and every header request the oracle recorded.
#[test]
fn fixtures_match_spamassassin() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/message/testdata/fixtures");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for eml in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
    {
        let raw = std::fs::read(eml).unwrap_or_default();
        let json = std::fs::read(eml.with_extension("json")).unwrap_or_default();
        let want = parse_json(&json);
        let m = Message::parse(&raw);
        let name = eml.display();
        assert_eq!(
            m.body_lines_bytes(),
            want.get("body").bytes_list().as_slice(),
            "body of {name}"
        );
        assert_eq!(
            m.rawbody_chunks(),
            want.get("rawbody").bytes_list().as_slice(),
            "rawbody of {name}"
        );
        let uris: Vec<Vec<u8>> = m.uris().iter().map(|u| u.clone().into_bytes()).collect();
        assert_eq!(uris, want.get("uris").bytes_list(), "uris of {name}");
        let mut from: Vec<Vec<u8>> = m
            .from_addrs()
            .iter()
            .map(|a| a.clone().into_bytes())
            .collect();
        from.sort();
        assert_eq!(
            from,
            want.get("from_addrs").bytes_list(),
            "from_addrs of {name}"
        );
        let Json::Map(headers) = want.get("headers") else {
            panic!("no headers in {name}.json");
        };
        for (key, value) in headers {
            match value {
                Json::List(_) => {
                    assert_eq!(m.get_list(key), value.bytes_list(), "{key} of {name}")
                }
                Json::Str(s) => assert_eq!(m.get(key).as_ref(), Some(s), "{key} of {name}"),
                _ => assert_eq!(m.get(key), None, "{key} of {name}"),
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "only {checked} fixtures found in {}",
        dir.display()
    );
}

#[test]
fn japanese_bodies_decode_to_utf8() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/message/testdata/fixtures");
    for f in ["ja_shift_jis.eml", "ja_euc_jp.eml", "ja_iso_2022_jp.eml"] {
        let raw = std::fs::read(dir.join(f)).unwrap_or_default();
        let m = Message::parse(&raw);
        assert_eq!(m.header("Subject").as_deref(), Some("お知らせ\n"), "{f}");
        assert_eq!(m.header_names("From"), vec!["山田太郎".to_owned()], "{f}");
        let body = m.body_lines().join("");
        assert!(
            body.contains("こんにちは、世界。本日は晴天なり。"),
            "{f}: {body}"
        );
        assert!(
            m.uris().contains(&"http://www.example.jp/".to_owned()),
            "{f}"
        );
    }
}

#[test]
fn headers_api() {
    let raw = b"From spammer@x Mon Jan  1 00:00:00 2024\r\n\
        Subject: =?utf-8?Q?caf=C3=A9?=\r\n\
        To: a@example.com,\r\n  b@example.com\r\n\
        Cc: c@example.com\r\n\
        X-Spam-Level: ****\r\n\
        Message-Id: <id1@example.com>\r\n\
        \r\n\
        body\r\n";
    let m = Message::parse(raw);
    assert_eq!(
        m.mbox_separator(),
        Some(&b"From spammer@x Mon Jan  1 00:00:00 2024\r\n"[..])
    );
    assert_eq!(&m.raw()[m.body_offset()..], b"body\r\n");
    assert_eq!(m.header("subject").as_deref(), Some("café\n"));
    assert_eq!(
        m.header_raw("Subject").as_deref(),
        Some(&b" =?utf-8?Q?caf=C3=A9?=\n"[..])
    );
    assert_eq!(
        m.header("ToCc").as_deref(),
        Some("a@example.com, b@example.com\nc@example.com\n")
    );
    assert_eq!(
        m.header("MESSAGEID").as_deref(),
        Some("<id1@example.com>\n")
    );
    assert_eq!(m.header("X-Spam-Level"), None);
    assert!(!m.has_header("X-Spam-Level"));
    assert!(m.has_header("CC"));
    assert_eq!(m.header("Missing"), None);
    assert_eq!(
        m.get("To:addr").as_deref(),
        Some(&b"a@example.com\nb@example.com"[..])
    );
    assert_eq!(
        m.header_addrs_instances("To", Instances::Last),
        vec!["a@example.com", "b@example.com"]
    );
    let all = m.header("ALL").unwrap_or_default();
    assert!(
        all.starts_with("Subject: café\nTo: a@example.com, b@example.com\n"),
        "{all}"
    );
    assert_eq!(m.log_msgids(), (Some("<id1@example.com>".to_owned()), None));
    assert_eq!(m.body_lines(), ["café\n", "body "]);
}

/// Parse every message of the project's test corpus (the public SpamAssassin
/// corpus and the Japanese mail) and touch every view: nothing may panic.
#[test]
fn corpus_never_panics() {
    let roots = [corpus::public_or_panic(), corpus::ja(), corpus::ja_real()];
    let mut n = 0;
    for root in &roots {
        let dirs = std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
        for d in dirs.filter_map(Result::ok) {
            let Ok(files) = std::fs::read_dir(d.path()) else {
                continue;
            };
            for f in files.filter_map(Result::ok) {
                let Ok(raw) = std::fs::read(f.path()) else {
                    continue;
                };
                let m = Message::parse(&raw);
                let _ = (
                    m.header("ALL"),
                    m.header_raw("ALL"),
                    m.get("From:addr"),
                    m.get("To:name"),
                );
                let _ = (m.body_lines(), m.body_text(), m.rawbody_chunks(), m.uris());
                let _ = (
                    m.from_addrs(),
                    m.log_msgids(),
                    m.envelope_from(),
                    m.pristine(),
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, 6046 + 42 + 457, "every corpus message parsed");
}

#[test]
fn message_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Message>();
}
