//! WLBLEval: welcomelist_from / blocklist_from and their `_to` twins.

use super::{EvalCtx, EvalFn};

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    Some(match name {
        "check_from_in_welcomelist" | "check_from_in_whitelist" => from_in_welcomelist,
        "check_from_in_blocklist" | "check_from_in_blacklist" => from_in_blocklist,
        "check_to_in_welcomelist" | "check_to_in_whitelist" => to_in_welcomelist,
        "check_to_in_blocklist" | "check_to_in_blacklist" => to_in_blocklist,
        _ => return None,
    })
}

/// Match an address against a welcomelist glob (`*@example.com`,
/// `?ob@x.org`), case-insensitively, as SpamAssassin does.
pub fn addr_matches(glob: &str, addr: &str) -> bool {
    fn rec(g: &[u8], a: &[u8]) -> bool {
        match (g.first(), a.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&g[1..], a) || (!a.is_empty() && rec(g, &a[1..])),
            (Some(b'?'), Some(_)) => rec(&g[1..], &a[1..]),
            (Some(x), Some(y)) if x.eq_ignore_ascii_case(y) => rec(&g[1..], &a[1..]),
            _ => false,
        }
    }
    rec(glob.as_bytes(), addr.as_bytes())
}

fn any_listed(list: &[String], addrs: &[String]) -> u32 {
    u32::from(
        addrs
            .iter()
            .any(|a| list.iter().any(|g| addr_matches(g, a))),
    )
}

fn to_addrs(ctx: &EvalCtx<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for h in ["To", "Cc"] {
        out.extend(
            ctx.msg
                .header_addrs(h)
                .into_iter()
                .map(|a| a.to_ascii_lowercase()),
        );
    }
    out
}

pub fn from_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.welcomelist_from, &ctx.msg.from_addrs())
}

pub fn from_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.blocklist_from, &ctx.msg.from_addrs())
}

pub fn to_in_welcomelist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.welcomelist_to, &to_addrs(ctx))
}

pub fn to_in_blocklist(ctx: &EvalCtx<'_>, _args: &[String]) -> u32 {
    any_listed(&ctx.conf.blocklist_to, &to_addrs(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(addr_matches("*@example.com", "Joe@EXAMPLE.com"));
        assert!(!addr_matches("*@example.com", "joe@example.com.evil"));
        assert!(addr_matches("?oe@x.org", "joe@x.org"));
        assert!(addr_matches("joe@x.org", "joe@x.org"));
    }
}
