//! HTMLEval: tests on the HTML structure (tags, ratios, colours, images).

use super::EvalFn;

pub(super) fn lookup(name: &str) -> Option<EvalFn> {
    // Functions of this family are added here as they are implemented:
    // Some(match name { "check_x" => check_x, _ => return None })
    let _ = name;
    None
}
