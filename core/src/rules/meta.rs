//! Meta rule expressions: compiled once to a small tree, flattened to a
//! [`Program`], evaluated over the hit counts of other rules.
//!
//! Values follow Perl: `&&` yields the last operand evaluated, `||` the first
//! true one, comparisons 1 or 0 (empty string, here 0), names their hit count
//! (0 when absent or undefined).

use std::collections::HashSet;

/// A compiled expression. Rule references are indices into the rule table.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Num(f64),
    Rule(usize),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Xor,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Name(String),
    Op(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    const OPS: [&str; 19] = [
        "&&", "||", ">=", "<=", "==", "!=", "(", ")", "!", ">", "<", "+", "-", "*", "/", "^", "?",
        ":", ",",
    ];
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    'outer: while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            let n = s[start..i]
                .parse()
                .map_err(|_| format!("bad number '{}'", &s[start..i]))?;
            out.push(Tok::Num(n));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Name(s[start..i].to_string()));
            continue;
        }
        for op in OPS {
            if s[i..].starts_with(op) {
                out.push(Tok::Op(op));
                i += op.len();
                continue 'outer;
            }
        }
        return Err(format!("unexpected '{}' in meta expression", &s[i..]));
    }
    Ok(out)
}

/// Expand `rules_matching(GLOB)` into `(A + B + ...)` (or `0`).
fn expand_rules_matching(expr: &str, names: &[&str]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(pos) = rest.find("rules_matching") {
        out.push_str(&rest[..pos]);
        let after = rest[pos + "rules_matching".len()..].trim_start();
        let inner_start = after
            .strip_prefix('(')
            .ok_or("rules_matching without '('")?;
        let close = inner_start.find(')').ok_or("rules_matching without ')'")?;
        let glob = inner_start[..close].trim();
        let mut hits: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| glob_match(glob, n))
            .collect();
        hits.sort_unstable();
        if hits.is_empty() {
            out.push('0');
        } else {
            out.push('(');
            out.push_str(&hits.join(" + "));
            out.push(')');
        }
        rest = &inner_start[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn glob_match(glob: &str, name: &str) -> bool {
    fn rec(g: &[u8], n: &[u8]) -> bool {
        match (g.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => rec(&g[1..], n) || (!n.is_empty() && rec(g, &n[1..])),
            (Some(b'?'), Some(_)) => rec(&g[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => rec(&g[1..], &n[1..]),
            _ => false,
        }
    }
    rec(glob.as_bytes(), name.as_bytes())
}

struct Parser<'a, F: FnMut(&str) -> Option<usize>> {
    toks: Vec<Tok>,
    pos: usize,
    resolve: &'a mut F,
    deps: HashSet<usize>,
}

impl<F: FnMut(&str) -> Option<usize>> Parser<'_, F> {
    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(Tok::Op(o)) => Some(o),
            _ => None,
        }
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    // Perl precedence, low to high: ?:, ||, &&, ^ (bitwise, below
    // comparisons), == !=, < > <= >=, + -, * /, unary ! -.
    fn ternary(&mut self) -> Result<Expr, String> {
        let c = self.or()?;
        if self.eat("?") {
            let a = self.ternary()?;
            if !self.eat(":") {
                return Err("'?' without ':'".into());
            }
            let b = self.ternary()?;
            return Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            l = Expr::Bin(BinOp::Or, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.xor()?;
        while self.eat("&&") {
            let r = self.xor()?;
            l = Expr::Bin(BinOp::And, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn xor(&mut self) -> Result<Expr, String> {
        let mut l = self.equality()?;
        while self.eat("^") {
            let r = self.equality()?;
            l = Expr::Bin(BinOp::Xor, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn equality(&mut self) -> Result<Expr, String> {
        let mut l = self.relational()?;
        loop {
            let op = match self.peek_op() {
                Some("==") => BinOp::Eq,
                Some("!=") => BinOp::Ne,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.relational()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    fn relational(&mut self) -> Result<Expr, String> {
        let mut l = self.additive()?;
        loop {
            let op = match self.peek_op() {
                Some("<") => BinOp::Lt,
                Some("<=") => BinOp::Le,
                Some(">") => BinOp::Gt,
                Some(">=") => BinOp::Ge,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.additive()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    fn additive(&mut self) -> Result<Expr, String> {
        let mut l = self.multiplicative()?;
        loop {
            let op = match self.peek_op() {
                Some("+") => BinOp::Add,
                Some("-") => BinOp::Sub,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.multiplicative()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    fn multiplicative(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek_op() {
                Some("*") => BinOp::Mul,
                Some("/") => BinOp::Div,
                _ => return Ok(l),
            };
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat("+") {
            return self.unary();
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Name(n)) => match (self.resolve)(&n) {
                Some(i) => {
                    self.deps.insert(i);
                    Ok(Expr::Rule(i))
                }
                None => Ok(Expr::Num(0.0)),
            },
            Some(Tok::Op("(")) => {
                let e = self.ternary()?;
                if !self.eat(")") {
                    return Err("missing ')'".into());
                }
                Ok(e)
            }
            other => Err(format!("unexpected {other:?} in meta expression")),
        }
    }
}

/// Compile `expr`. `resolve` maps a rule name to its index (None: an
/// undefined rule, which counts as 0). `all_names` serves rules_matching().
/// Returns the tree and the rule indices it depends on.
pub fn compile<F: FnMut(&str) -> Option<usize>>(
    expr: &str,
    all_names: &[&str],
    resolve: &mut F,
) -> Result<(Expr, HashSet<usize>), String> {
    for bad in ["$", "@", "%", ";", "{", "}", "::", "->"] {
        if expr.contains(bad) {
            return Err(format!("meta expression contains '{bad}'"));
        }
    }
    let expanded = if expr.contains("rules_matching") {
        expand_rules_matching(expr, all_names)?
    } else {
        expr.to_string()
    };
    let toks = lex(&expanded)?;
    let mut p = Parser {
        toks,
        pos: 0,
        resolve,
        deps: HashSet::new(),
    };
    let e = p.ternary()?;
    if p.pos != p.toks.len() {
        return Err("trailing tokens in meta expression".into());
    }
    Ok((e, p.deps))
}

/// Evaluate with `value(i)` giving rule i's hit count: the tree itself,
/// the tests' reference for [`Program`], which the scan runs.
#[cfg(test)]
pub fn eval<F: Fn(usize) -> f64>(e: &Expr, value: &F) -> f64 {
    match e {
        Expr::Num(n) => *n,
        Expr::Rule(i) => value(*i),
        Expr::Not(x) => not(eval(x, value)),
        Expr::Neg(x) => -eval(x, value),
        Expr::Cond(c, a, b) => {
            if eval(c, value) != 0.0 {
                eval(a, value)
            } else {
                eval(b, value)
            }
        }
        Expr::Bin(op, l, r) => {
            let a = eval(l, value);
            match op {
                BinOp::Or if a != 0.0 => a,
                BinOp::And if a == 0.0 => a,
                BinOp::Or | BinOp::And => eval(r, value),
                _ => apply(*op, a, eval(r, value)),
            }
        }
    }
}

/// Perl's `!`: 1 for a false value, else 0 (the empty string, here 0).
fn not(a: f64) -> f64 {
    if a == 0.0 { 1.0 } else { 0.0 }
}

/// A binary operator other than the short-circuit `||` and `&&`.
fn apply(op: BinOp, a: f64, b: f64) -> f64 {
    let t = |x: bool| f64::from(u8::from(x));
    match op {
        BinOp::Xor => ((a as i64) ^ (b as i64)) as f64,
        BinOp::Lt => t(a < b),
        BinOp::Le => t(a <= b),
        BinOp::Gt => t(a > b),
        BinOp::Ge => t(a >= b),
        BinOp::Eq => t(a == b),
        BinOp::Ne => t(a != b),
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        // Perl dies on division by zero; SpamAssassin then treats the meta
        // as not hit.
        BinOp::Div => {
            if b == 0.0 {
                0.0
            } else {
                a / b
            }
        }
        BinOp::Or | BinOp::And => 0.0,
    }
}

/// A meta expression flattened for the scan: postfix operations in one
/// vector, with jumps for `||`, `&&` and `?:`. A scan evaluates about a
/// thousand metas; walking boxed trees was 4% of its CPU samples, most of
/// it waiting on memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    ops: Vec<Op>,
    /// The most values on the stack at once.
    depth: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Num(f64),
    Rule(u32),
    Not,
    Neg,
    Bin(BinOp),
    /// `||`: a true top stays and jumps to the end; a false one is dropped.
    OrElse(u32),
    /// `&&`: a false top stays and jumps to the end; a true one is dropped.
    AndThen(u32),
    /// `?:`: pops the condition, jumps to the `:` branch when false.
    JumpIfFalse(u32),
    Jump(u32),
}

impl Program {
    pub fn new(e: &Expr) -> Program {
        let mut p = Program {
            ops: Vec::new(),
            depth: 0,
        };
        p.emit(e, 0);
        p
    }

    /// Append `e`'s code, entered with `depth` values on the stack.
    fn emit(&mut self, e: &Expr, depth: usize) {
        self.depth = self.depth.max(depth + 1);
        match e {
            Expr::Num(n) => self.ops.push(Op::Num(*n)),
            Expr::Rule(i) => self.ops.push(Op::Rule(*i as u32)),
            Expr::Not(x) => {
                self.emit(x, depth);
                self.ops.push(Op::Not);
            }
            Expr::Neg(x) => {
                self.emit(x, depth);
                self.ops.push(Op::Neg);
            }
            Expr::Cond(c, a, b) => {
                self.emit(c, depth);
                let to_else = self.placeholder();
                self.emit(a, depth);
                let to_end = self.placeholder();
                self.ops[to_else] = Op::JumpIfFalse(self.here());
                self.emit(b, depth);
                self.ops[to_end] = Op::Jump(self.here());
            }
            Expr::Bin(op @ (BinOp::Or | BinOp::And), l, r) => {
                self.emit(l, depth);
                let jump = self.placeholder();
                self.emit(r, depth);
                let end = self.here();
                self.ops[jump] = if *op == BinOp::Or {
                    Op::OrElse(end)
                } else {
                    Op::AndThen(end)
                };
            }
            Expr::Bin(op, l, r) => {
                self.emit(l, depth);
                self.emit(r, depth + 1);
                self.ops.push(Op::Bin(*op));
            }
        }
    }

    fn placeholder(&mut self) -> usize {
        self.ops.push(Op::Jump(0));
        self.ops.len() - 1
    }

    fn here(&self) -> u32 {
        self.ops.len() as u32
    }

    /// Evaluate with `value(i)` giving rule i's hit count; the same value
    /// as [`eval`] on the expression.
    pub fn eval<F: Fn(usize) -> f64>(&self, value: &F) -> f64 {
        thread_local! {
            static STACK: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        STACK.with(|s| match s.try_borrow_mut() {
            Ok(mut stack) => self.run(&mut stack, value),
            // Only if `value` itself evaluated a meta on this thread.
            Err(_) => self.run(&mut Vec::new(), value),
        })
    }

    fn run<F: Fn(usize) -> f64>(&self, stack: &mut Vec<f64>, value: &F) -> f64 {
        stack.clear();
        stack.reserve(self.depth);
        // The code is well formed by construction: every operator finds
        // its operands on the stack.
        let mut pc = 0usize;
        while let Some(op) = self.ops.get(pc) {
            pc += 1;
            match *op {
                Op::Num(n) => stack.push(n),
                Op::Rule(i) => stack.push(value(i as usize)),
                Op::Not => {
                    let a = stack.pop().unwrap_or(0.0);
                    stack.push(not(a));
                }
                Op::Neg => {
                    let a = stack.pop().unwrap_or(0.0);
                    stack.push(-a);
                }
                Op::Bin(op) => {
                    let b = stack.pop().unwrap_or(0.0);
                    let a = stack.pop().unwrap_or(0.0);
                    stack.push(apply(op, a, b));
                }
                Op::OrElse(end) => {
                    if stack.last().is_some_and(|&a| a != 0.0) {
                        pc = end as usize;
                    } else {
                        stack.pop();
                    }
                }
                Op::AndThen(end) => {
                    if stack.last().is_some_and(|&a| a == 0.0) {
                        pc = end as usize;
                    } else {
                        stack.pop();
                    }
                }
                Op::JumpIfFalse(to) => {
                    if stack.pop().unwrap_or(0.0) == 0.0 {
                        pc = to as usize;
                    }
                }
                Op::Jump(to) => pc = to as usize,
            }
        }
        stack.pop().unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expr: &str, vals: &[(&str, f64)]) -> f64 {
        let names: Vec<&str> = vals.iter().map(|(n, _)| *n).collect();
        let mut resolve = |n: &str| names.iter().position(|x| *x == n);
        let (e, _) = compile(expr, &names, &mut resolve).unwrap();
        let tree = eval(&e, &|i| vals[i].1);
        let flat = Program::new(&e).eval(&|i| vals[i].1);
        assert_eq!(tree.to_bits(), flat.to_bits(), "{expr}");
        tree
    }

    #[test]
    fn boolean_and_arith() {
        let v = [("A", 1.0), ("B", 0.0), ("C", 3.0)];
        assert_eq!(run("A && !B", &v), 1.0);
        assert_eq!(run("A && B", &v), 0.0);
        assert_eq!(run("B || C", &v), 3.0);
        assert_eq!(run("A + C > 3", &v), 1.0);
        assert_eq!(run("(A + B + C) >= 5", &v), 0.0);
        assert_eq!(run("UNDEFINED || A", &v), 1.0);
        assert_eq!(run("A ? C : 7", &v), 3.0);
        assert_eq!(run("C * 2 - 1", &v), 5.0);
        assert_eq!(run("!A", &v), 0.0);
        assert_eq!(run("rules_matching(?) > 2", &v), 1.0);
        assert_eq!(run("rules_matching(X*)", &v), 0.0);
    }

    /// The flattened program gives the tree's value for every operator,
    /// nested in each other, under every assignment of 0, 1 and 2 hits.
    #[test]
    fn program_matches_tree() {
        let exprs = [
            "A || B && C",
            "(A || B) && !C",
            "A ? B : C ? A : 5",
            "(A ? B || C : B && C) + 1",
            "A + B * C - C / B > 1 || !(A == B)",
            "A ^ B ^ C",
            "-A + -(B - C) <= 0 && A != C",
            "((A && B) || (B && C) || (A && C)) * 2 >= 2",
            "A / (B - B) < 1",
            "!!A + !B",
        ];
        for expr in exprs {
            for a in 0..3 {
                for b in 0..3 {
                    for c in 0..3 {
                        let v = [("A", a as f64), ("B", b as f64), ("C", c as f64)];
                        run(expr, &v);
                    }
                }
            }
        }
        // Deeply nested.
        let deep = format!("{}A{}", "(A + ".repeat(40), ")".repeat(40));
        assert_eq!(run(&deep, &[("A", 1.0)]), 41.0);
    }

    #[test]
    fn rejects_perl_code() {
        let mut r = |_: &str| None;
        assert!(compile("A && $x", &[], &mut r).is_err());
        assert!(compile("A ->b", &[], &mut r).is_err());
        assert!(compile("(A", &[], &mut r).is_err());
    }
}
