//! Which charsets are acceptable for the configured locales
//! (`ok_locales`), as SpamAssassin's Locales module judges them.

/// Charsets (normalised: uppercase, alphanumerics only) acceptable for
/// each two-letter language.
const CHARSETS_FOR_LOCALE: &[(&str, &str)] = &[
    (
        "ja",
        "EUCJP JISX020119760 JISX020819830 JISX020819900 JISX020819970 \
         JISX021219900 JISX021320001 JISX021320002 SHIFT_JIS SHIFTJIS \
         ISO2022JP SJIS JIS7 JISX0201 JISX0208 JISX0212",
    ),
    ("ko", "EUCKR KSC56011987"),
    ("ru", CYRILLIC),
    ("ka", CYRILLIC),
    ("tg", CYRILLIC),
    ("be", CYRILLIC),
    ("uk", CYRILLIC),
    ("bg", CYRILLIC),
    ("th", "TIS620"),
    (
        "zh",
        "GB1988 GB2312 GB231219800 GB18030 GBK BIG5HKSCS BIG5 EUCTW ISO2022CN",
    ),
];

const CYRILLIC: &str = "KOI8R KOI8U KOI8T ISOIR111 CP1251 GEORGIANPS CP1251 PT154 CP866";

/// The configured locales plus the process locale, as SpamAssassin
/// collects them (`get_my_locales`).
pub fn my_locales(ok_locales: &[String]) -> Vec<String> {
    let mut v = ok_locales.to_vec();
    let lang = ["LC_ALL", "LANGUAGE", "LC_MESSAGES", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|s| !s.is_empty()));
    if let Some(l) = lang {
        v.push(l);
    }
    v
}

/// True if text in charset `cs` is expected for one of `locales`. Latin,
/// Unicode and Windows charsets are always fine.
pub fn charset_ok_for_locales(cs: &str, locales: &[String]) -> bool {
    let mut cs: String = cs
        .to_ascii_uppercase()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    // A quoted-printable "=3D" left in front of the name (removed once).
    if let Some(rest) = cs.strip_prefix("3D") {
        cs = rest.to_string();
    }
    let always = cs == "USASCII"
        || cs == "ASCII"
        || cs.starts_with("ISO8859")
        || cs.starts_with("ISO10646")
        || cs.starts_with("UTF")
        || cs.starts_with("UCS")
        || cs.starts_with("CP125")
        || cs.starts_with("WINDOWS")
        || cs == "IBM852"
        || cs.starts_with("UNICODE11UTF7")
        || cs.starts_with("UNICODE11UTF8")
        || cs == "XUNKNOWN"
        || cs == "ISO";
    if always {
        return true;
    }
    locales.iter().any(|loc| {
        let loc = if loc == "C" { "en" } else { loc.as_str() };
        let b = loc.as_bytes();
        let lang = if b.len() >= 2 && b[0].is_ascii_lowercase() && b[1].is_ascii_lowercase() {
            &loc[..2]
        } else {
            loc
        };
        CHARSETS_FOR_LOCALE
            .iter()
            .find(|(l, _)| *l == lang)
            .is_some_and(|(_, list)| list.split(' ').any(|c| c == cs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets() {
        let en = vec!["en".to_string()];
        let ja = vec!["ja_JP.UTF-8".to_string()];
        assert!(charset_ok_for_locales("iso-8859-1", &en));
        assert!(charset_ok_for_locales("windows-1252", &en));
        assert!(!charset_ok_for_locales("ISO-2022-JP", &en));
        assert!(charset_ok_for_locales("ISO-2022-JP", &ja));
        assert!(!charset_ok_for_locales("big5", &ja));
    }
}
