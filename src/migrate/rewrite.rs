//! The minimal in-place edit of one YAML document: given the document's
//! text, what it means now (`have`) and what it must mean (`want`), change
//! only the keys and values whose meaning differs and leave every other
//! byte where it was — comments, quoting, indentation, line endings.
//!
//! The edit walks the span tree (`yaml::parse_spans`) beside the two value
//! trees: an equal value is left alone, a renamed key has its name replaced,
//! a changed scalar has its text replaced in the style it was written in, a
//! key that is gone has its lines removed, a new key is inserted after the
//! key that precedes it in `want`. Whatever the edit cannot do with
//! certainty (aliases, keys sharing a line with a sequence dash, …) is
//! refused with `Unsupported`; the caller then writes a clean rendering.
//! The caller also parses the result back and compares it with `want`:
//! this module is never trusted on its own.

use crate::yaml::{self, Mapping, Node, NodeKind, Style, Value};

/// A replacement of `text[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// Why a document cannot be edited in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

fn unsupported<T>(why: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(why.into()))
}

/// For a key of `want` at a dotted path, the key it had in `have` when it
/// was renamed (`("spec", "url")` → `"image"`).
pub type Renames = fn(parent: &str, key: &str) -> Option<&'static str>;

/// No renames at all.
pub fn no_renames(_: &str, _: &str) -> Option<&'static str> {
    None
}

/// Rewrite a document whose root is `have` so that it means `want`.
pub fn rewrite(
    text: &str,
    have: &Value,
    want: &Value,
    renames: Renames,
) -> Result<String, Unsupported> {
    let root = parse_root(text)?;
    let mut ed = Editor::new(text, renames);
    ed.node(&root, have, want, "")?;
    ed.apply()
}

/// Rewrite some items of a sequence at `key` of the root mapping (the
/// `items` of a `kind: List`): each `(index, want)` replaces that item.
pub fn rewrite_items(
    text: &str,
    have: &Value,
    key: &str,
    items: &[(usize, Value)],
    renames: Renames,
) -> Result<String, Unsupported> {
    let root = parse_root(text)?;
    let Some((_, seq)) = root.entry(key) else {
        return unsupported(format!("no {key} in the document"));
    };
    let NodeKind::Sequence { items: nodes, .. } = &seq.kind else {
        return unsupported(format!("{key} is not a sequence"));
    };
    let Some(Value::Sequence(values)) = have.get(key) else {
        return unsupported(format!("{key} is not a sequence"));
    };
    let mut ed = Editor::new(text, renames);
    for (i, want) in items {
        match (nodes.get(*i), values.get(*i)) {
            (Some(n), Some(h)) => ed.node(n, h, want, "")?,
            _ => return unsupported(format!("{key}[{i}] not found")),
        }
    }
    ed.apply()
}

/// The edits that make `node` (a part of `text`) mean `want`, for callers
/// that combine them with edits of their own (`apply_edits`).
pub fn node_edits(
    text: &str,
    node: &Node,
    have: &Value,
    want: &Value,
    renames: Renames,
) -> Result<Vec<Edit>, Unsupported> {
    if has_alias(node) {
        return unsupported("the document uses aliases");
    }
    let mut ed = Editor::new(text, renames);
    ed.node(node, have, want, "")?;
    Ok(ed.edits)
}

/// The edit that makes the string scalar `node` hold `new`: a literal block
/// keeps its header and indentation, a quoted or plain scalar its style
/// where the new text allows.
pub fn string_edit(text: &str, node: &Node, new: &str) -> Result<Edit, Unsupported> {
    let NodeKind::Scalar { style, .. } = &node.kind else {
        return unsupported(format!("line {}: not a string", node.line));
    };
    match style {
        Style::Literal => {
            let line_start = text.as_bytes()[..node.start]
                .iter()
                .rposition(|&c| c == b'\n' || c == b'\r')
                .map(|i| i + 1)
                .unwrap_or(0);
            let indent = &text[line_start..node.start];
            if !indent.bytes().all(|b| b == b' ') || new.trim_end().is_empty() {
                return unsupported(format!("line {}: an unusual block scalar", node.line));
            }
            let newline = yaml::newline_of(text);
            let mut out = String::new();
            for (i, line) in new.trim_end_matches('\n').split('\n').enumerate() {
                if i > 0 {
                    out.push_str(newline);
                    if !line.is_empty() {
                        out.push_str(indent);
                    }
                }
                out.push_str(line.trim_end_matches('\r'));
            }
            Ok(Edit {
                start: node.start,
                end: node.end,
                text: out,
            })
        }
        Style::Folded => unsupported(format!("line {}: a folded block scalar", node.line)),
        _ => match render_scalar(&Value::String(new.to_string()), *style, false) {
            Some(t) => Ok(Edit {
                start: node.start,
                end: node.end,
                text: t,
            }),
            None => unsupported("a value cannot be rendered"),
        },
    }
}

/// Apply edits that do not overlap.
pub fn apply_edits(text: &str, mut edits: Vec<Edit>) -> Result<String, Unsupported> {
    // Insertions (empty ranges) go before a removal that starts at the
    // same place; equal insertions keep their order.
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for e in &edits {
        if e.start < at {
            return unsupported("two edits overlap");
        }
        out.push_str(&text[at..e.start]);
        out.push_str(&e.text);
        at = e.end;
    }
    out.push_str(&text[at..]);
    Ok(out)
}

fn has_alias(n: &Node) -> bool {
    match &n.kind {
        NodeKind::Alias => true,
        NodeKind::Scalar { .. } => false,
        NodeKind::Mapping { entries, .. } => {
            entries.iter().any(|(k, v)| has_alias(k) || has_alias(v))
        }
        NodeKind::Sequence { items, .. } => items.iter().any(has_alias),
    }
}

fn parse_root(text: &str) -> Result<Node, Unsupported> {
    match yaml::parse_spans(text) {
        // An edit could remove an anchor that an alias elsewhere needs.
        Ok(Some(root)) if has_alias(&root) => unsupported("the document uses aliases"),
        Ok(Some(root)) => Ok(root),
        Ok(None) => unsupported("the document is empty"),
        Err(e) => unsupported(format!("the span parser refused the document: {}", e.0)),
    }
}

struct Editor<'t> {
    text: &'t str,
    renames: Renames,
    edits: Vec<Edit>,
    /// The document's line ending.
    newline: &'static str,
}

fn is_scalar(v: &Value) -> bool {
    matches!(
        v,
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)
    )
}

/// A scalar as one line of text in the style it replaces: a quoted style
/// stays quoted (double quotes as JSON writes them, valid YAML too), plain
/// gets what the YAML writer chooses when that is one line and, in a flow
/// collection, holds no flow indicator; anything else a JSON string.
fn render_scalar(v: &Value, style: Style, flow: bool) -> Option<String> {
    let json = || serde_json::to_string(&yaml::to_json(v)).ok();
    if let Value::String(s) = v {
        if style == Style::SingleQuoted && !s.contains(['\n', '\r', '\t']) {
            return Some(format!("'{}'", s.replace('\'', "''")));
        }
        if style == Style::DoubleQuoted {
            return json();
        }
    } else if !matches!(v, Value::Null | Value::Bool(_) | Value::Number(_)) {
        return None;
    }
    let text = yaml::to_string(v);
    let text = text.trim_end_matches('\n');
    let quoted = text.starts_with(['\'', '"']);
    let unsafe_in_flow =
        !quoted && (text.contains([',', '[', ']', '{', '}', '#']) || text.contains(": "));
    if text.contains('\n') || (flow && unsafe_in_flow) {
        json()
    } else {
        Some(text.to_string())
    }
}

/// A value on one line for a flow collection: JSON where the collection is
/// written as JSON (its keys double-quoted), else flow YAML with plain
/// scalars where they are safe.
fn render_flow(v: &Value, json: bool) -> Option<String> {
    if json {
        return serde_json::to_string(&yaml::to_json(v)).ok();
    }
    match v {
        Value::Mapping(m) => {
            let mut parts = Vec::with_capacity(m.len());
            for (k, x) in m {
                parts.push(format!(
                    "{}: {}",
                    render_scalar(k, Style::Plain, true)?,
                    render_flow(x, false)?
                ));
            }
            Some(format!("{{{}}}", parts.join(", ")))
        }
        Value::Sequence(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|x| render_flow(x, false)).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Tagged(_) => None,
        scalar => render_scalar(scalar, Style::Plain, true),
    }
}

fn key_text(n: &Node) -> Option<&str> {
    match &n.kind {
        NodeKind::Scalar { value, .. } if !n.decorated => Some(value),
        _ => None,
    }
}

fn key_style(n: &Node) -> Style {
    match &n.kind {
        NodeKind::Scalar { style, .. } => *style,
        _ => Style::Plain,
    }
}

impl<'t> Editor<'t> {
    fn new(text: &'t str, renames: Renames) -> Self {
        let newline = yaml::newline_of(text);
        Editor {
            text,
            renames,
            edits: Vec::new(),
            newline,
        }
    }

    fn line_start(&self, pos: usize) -> usize {
        let b = self.text.as_bytes();
        b[..pos.min(b.len())]
            .iter()
            .rposition(|&c| c == b'\n' || c == b'\r')
            .map(|i| i + 1)
            .unwrap_or(0)
    }

    /// Just past the newline of the line holding byte `pos` (which may lie
    /// inside a character).
    fn line_end(&self, pos: usize) -> usize {
        let b = self.text.as_bytes();
        let pos = pos.min(b.len());
        match b[pos..].iter().position(|&c| c == b'\n' || c == b'\r') {
            Some(i) if b[pos + i] == b'\r' && b.get(pos + i + 1) == Some(&b'\n') => pos + i + 2,
            Some(i) => pos + i + 1,
            None => b.len(),
        }
    }

    /// The whole lines of a block mapping entry.
    fn entry_lines(&self, key: &Node, value: &Node) -> Result<(usize, usize), Unsupported> {
        let start = self.line_start(key.start);
        if !self.text[start..key.start].bytes().all(|b| b == b' ') {
            return unsupported(format!(
                "line {}: the key shares its line with other content",
                key.line
            ));
        }
        let last = key.end.max(value.end).max(key.start + 1) - 1;
        Ok((start, self.line_end(last)))
    }

    /// The comment at the end of a key's line (`key:  # why`, or after a
    /// value that ends on that line).
    fn key_line_comment(&self, key: &Node, value: &Node) -> Option<&'t str> {
        let end = self.line_end(key.start);
        let from = if value.start < end && value.end <= end {
            value.end
        } else if value.start >= end {
            key.end
        } else {
            return None; // the value goes on past the key's line
        };
        let rest = self.text[from..end].trim_end();
        let rest = rest.trim_start_matches(':').trim_start();
        rest.starts_with('#').then_some(rest)
    }

    /// `key: value` as block lines indented by `indent` spaces.
    fn render_entry(&self, key: &str, value: &Value, indent: usize) -> String {
        let mut m = Mapping::new();
        m.insert(Value::String(key.to_string()), value.clone());
        let text = yaml::to_string(&m);
        let pad = " ".repeat(indent);
        let mut out = String::new();
        for line in text.lines() {
            out.push_str(&pad);
            out.push_str(line);
            out.push_str(self.newline);
        }
        out
    }

    fn push(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.edits.push(Edit {
            start,
            end,
            text: text.into(),
        });
    }

    fn node(
        &mut self,
        node: &Node,
        have: &Value,
        want: &Value,
        path: &str,
    ) -> Result<(), Unsupported> {
        if have == want {
            return Ok(());
        }
        if node.decorated {
            return unsupported(format!("line {}: an anchor or tag", node.line));
        }
        match (&node.kind, have, want) {
            (NodeKind::Mapping { flow, entries }, Value::Mapping(h), Value::Mapping(w)) => {
                self.mapping(*flow, entries, h, w, path)
            }
            (NodeKind::Sequence { flow, items }, Value::Sequence(h), Value::Sequence(w))
                if h.len() == w.len() && items.len() == h.len() =>
            {
                for (i, n) in items.iter().enumerate() {
                    if h[i] == w[i] {
                        continue;
                    }
                    match (&n.kind, is_scalar(&w[i])) {
                        (NodeKind::Scalar { style, .. }, true) if !style.is_block() => {
                            let Some(t) = render_scalar(&w[i], *style, *flow) else {
                                return unsupported("a value cannot be rendered");
                            };
                            self.push(n.start, n.end, t);
                        }
                        (NodeKind::Mapping { .. } | NodeKind::Sequence { .. }, false) => {
                            self.node(n, &h[i], &w[i], path)?
                        }
                        _ => {
                            return unsupported(format!(
                                "line {}: a sequence item changes shape",
                                n.line
                            ))
                        }
                    }
                }
                Ok(())
            }
            (NodeKind::Scalar { style, .. }, _, w) if is_scalar(w) && !style.is_block() => {
                let Some(t) = render_scalar(w, *style, false) else {
                    return unsupported("a value cannot be rendered");
                };
                self.push(node.start, node.end, t);
                Ok(())
            }
            _ => unsupported(format!("line {}: the node changes shape", node.line)),
        }
    }

    fn mapping(
        &mut self,
        flow: bool,
        entries: &[(Node, Node)],
        have: &Mapping,
        want: &Mapping,
        path: &str,
    ) -> Result<(), Unsupported> {
        let mut keys = Vec::with_capacity(entries.len());
        for (k, _) in entries {
            match key_text(k) {
                Some("<<") | None => {
                    return unsupported(format!("line {}: a merge key or a complex key", k.line))
                }
                Some(t) if keys.contains(&t) => {
                    return unsupported(format!("line {}: duplicate key {t}", k.line))
                }
                Some(t) => keys.push(t),
            }
        }
        if entries.is_empty() {
            return unsupported("an empty mapping");
        }
        // A flow mapping written as JSON gets JSON; a YAML one flow YAML.
        let json = flow && key_style(&entries[0].0) == Style::DoubleQuoted;
        let new_key_style = if json {
            Style::DoubleQuoted
        } else {
            Style::Plain
        };
        let mut used = vec![false; entries.len()];
        // The entry after which a new key goes (`None`: before the first).
        let mut anchor: Option<usize> = None;
        let mut inserts: Vec<(Option<usize>, String, Value)> = Vec::new();
        for (wk, wv) in want {
            let wk = yaml::key_string(wk);
            let renamed = (self.renames)(path, &wk);
            let found = renamed
                .and_then(|old| keys.iter().position(|k| *k == old))
                .or_else(|| keys.iter().position(|k| *k == wk));
            let Some(i) = found else {
                inserts.push((anchor, wk, wv.clone()));
                continue;
            };
            used[i] = true;
            anchor = Some(i);
            let (kn, vn) = &entries[i];
            let hv = have
                .get(keys[i])
                .ok_or_else(|| Unsupported(format!("line {}: key not found", kn.line)))?;
            if keys[i] != wk {
                let Some(t) = render_scalar(&Value::String(wk.clone()), key_style(kn), flow) else {
                    return unsupported("a key cannot be rendered");
                };
                self.push(kn.start, kn.end, t);
            }
            if hv == wv {
                continue;
            }
            let child = if path.is_empty() {
                wk.clone()
            } else {
                format!("{path}.{wk}")
            };
            let same_shape = match (&vn.kind, hv, wv) {
                (NodeKind::Mapping { entries, .. }, Value::Mapping(_), Value::Mapping(_)) => {
                    !entries.is_empty()
                }
                (NodeKind::Sequence { items, .. }, Value::Sequence(h), Value::Sequence(w)) => {
                    !items.is_empty() && h.len() == w.len()
                }
                (NodeKind::Scalar { style, .. }, _, w) => is_scalar(w) && !style.is_block(),
                _ => false,
            };
            if same_shape && !vn.decorated {
                self.node(vn, hv, wv, &child)?;
            } else if flow {
                let Some(t) = render_flow(wv, json) else {
                    return unsupported("a value cannot be rendered");
                };
                self.push(vn.start, vn.end, t);
            } else {
                // A new shape: the whole entry is written anew in place.
                let (s, e) = self.entry_lines(kn, vn)?;
                let mut text = self.render_entry(&wk, wv, kn.col);
                if let Some(comment) = self.key_line_comment(kn, vn) {
                    // Keep the comment of the key's line on the new first line.
                    let first = text.find(['\r', '\n']).unwrap_or(text.len());
                    text.insert_str(first, &format!("  {comment}"));
                }
                // The key's rename edit lies inside the replaced lines.
                self.edits.retain(|x| !(x.start >= s && x.end <= e));
                self.push(s, e, text);
            }
        }
        if flow {
            self.flow_removals(entries, &used);
        } else {
            for (i, (k, v)) in entries.iter().enumerate() {
                if !used[i] {
                    let (s, e) = self.entry_lines(k, v)?;
                    self.push(s, e, "");
                }
            }
        }
        for (after, key, value) in inserts {
            if flow {
                let (Some(k), Some(v)) = (
                    render_scalar(&Value::String(key.clone()), new_key_style, true),
                    render_flow(&value, json),
                ) else {
                    return unsupported("a value cannot be rendered");
                };
                match after {
                    Some(i) => {
                        let (kn, vn) = &entries[i];
                        let ls = self.line_start(kn.start);
                        // A flow mapping written one entry a line (JSON as
                        // people write it) gets the new entry on its own line.
                        let sep = if self.text[ls..kn.start].bytes().all(|b| b == b' ') {
                            format!(",{}{}", self.newline, &self.text[ls..kn.start])
                        } else {
                            ", ".to_string()
                        };
                        self.push(vn.end, vn.end, format!("{sep}{k}: {v}"))
                    }
                    None => self.push(
                        entries[0].0.start,
                        entries[0].0.start,
                        format!("{k}: {v}, "),
                    ),
                }
                continue;
            }
            let (kn, _) = &entries[after.unwrap_or(0)];
            let indent = kn.col;
            let mut text = self.render_entry(&key, &value, indent);
            let pos = match after {
                Some(i) => self.entry_lines(&entries[i].0, &entries[i].1)?.1,
                None => self.entry_lines(kn, &entries[0].1)?.0,
            };
            if pos == self.text.len() && !self.text.ends_with(['\n', '\r']) {
                // The last line has no newline: keep it that way.
                text.truncate(text.len() - self.newline.len());
                text.insert_str(0, self.newline);
            }
            self.push(pos, pos, text);
        }
        Ok(())
    }

    /// Remove unused entries of a flow mapping with their commas.
    fn flow_removals(&mut self, entries: &[(Node, Node)], used: &[bool]) {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for i in (0..entries.len()).filter(|&i| !used[i]) {
            let next_kept = (i + 1..entries.len()).find(|&j| used[j]);
            let prev_kept = (0..i).rev().find(|&j| used[j]);
            let r = match (next_kept, prev_kept) {
                (Some(j), _) => (entries[i].0.start, entries[j].0.start),
                (None, Some(p)) => (entries[p].1.end, entries[i].1.end),
                (None, None) => (entries[0].0.start, entries[entries.len() - 1].1.end),
            };
            match ranges.last_mut() {
                Some(last) if r.0 <= last.1 => {
                    last.0 = last.0.min(r.0);
                    last.1 = last.1.max(r.1);
                }
                _ => ranges.push(r),
            }
        }
        for (s, e) in ranges {
            self.push(s, e, "");
        }
    }

    fn apply(self) -> Result<String, Unsupported> {
        apply_edits(self.text, self.edits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renames(parent: &str, key: &str) -> Option<&'static str> {
        match (parent, key) {
            ("spec", "url") => Some("image"),
            _ => None,
        }
    }

    fn check(text: &str, want: &str, expected: &str) {
        let have = yaml::parse(text).unwrap();
        let want = yaml::parse(want).unwrap();
        let out = rewrite(text, &have, &want, renames).unwrap();
        assert_eq!(out, expected);
        assert_eq!(yaml::parse(&out).unwrap(), want);
    }

    #[test]
    fn renames_replaces_removes_and_inserts_in_place() {
        check(
            "# top\nkind: A  # the kind\nspec:\n  image: 'x:1' # img\n  drop: [1,\n    2]\n  keep: \"k\"\nstatus:\n  a: 1\n",
            "kind: B\nspec: {url: 'oci://x:1', sha256: abc, keep: k, new: [1]}\n",
            "# top\nkind: B  # the kind\nspec:\n  url: 'oci://x:1' # img\n  sha256: abc\n  keep: \"k\"\n  new:\n  - 1\n",
        );
    }

    #[test]
    fn crlf_and_no_final_newline_survive() {
        check(
            "a: 1\r\nb:\r\n  c: 2\r\n  d: 3",
            "a: 1\nb: {c: 5, d: 3, e: x}\n",
            "a: 1\r\nb:\r\n  c: 5\r\n  d: 3\r\n  e: x",
        );
    }

    #[test]
    fn cr_only_and_mixed_line_endings_survive() {
        check(
            "# c\ra: 1\rb:\r  c: 2\r  drop: x\r  d: 3\r",
            "a: 1\nb: {c: 5, d: 3, e: x}\n",
            "# c\ra: 1\rb:\r  c: 5\r  d: 3\r  e: x\r",
        );
        check(
            "a: 1\r\nb:\n  c: 2\r\n  d: 3\r",
            "a: 1\nb: {c: 2, d: 3, e: x}\n",
            "a: 1\r\nb:\n  c: 2\r\n  d: 3\r  e: x\r\n",
        );
    }

    #[test]
    fn flow_mappings_keep_json_shape() {
        check(
            "{\"kind\": \"A\", \"spec\": {\"image\": \"x\", \"drop\": 1}, \"status\": {}}",
            "{kind: B, spec: {url: oci://x, n: 2}}",
            "{\"kind\": \"B\", \"spec\": {\"url\": \"oci://x\", \"n\": 2}}",
        );
    }

    #[test]
    fn a_rewritten_entry_keeps_the_comment_of_its_key_line() {
        check(
            "spec:\n  config: '{\"a\": 1}'   # as JSON\n  secrets:   # creds\n  - {name: s}\n",
            "spec: {config: {a: 1}, secrets: s}\n",
            "spec:\n  config:  # as JSON\n    a: 1\n  secrets: s  # creds\n",
        );
    }

    #[test]
    fn scalar_to_mapping_rewrites_the_entry() {
        check(
            "spec:\n  config: '{\"a\": 1}'\n  phase: X\n",
            "spec: {config: {a: 1}, phase: Z}\n",
            "spec:\n  config:\n    a: 1\n  phase: Z\n",
        );
    }

    #[test]
    fn multibyte_text_at_the_end_of_an_entry() {
        check("a: é\nb: x\nc: ü\n", "b: z\n", "b: z\n");
    }

    #[test]
    fn aliases_are_refused() {
        let text = "a: &x {b: 1}\nc: *x\n";
        let have = yaml::parse(text).unwrap();
        let want = yaml::parse("a: {b: 2}\nc: {b: 1}\n").unwrap();
        assert!(rewrite(text, &have, &want, no_renames).is_err());
    }
}
