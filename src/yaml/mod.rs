//! YAML at the edge of the program: the one module that names the YAML
//! library, so that swapping it for a maintained drop-in fork is a one-line
//! change (the `use … as backend` below), plus the document splitter that
//! lets documents which are not ServiceMeshExtensions pass through untouched,
//! and the span tree that lets `migrate` edit a document in place.

#[cfg(test)]
mod conformance;
pub mod depth;
mod emit;
mod read;
mod spans;
mod split;
pub mod yaml11;

pub use spans::{parse_spans, Node, NodeKind, SpanError, Style};
pub use split::{lines, lines_inclusive, newline_of, split_documents, Document};

// The only line in the crate that names the YAML library.
use serde_yaml as backend;

pub use backend::value::{Tag, TaggedValue};
pub use backend::{Mapping, Number, Value};
pub use read::Read;

/// A YAML or JSON parse failure, with the position inside the parsed text
/// (1-based), when the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parse one document into a generic tree. Alias-expansion bombs and absurd
/// nesting are refused with an error, never expanded.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    read(text).map(|r| r.value)
}

/// Read one document in one pass: its value (as `parse` gives it) and the
/// plain scalars YAML 1.1 reads otherwise (as `yaml11::differences` gives
/// them). Documents the one-pass reader leaves to the backend (see
/// `read.rs`) are read by the backend, as before.
pub fn read(original: &str) -> Result<Read, ParseError> {
    let text = original.strip_prefix('\u{feff}').unwrap_or(original);
    // No depth pre-check here: the one pass stops at 120 levels (the
    // parser's events come as it reads, so it never reads further) and
    // hands the document to the backend path, which checks the depth
    // before its parser runs.
    if let Some(value) = as_json(text) {
        return Ok(Read {
            value,
            yaml11: Vec::new(),
        });
    }
    match read::read(text) {
        Ok(r) => Ok(r),
        Err(read::Defer) => Ok(Read {
            value: parse_with_backend(original)?,
            yaml11: yaml11::differences(original),
        }),
    }
}

/// A document that is JSON, read as JSON. JSON is YAML, but the YAML
/// parser refuses some valid JSON (surrogate pair escapes, keys over 1024
/// characters, integers beyond 64 bits).
fn as_json(text: &str) -> Option<Value> {
    if !text.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .map(|json| to_value(&json))
}

/// The benchmark's bare baseline: the backend's own parse, nothing more.
pub fn backend_parse(text: &str) -> Result<Value, String> {
    backend::from_str::<Value>(text).map_err(|e| e.to_string())
}

/// `parse` as the backend (serde_yaml) reads the document: the reference
/// the one-pass reader is held against.
pub fn parse_with_backend(text: &str) -> Result<Value, ParseError> {
    // A byte-order mark is allowed at the start of a stream; the backend
    // would take it for content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Deep nesting is refused before a parser spends superlinear time on it.
    depth::check(text)?;
    if let Some(value) = as_json(text) {
        return Ok(value);
    }
    let mut value = backend::from_str::<Value>(text).map_err(|e| {
        let loc = e.location();
        let mut message = e.to_string();
        // The library appends " at line L column C" to some messages; the
        // caller prints its own position, so keep the message clean.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        if message.contains("recursion limit") {
            message = format!(
                "nesting is more than {} levels deep, more than sme2wasm reads (Kubernetes reads up to {}); no ServiceMeshExtension nests this deep",
                depth::MAX_DEPTH,
                depth::KUBERNETES_MAX_DEPTH
            );
        } else if message.contains("repetition limit") {
            message =
                "aliases expand to too many nodes (an alias-expansion bomb?); refusing to expand them"
                    .to_string();
        }
        ParseError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    })?;
    if has_plain_merge_key(text) {
        resolve_merge_keys(&mut value)?;
    }
    Ok(value)
}

/// Whether `text` writes a plain `<<` key (a merge key). A quoted `'<<'`
/// is an ordinary key, to go-yaml as to the YAML spec.
fn has_plain_merge_key(text: &str) -> bool {
    if !text.contains("<<") {
        return false;
    }
    let mut from = 0;
    while let Some(i) = text[from..].find("<<") {
        let at = from + i;
        from = at + 2;
        let before = text[..at].trim_end_matches([' ', '\t']);
        let opens = before.is_empty() || before.ends_with(['\n', '\r', '{', ',', '-', '?']);
        let after = text[at + 2..].trim_start_matches([' ', '\t']);
        if opens && after.starts_with(':') {
            return true;
        }
    }
    false
}

/// Resolve YAML merge keys (`<<: *base`, `<<: [*a, *b]`) anywhere in the
/// tree as Kubernetes' reader does (sigs.k8s.io/yaml, a fork of go-yaml
/// v2): the entries of a mapping are taken in the order written, each one
/// setting its key, a later one over an earlier one; a `<<` sets every key
/// of the mapping it names (its own merge keys resolved first), and of a
/// list of mappings the earlier wins. So a key written after `<<` wins over
/// the merged one, and one written before it loses.
fn resolve_merge_keys(value: &mut Value) -> Result<(), ParseError> {
    fn invalid(what: &str) -> ParseError {
        ParseError {
            line: None,
            column: None,
            message: format!(
                "a merge key (<<) {what}; it must name a mapping or a list of mappings"
            ),
        }
    }
    fn resolve(value: &mut Value) -> Result<(), ParseError> {
        match value {
            Value::Mapping(m) => {
                let has_merge = m.contains_key("<<");
                if !has_merge {
                    for v in m.values_mut() {
                        resolve(v)?;
                    }
                    return Ok(());
                }
                let entries: Vec<(Value, Value)> = std::mem::take(m).into_iter().collect();
                for (k, mut v) in entries {
                    resolve(&mut v)?;
                    if k.as_str() != Some("<<") {
                        m.insert(k, v);
                        continue;
                    }
                    let sources = match v {
                        Value::Mapping(src) => vec![src],
                        Value::Sequence(seq) => {
                            let mut out = Vec::with_capacity(seq.len());
                            for item in seq.into_iter().rev() {
                                match item {
                                    Value::Mapping(src) => out.push(src),
                                    _ => {
                                        return Err(invalid(
                                            "lists something that is not a mapping",
                                        ))
                                    }
                                }
                            }
                            out
                        }
                        _ => return Err(invalid("holds a scalar")),
                    };
                    for src in sources {
                        for (k, v) in src {
                            m.insert(k, v);
                        }
                    }
                }
                Ok(())
            }
            Value::Sequence(seq) => seq.iter_mut().try_for_each(resolve),
            Value::Tagged(t) => resolve(&mut t.value),
            _ => Ok(()),
        }
    }
    resolve(value)
}

/// Render a serialisable value as a YAML document (no leading `---`),
/// quoted safely for YAML 1.1 readers too (see `emit`).
pub fn to_string<T: serde::Serialize + ?Sized>(value: &T) -> String {
    emit::emit(&backend::to_value(value).expect("conversion of an in-memory tree cannot fail"))
}

/// The backend's own emitter, for the benchmark's bare parse-and-emit
/// baseline only: its quoting is not safe for YAML 1.1 readers.
pub fn backend_to_string(value: &Value) -> String {
    backend::to_string(value).expect("YAML serialisation of an in-memory tree cannot fail")
}

/// Render a tree as a YAML document (no leading `---`).
pub fn emit(value: &Value) -> String {
    emit::emit(value)
}

/// Turn any serialisable value into a generic tree.
pub fn to_value<T: serde::Serialize>(value: &T) -> Value {
    backend::to_value(value).expect("conversion of an in-memory tree cannot fail")
}

/// Deserialise a typed value from a YAML string (used for small side files).
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    depth::check(text)?;
    backend::from_str::<T>(text).map_err(|e| {
        let loc = e.location();
        let mut message = e.to_string();
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        ParseError {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// Convert a YAML tree into JSON for `-o json` and the report.
pub fn to_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into()
            } else if let Some(u) = n.as_u64() {
                u.into()
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .unwrap_or(serde_json::Value::Null)
            }
        }
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Sequence(seq) => serde_json::Value::Array(seq.iter().map(to_json).collect()),
        Value::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                out.insert(key_string(k), to_json(v));
            }
            serde_json::Value::Object(out)
        }
        Value::Tagged(t) => to_json(&t.value),
    }
}

/// As `key_string`, borrowed when the key is a string (most are).
pub fn key_str(k: &Value) -> std::borrow::Cow<'_, str> {
    match k {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(key_string(other)),
    }
}

/// The text of a mapping key, whatever scalar it is.
pub fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_string(),
        other => to_string(other).trim_end().to_string(),
    }
}

/// Look up a string key in a mapping.
pub fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_the_yaml_parser_refuses() {
        let v = super::parse(r#"{"k": "a\ud83d\ude00b", "n": 123456789012345678901234567890}"#)
            .unwrap();
        assert_eq!(v["k"].as_str(), Some("a\u{1f600}b"));
        assert!(v["n"].as_f64().is_some());
        let long = format!(r#"{{"{}": 1}}"#, "k".repeat(2000));
        assert!(super::parse(&long).is_ok());
    }

    #[test]
    fn merge_keys_resolve_as_kubernetes_reads_them() {
        let v = super::parse(
            "base: &b {a: 1, b: 2}\nmore: &m {b: 3, c: 4, <<: {d: 5, c: 9}}\nx:\n  e: 7\n  <<: [*m, *b, {e: 8}]\n  a: 0\n",
        )
        .unwrap();
        let x = &v["x"];
        assert_eq!(x["a"].as_i64(), Some(0)); // written after << wins
        assert_eq!(x["e"].as_i64(), Some(8)); // written before << loses (go-yaml v2)
        assert_eq!(x["b"].as_i64(), Some(3)); // the first of the list wins
        assert_eq!(x["c"].as_i64(), Some(9)); // in *m, its << comes last and wins
        assert_eq!(x["d"].as_i64(), Some(5));
        assert!(x.get("<<").is_none());
        assert_eq!(v["more"]["c"].as_i64(), Some(9));
        assert!(super::parse("x: {<<: 1}\n").is_err());
        // A quoted '<<' is an ordinary key.
        let q = super::parse("'<<': {a: 1}\n").unwrap();
        assert_eq!(q["<<"]["a"].as_i64(), Some(1));
        // JSON has no merge keys.
        let j = super::parse("{\"<<\": {\"a\": 1}}").unwrap();
        assert_eq!(j["<<"]["a"].as_i64(), Some(1));
    }

    #[test]
    fn byte_order_mark_and_crlf_parse() {
        let v = super::parse("\u{feff}a: 1\r\nb: [x]\r\n").unwrap();
        assert_eq!(v["a"].as_i64(), Some(1));
        assert_eq!(v["b"][0].as_str(), Some("x"));
    }
}
