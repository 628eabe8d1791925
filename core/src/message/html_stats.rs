//! Facts about one HTML part that SpamAssassin's HTMLEval, HTTPSMismatch and
//! URIEval tests read (`HTML.pm` results: tag counts and balance, ratios,
//! font tricks, image area, comments, titles, anchors). The renderer in
//! `html.rs` feeds every tokenizer event here while it renders, so the
//! counts see exactly the events the rendering saw.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// Elements of the HTML 4.01 / XHTML 1.0 DTDs plus a few common
/// non-standard ones: tags counted as "elements" for the bad-tag ratios.
pub(super) fn is_element(tag: &str) -> bool {
    matches!(
        tag,
        "a" | "abbr"
            | "acronym"
            | "address"
            | "area"
            | "b"
            | "base"
            | "bdo"
            | "big"
            | "blockquote"
            | "body"
            | "br"
            | "button"
            | "caption"
            | "cite"
            | "code"
            | "col"
            | "colgroup"
            | "dd"
            | "del"
            | "dfn"
            | "div"
            | "dl"
            | "dt"
            | "em"
            | "fieldset"
            | "form"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "hr"
            | "html"
            | "i"
            | "img"
            | "input"
            | "ins"
            | "kbd"
            | "label"
            | "legend"
            | "li"
            | "link"
            | "map"
            | "meta"
            | "noscript"
            | "object"
            | "ol"
            | "optgroup"
            | "option"
            | "p"
            | "param"
            | "pre"
            | "q"
            | "samp"
            | "script"
            | "select"
            | "small"
            | "span"
            | "strong"
            | "style"
            | "sub"
            | "sup"
            | "table"
            | "tbody"
            | "td"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "tt"
            | "ul"
            | "var"
            | "applet"
            | "basefont"
            | "center"
            | "dir"
            | "font"
            | "frame"
            | "frameset"
            | "iframe"
            | "isindex"
            | "menu"
            | "noframes"
            | "s"
            | "strike"
            | "u"
            | "nobr"
            | "x-sigsep"
            | "x-tab"
    )
}

/// Non-standard tags that are rendered but not counted as elements.
pub(super) fn is_trick(tag: &str) -> bool {
    matches!(tag, "bgsound" | "embed" | "listing" | "plaintext" | "xmp")
}

/// Office namespace tags (`o:p`, `st1:place`) count as elements and are
/// otherwise ignored.
fn is_namespace_tag(tag: &str) -> bool {
    let rest = if let Some(r) = tag.strip_prefix("o:") {
        r
    } else if let Some(r) = tag.strip_prefix("st") {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits != 1 {
            return false;
        }
        match r[1..].strip_prefix(':') {
            Some(r) => r,
            None => return false,
        }
    } else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// `font face` values that look like a list of font names; anything else
/// is "bad".
static FONT_FACE_OK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)^\s*["'.]?[a-z ][a-z -]*[a-z]\d?["']?(?:,\s*["']?[a-z][a-z -]*[a-z]\d?["']?)*;?\n?\z"#,
    )
    .unwrap_or_else(|_| unreachable!("constant regex"))
});

/// `<meta http-equiv=Content-Type content="...charset=X">`.
static META_CHARSET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bcharset\s*=\s*["']?([^"']+)"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});

/// Perl's `\s` on a character string.
fn perl_space(c: char) -> bool {
    c.is_whitespace()
}

/// Neither whitespace nor ASCII punctuation: the "word-ish" characters the
/// obfuscation count looks at.
fn inky(c: char) -> bool {
    !(perl_space(c) || c.is_ascii_punctuation())
}

/// Image size from a width/height attribute: a number, or a percentage of
/// an assumed 800x600 screen (`scale` is 8 or 6); 0 when unparsable.
fn image_dimension(v: &str, scale: u64) -> u64 {
    let v = v.strip_suffix('\n').unwrap_or(v);
    let (digits, pct) = match v.strip_suffix('%') {
        Some(d) => (d, true),
        None => (v, false),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    let n: u64 = digits.parse().unwrap_or(u64::MAX / 16);
    if pct { n.saturating_mul(scale) } else { n }
}

/// Everything SpamAssassin records about one HTML part.
#[derive(Debug, Clone)]
pub(crate) struct HtmlStats {
    /// Every tag event (start and end), and `<!doctype>`.
    pub tags: u32,
    /// Tag events whose tag is an element (or an Office namespace tag).
    pub elements: u32,
    /// Distinct tag names.
    pub tags_seen: u32,
    /// Distinct element names.
    pub elements_seen: u32,
    /// End tags with no open tag left.
    pub closed_extra: u32,
    /// Open-minus-closed count per tag name (never below 0); a name is
    /// present once the tag has been seen at all.
    pub inside: HashMap<String, i64>,
    /// Text events glued to the previous text without a separator.
    pub obfuscation: u32,
    /// Characters of HTML source (before any rendering).
    pub length: usize,
    /// Characters of rendered text, and how many are not whitespace.
    pub html_length: usize,
    pub non_space_len: usize,
    /// Summed `<img width height>` area.
    pub image_area: u64,
    pub min_size: i64,
    pub max_size: i64,
    pub font_low_contrast: bool,
    pub font_invalid_color: bool,
    pub font_face_bad: bool,
    pub form_action_mailto: bool,
    pub embeds: bool,
    pub comments: Vec<String>,
    pub titles: Vec<String>,
    /// Text of each `<a>` in order (images inside show as `<img>\n`).
    pub anchors: Vec<String>,
    /// The href (as written, trimmed) of each entry of `anchors`.
    pub anchor_hrefs: Vec<String>,
    /// `<iframe src>` with a non-empty value was seen.
    pub iframe_src: bool,
    /// Charsets named by `<meta http-equiv=Content-Type>`.
    pub charsets: Vec<String>,
    /// A link attribute was longer than SpamAssassin keeps.
    pub uri_truncated: bool,
    /// Script text (kept for completeness of the `script` key).
    pub scripts: Vec<String>,
}

impl Default for HtmlStats {
    fn default() -> Self {
        HtmlStats {
            tags: 0,
            elements: 0,
            tags_seen: 0,
            elements_seen: 0,
            closed_extra: 0,
            inside: HashMap::new(),
            obfuscation: 0,
            length: 0,
            html_length: 0,
            non_space_len: 0,
            image_area: 0,
            // Text starts at the default font size 3.
            min_size: 3,
            max_size: 3,
            font_low_contrast: false,
            font_invalid_color: false,
            font_face_bad: false,
            form_action_mailto: false,
            embeds: false,
            comments: Vec::new(),
            titles: Vec::new(),
            anchors: Vec::new(),
            anchor_hrefs: Vec::new(),
            iframe_src: false,
            charsets: Vec::new(),
            uri_truncated: false,
            scripts: Vec::new(),
        }
    }
}

/// A value of an `html_*` test key, as the eval functions see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HtmlValue {
    Number(f64),
    Texts(Vec<String>),
}

impl HtmlStats {
    fn inside_of(&self, tag: &str) -> i64 {
        self.inside.get(tag).copied().unwrap_or(0)
    }

    /// A start (`open`) or end tag event, before the renderer acts on it.
    pub fn tag(&mut self, tag: &str, attrs: &[(String, String)], open: bool) {
        let namespace = is_namespace_tag(tag);
        let seen = self.inside.contains_key(tag);
        if is_element(tag) || namespace {
            self.elements += 1;
            if !seen {
                self.elements_seen += 1;
            }
        }
        self.tags += 1;
        if !seen {
            self.tags_seen += 1;
        }
        let n = self.inside.entry(tag.to_owned()).or_insert(0);
        *n += if open { 1 } else { -1 };
        if *n < 0 {
            *n = 0;
            self.closed_extra += 1;
        }
        if namespace || !(is_element(tag) || is_trick(tag)) || !open {
            return;
        }
        self.start_tag_tests(tag, attrs);
    }

    /// `<!doctype ...>` counts as an element tag without being "seen".
    pub fn doctype(&mut self) {
        self.elements += 1;
        self.tags += 1;
        self.inside.insert("!doctype".into(), 0);
    }

    pub fn comment(&mut self, text: &str) {
        self.comments.push(text.to_owned());
    }

    fn start_tag_tests(&mut self, tag: &str, attrs: &[(String, String)]) {
        let get = |name: &str| {
            attrs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if tag == "iframe" {
            let src = attrs
                .iter()
                .find(|(n, _)| n == "src" || is_slashed_attr(n, "src"))
                .map(|(_, v)| v.as_str());
            if let Some(v) = src {
                let (c, truncated) = canon_uri(v);
                self.uri_truncated |= truncated;
                self.iframe_src |= !c.is_empty();
            }
        }
        for (name, v) in attrs {
            let links = match tag {
                "a" | "area" | "link" => name == "href" || name == "data-saferedirecturl",
                "img" | "frame" | "iframe" | "embed" | "script" | "bgsound" => name == "src",
                "body" | "table" | "tr" | "td" => name == "background",
                "form" => name == "action",
                "base" => name == "href",
                _ => false,
            };
            if links && v.chars().count() > MAX_URI_LENGTH {
                self.uri_truncated = true;
            }
        }
        if tag == "font"
            && let Some(face) = get("face")
            && !FONT_FACE_OK.is_match(face)
        {
            self.font_face_bad = true;
        }
        if tag == "img"
            && self.inside_of("a") > 0
            && let Some(last) = self.anchors.last_mut()
        {
            last.push_str("<img>\n");
        }
        if tag == "img"
            && let (Some(w), Some(h)) = (get("width"), get("height"))
        {
            let mut w = image_dimension(w, 8);
            let mut h = image_dimension(h, 6);
            if w == 0 {
                w = 200;
            }
            if h == 0 {
                h = 200;
            }
            self.image_area = self.image_area.saturating_add(w.saturating_mul(h));
        }
        if tag == "form"
            && get("action").is_some_and(|a| a.to_ascii_lowercase().contains("mailto:"))
        {
            self.form_action_mailto = true;
        }
        if tag == "object" || tag == "embed" {
            self.embeds = true;
        }
        if tag == "a" {
            let href = get("href").map(|h| canon_uri(h).0).unwrap_or_default();
            self.anchor_hrefs.push(href);
            self.anchors.push(String::new());
        }
        if tag == "title" {
            self.titles.push(String::new());
        }
        if tag == "meta"
            && let (Some(equiv), Some(content)) = (get("http-equiv"), get("content"))
            && equiv.to_ascii_lowercase().contains("content-type")
            && let Some(c) = META_CHARSET.captures(content).and_then(|c| c.get(1))
        {
            self.charsets.push(c.as_str().to_owned());
        }
    }

    /// A text event. `prev` is the last piece of rendered text so far (None
    /// before the first). Returns false for script and style content, which
    /// is not rendered.
    pub fn text(&mut self, text: &str, prev: Option<&str>) -> bool {
        if self.inside_of("script") > 0 {
            self.scripts.push(text.to_owned());
            return false;
        }
        if self.inside_of("style") > 0 {
            return false;
        }
        if self.inside_of("a") > 0
            && let Some(last) = self.anchors.last_mut()
        {
            last.push_str(text);
        }
        if self.inside_of("title") > 0
            && let Some(last) = self.titles.last_mut()
        {
            last.push_str(text);
        }
        if let Some(prev) = prev
            && text.chars().next().is_some_and(inky)
            && prev.chars().next_back().is_some_and(inky)
        {
            self.obfuscation += 1;
        }
        true
    }

    /// End of input: unclosed `<style>` and `<script>` are closed, one end
    /// tag at a time, as SpamAssassin feeds the parser `</style>` until it
    /// is out of them.
    pub fn end_document(&mut self) {
        for tag in ["style", "script"] {
            while self.inside_of(tag) > 0 {
                self.tag(tag, &[], false);
            }
        }
    }

    /// A font size took effect on a style attribute.
    pub fn font_size(&mut self, size: i64) {
        if size > self.max_size {
            self.max_size = size;
        } else if size < self.min_size {
            self.min_size = size;
        }
    }

    /// End of document: the rendered text of the part, and whether Perl
    /// would hold it as characters (which widens what counts as space).
    pub fn finish(&mut self, rendered: &str, flagged: bool) {
        self.html_length = rendered.chars().count();
        let spaces = rendered
            .chars()
            .filter(|&c| {
                if flagged {
                    perl_space(c)
                } else {
                    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}')
                }
            })
            .count();
        self.non_space_len = self.html_length - spaces;
    }

    /// The value of an `html_*` test key, None when SpamAssassin would not
    /// have set it.
    pub fn value(&self, key: &str) -> Option<HtmlValue> {
        use HtmlValue::{Number, Texts};
        let flag = |b: bool| b.then_some(Number(1.0));
        let tags = f64::from(self.tags);
        match key {
            "html" => Some(Number(1.0)),
            "length" => Some(Number(self.length as f64)),
            "html_length" => Some(Number(self.html_length as f64)),
            "non_space_len" => Some(Number(self.non_space_len as f64)),
            "image_area" => Some(Number(self.image_area as f64)),
            "min_size" => Some(Number(self.min_size as f64)),
            "max_size" => Some(Number(self.max_size as f64)),
            "closed_extra_ratio" => {
                (self.tags > 0).then(|| Number(f64::from(self.closed_extra) / tags))
            }
            "bad_tag_ratio" => (self.tags > 0 && self.elements > 0)
                .then(|| Number(f64::from(self.tags - self.elements.min(self.tags)) / tags)),
            "non_element_ratio" => (self.tags_seen > 0 && self.elements_seen > 0).then(|| {
                Number(
                    f64::from(self.tags_seen - self.elements_seen.min(self.tags_seen))
                        / f64::from(self.tags_seen),
                )
            }),
            "obfuscation_ratio" => (self.tags > 0 && self.obfuscation > 0)
                .then(|| Number(f64::from(self.obfuscation) / tags)),
            "font_low_contrast" => flag(self.font_low_contrast),
            "font_invalid_color" => flag(self.font_invalid_color),
            "font_face_bad" => flag(self.font_face_bad),
            "form_action_mailto" => flag(self.form_action_mailto),
            "embeds" => flag(self.embeds),
            "uri_truncated" => flag(self.uri_truncated),
            "comment" => Some(Texts(self.comments.clone())),
            "title" => Some(Texts(self.titles.clone())),
            "anchor" => Some(Texts(self.anchors.clone())),
            "script" => Some(Texts(self.scripts.clone())),
            _ => None,
        }
    }
}

/// Longest URI SpamAssassin keeps (`MAX_URI_LENGTH`).
const MAX_URI_LENGTH: usize = 8192;

/// `canon_uri`: trim whitespace and NBSP; (value, was it cut).
fn canon_uri(v: &str) -> (String, bool) {
    let t = v.trim_matches(|c: char| perl_space(c) || c == '\u{a0}');
    let n = t.chars().count();
    if n > MAX_URI_LENGTH {
        (t.chars().take(MAX_URI_LENGTH).collect(), true)
    } else {
        (t.to_owned(), false)
    }
}

/// Attribute names like `x/src` from badly formatted HTML (`\w{1,8}/src`).
fn is_slashed_attr(name: &str, what: &str) -> bool {
    name.find('/').is_some_and(|p| {
        p > 0
            && name[..p]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            && name[p + 1..].starts_with(what)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_tags() {
        assert!(is_namespace_tag("o:p"));
        assert!(is_namespace_tag("st1:place"));
        assert!(is_namespace_tag("o:p/"));
        assert!(!is_namespace_tag("st:place"));
        assert!(!is_namespace_tag("x:p"));
    }

    #[test]
    fn font_faces() {
        assert!(FONT_FACE_OK.is_match("\"Tahoma\", Verdana, Arial, sans-serif"));
        assert!(FONT_FACE_OK.is_match("Arial,Helvetica,Sans-Serif;"));
        assert!(FONT_FACE_OK.is_match(".SFUIDisplay"));
        assert!(!FONT_FACE_OK.is_match("x"));
        assert!(!FONT_FACE_OK.is_match("Arial Black 123"));
    }

    // Expected counts were read from SpamAssassin's HTML results for the
    // same message.
    #[test]
    fn counts_match_spamassassin() {
        let raw = b"Subject: t\nContent-Type: text/html\n\n<!DOCTYPE html><html><body>\
            <foo>x</foo><o:p></o:p></b></b><img src=\"a.gif\" width=\"50%\" height=10>\
            te<b>xt</b> &nbsp;more\xc2\xa0<!--c--></body></html>\n";
        let msg = crate::message::Message::parse(raw);
        let parts = msg.html_parts();
        assert_eq!(parts.len(), 1);
        let h = &parts[0];
        assert_eq!((h.tags, h.elements, h.closed_extra), (14, 12, 2));
        assert_eq!((h.tags_seen, h.elements_seen), (6, 5));
        assert_eq!(h.obfuscation, 2);
        assert_eq!(h.image_area, 4000);
        assert_eq!((h.length, h.html_length, h.non_space_len), (143, 12, 9));
        assert_eq!(h.comments, vec!["<!--c-->".to_string()]);
        assert_eq!(h.inside.get("img"), Some(&1));
        assert_eq!(h.inside.get("b"), Some(&0));
    }

    #[test]
    fn dimensions() {
        assert_eq!(image_dimension("120", 8), 120);
        assert_eq!(image_dimension("50%", 8), 400);
        assert_eq!(image_dimension("12px", 8), 0);
    }
}
