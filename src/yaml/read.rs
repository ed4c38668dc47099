//! One pass over a document: the parser's events (saphyr-parser) become the
//! value tree, resolved as the backend resolves it (YAML 1.2 core schema as
//! serde_yaml 0.9 reads it), and, in the same pass, the plain scalars that
//! YAML 1.1 reads otherwise, with their path and line. Nothing parses the
//! document a second time.
//!
//! Where the backend would refuse a document, or where its verdict depends
//! on rules this pass does not copy (a duplicate key, a tag that does not
//! fit its scalar, an integer past 64 bits, aliases that expand past the
//! limit, nesting past 128 levels, a parse error), the backend reads the
//! document instead and its verdict stands: the same value, the same
//! error, the same line. No document a cluster would accept takes that
//! path.

use super::yaml11::{yaml11_meaning, Step, Yaml11Scalar};
use super::{Mapping, Number, Value};
use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use std::borrow::Cow;

/// What one pass over a document gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub value: Value,
    /// Plain scalars whose YAML 1.1 meaning differs, in document order.
    pub yaml11: Vec<Yaml11Scalar>,
}

/// Why the pass hands the document to the backend.
#[derive(Debug)]
pub(super) struct Defer;

/// The nesting the pass builds itself; deeper documents go to the backend,
/// which refuses past 128 levels.
const MAX_FRAMES: usize = 120;

/// Aliases may add at most this many nodes per event of the document
/// before the backend decides (it refuses repetition past 100 jumps per
/// event: an alias-expansion bomb).
const ALIAS_NODES_PER_EVENT: usize = 100;

/// A key's text for a path, as `yaml11::differences` spells it.
enum KeyText {
    /// The key is a string: its value is its text.
    Value,
    /// Another scalar (`1`, `true`, `~`): the text as written.
    Raw(String),
    /// A collection key: no path goes through it.
    Collection,
}

enum Frame {
    Map {
        map: Mapping,
        /// The key waiting for its value.
        key: Option<(Value, KeyText)>,
        tag: Option<String>,
        anchor: usize,
        /// Inside a collection key, or a collection key's value: the 1.1
        /// check does not look there.
        quiet: bool,
    },
    Seq {
        seq: Vec<Value>,
        tag: Option<String>,
        anchor: usize,
        quiet: bool,
    },
}

impl Frame {
    fn quiet(&self) -> bool {
        match self {
            Frame::Map { quiet, .. } | Frame::Seq { quiet, .. } => *quiet,
        }
    }
}

struct Anchored {
    value: Value,
    nodes: usize,
    depth: usize,
}

/// Read the first (only) document of `text` in one pass.
pub(super) fn read(text: &str) -> Result<Read, Defer> {
    if needs_backend(text.as_bytes()) {
        return Err(Defer);
    }
    let mut anchors_checked = false;
    let mut frames: Vec<Frame> = Vec::new();
    let mut anchors: Vec<(usize, Anchored)> = Vec::new();
    let mut yaml11 = Vec::new();
    let mut root: Option<Value> = None;
    let mut events = 0usize;
    let mut alias_nodes = 0usize;
    let mut documents = 0usize;
    for ev in Parser::new_from_str(text) {
        let (event, span) = ev.map_err(|_| Defer)?;
        events += 1;
        if !anchors_checked && has_anchor(&event) {
            // The backend's anchor names are narrower than the parser's.
            if !anchor_names_ok(text.as_bytes()) {
                return Err(Defer);
            }
            anchors_checked = true;
        }
        let (value, anchor) = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    // More than one document: the backend's error.
                    return Err(Defer);
                }
                continue;
            }
            Event::MappingStart(anchor, tag) => {
                if frames.len() >= MAX_FRAMES {
                    return Err(Defer);
                }
                let quiet = child_quiet(&frames);
                frames.push(Frame::Map {
                    map: Mapping::new(),
                    key: None,
                    tag: local_tag(tag.as_deref()),
                    anchor,
                    quiet,
                });
                continue;
            }
            Event::SequenceStart(anchor, tag) => {
                if frames.len() >= MAX_FRAMES {
                    return Err(Defer);
                }
                let quiet = child_quiet(&frames);
                frames.push(Frame::Seq {
                    seq: Vec::new(),
                    tag: local_tag(tag.as_deref()),
                    anchor,
                    quiet,
                });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, tag, anchor) = match frames.pop().ok_or(Defer)? {
                    Frame::Map {
                        map,
                        key,
                        tag,
                        anchor,
                        quiet: _,
                    } => {
                        if key.is_some() {
                            return Err(Defer);
                        }
                        (Value::Mapping(map), tag, anchor)
                    }
                    Frame::Seq {
                        seq, tag, anchor, ..
                    } => (Value::Sequence(seq), tag, anchor),
                };
                (tagged(value, tag), anchor)
            }
            Event::Alias(id) => {
                let a = anchors
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == id)
                    .map(|(_, a)| a)
                    .ok_or(Defer)?;
                alias_nodes += a.nodes;
                if alias_nodes > ALIAS_NODES_PER_EVENT * events.max(1)
                    || frames.len() + a.depth >= MAX_FRAMES
                {
                    return Err(Defer);
                }
                (a.value.clone(), 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let is_key = matches!(frames.last(), Some(Frame::Map { key: None, .. }));
                // The backend refuses an empty implicit key in a block
                // mapping, and `|`/`>` in a flow collection.
                if plain && (text.starts_with(['|', '>']) || (is_key && text.is_empty())) {
                    return Err(Defer);
                }
                let resolved = scalar(&text, style, tag.as_deref())?;
                // The 1.1 check: a plain scalar with neither tag nor anchor.
                if plain && tag.is_none() && anchor == 0 && !scalar_quiet(&frames) {
                    if let Some(v11) = yaml11_meaning(&text) {
                        if resolved.as_ref() != Some(&v11) {
                            let line = span.start.line();
                            note_yaml11(&frames, &text, v11, line, &mut yaml11);
                        }
                    }
                }
                if is_key && anchor == 0 {
                    // A key keeps the text it was written as, for paths.
                    let entry = match resolved {
                        None => (Value::String(text.into_owned()), KeyText::Value),
                        Some(v) => (v, KeyText::Raw(text.into_owned())),
                    };
                    if let Some(Frame::Map { key, .. }) = frames.last_mut() {
                        *key = Some(entry);
                    }
                    continue;
                }
                (
                    resolved.unwrap_or_else(|| Value::String(text.into_owned())),
                    anchor,
                )
            }
        };
        if anchor != 0 {
            let (nodes, depth) = size(&value);
            anchors.push((
                anchor,
                Anchored {
                    value: value.clone(),
                    nodes,
                    depth,
                },
            ));
        }
        match frames.last_mut() {
            None => {
                if root.is_some() {
                    return Err(Defer);
                }
                root = Some(value);
            }
            Some(Frame::Seq { seq, .. }) => seq.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => {
                    let text = match &value {
                        Value::String(_) => KeyText::Value,
                        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
                            KeyText::Collection
                        }
                        other => KeyText::Raw(super::key_string(other)),
                    };
                    *key = Some((value, text));
                }
                Some((k, _)) => {
                    if map.insert(k, value).is_some() {
                        // A duplicate key: the backend's error.
                        return Err(Defer);
                    }
                }
            },
        }
    }
    // An empty document: the backend says whether it is one (`...`
    // alone is not).
    let Some(mut value) = root.filter(|_| frames.is_empty()) else {
        return Err(Defer);
    };
    // Merge keys, where the backend path resolves them; a merge key it
    // refuses is refused there, with its message.
    if super::has_plain_merge_key(text) {
        super::resolve_merge_keys(&mut value).map_err(|_| Defer)?;
    }
    Ok(Read { value, yaml11 })
}

/// Text the parser reads where the backend refuses it, or reads
/// otherwise: control characters (tabs too: the backend refuses them as
/// indentation), DEL, NEL, the line and paragraph separators, U+FFFE and
/// U+FFFF, a byte order mark after the start, and directives (`%` at the
/// start of a line). One pass over the bytes; such text is rare in
/// Kubernetes manifests.
fn needs_backend(b: &[u8]) -> bool {
    let mut line_start = true;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' | b'\r' => {
                line_start = true;
                i += 1;
                continue;
            }
            b'%' if line_start => return true,
            0..=0x1f | 0x7f => return true,
            // NEL (C2 85)
            0xc2 if b.get(i + 1) == Some(&0x85) => return true,
            // U+2028, U+2029 (E2 80 A8/A9)
            0xe2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)) => {
                return true
            }
            // U+FEFF (EF BB BF), U+FFFE and U+FFFF (EF BF BE/BF)
            0xef if matches!(
                (b.get(i + 1), b.get(i + 2)),
                (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf))
            ) =>
            {
                return true
            }
            _ => {}
        }
        line_start = false;
        i += 1;
    }
    false
}

fn has_anchor(event: &Event) -> bool {
    match event {
        Event::Alias(_) => true,
        Event::Scalar(_, _, anchor, _)
        | Event::MappingStart(anchor, _)
        | Event::SequenceStart(anchor, _) => *anchor != 0,
        _ => false,
    }
}

/// Whether every `&name` and `*name` that could start a token has a name
/// the backend accepts (letters, digits, `-`, `_`). Text in quotes may be
/// taken for one: that only sends the document to the backend.
fn anchor_names_ok(b: &[u8]) -> bool {
    for (i, &c) in b.iter().enumerate() {
        if c != b'&' && c != b'*' {
            continue;
        }
        let opens = i == 0 || matches!(b[i - 1], b' ' | b'\n' | b'\r' | b'[' | b'{' | b',');
        if !opens {
            continue;
        }
        let name = b[i + 1..].iter().take_while(|&&x| {
            !matches!(x, b' ' | b'\n' | b'\r' | b',' | b'[' | b']' | b'{' | b'}')
        });
        let mut empty = true;
        for &x in name {
            empty = false;
            if !(x.is_ascii_alphanumeric() || x == b'-' || x == b'_') {
                return false;
            }
        }
        if empty {
            return false;
        }
    }
    true
}

/// Whether a collection opened now is out of the 1.1 check's sight:
/// inside a quiet collection, a collection key, or the value of a
/// collection key.
fn child_quiet(frames: &[Frame]) -> bool {
    match frames.last() {
        None => false,
        Some(f @ Frame::Seq { .. }) => f.quiet(),
        Some(Frame::Map { quiet, key, .. }) => {
            // With no key yet, the collection opened is a collection key.
            *quiet || matches!(key, None | Some((_, KeyText::Collection)))
        }
    }
}

/// As `child_quiet`, for a scalar: a scalar key is in sight.
fn scalar_quiet(frames: &[Frame]) -> bool {
    match frames.last() {
        None => false,
        Some(f @ Frame::Seq { .. }) => f.quiet(),
        Some(Frame::Map { quiet, key, .. }) => {
            *quiet || matches!(key, Some((_, KeyText::Collection)))
        }
    }
}

/// The path of the scalar read now, as `yaml11::differences` gives it.
fn note_yaml11(frames: &[Frame], text: &str, v11: Value, line: usize, out: &mut Vec<Yaml11Scalar>) {
    let mut path = Vec::with_capacity(frames.len() + 1);
    for f in frames {
        match f {
            Frame::Seq { seq, .. } => path.push(Step::Index(seq.len())),
            Frame::Map { key, .. } => match key {
                Some((Value::String(s), KeyText::Value)) => path.push(Step::Key(s.clone())),
                Some((_, KeyText::Raw(t))) => path.push(Step::Key(t.clone())),
                // The key being read (its own step is added below); a
                // collection key is kept out by `scalar_quiet`.
                _ => {}
            },
        }
    }
    let is_key = matches!(frames.last(), Some(Frame::Map { key: None, .. }));
    if is_key {
        path.push(Step::Key(text.to_string()));
    }
    out.push(Yaml11Scalar {
        path,
        is_key,
        text: text.to_string(),
        value: v11,
        line,
    });
}

/// The number of nodes of a value and how deep it nests.
fn size(v: &Value) -> (usize, usize) {
    match v {
        Value::Sequence(s) => s.iter().fold((1, 1), |(n, d), i| {
            let (n2, d2) = size(i);
            (n + n2, d.max(d2 + 1))
        }),
        Value::Mapping(m) => m.iter().fold((1, 1), |(n, d), (k, v)| {
            let (nk, dk) = size(k);
            let (nv, dv) = size(v);
            (n + nk + nv, d.max(dk.max(dv) + 1))
        }),
        Value::Tagged(t) => {
            let (n, d) = size(&t.value);
            (n + 1, d)
        }
        _ => (1, 0),
    }
}

/// The tag as the backend spells it: the handle resolved, then the suffix.
fn tag_string(tag: &Tag) -> Cow<'_, str> {
    if tag.handle.is_empty() {
        Cow::Borrowed(&tag.suffix)
    } else if tag.suffix.is_empty() {
        Cow::Borrowed(&tag.handle)
    } else {
        Cow::Owned(format!("{}{}", tag.handle, tag.suffix))
    }
}

/// A local tag (`!name`) makes a tagged value; the backend drops the `!`.
fn local_tag(tag: Option<&Tag>) -> Option<String> {
    let t = tag_string(tag?);
    let rest = t.strip_prefix('!')?;
    Some(if rest.is_empty() {
        t.to_string()
    } else {
        rest.to_string()
    })
}

fn tagged(value: Value, tag: Option<String>) -> Value {
    match tag {
        None => value,
        Some(tag) => Value::Tagged(Box::new(super::TaggedValue {
            tag: super::Tag::new(tag),
            value,
        })),
    }
}

const CORE: &str = "tag:yaml.org,2002:";

/// A scalar's value, as the backend resolves it; `None` for a string
/// whose value is its text (the caller moves the text in, uncopied).
fn scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Result<Option<Value>, Defer> {
    let plain = style == ScalarStyle::Plain;
    let Some(tag) = tag else {
        return if plain { untagged(text) } else { Ok(None) };
    };
    if let Some(local) = local_tag(Some(tag)) {
        let inner = if plain { untagged(text)? } else { None };
        let inner = inner.unwrap_or_else(|| Value::String(text.to_string()));
        return Ok(Some(tagged(inner, Some(local))));
    }
    let name = tag_string(tag);
    match name.strip_prefix(CORE) {
        Some("bool") => match text {
            "true" | "True" | "TRUE" => Ok(Some(Value::Bool(true))),
            "false" | "False" | "FALSE" => Ok(Some(Value::Bool(false))),
            _ => Err(Defer),
        },
        Some("int") => int(text).map(|n| Some(Value::Number(n))).ok_or(Defer),
        Some("float") => float(text)
            .map(|f| Some(Value::Number(f.into())))
            .ok_or(Defer),
        Some("null") => match text {
            "null" | "Null" | "NULL" | "~" => Ok(Some(Value::Null)),
            _ => Err(Defer),
        },
        _ => Ok(None),
    }
}

/// A plain scalar with no tag: null, boolean, integer, float, or (`None`)
/// a string.
fn untagged(s: &str) -> Result<Option<Value>, Defer> {
    let first = s.as_bytes().first().copied();
    // Most plain scalars are words: nothing to resolve.
    match first {
        None => return Ok(Some(Value::Null)),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F') => {
        }
        _ => return Ok(None),
    }
    match s {
        "~" | "null" | "Null" | "NULL" => return Ok(Some(Value::Null)),
        "true" | "True" | "TRUE" => return Ok(Some(Value::Bool(true))),
        "false" | "False" | "FALSE" => return Ok(Some(Value::Bool(false))),
        _ => {}
    }
    if let Some(n) = int(s) {
        return Ok(Some(Value::Number(n)));
    }
    if wide_int(s) {
        // Past 64 bits: the backend's own rules decide.
        return Err(Defer);
    }
    if !digits_but_not_number(s) {
        if let Some(f) = float(s) {
            return Ok(Some(Value::Number(f.into())));
        }
    }
    Ok(None)
}

/// Leading zeros and digits: a string in YAML 1.2.
fn digits_but_not_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

/// An integer as the backend reads one into 64 bits (u64, then i64).
fn int(s: &str) -> Option<Number> {
    if let Some(u) = unsigned(s, |t, r| u64::from_str_radix(t, r).ok()) {
        return Some(Number::from(u));
    }
    negative(s, |t, r| i64::from_str_radix(t, r).ok()).map(Number::from)
}

/// Whether the backend would read `s` as an integer wider than 64 bits.
fn wide_int(s: &str) -> bool {
    unsigned(s, |t, r| u128::from_str_radix(t, r).ok()).is_some()
        || negative(s, |t, r| i128::from_str_radix(t, r).ok()).is_some()
}

fn unsigned<T>(s: &str, parse: impl Fn(&str, u32) -> Option<T>) -> Option<T> {
    let unpositive = s.strip_prefix('+').unwrap_or(s);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Some(v) = parse(rest, radix) {
                return Some(v);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(s) {
        return None;
    }
    parse(unpositive, 10)
}

fn negative<T>(s: &str, parse: impl Fn(&str, u32) -> Option<T>) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = s.strip_prefix(prefix) {
            if let Some(v) = parse(&format!("-{rest}"), radix) {
                return Some(v);
            }
        }
    }
    if digits_but_not_number(s) {
        return None;
    }
    parse(s, 10)
}

fn float(s: &str) -> Option<f64> {
    let unpositive = match s.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => s,
    };
    match unpositive {
        ".inf" | ".Inf" | ".INF" => return Some(f64::INFINITY),
        _ => {}
    }
    match s {
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN.copysign(1.0)),
        _ => {}
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::super::{parse_with_backend, split_documents, yaml11};

    /// Every document under testdata/ and examples/: the one pass gives
    /// the backend's value, and the 1.1 scalars the span walk finds.
    #[test]
    fn one_pass_matches_the_backend_and_the_span_walk_on_the_fixtures() {
        let mut files = Vec::new();
        let mut dirs = vec![
            std::path::PathBuf::from("testdata"),
            std::path::PathBuf::from("examples"),
        ];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        assert!(files.len() > 50, "the fixtures are found");
        let (mut docs, mut with_11) = (0, 0);
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for doc in split_documents(&text) {
                let body = doc.text.strip_prefix('\u{feff}').unwrap_or(doc.text);
                let ours = super::read(body);
                let theirs = parse_with_backend(doc.text);
                if let Ok(r) = &ours {
                    docs += 1;
                    assert_eq!(
                        Ok(&r.value),
                        theirs.as_ref(),
                        "{}:{}: values differ",
                        f.display(),
                        doc.start_line
                    );
                    assert_eq!(
                        r.yaml11,
                        yaml11::differences(doc.text),
                        "{}:{}: 1.1 scalars differ",
                        f.display(),
                        doc.start_line
                    );
                    with_11 += usize::from(!r.yaml11.is_empty());
                }
            }
        }
        assert!(
            docs > 100 && with_11 > 0,
            "{docs} documents, {with_11} with 1.1 scalars"
        );
    }

    #[test]
    fn one_pass_finds_1_1_scalars_where_the_span_walk_does() {
        for text in [
            "a: yes\nb: [on, 'off', 010, 0o10, 1_000]\nc: {n: N, d: {e: -0b11}}\n",
            "yes: 1\n010: x\n? [on]\n: off\n? {k: y}\n: [n]\nz: &a yes\nw: !!str no\n",
            "- - [y, Y]\n  - {on: off}\n- 0010\n- '010'\n- \"yes\"\n- |\n  yes\n",
            "yes",
            "spec:\n  config:\n    enabled: on\n    list: [1_000, 2]\n    1: no\n    true: yes\n    ~: n\n",
        ] {
            let r = super::read(text).unwrap();
            assert_eq!(r.yaml11, yaml11::differences(text), "{text}");
            assert!(!r.yaml11.is_empty());
        }
    }
}
