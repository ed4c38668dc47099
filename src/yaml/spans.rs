//! Where every node of a YAML document lies in its text: a tree of byte
//! ranges built from a real parser's events (saphyr-parser, YAML 1.2), so
//! that an in-place rewrite can change a key or a value and leave every
//! other byte, comments included, where it was. The meaning of a node is
//! still read with `yaml::parse`; this tree only says where things are.

use saphyr_parser::{Event, Parser, ScalarStyle};

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|`: a literal block scalar spans whole lines.
    Literal,
    /// `>`: a folded block scalar.
    Folded,
}

impl Style {
    pub fn is_block(self) -> bool {
        matches!(self, Style::Literal | Style::Folded)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Scalar {
        value: String,
        style: Style,
    },
    Mapping {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Sequence {
        flow: bool,
        items: Vec<Node>,
    },
    /// An alias (`*name`): its target lies elsewhere.
    Alias,
}

/// One node: its kind, and where it lies in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// Byte range in the text; a block collection spans from its first key
    /// or item to the end of its last one.
    pub start: usize,
    pub end: usize,
    /// 1-based line and 0-based column (in characters) of `start`.
    pub line: usize,
    pub col: usize,
    /// Whether an anchor or a tag was written on the node.
    pub decorated: bool,
}

impl Node {
    /// For a mapping: the entry whose key is the plain text `key`.
    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        match &self.kind {
            NodeKind::Mapping { entries, .. } => entries
                .iter()
                .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value, .. } if value == key)),
            _ => None,
        }
    }

    /// The scalar's text, for a scalar.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Mapping { flow: true, .. } | NodeKind::Sequence { flow: true, .. }
        )
    }
}

/// A document the span parser refused (serde's parser may still accept it:
/// the caller then falls back to a clean rendering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanError(pub String);

/// Character index → byte offset, cheap for ASCII text.
struct Offsets {
    table: Option<Vec<usize>>,
    len: usize,
}

impl Offsets {
    fn new(text: &str) -> Offsets {
        let table = (!text.is_ascii()).then(|| {
            let mut t: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            t.push(text.len());
            t
        });
        Offsets {
            table,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

/// The byte just after the closing quote of the quoted scalar at `start`.
fn quoted_end(text: &str, start: usize, style: Style) -> Option<usize> {
    let bytes = text.as_bytes();
    bytes.get(start)?;
    let mut i = start + 1;
    while i < bytes.len() {
        match (style, bytes[i]) {
            (Style::DoubleQuoted, b'\\') => i += 2,
            (Style::DoubleQuoted, b'"') => return Some(i + 1),
            (Style::SingleQuoted, b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            (Style::SingleQuoted, b'\'') => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The root node of the first document in `text`, or `None` for an empty
/// document. A leading byte order mark is allowed.
pub fn parse_spans(text: &str) -> Result<Option<Node>, SpanError> {
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let body = &text[bom..];
    let offsets = Offsets::new(body);
    let mut stack: Vec<Node> = Vec::new();
    // Keys waiting for their value, one slot per open mapping.
    let mut pending_key: Vec<Option<Node>> = Vec::new();
    let mut root = None;
    for ev in Parser::new_from_str(body) {
        let (event, span) = ev.map_err(|e| SpanError(e.to_string()))?;
        let start = offsets.byte(span.start.index()) + bom;
        let end = offsets.byte(span.end.index()) + bom;
        let at = |kind, decorated| Node {
            kind,
            start,
            end,
            line: span.start.line(),
            col: span.start.col(),
            decorated,
        };
        let finished = match event {
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let mut node = at(
                    NodeKind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                    anchor != 0 || tag.is_some(),
                );
                match style {
                    // The parser's span runs into the next line's indentation.
                    Style::Literal | Style::Folded => {
                        node.end = start + text[start..end].trim_end().len()
                    }
                    // …and over the spaces and comment after a closing quote.
                    Style::SingleQuoted | Style::DoubleQuoted => {
                        node.end = quoted_end(text, start, style).unwrap_or(end)
                    }
                    Style::Plain => {}
                }
                Some(node)
            }
            Event::Alias(_) => Some(at(NodeKind::Alias, false)),
            Event::MappingStart(anchor, tag) => {
                let flow = text[start..].starts_with('{');
                stack.push(at(
                    NodeKind::Mapping {
                        flow,
                        entries: Vec::new(),
                    },
                    anchor != 0 || tag.is_some(),
                ));
                pending_key.push(None);
                None
            }
            Event::SequenceStart(anchor, tag) => {
                let flow = text[start..].starts_with('[');
                stack.push(at(
                    NodeKind::Sequence {
                        flow,
                        items: Vec::new(),
                    },
                    anchor != 0 || tag.is_some(),
                ));
                pending_key.push(None);
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let mut node = stack
                    .pop()
                    .ok_or_else(|| SpanError("unbalanced collection".into()))?;
                pending_key.pop();
                if node.is_flow() {
                    node.end = end;
                } else {
                    let last = match &node.kind {
                        NodeKind::Mapping { entries, .. } => {
                            entries.last().map(|(k, v)| k.end.max(v.end))
                        }
                        NodeKind::Sequence { items, .. } => items.last().map(|i| i.end),
                        _ => None,
                    };
                    node.end = last.unwrap_or(node.start).max(node.start);
                }
                Some(node)
            }
            Event::DocumentEnd => break,
            _ => None,
        };
        let Some(node) = finished else { continue };
        match stack.last_mut() {
            None => {
                root = Some(node);
            }
            Some(parent) => {
                let slot = pending_key
                    .last_mut()
                    .expect("one slot per open collection");
                match &mut parent.kind {
                    NodeKind::Mapping { entries, .. } => match slot.take() {
                        None => *slot = Some(node),
                        Some(key) => entries.push((key, node)),
                    },
                    NodeKind::Sequence { items, .. } => items.push(node),
                    _ => unreachable!("only collections are pushed"),
                }
            }
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_keys_and_values() {
        let text = "--- # c\nk: \"v\"  # x\nm:\n  a: [1, 2]\n  b: |\n    t\n  c: {x: y}\n";
        let root = parse_spans(text).unwrap().unwrap();
        let (k, v) = root.entry("k").unwrap();
        assert_eq!(&text[k.start..k.end], "k");
        assert_eq!(&text[v.start..v.end], "\"v\"");
        let (_, m) = root.entry("m").unwrap();
        let (_, a) = m.entry("a").unwrap();
        assert_eq!(&text[a.start..a.end], "[1, 2]");
        let (_, b) = m.entry("b").unwrap();
        assert_eq!(&text[b.start..b.end], "t");
        let (_, c) = m.entry("c").unwrap();
        assert!(c.is_flow());
        assert_eq!(
            &text[m.start..m.end],
            "a: [1, 2]\n  b: |\n    t\n  c: {x: y}"
        );
        assert_eq!((m.line, m.col), (4, 2));
    }

    #[test]
    fn bom_and_multibyte_text_give_byte_offsets() {
        let text = "\u{feff}a: é\nb: x\n";
        let root = parse_spans(text).unwrap().unwrap();
        let (_, b) = root.entry("b").unwrap();
        assert_eq!(&text[b.start..b.end], "x");
    }

    #[test]
    fn errors_are_returned() {
        assert!(parse_spans("a: [1\n").is_err());
        assert_eq!(parse_spans("# only a comment\n").unwrap(), None);
    }
}
