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
