//! procmail, the classic `.forward` / MDA setup: `:0fw | spamc`, then file
//! by X-Spam-Flag. Nothing is lost when spamd is down.

use std::path::Path;

use e2e::*;

fn maildir_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(std::fs::read(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

fn deliver(home: &Path, rc: &Path, msg: &[u8]) -> Run {
    let procmail = require("/usr/bin/procmail", "procmail");
    let rc = rc.display().to_string();
    let r = run(
        &procmail,
        &["-m", &format!("HOME={}", home.display()), &rc],
        msg,
        T,
    );
    assert_eq!(r.code, 0, "procmail failed: {r:?}");
    r
}

#[test]
fn procmail_files_spam_and_ham() {
    let d = Daemon::ours(&[]);
    let home = TempDir::new("procmail");
    let spamc = our_bin("spamc");
    let rc = home.path().join("procmailrc");
    let write_rc = |port: u16| {
        std::fs::write(
            &rc,
            format!(
                "MAILDIR=$HOME/Maildir\nLOGFILE=$HOME/procmail.log\nSHELL=/bin/sh\n\
                 :0fw\n| {} -p {port}\n\n\
                 :0\n* ^X-Spam-Flag: YES\nspam/\n\n\
                 :0\ninbox/\n",
                spamc.display()
            ),
        )
        .expect("write procmailrc");
    };
    write_rc(d.port);
    std::fs::create_dir_all(home.path().join("Maildir")).expect("Maildir");
    let inbox = home.path().join("Maildir/inbox");
    let spambox = home.path().join("Maildir/spam");

    deliver(home.path(), &rc, &gtube());
    assert_eq!(maildir_files(&spambox).len(), 1, "GTUBE filed as spam");
    assert_eq!(maildir_files(&inbox).len(), 0);

    let ham = ham();
    deliver(home.path(), &rc, &ham);
    assert_eq!(maildir_files(&inbox).len(), 1, "ham filed in the inbox");
    assert_eq!(maildir_files(&spambox).len(), 1);
    let filed = &maildir_files(&inbox)[0];
    assert!(
        String::from_utf8_lossy(filed).contains("X-Spam-Status: No"),
        "ham was scanned"
    );

    // spamd down: spamc passes the message through, procmail files it.
    let port = d.port;
    drop(d);
    write_rc(port);
    deliver(home.path(), &rc, &gtube());
    let files = maildir_files(&inbox);
    assert_eq!(files.len(), 2, "delivered to the inbox with spamd stopped");
    assert!(
        files.iter().any(|f| f.as_slice() == gtube().as_slice()),
        "unchanged, nothing lost"
    );
}
