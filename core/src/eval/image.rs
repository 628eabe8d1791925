//! ImageInfo: counts and pixel areas of GIF, PNG and JPEG attachments.

use super::html::perl_num;
use super::{EvalCtx, EvalFn};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "image_count" => image_count,
        "pixel_coverage" => pixel_coverage,
        "image_to_text_ratio" => image_to_text_ratio,
        "image_size_exact" => image_size_exact,
        "image_size_range" => image_size_range,
        "image_named" => image_named,
        _ => return None,
    })
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

/// `min <= value <= max` (max optional); with `no_max_equal`, value == max
/// fails.
fn in_range(min: f64, max: Option<f64>, value: f64, no_max_equal: bool) -> bool {
    if value < min {
        return false;
    }
    match max {
        Some(m) => value <= m && !(no_max_equal && value == m),
        None => true,
    }
}

fn key(t: &str) -> Option<&'static str> {
    match t {
        "all" => Some("all"),
        "gif" => Some("gif"),
        "png" => Some("png"),
        "jpeg" => Some("jpeg"),
        _ => None,
    }
}

fn image_count(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if args.len() < 2 {
        return 0;
    }
    let Some(t) = key(arg(args, 0)) else {
        return 0;
    };
    let imgs = ctx.msg.images();
    let n = imgs.count.get(t).copied().unwrap_or(0) as f64;
    let max = args.get(2).map(|m| perl_num(m));
    u32::from(in_range(perl_num(arg(args, 1)), max, n, false))
}

fn pixel_coverage(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if args.len() < 2 {
        return 0;
    }
    let Some(t) = key(arg(args, 0)) else {
        return 0;
    };
    let imgs = ctx.msg.images();
    let a = imgs.area.get(t).copied().unwrap_or(0) as f64;
    let max = args.get(2).map(|m| perl_num(m));
    u32::from(in_range(perl_num(arg(args, 1)), max, a, false))
}

fn image_to_text_ratio(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if args.len() < 3 {
        return 0;
    }
    let Some(t) = key(arg(args, 0)) else {
        return 0;
    };
    let imgs = ctx.msg.images();
    let area = imgs.area.get(t).copied().unwrap_or(0);
    // The text the rule type sees: rendered lines for body rules, decoded
    // chunks for rawbody rules; which one runs is not known here, so the
    // rendered body (what both stock rules' `body` variant reads) is used.
    let text_len: usize = ctx.msg.body_lines_bytes().iter().map(Vec::len).sum();
    if text_len == 0 || area == 0 {
        return 0;
    }
    let ratio = text_len as f64 / area as f64;
    let (min, max) = (perl_num(arg(args, 1)), perl_num(arg(args, 2)));
    u32::from(in_range(min, Some(max), ratio, true))
}

fn image_size_exact(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if args.len() < 3 {
        return 0;
    }
    let Some(t) = key(arg(args, 0)) else {
        return 0;
    };
    let (h, w) = (perl_num(arg(args, 1)), perl_num(arg(args, 2)));
    let imgs = ctx.msg.images();
    let hit = imgs
        .dims
        .get(t)
        .is_some_and(|d| d.iter().any(|&(dh, dw)| dh as f64 == h && dw as f64 == w));
    u32::from(hit)
}

fn image_size_range(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    if args.len() < 3 {
        return 0;
    }
    let Some(t) = key(arg(args, 0)) else {
        return 0;
    };
    let (min_h, min_w) = (perl_num(arg(args, 1)), perl_num(arg(args, 2)));
    let max_h = args.get(3).map(|m| perl_num(m));
    let max_w = args.get(4).map(|m| perl_num(m));
    let imgs = ctx.msg.images();
    let hit = imgs.dims.get(t).is_some_and(|d| {
        d.iter().any(|&(h, w)| {
            let (h, w) = (h as f64, w as f64);
            h >= min_h && w >= min_w && max_h.is_none_or(|m| h <= m) && max_w.is_none_or(|m| w <= m)
        })
    });
    u32::from(hit)
}

fn image_named(ctx: &EvalCtx<'_>, args: &[String]) -> u32 {
    let Some(name) = args.first() else {
        return 0;
    };
    u32::from(ctx.msg.images().names.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert!(in_range(1.0, Some(1.0), 1.0, false));
        assert!(!in_range(1.0, Some(1.0), 1.0, true));
    }
}
