//! TEMPORARY minimal message views; replaced by the full module.

/// A parsed message.
#[derive(Debug)]
pub struct Message {
    raw: Vec<u8>,
    body_offset: usize,
    headers: Vec<(String, Vec<u8>)>,
    body_lines: Vec<String>,
    rawbody: Vec<Vec<u8>>,
    uris: Vec<String>,
}

impl Message {
    /// Parse raw bytes.
    pub fn parse(raw: &[u8]) -> Message {
        let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
        let mut pos = 0;
        let mut body_offset = raw.len();
        while pos < raw.len() {
            let end = raw[pos..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|e| pos + e + 1)
                .unwrap_or(raw.len());
            let line = &raw[pos..end];
            let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
            let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
            if trimmed.is_empty() {
                body_offset = end;
                break;
            }
            if (line[0] == b' ' || line[0] == b'\t') && !headers.is_empty() {
                if let Some(h) = headers.last_mut() {
                    h.1.extend_from_slice(line);
                }
            } else if let Some(c) = line.iter().position(|&b| b == b':') {
                headers.push((
                    String::from_utf8_lossy(&line[..c]).into_owned(),
                    line[c + 1..].to_vec(),
                ));
            } else {
                body_offset = pos;
                break;
            }
            pos = end;
        }
        if pos >= raw.len() && body_offset == raw.len() {
            body_offset = raw.len();
        }
        let body = &raw[body_offset.min(raw.len())..];
        let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
        let subject = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("subject"))
            .map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .next()
            .unwrap_or_default();
        let mut body_lines = vec![format!("{subject}\n")];
        for para in text.split("\n\n") {
            let p: Vec<&str> = para.split_whitespace().collect();
            if !p.is_empty() {
                body_lines.push(format!("{}\n", p.join(" ")));
            }
        }
        Message {
            raw: raw.to_vec(),
            body_offset,
            headers,
            body_lines,
            rawbody: vec![body.to_vec()],
            uris: Vec::new(),
        }
    }
    /// Pristine bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    /// Body start.
    pub fn body_offset(&self) -> usize {
        self.body_offset
    }
    fn visible(&self, name: &str) -> impl Iterator<Item = &(String, Vec<u8>)> {
        let name = name.to_string();
        self.headers.iter().filter(move |(n, _)| {
            n.eq_ignore_ascii_case(&name) && !n.to_ascii_lowercase().starts_with("x-spam-")
        })
    }
    /// Decoded header.
    pub fn header(&self, name: &str) -> Option<String> {
        if name == "ALL" {
            let mut s = String::new();
            for (n, v) in &self.headers {
                s.push_str(&format!(
                    "{n}: {}\n",
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            return Some(s);
        }
        let v: Vec<String> = self
            .visible(name)
            .map(|(_, v)| {
                format!(
                    "{}\n",
                    String::from_utf8_lossy(v)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            })
            .collect();
        if v.is_empty() { None } else { Some(v.concat()) }
    }
    /// Raw header.
    pub fn header_raw(&self, name: &str) -> Option<Vec<u8>> {
        let v: Vec<Vec<u8>> = self.visible(name).map(|(_, v)| v.clone()).collect();
        if v.is_empty() { None } else { Some(v.concat()) }
    }
    /// Addresses.
    pub fn header_addrs(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(v) = self.header(name) {
            for w in v.split([' ', ',', '<', '>', '\n']) {
                if w.contains('@') {
                    out.push(w.trim_matches(|c| c == '"' || c == '\'').to_string());
                }
            }
        }
        out
    }
    /// Names.
    pub fn header_names(&self, _name: &str) -> Vec<String> {
        Vec::new()
    }
    /// Exists.
    pub fn has_header(&self, name: &str) -> bool {
        self.visible(name).next().is_some()
    }
    /// Body lines.
    pub fn body_lines(&self) -> &[String] {
        &self.body_lines
    }
    /// Rawbody.
    pub fn rawbody_chunks(&self) -> &[Vec<u8>] {
        &self.rawbody
    }
    /// URIs.
    pub fn uris(&self) -> &[String] {
        &self.uris
    }
    /// From addresses.
    pub fn from_addrs(&self) -> Vec<String> {
        self.header_addrs("From")
            .into_iter()
            .map(|a| a.to_ascii_lowercase())
            .collect()
    }
    /// Msgids for logging.
    pub fn log_msgids(&self) -> (Option<String>, Option<String>) {
        (None, None)
    }
}
