//! RelayEval: tests on the Received trail (trusted/untrusted relays, HELO, rDNS).

use super::EvalFn;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    // Functions of this family are added here as they are implemented:
    // Some(match name { "check_x" => check_x, _ => return None })
    let _ = name;
    None
}
