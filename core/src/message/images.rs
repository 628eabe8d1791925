//! Image facts of a message: counts, pixel areas and sizes of its GIF, PNG
//! and JPEG parts (SpamAssassin's ImageInfo plugin reads them), worked out
//! once per message however many image rules ask.

use std::collections::{HashMap, HashSet};

use super::Message;

/// Per image type (`gif`, `png`, `jpeg`, and `all`): how many base64 image
/// parts, their summed pixel area, and their (height, width) sizes.
#[derive(Debug, Default)]
pub struct Images {
    pub count: HashMap<&'static str, u64>,
    pub area: HashMap<&'static str, u64>,
    pub dims: HashMap<&'static str, HashSet<(u64, u64)>>,
    pub names: HashSet<String>,
}

fn be16(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_be_bytes([
        *d.get(at)?,
        *d.get(at + 1)?,
    ])))
}

fn be32(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at + 4)?;
    Some(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
}

/// (width, height) from a GIF header.
fn gif_size(d: &[u8]) -> Option<(u64, u64)> {
    if !(d.starts_with(b"GIF87a") || d.starts_with(b"GIF89a")) {
        return None;
    }
    let le = |at: usize| -> u64 {
        let lo = d.get(at).copied().unwrap_or(0);
        let hi = d.get(at + 1).copied().unwrap_or(0);
        u64::from(u16::from_le_bytes([lo, hi]))
    };
    Some((le(6), le(8)))
}

/// (width, height) from the IHDR chunk of a PNG.
fn png_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\x89PNG\r\n\x1a\n") {
        return None;
    }
    let mut pos = 8;
    while pos < d.len() {
        let len = be32(d, pos).unwrap_or(0);
        let ty = d.get(pos + 4..pos + 8).unwrap_or(b"");
        pos += 8;
        if ty == b"IEND" {
            break;
        }
        if ty == b"IHDR" && len == 13 {
            return Some((be32(d, pos).unwrap_or(0), be32(d, pos + 4).unwrap_or(0)));
        }
    }
    Some((0, 0))
}

/// (width, height) from the first start-of-frame marker of a JPEG.
fn jpeg_size(d: &[u8]) -> Option<(u64, u64)> {
    if !d.starts_with(b"\xff\xd8") {
        return None;
    }
    let mut pos = 2;
    while let (Some(&xx), Some(&mark), Some(len)) = (d.get(pos), d.get(pos + 1), be16(d, pos + 2)) {
        if xx != 0xff || mark == 0xda || mark == 0xd9 || len < 2 {
            break;
        }
        pos += 4;
        let sof = matches!(mark, 0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf);
        if sof {
            let h = be16(d, pos + 1).unwrap_or(0);
            let w = be16(d, pos + 3).unwrap_or(0);
            return Some((w, h));
        }
        let block = usize::try_from(len - 2).unwrap_or(usize::MAX);
        pos = pos.saturating_add(block.min(d.len().saturating_sub(pos)));
    }
    Some((0, 0))
}

/// The image facts of `msg` (see [`Message::images`]).
fn images(msg: &Message) -> Images {
    let mut out = Images::default();
    for p in msg.mime_parts().into_iter().filter(|p| p.is_leaf()) {
        let ty: &'static str = match p.ctype() {
            "image/gif" => "gif",
            "image/png" => "png",
            "image/jpeg" | "image/jpg" => "jpeg",
            _ => continue,
        };
        let cte = p.header("content-transfer-encoding").unwrap_or("");
        if !cte.eq_ignore_ascii_case("base64") {
            continue;
        }
        let data = p.decoded();
        let size = match ty {
            "gif" => gif_size(&data),
            "png" => png_size(&data),
            _ => jpeg_size(&data),
        };
        *out.count.entry(ty).or_insert(0) += 1;
        *out.count.entry("all").or_insert(0) += 1;
        if let Some((w, h)) = size
            && w > 0
            && h > 0
        {
            let area = w * h;
            *out.area.entry(ty).or_insert(0) += area;
            *out.area.entry("all").or_insert(0) += area;
            out.dims.entry(ty).or_default().insert((h, w));
            out.dims.entry("all").or_default().insert((h, w));
            if let Some(n) = p.name().filter(|n| !n.is_empty()) {
                out.names.insert(n.to_owned());
            }
        }
    }
    out
}

impl Message {
    /// Per image type, the base64 image parts' counts, areas and sizes,
    /// computed on first use.
    pub fn images(&self) -> &Images {
        self.images.get_or_init(|| images(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let gif = b"GIF89a\x10\x00\x20\x00\x00\x00\x00";
        assert_eq!(gif_size(gif), Some((16, 32)));
        let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
        png.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 200, 8, 2, 0, 0, 0]);
        assert_eq!(png_size(&png), Some((256, 200)));
        let jpg = b"\xff\xd8\xff\xe0\x00\x04ab\xff\xc0\x00\x11\x08\x00\x64\x00\xc8\x03";
        assert_eq!(jpeg_size(jpg), Some((200, 100)));
    }
}
