//! HTML to text as SpamAssassin renders it (`HTML.pm` on top of
//! HTML::Parser 3.81): a tolerant tokenizer that reports the same events
//! HTML::Parser does, and a renderer that turns them into the text body
//! rules see, plus the URIs found in tag attributes.

use super::entities::ENTITIES;
use super::html_stats::HtmlStats;

/// One tokenizer event, the subset of HTML::Parser's that SpamAssassin uses.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// Start tag: lowercased name, attributes (lowercased names, decoded
    /// values, first occurrence wins).
    Start(String, Vec<(String, String)>),
    /// End tag, lowercased name.
    End(String),
    /// Text with entities decoded.
    Text(String),
    /// A comment (bogus ones like `<!foo>` and `</ x>` included), as
    /// written.
    Comment(String),
    /// `<!doctype ...>`.
    Doctype,
    /// Other declarations, processing instructions: never rendered.
    Other,
}

/// Elements whose content is literal text up to the matching end tag.
fn literal_kind(tag: &str) -> Option<bool> {
    // Some(true): entities decoded (RCDATA); Some(false): raw (CDATA).
    match tag {
        "script" | "style" | "xmp" | "iframe" => Some(false),
        "title" | "textarea" => Some(true),
        _ => None,
    }
}

/// Tokenize `s` into HTML::Parser-like events.
pub(crate) fn tokenize(s: &str) -> Vec<Event> {
    let b = s.as_bytes();
    let mut ev = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    let flush = |ev: &mut Vec<Event>, from: usize, to: usize| {
        if to > from {
            ev.push(Event::Text(decode_entities(&s[from..to], false)));
        }
    };
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let next = b.get(i + 1).copied();
        match next {
            Some(c) if c.is_ascii_alphabetic() => {
                let Some((name, attrs, end)) = parse_start_tag(s, i) else {
                    // Unterminated markup at the end: dropped like a comment.
                    flush(&mut ev, text_start, i);
                    ev.push(Event::Other);
                    return ev;
                };
                flush(&mut ev, text_start, i);
                let lit = literal_kind(&name);
                let plaintext = name == "plaintext";
                ev.push(Event::Start(name.clone(), attrs));
                i = end;
                text_start = i;
                if plaintext {
                    flush(&mut ev, i, b.len());
                    return ev;
                }
                if let Some(rcdata) = lit {
                    let close = find_end_tag(b, i, &name);
                    let stop = close.map_or(b.len(), |(st, _)| st);
                    if stop > i {
                        ev.push(Event::Text(if rcdata {
                            decode_entities(&s[i..stop], false)
                        } else {
                            s[i..stop].to_owned()
                        }));
                    }
                    match close {
                        Some((_, after)) => {
                            ev.push(Event::End(name));
                            i = after;
                            text_start = i;
                        }
                        None => return ev,
                    }
                }
            }
            Some(b'/') => {
                if b.get(i + 2).is_some_and(u8::is_ascii_alphabetic) {
                    let Some(gt) = find_tag_end(b, i + 2) else {
                        flush(&mut ev, text_start, i);
                        ev.push(Event::Other);
                        return ev;
                    };
                    flush(&mut ev, text_start, i);
                    let name_end = (i + 2..gt)
                        .find(|&k| b[k].is_ascii_whitespace() || b[k] == b'/')
                        .unwrap_or(gt);
                    ev.push(Event::End(s[i + 2..name_end].to_ascii_lowercase()));
                    i = gt + 1;
                    text_start = i;
                } else {
                    // `</ x>` and friends are bogus comments up to '>'.
                    flush(&mut ev, text_start, i);
                    match b[i..].iter().position(|&c| c == b'>') {
                        Some(p) => {
                            ev.push(Event::Comment(s[i..i + p + 1].to_owned()));
                            i += p + 1;
                        }
                        None => {
                            ev.push(Event::Other);
                            return ev;
                        }
                    }
                    text_start = i;
                }
            }
            Some(b'!') => {
                flush(&mut ev, text_start, i);
                if b[i..].starts_with(b"<!--") {
                    // Ends at "-->"; without one, at the next '>'; without
                    // that, the rest is comment.
                    let end = find(b, i + 4, b"-->").map(|p| p + 3).or_else(|| {
                        b[i + 4..]
                            .iter()
                            .position(|&c| c == b'>')
                            .map(|p| i + 4 + p + 1)
                    });
                    match end {
                        Some(e) => {
                            ev.push(Event::Comment(s[i..e].to_owned()));
                            i = e;
                        }
                        None => {
                            ev.push(Event::Other);
                            return ev;
                        }
                    }
                } else if b[i..].starts_with(b"<![CDATA[") {
                    let start = i + 9;
                    let stop = find(b, start, b"]]>");
                    let end = stop.unwrap_or(b.len());
                    ev.push(Event::Text(s[start..end].to_owned()));
                    i = stop.map_or(b.len(), |p| p + 3);
                } else {
                    // HTML::Parser reports DOCTYPE and ENTITY as
                    // declarations and any other `<!...>` as a comment.
                    let name: String = s[i + 2..]
                        .chars()
                        .take_while(char::is_ascii_alphabetic)
                        .collect::<String>()
                        .to_ascii_lowercase();
                    match b[i..].iter().position(|&c| c == b'>') {
                        Some(p) => {
                            ev.push(match name.as_str() {
                                "doctype" => Event::Doctype,
                                "entity" => Event::Other,
                                _ => Event::Comment(s[i..i + p + 1].to_owned()),
                            });
                            i += p + 1;
                        }
                        None => {
                            ev.push(Event::Other);
                            return ev;
                        }
                    }
                }
                text_start = i;
            }
            Some(b'?') => {
                flush(&mut ev, text_start, i);
                ev.push(Event::Other);
                match b[i..].iter().position(|&c| c == b'>') {
                    Some(p) => i += p + 1,
                    None => return ev,
                }
                text_start = i;
            }
            _ => {
                // A '<' that opens nothing: text, but HTML::Parser starts a
                // new text event there.
                flush(&mut ev, text_start, i);
                text_start = i;
                i += 1;
            }
        }
    }
    flush(&mut ev, text_start, b.len());
    ev
}

fn find(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    if from > b.len() {
        return None;
    }
    b[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// The '>' closing a tag that starts at `from`, skipping quoted values.
fn find_tag_end(b: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (k, &c) in b.iter().enumerate().skip(from) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'>' => return Some(k),
            None if (c == b'"' || c == b'\'') && k > 0 && b[k - 1] == b'=' => quote = Some(c),
            None if (c == b'"' || c == b'\'') && k > 1 && b[k - 1].is_ascii_whitespace() => {
                // `= "x"`: a quote after blanks following '='.
                let mut j = k - 1;
                while j > from && b[j].is_ascii_whitespace() {
                    j -= 1;
                }
                if b[j] == b'=' {
                    quote = Some(c);
                }
            }
            None => {}
        }
    }
    None
}

/// `</name` followed by blank, '/' or '>' (case-insensitive), from `from`.
/// Returns (start of `</`, index after the closing '>').
fn find_end_tag(b: &[u8], from: usize, name: &str) -> Option<(usize, usize)> {
    let n = name.len();
    let mut k = from;
    while let Some(p) = find(b, k, b"</") {
        let after = p + 2 + n;
        if b.len() >= after
            && b[p + 2..after].eq_ignore_ascii_case(name.as_bytes())
            && b.get(after)
                .is_none_or(|&c| c.is_ascii_whitespace() || c == b'>' || c == b'/')
        {
            let gt = b[after..].iter().position(|&c| c == b'>')?;
            return Some((p, after + gt + 1));
        }
        k = p + 2;
    }
    None
}

type StartTag = (String, Vec<(String, String)>, usize);

/// Parse `<name attr=value ...>` starting at `at` ('<'). None if no '>'.
fn parse_start_tag(s: &str, at: usize) -> Option<StartTag> {
    let b = s.as_bytes();
    let mut k = at + 1;
    while k < b.len() && !b[k].is_ascii_whitespace() && b[k] != b'>' {
        k += 1;
    }
    let name = s[at + 1..k].to_ascii_lowercase();
    let mut attrs: Vec<(String, String)> = Vec::new();
    loop {
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        if k >= b.len() {
            return None;
        }
        if b[k] == b'>' {
            return Some((name, attrs, k + 1));
        }
        let an_start = k;
        while k < b.len() && !b[k].is_ascii_whitespace() && b[k] != b'>' && b[k] != b'=' {
            k += 1;
        }
        if k == an_start {
            // A stray '=': skip it.
            k += 1;
            continue;
        }
        let aname = s[an_start..k].to_ascii_lowercase();
        let mut j = k;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        let value = if b.get(j) == Some(&b'=') {
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            match b.get(j) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let end = b[j + 1..].iter().position(|&c| c == q)? + j + 1;
                    let v = decode_entities(&s[j + 1..end], true);
                    k = end + 1;
                    v
                }
                _ => {
                    let vs = j;
                    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                    k = j;
                    decode_entities(&s[vs..j], true)
                }
            }
        } else {
            aname.clone()
        };
        if !attrs.iter().any(|(n, _)| *n == aname) {
            attrs.push((aname, value));
        }
    }
}

fn lookup_entity(name: &str) -> Option<&'static str> {
    ENTITIES
        .binary_search_by(|(n, _)| n.as_bytes().cmp(name.as_bytes()))
        .ok()
        .map(|i| ENTITIES[i].1)
}

/// Decode character references the way HTML::Parser does: numeric ones with
/// or without ';', named ones from its table; in text a known name may be a
/// prefix (`&ampx` is `&x`), in attribute values it may not.
pub(crate) fn decode_entities(s: &str, attr: bool) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'&' {
            i += 1;
            continue;
        }
        let start = i;
        let mut k = i + 1;
        let mut replacement: Option<(String, usize)> = None;
        if b.get(k) == Some(&b'#') {
            k += 1;
            let hex = matches!(b.get(k), Some(b'x' | b'X'));
            if hex {
                k += 1;
            }
            let ds = k;
            while k < b.len()
                && (if hex {
                    b[k].is_ascii_hexdigit()
                } else {
                    b[k].is_ascii_digit()
                })
            {
                k += 1;
            }
            if k > ds {
                let v = u32::from_str_radix(&s[ds..k], if hex { 16 } else { 10 }).ok();
                if let Some(c) = v.filter(|&v| v != 0).and_then(char::from_u32) {
                    let end = if b.get(k) == Some(&b';') { k + 1 } else { k };
                    replacement = Some((c.to_string(), end));
                }
            }
        } else {
            let ns = k;
            while k < b.len() && b[k].is_ascii_alphanumeric() {
                k += 1;
            }
            if k > ns {
                let name = &s[ns..k];
                if b.get(k) == Some(&b';') {
                    let with = format!("{name};");
                    if let Some(v) = lookup_entity(&with).or_else(|| lookup_entity(name)) {
                        replacement = Some((v.to_owned(), k + 1));
                    }
                }
                if replacement.is_none() {
                    if let Some(v) = lookup_entity(name) {
                        if !attr || !b.get(k).is_some_and(u8::is_ascii_alphanumeric) {
                            replacement = Some((v.to_owned(), k));
                        }
                    } else if !attr {
                        for len in (1..name.len()).rev() {
                            if let Some(v) = lookup_entity(&name[..len]) {
                                replacement = Some((v.to_owned(), ns + len));
                                break;
                            }
                        }
                    }
                }
            }
        }
        match replacement {
            Some((v, end)) => {
                out.push_str(&s[last..start]);
                out.push_str(&v);
                last = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&s[last..]);
    out
}

/// Tags HTML.pm knows (rendering decisions are only made for these): its
/// elements plus its "tricks" (bgsound, embed, listing, plaintext, xmp).
fn known_tag(tag: &str) -> bool {
    super::html_stats::is_element(tag) || super::html_stats::is_trick(tag)
}

/// Whitespace a tag (start or end) contributes to the rendering.
fn tag_whitespace(tag: &str) -> Option<&'static str> {
    match tag {
        "br" | "div" => Some("\n"),
        "li" | "th" | "td" | "dt" | "dd" | "embed" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
            Some(" ")
        }
        "p" | "hr" | "blockquote" | "pre" | "listing" | "plaintext" | "xmp" | "title" => {
            Some("\n\n")
        }
        _ => None,
    }
}

/// The result of rendering one HTML part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rendered {
    /// All text, visible and invisible, as body rules see it.
    pub text: String,
    /// URIs from tag attributes, in document order, before canonicalisation.
    pub uris: Vec<String>,
    /// Tag counts and other facts for the HTML eval tests.
    pub stats: HtmlStats,
    /// The text a reader sees (Bayes' visible text).
    pub visible: String,
    /// Only the text a reader would not see (Bayes' `I*:` tokens).
    pub invisible: String,
}

/// A piece of rendered text and how it was produced.
struct Piece {
    text: String,
    whitespace: bool,
    invisible: bool,
}

/// One level of HTML.pm's text style stack: what decides invisibility.
#[derive(Clone)]
struct Style {
    tag: String,
    fg: String,
    bg: String,
    size: i64,
    display: Option<String>,
    visibility: Option<String>,
}

/// Tags whose attributes change the text style.
fn styles_text(tag: &str) -> bool {
    matches!(
        tag,
        "body"
            | "font"
            | "table"
            | "tr"
            | "th"
            | "td"
            | "big"
            | "small"
            | "basefont"
            | "marquee"
            | "span"
            | "p"
            | "div"
            | "a"
    )
}

/// Attributes HTML.pm reads for each style tag.
fn style_attr_ok(tag: &str, name: &str) -> bool {
    match tag {
        "basefont" | "font" => matches!(name, "color" | "face" | "size"),
        "body" => matches!(
            name,
            "text" | "bgcolor" | "link" | "alink" | "vlink" | "background"
        ),
        "marquee" => matches!(name, "bgcolor" | "background"),
        "table" | "td" | "th" | "tr" => matches!(name, "bgcolor" | "style"),
        "span" | "p" | "div" | "a" => name == "style",
        _ => false,
    }
}

/// Renderer state: the text pieces and the style stack.
struct Renderer {
    pieces: Vec<Piece>,
    styles: Vec<Style>,
    basefont: i64,
    stats: HtmlStats,
}

impl Renderer {
    fn top(&self) -> Style {
        self.styles.last().cloned().unwrap_or(Style {
            tag: "default".into(),
            fg: "#000000".into(),
            bg: "#ffffff".into(),
            size: 3,
            display: None,
            visibility: None,
        })
    }

    /// `text_style` for a start (`open`) or end tag.
    fn text_style(&mut self, tag: &str, attrs: &[(String, String)], open: bool) {
        let tag = if tag == "th" { "td" } else { tag };
        if !open {
            if tag != "body" && self.styles.iter().any(|s| s.tag == tag) {
                while let Some(s) = self.styles.pop() {
                    if s.tag == tag {
                        break;
                    }
                }
            }
            return;
        }
        if tag == "basefont"
            && let Some(n) = attr(attrs, "size").and_then(leading_uint)
        {
            self.basefont = n;
            return;
        }
        if (tag == "td" || tag == "tr") && self.styles.iter().any(|s| s.tag == tag) {
            while let Some(t) = self.styles.last().map(|s| s.tag.clone()) {
                let pop = (tag == "td" && (t == "font" || t == "td"))
                    || (tag == "tr" && matches!(t.as_str(), "font" | "td" | "tr"));
                if !pop {
                    break;
                }
                self.styles.pop();
            }
        }
        let mut new = self.top();
        new.tag = tag.to_owned();
        if tag == "big" || tag == "small" {
            new.size += if tag == "big" { 1 } else { -1 };
            self.styles.push(new);
            return;
        }
        let parent_bg = new.bg.clone();
        for (name, value) in attrs {
            if !style_attr_ok(tag, name) {
                continue;
            }
            match name.as_str() {
                "text" | "color" => new.fg = name_to_rgb(value),
                "size" => {
                    let v = value.trim_start();
                    if let Some(n) = signed_int(v) {
                        new.size = self.basefont + n;
                    } else if let Some(n) = leading_uint(v) {
                        new.size = n;
                    }
                }
                "style" => {
                    apply_css(&mut new, value);
                    if new.bg == "transparent" {
                        new.bg = parent_bg.clone();
                    }
                    if new.fg == "transparent" {
                        new.fg = new.bg.clone();
                    }
                }
                _ => {}
            }
            self.stats.font_size(new.size);
        }
        self.styles.push(new);
    }

    /// `html_font_invisible`: text the reader would not see.
    fn invisible(&mut self) -> bool {
        let s = self.top();
        let tail = |c: &str| c.chars().rev().take(6).collect::<String>();
        if tail(&s.fg) == tail(&s.bg) {
            self.stats.font_low_contrast = true;
            return true;
        }
        if let (Some(a), Some(b)) = (rgb(&s.fg), rgb(&s.bg)) {
            let d = |x: u32, y: u32| f64::from(x) - f64::from(y);
            let (r, g, bl) = (d(a.0, b.0), d(a.1, b.1), d(a.2, b.2));
            let dist = ((0.2126 * r).powi(2) + (0.7152 * g).powi(2) + (0.0722 * bl).powi(2)).sqrt();
            if dist < 12.0 {
                self.stats.font_low_contrast = true;
                return true;
            }
        }
        if s.fg == "invalid" || s.bg == "invalid" {
            self.stats.font_invalid_color = true;
            return true;
        }
        s.size <= 1
            || s.display.is_some_and(|d| d.eq_ignore_ascii_case("none"))
            || s.visibility
                .is_some_and(|v| v.eq_ignore_ascii_case("hidden"))
    }

    /// Whitespace from a tag: the previous visible text loses one trailing
    /// space.
    fn whitespace(&mut self, ws: &str) {
        if let Some(last) = self.pieces.last_mut()
            && !last.whitespace
            && !last.invisible
            && last.text.ends_with(' ')
        {
            last.text.pop();
        }
        self.pieces.push(Piece {
            text: ws.to_owned(),
            whitespace: true,
            invisible: false,
        });
    }

    /// Text: blank runs (and a UTF-8 NBSP read as Latin-1) become one space;
    /// visible text loses a leading space after tag whitespace.
    fn text(&mut self, t: &str) {
        let has_ink = {
            let mut stripped = t.replace("\u{c2}\u{a0}", "");
            stripped.retain(|c| !matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}' | '\u{b}'));
            !stripped.is_empty()
        };
        let invisible = has_ink && self.invisible();
        let mut out = String::with_capacity(t.len());
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}' | '\u{b}') {
                while chars
                    .peek()
                    .is_some_and(|&d| matches!(d, ' ' | '\t' | '\n' | '\r' | '\u{c}' | '\u{b}'))
                {
                    chars.next();
                }
                out.push(' ');
            } else if c == '\u{c2}' && chars.peek() == Some(&'\u{a0}') {
                chars.next();
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        if !invisible && self.pieces.last().is_some_and(|p| p.whitespace) && out.starts_with(' ') {
            out.remove(0);
        }
        self.pieces.push(Piece {
            text: out,
            whitespace: false,
            invisible,
        });
    }
}

/// `^\s*(\d+)`.
fn leading_uint(v: &str) -> Option<i64> {
    let v = v.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    let n: String = v.chars().take_while(char::is_ascii_digit).collect();
    if n.is_empty() {
        None
    } else {
        n.parse().ok().or(Some(i64::MAX))
    }
}

/// `^([+-]\d+)` (after leading blanks were skipped).
fn signed_int(v: &str) -> Option<i64> {
    let sign = match v.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let n: String = v[1..].chars().take_while(char::is_ascii_digit).collect();
    if n.is_empty() {
        return None;
    }
    Some(sign * n.parse::<i64>().unwrap_or(i64::MAX / 2))
}

/// `#rrggbb` as numbers.
fn rgb(c: &str) -> Option<(u32, u32, u32)> {
    let h = c.strip_prefix('#').unwrap_or(c);
    if h.len() != 6
        || !h
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let p = |i: usize| u32::from_str_radix(&h[i..i + 2], 16).ok();
    Some((p(0)?, p(2)?, p(4)?))
}

/// Inline CSS: colours, background colour, display and visibility.
fn apply_css(new: &mut Style, css: &str) {
    for decl in css.split(';') {
        let d = decl.trim_start();
        let lower = d.to_ascii_lowercase();
        let color_prop = if lower.starts_with("background-color:") {
            Some(("bg", "background-color:".len()))
        } else if lower.starts_with("color:") {
            Some(("fg", "color:".len()))
        } else {
            None
        };
        if let Some((which, n)) = color_prop {
            let v = d[n..].trim().to_ascii_lowercase();
            if v.is_empty() {
                continue;
            }
            let v = strip_important(&v);
            let value = if v.contains("rgb") {
                let digits: String = v
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == ',')
                    .collect();
                let parts: Vec<u32> = digits
                    .split(',')
                    .map(|p| p.parse::<u32>().unwrap_or(0).min(255))
                    .chain(std::iter::repeat(0))
                    .take(3)
                    .collect();
                Some(format!("#{:02x}{:02x}{:02x}", parts[0], parts[1], parts[2]))
            } else if v == "inherit" {
                None
            } else if v == "transparent" {
                Some(v.to_owned())
            } else {
                Some(name_to_rgb(v))
            };
            if let Some(value) = value {
                if which == "bg" {
                    new.bg = value;
                } else {
                    new.fg = value;
                }
            }
        } else if let Some(rest) = d.strip_prefix("background:") {
            let layers = css_background_layers(&rest.trim().to_ascii_lowercase());
            if let Some(last) = layers.last() {
                for tok in last {
                    let c = name_to_rgb(tok);
                    if c != "invalid" {
                        new.bg = c;
                        break;
                    }
                }
            }
        } else if let Some(colon) = d.find(':') {
            let prop = d[..colon].trim_end();
            let val = d[colon + 1..].trim();
            let ok_name = !prop.is_empty()
                && prop
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
            if ok_name && !val.is_empty() {
                match prop {
                    "display" => new.display = Some(val.to_owned()),
                    "visibility" => new.visibility = Some(val.to_owned()),
                    _ => {}
                }
            }
        }
    }
}

fn strip_important(v: &str) -> &str {
    let t = v.trim_end();
    if let Some(p) = t.strip_suffix("important") {
        let p = p.trim_end();
        if let Some(p) = p.strip_suffix('!') {
            return p.trim_end();
        }
    }
    v
}

/// Split a CSS `background` value into layers of tokens (commas separate
/// layers; parentheses and quotes group).
fn css_background_layers(v: &str) -> Vec<Vec<String>> {
    let mut layers = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let mut tok = String::new();
    let mut stack: Vec<u8> = Vec::new();
    let mut state = 0u8;
    for ch in v.chars() {
        match state {
            0 => match ch {
                ' ' => {
                    if !tok.is_empty() {
                        tokens.push(std::mem::take(&mut tok));
                    }
                }
                '(' | '"' | '\'' => {
                    tok.push(ch);
                    stack.push(state);
                    state = match ch {
                        '(' => 1,
                        '"' => 2,
                        _ => 3,
                    };
                }
                ',' => {
                    if !tok.is_empty() {
                        tokens.push(std::mem::take(&mut tok));
                    }
                    layers.push(std::mem::take(&mut tokens));
                }
                _ => tok.push(ch),
            },
            1 => {
                tok.push(ch);
                match ch {
                    ')' => {
                        tokens.push(std::mem::take(&mut tok));
                        state = stack.pop().unwrap_or(0);
                    }
                    '"' => {
                        stack.push(state);
                        state = 2;
                    }
                    '\'' => {
                        stack.push(state);
                        state = 3;
                    }
                    _ => {}
                }
            }
            _ => {
                tok.push(ch);
                if (state == 2 && ch == '"') || (state == 3 && ch == '\'') {
                    state = stack.pop().unwrap_or(0);
                }
            }
        }
    }
    if !tok.is_empty() {
        tokens.push(tok);
    }
    if !tokens.is_empty() {
        layers.push(tokens);
    }
    layers
}

/// A colour name or value to `#rrggbb`, or "invalid".
pub(crate) fn name_to_rgb(c: &str) -> String {
    let c = c.to_lowercase();
    let c = c.trim_matches(|ch: char| ch.is_whitespace());
    if let Ok(i) = super::colors::COLORS.binary_search_by(|(n, _)| n.cmp(&c)) {
        return format!("#{:06x}", super::colors::COLORS[i].1);
    }
    let hexish = c
        .chars()
        .all(|ch| ch == '#' || ch.is_ascii_digit() || ('a'..='f').contains(&ch));
    let rgb_fn = c.contains("rgb(");
    if !hexish && !rgb_fn {
        return "invalid".into();
    }
    let mut color = c.to_owned();
    if let Some((a, b, cc)) = rgb_triplet(&color, true) {
        let f = |x: u32| (f64::from(x) / 100.0 * 255.0) as u32;
        color = format!("#{:02x}{:02x}{:02x}", f(a), f(b), f(cc));
    }
    if let Some((a, b, cc)) = rgb_triplet(&color, false) {
        color = format!("#{a:02x}{b:02x}{cc:02x}");
    }
    if !color.starts_with('#') {
        return "invalid".into();
    }
    let mut h: String = color.chars().filter(|ch| ch.is_ascii_hexdigit()).collect();
    h.truncate(6);
    if h.len() > 3 && h.len() < 6 {
        h.truncate(3);
    }
    while !h.len().is_multiple_of(3) {
        h.push('0');
    }
    if h.len() == 3 {
        h = h.chars().flat_map(|ch| [ch, ch]).collect();
    }
    format!("#{h}")
}

/// `rgb(r, g, b)` or `rgb(r%, g%, b%)` anywhere in `c`.
fn rgb_triplet(c: &str, percent: bool) -> Option<(u32, u32, u32)> {
    let start = c.find("rgb(")? + 4;
    let inner = &c[start..c[start..].find(')')? + start];
    let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
    if parts.len() != 3 {
        return None;
    }
    let num = |p: &str| -> Option<u32> {
        let p = if percent { p.strip_suffix('%')? } else { p };
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse().ok()
    };
    Some((num(parts[0])?, num(parts[1])?, num(parts[2])?))
}

/// Render HTML the way `HTML.pm` does for body rules.
pub(crate) fn render(html: &str) -> Rendered {
    // SpamAssassin's own pre-pass: `&nbsp;` to a space, `<x/>` to `<x>`,
    // curly double quotes to '"'.
    let mut pre = html.replace("&nbsp;", " ");
    pre = self_closing_to_open(&pre);
    pre = pre.replace(['\u{201c}', '\u{201d}'], "\"");

    let mut r = Renderer {
        pieces: Vec::new(),
        styles: Vec::new(),
        basefont: 3,
        stats: HtmlStats {
            length: html.chars().count(),
            ..HtmlStats::default()
        },
    };
    let mut uris: Vec<String> = Vec::new();
    let mut base_href: Option<String> = None;
    let mut script = 0i32;
    let mut style = 0i32;
    for ev in tokenize(&pre) {
        match ev {
            Event::Start(tag, attrs) => {
                r.stats.tag(&tag, &attrs, true);
                adjust(&tag, 1, &mut script, &mut style);
                if !known_tag(&tag) {
                    continue;
                }
                if styles_text(&tag) {
                    r.text_style(&tag, &attrs, true);
                }
                if let Some(ws) = tag_whitespace(&tag) {
                    r.whitespace(ws);
                }
                collect_uris(&tag, &attrs, &mut uris, &mut base_href);
            }
            Event::End(tag) => {
                r.stats.tag(&tag, &[], false);
                adjust(&tag, -1, &mut script, &mut style);
                if !known_tag(&tag) {
                    continue;
                }
                if styles_text(&tag) {
                    r.text_style(&tag, &[], false);
                }
                if let Some(ws) = tag_whitespace(&tag) {
                    r.whitespace(ws);
                }
            }
            Event::Text(t) => {
                let prev = r.pieces.last().map(|p| p.text.as_str());
                if !r.stats.text(&t, prev) || script > 0 || style > 0 {
                    continue;
                }
                r.text(&t);
            }
            Event::Comment(c) => r.stats.comment(&c),
            Event::Doctype => r.stats.doctype(),
            Event::Other => {}
        }
    }
    r.stats.end_document();
    let visible = r
        .pieces
        .iter()
        .filter(|p| !p.invisible)
        .map(|p| p.text.as_str())
        .collect();
    let invisible = r
        .pieces
        .iter()
        .filter(|p| p.invisible)
        .map(|p| p.text.as_str())
        .collect();
    Rendered {
        text: r.pieces.into_iter().map(|p| p.text).collect(),
        uris,
        stats: r.stats,
        visible,
        invisible,
    }
}

fn adjust(tag: &str, n: i32, script: &mut i32, style: &mut i32) {
    let c = match tag {
        "script" => script,
        "style" => style,
        _ => return,
    };
    *c = (*c + n).max(0);
}

/// `<(\w+)\s*/>` to `<$1>`.
fn self_closing_to_open(s: &str) -> String {
    if !s.contains("/>") {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            let mut k = i + 1;
            while k < b.len() && (b[k].is_ascii_alphanumeric() || b[k] == b'_') {
                k += 1;
            }
            if k > i + 1 {
                let name_end = k;
                while k < b.len() && b[k].is_ascii_whitespace() {
                    k += 1;
                }
                if b[k..].starts_with(b"/>") {
                    out.push_str(&s[last..name_end]);
                    out.push('>');
                    last = k + 2;
                    i = last;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    out
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Trim blanks and NBSP, cap at 8 KiB (`canon_uri`).
fn canon_attr(v: &str) -> String {
    let t = v.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}');
    let mut end = t.len().min(8192);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_owned()
}

/// `html_uri`: the attributes that carry links.
fn collect_uris(
    tag: &str,
    attrs: &[(String, String)],
    uris: &mut Vec<String>,
    base: &mut Option<String>,
) {
    let push = |uris: &mut Vec<String>, v: &str, base: &Option<String>| {
        let u = canon_attr(v);
        if u.is_empty() {
            return;
        }
        let l = u.to_ascii_lowercase();
        if ["data:", "mailto:", "file:", "cid:", "tel:"]
            .iter()
            .any(|p| l.starts_with(p))
        {
            uris.push(u);
        } else {
            let t = super::uri::target_uri(base.as_deref().unwrap_or(""), &u);
            if !t.is_empty() {
                uris.push(t);
            }
        }
    };
    match tag {
        "body" | "table" | "tr" | "td" => {
            if let Some(v) = attr(attrs, "background") {
                push(uris, v, base);
            }
        }
        "a" | "area" | "link" => {
            let href = attrs
                .iter()
                .find(|(n, _)| n.contains("/href") || n == "href")
                .map(|(_, v)| v.replace('\u{feff}', ""));
            if let Some(h) = &href {
                push(uris, h, base);
            }
            if tag == "a" {
                // HTML.pm also files anchor text under the unresolved href
                // (or "" without one), and that key becomes a URI too.
                uris.push(href.as_deref().map(canon_attr).unwrap_or_default());
            }
            if let Some(v) = attr(attrs, "data-saferedirecturl") {
                push(uris, v, base);
            }
        }
        "img" | "frame" | "iframe" | "embed" | "script" | "bgsound" => {
            let src = attrs
                .iter()
                .find(|(n, _)| n.contains("/src") || n == "src")
                .map(|(_, v)| v.as_str());
            if let Some(v) = src {
                push(uris, v, base);
            }
        }
        "form" => {
            if let Some(v) = attr(attrs, "action") {
                push(uris, v, base);
            }
        }
        "base" => {
            if let Some(v) = attr(attrs, "href").filter(|v| !v.is_empty()) {
                let u = canon_attr(v);
                push(uris, &u, base);
                let l = u.to_ascii_lowercase();
                if l.starts_with("http:") || l.starts_with("https:") || l.starts_with("ftp:") {
                    let mut b = strip_last_file(&u);
                    if !b.ends_with('/') {
                        b.push('/');
                    }
                    *base = Some(b);
                }
            }
        }
        "meta" => {
            let equiv = attr(attrs, "http-equiv").unwrap_or("");
            if let (true, Some(content)) = (
                equiv.to_ascii_lowercase().contains("refresh"),
                attr(attrs, "content"),
            ) {
                let lc = content.to_ascii_lowercase();
                if let Some(p) = lc.rfind("url") {
                    let rest = content[p + 3..].trim_start();
                    if let Some(r) = rest.strip_prefix('=') {
                        let r = r.trim_start();
                        let r = r.split(';').next().unwrap_or("").trim_end();
                        push(uris, r, base);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Drop a trailing `name.ext` file component from a base URL.
fn strip_last_file(u: &str) -> String {
    let Some(scheme_end) = u.find(':') else {
        return u.to_owned();
    };
    let after = u[scheme_end + 1..].trim_start_matches('/');
    let host_start = u.len() - after.len();
    let Some(first_slash) = u[host_start..].find('/') else {
        return u.to_owned();
    };
    let path_start = host_start + first_slash + 1;
    let last = &u[path_start..];
    let seg_start = last.rfind('/').map_or(path_start, |p| path_start + p + 1);
    let seg = &u[seg_start..];
    if let Some(dot) = seg.find('.') {
        let (stem, ext) = (&seg[..dot], &seg[dot + 1..]);
        if !stem.is_empty()
            && !stem.contains('/')
            && (2..=4).contains(&ext.len())
            && !ext.contains(['.', '/'])
        {
            return u[..seg_start].to_owned();
        }
    }
    u.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp b &ampx &lt;&gt &#65;&#x42;&#0; &bogus;", false),
            "a & b &x <> AB&#0; &bogus;"
        );
        assert_eq!(decode_entities("a&ampb&lt", true), "a&ampb<");
    }

    #[test]
    fn tokenizer_quirks() {
        let ev = tokenize("x<a HREF='u' href=v>t</a><script>a<b</script>< b");
        assert_eq!(
            ev,
            vec![
                Event::Text("x".into()),
                Event::Start("a".into(), vec![("href".into(), "u".into())]),
                Event::Text("t".into()),
                Event::End("a".into()),
                Event::Start("script".into(), vec![]),
                Event::Text("a<b".into()),
                Event::End("script".into()),
                Event::Text("< b".into()),
            ]
        );
    }

    #[test]
    fn rendering() {
        let r = render(
            "<p>Hello <b>big</b> world</p><br>line&nbsp;two<script>x()</script><!-- c -->end",
        );
        assert_eq!(r.text, "\n\nHello big world\n\n\nline twoend");
    }
}
