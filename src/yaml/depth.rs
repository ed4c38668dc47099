//! How deep a document nests, found in one linear pass before any parser
//! sees it.
//!
//! The YAML parser (libyaml's design) re-checks every open flow collection
//! for each token it reads, so `x: [[[[…` costs time proportional to the
//! size times the depth: 64,000 `[` took seconds, 200,000 minutes. The
//! parser refuses more than [`MAX_DEPTH`] levels only after it has read
//! everything. This pass finds the flow depth first and refuses a document
//! past the limit in time linear in its size, naming the line where the
//! limit was crossed.
//!
//! The pass knows as much YAML as the depth needs: quoted scalars (which
//! may span lines), comments, block scalars (`|`, `>`), and where a node
//! may start, since `[` inside a plain scalar (`a[0]`) is text, not a
//! collection. Block nesting needs indentation, which costs the parser
//! nothing extra; the parser's own limit refuses it.

use super::ParseError;

/// The deepest nesting sme2wasm reads: the YAML reader's own limit
/// (serde_yaml refuses more than 128 levels, serde_json too). No
/// ServiceMeshExtension comes close: its deepest field is a few levels down.
pub const MAX_DEPTH: usize = 128;

/// Where Kubernetes' own readers stop: sigs.k8s.io/yaml (go-yaml v2:
/// `max_flow_level` and `max_indents`, "exceeded max depth of 10000") and
/// Go's encoding/json (`maxNestingDepth`) refuse more than 10,000 levels.
pub const KUBERNETES_MAX_DEPTH: usize = 10_000;

/// Refuse a document whose flow collections nest deeper than [`MAX_DEPTH`].
pub fn check(text: &str) -> Result<(), ParseError> {
    let mut s = Scan::new(text.as_bytes());
    s.run();
    match s.crossed {
        None => Ok(()),
        Some((line, column)) => {
            let message = if s.max_depth > KUBERNETES_MAX_DEPTH {
                format!(
                    "nesting is more than {KUBERNETES_MAX_DEPTH} levels deep; Kubernetes' own YAML and JSON readers refuse that too, so this is not a Kubernetes object"
                )
            } else {
                format!(
                    "nesting is more than {MAX_DEPTH} levels deep, more than sme2wasm reads (Kubernetes reads up to {KUBERNETES_MAX_DEPTH}); no ServiceMeshExtension nests this deep"
                )
            };
            Err(ParseError {
                line: Some(line),
                column: Some(column),
                message,
            })
        }
    }
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    line: usize,
    line_start: usize,
    /// Open flow collections.
    flow: usize,
    max_depth: usize,
    /// Where the depth first went past MAX_DEPTH (1-based line and column).
    crossed: Option<(usize, usize)>,
}

fn is_break(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

impl<'a> Scan<'a> {
    fn new(b: &'a [u8]) -> Scan<'a> {
        Scan {
            b,
            i: 0,
            line: 1,
            line_start: 0,
            flow: 0,
            max_depth: 0,
            crossed: None,
        }
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.b.get(self.i + off).copied()
    }

    /// Step over a line break (CR, LF or CRLF), counting lines.
    fn newline(&mut self) {
        if self.b[self.i] == b'\r' && self.peek(1) == Some(b'\n') {
            self.i += 1;
        }
        self.i += 1;
        self.line += 1;
        self.line_start = self.i;
    }

    fn column(&self) -> usize {
        self.i - self.line_start
    }

    fn open(&mut self) {
        self.flow += 1;
        if self.flow > self.max_depth {
            self.max_depth = self.flow;
        }
        if self.flow > MAX_DEPTH && self.crossed.is_none() {
            self.crossed = Some((self.line, self.column() + 1));
        }
    }

    fn skip_to_eol(&mut self) {
        while self.i < self.b.len() && !is_break(self.b[self.i]) {
            self.i += 1;
        }
    }

    /// A quoted scalar from its opening quote to after its closing one.
    fn skip_quoted(&mut self) {
        let q = self.b[self.i];
        self.i += 1;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if is_break(c) {
                self.newline();
                continue;
            }
            if q == b'"' && c == b'\\' {
                self.i += 2;
                continue;
            }
            if c == q {
                if q == b'\'' && self.peek(1) == Some(b'\'') {
                    self.i += 2;
                    continue;
                }
                self.i += 1;
                return;
            }
            self.i += 1;
        }
    }

    /// Skip the lines of a block scalar whose parent sits at column `parent`
    /// (`None` at the document root); the header line has been read.
    fn skip_block_scalar(&mut self, parent: Option<usize>) {
        self.skip_to_eol();
        while self.i < self.b.len() {
            // At a line break: look at the next line's indentation.
            self.newline();
            let mut j = self.i;
            while j < self.b.len() && self.b[j] == b' ' {
                j += 1;
            }
            let indent = j - self.i;
            let blank = j >= self.b.len() || is_break(self.b[j]);
            let doc_marker = indent == 0
                && (self.b[self.i..].starts_with(b"---") || self.b[self.i..].starts_with(b"..."));
            let content = blank || parent.is_none_or(|p| indent > p) && !doc_marker;
            if !content {
                return;
            }
            self.i = j;
            self.skip_to_eol();
        }
    }

    fn run(&mut self) {
        // Block context: the column of the node that owns what follows
        // (a key's column, or a `-`/`?` indicator's), for block scalars.
        let mut parent: Option<usize> = None;
        // Can a node start here? (Line start, after an indicator or a
        // property; not inside a plain scalar.)
        let mut node_start = true;
        let mut key_col: Option<usize> = None;
        while self.i < self.b.len() {
            let c = self.b[self.i];
            if is_break(c) {
                self.newline();
                node_start = true;
                if self.flow == 0 {
                    key_col = None;
                    // Until an indicator or a key says otherwise, a block
                    // scalar on this line belongs to something left of it
                    // (more lines count as its content than the parser
                    // takes: the pass may overcount, never undercount).
                    let mut j = self.i;
                    while j < self.b.len() && self.b[j] == b' ' {
                        j += 1;
                    }
                    let indent = j - self.i;
                    parent = indent.checked_sub(1);
                }
                continue;
            }
            if self.flow > 0 {
                self.flow_char(c, &mut node_start);
                continue;
            }
            // Block context.
            if is_blank(c) {
                self.i += 1;
                continue;
            }
            if c == b'#' && (self.i == self.line_start || is_blank(self.b[self.i - 1])) {
                self.skip_to_eol();
                continue;
            }
            let next_blank = self.peek(1).is_none_or(|n| is_blank(n) || is_break(n));
            if node_start {
                match c {
                    b'[' | b'{' => {
                        self.open();
                        self.i += 1;
                        node_start = true;
                        continue;
                    }
                    b'"' | b'\'' => {
                        key_col = Some(self.column());
                        self.skip_quoted();
                        node_start = false;
                        continue;
                    }
                    b'|' | b'>' => {
                        self.skip_block_scalar(parent);
                        node_start = true;
                        continue;
                    }
                    b'-' | b'?' if next_blank => {
                        parent = Some(self.column());
                        self.i += 1;
                        continue;
                    }
                    b':' if next_blank => {
                        if let Some(k) = key_col.take() {
                            parent = Some(k);
                        }
                        self.i += 1;
                        continue;
                    }
                    b'!' | b'&' | b'*' => {
                        // A property (or an alias): a node may follow it.
                        while self.i < self.b.len()
                            && !is_blank(self.b[self.i])
                            && !is_break(self.b[self.i])
                        {
                            self.i += 1;
                        }
                        continue;
                    }
                    _ => {
                        key_col = Some(self.column());
                        node_start = false;
                        self.i += 1;
                        continue;
                    }
                }
            }
            // Inside a plain scalar or after a quoted one: `: ` makes it a key.
            if c == b':' && next_blank {
                if let Some(k) = key_col.take() {
                    parent = Some(k);
                }
                node_start = true;
            }
            self.i += 1;
        }
    }

    fn flow_char(&mut self, c: u8, at_start: &mut bool) {
        match c {
            b'[' | b'{' => {
                self.open();
                *at_start = true;
            }
            b']' | b'}' => {
                self.flow -= 1;
                *at_start = false;
            }
            b',' | b':' | b'?' => *at_start = true,
            b' ' | b'\t' => *at_start = true,
            b'#' if self.i > 0
                && (is_blank(self.b[self.i - 1]) || is_break(self.b[self.i - 1])) =>
            {
                self.skip_to_eol();
                return;
            }
            b'"' | b'\'' if *at_start => {
                self.skip_quoted();
                *at_start = false;
                return;
            }
            _ => *at_start = false,
        }
        self.i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        let mut s = Scan::new(text.as_bytes());
        s.run();
        s.max_depth
    }

    #[test]
    fn flow_depth_is_counted_where_collections_start() {
        assert_eq!(depth("a: [1, [2, {b: [3]}]]\n"), 4);
        assert_eq!(depth("a: x[0][1]\nb: '[[['\nc: \"[[\\\"[\"\n"), 0);
        assert_eq!(depth("# [[[[\na: 1 # [[\n"), 0);
        assert_eq!(depth("a: |\n  [[[[\n  [[\nb: [x]\n"), 1);
        assert_eq!(
            depth("- - |\n    [[[\n  - [[x]]\n"),
            2,
            "the block scalar ends at its parent's column"
        );
        assert_eq!(
            depth("a: [b'c, [d]]\n"),
            2,
            "a quote inside a plain scalar is text"
        );
        assert_eq!(depth("a: ['it''s [', [x]]\n"), 2);
        assert_eq!(depth("a: !!seq [x]\nb: &a [[y]]\n"), 2);
        assert_eq!(depth("a:\r  [[x]]\r"), 2, "CR alone is a line break");
    }

    #[test]
    fn refused_past_the_limit_with_the_line() {
        let ok = format!(
            "a:\n  b: {}{}\n",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert!(check(&ok).is_ok());
        let deep = format!("a: 1\nb: {}\n", "[".repeat(MAX_DEPTH + 1));
        let e = check(&deep).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("more than 128"), "{}", e.message);
        let e = check(&"{".repeat(KUBERNETES_MAX_DEPTH + 1)).unwrap_err();
        assert!(e.message.contains("Kubernetes' own"), "{}", e.message);
    }
}
