//! sysexits(3) codes, as used by spamc's exit status and spamd's status line.

pub const EX_OK: i32 = 0;
/// spamc `-c`/`-E`: the message is spam.
pub const EX_ISSPAM: i32 = 1;
pub const EX_USAGE: i32 = 64;
pub const EX_DATAERR: i32 = 65;
pub const EX_NOINPUT: i32 = 66;
pub const EX_NOUSER: i32 = 67;
pub const EX_NOHOST: i32 = 68;
pub const EX_UNAVAILABLE: i32 = 69;
pub const EX_SOFTWARE: i32 = 70;
pub const EX_OSERR: i32 = 71;
pub const EX_OSFILE: i32 = 72;
pub const EX_CANTCREAT: i32 = 73;
pub const EX_IOERR: i32 = 74;
pub const EX_TEMPFAIL: i32 = 75;
pub const EX_PROTOCOL: i32 = 76;
pub const EX_NOPERM: i32 = 77;
pub const EX_CONFIG: i32 = 78;
pub const EX_TIMEOUT: i32 = 79;
/// libspamc's internal "message too big" code; spamc never exits with it.
pub const EX_TOOBIG: i32 = 866;

/// The name spamd prints after a code (`SPAMD/1.1 0 EX_OK`).
pub fn code_name(code: i32) -> &'static str {
    match code {
        EX_OK => "EX_OK",
        EX_USAGE => "EX_USAGE",
        EX_DATAERR => "EX_DATAERR",
        EX_NOINPUT => "EX_NOINPUT",
        EX_NOUSER => "EX_NOUSER",
        EX_NOHOST => "EX_NOHOST",
        EX_UNAVAILABLE => "EX_UNAVAILABLE",
        EX_SOFTWARE => "EX_SOFTWARE",
        EX_OSERR => "EX_OSERR",
        EX_OSFILE => "EX_OSFILE",
        EX_CANTCREAT => "EX_CANTCREAT",
        EX_IOERR => "EX_IOERR",
        EX_TEMPFAIL => "EX_TEMPFAIL",
        EX_PROTOCOL => "EX_PROTOCOL",
        EX_NOPERM => "EX_NOPERM",
        EX_CONFIG => "EX_CONFIG",
        EX_TIMEOUT => "EX_TIMEOUT",
        _ => "EX_UNKNOWN",
    }
}
