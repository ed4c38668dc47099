//! YAML at the edge of the program: the one module that names the YAML
//! library, so that swapping it for a maintained drop-in fork is a one-line
//! change (the `use … as backend` below), plus the document splitter that
//! lets documents which are not ServiceMeshExtensions pass through untouched,
//! and the span tree that lets `migrate` edit a document in place.

pub mod depth;
mod emit;
mod spans;
mod split;
pub mod yaml11;

pub use spans::{parse_spans, Node, NodeKind, SpanError, Style};
pub use split::{split_documents, Document};

// The only line in the crate that names the YAML library.
use serde_yaml as backend;

pub use backend::{Mapping, Number, Value};

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
    // A byte-order mark is allowed at the start of a stream; the backend
    // would take it for content.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Deep nesting is refused before a parser spends superlinear time on it.
    depth::check(text)?;
    // JSON is YAML, but the YAML parser refuses some valid JSON (surrogate
    // pair escapes, keys over 1024 characters, integers beyond 64 bits):
    // a document that is JSON is read as JSON.
    if text.trim_start().starts_with(['{', '[']) {
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(text) {
            return Ok(to_value(&json));
        }
    }
    backend::from_str::<Value>(text).map_err(|e| {
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
    })
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
    fn byte_order_mark_and_crlf_parse() {
        let v = super::parse("\u{feff}a: 1\r\nb: [x]\r\n").unwrap();
        assert_eq!(v["a"].as_i64(), Some(1));
        assert_eq!(v["b"][0].as_str(), Some("x"));
    }
}
