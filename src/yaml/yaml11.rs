//! Plain scalars that YAML 1.1 reads differently from YAML 1.2. Kubernetes
//! tools (kubectl, Argo CD, Flux, kustomize) read manifests with 1.1 rules:
//! an unquoted `yes`, `on`, `n`, `010` or `1_000` reached the cluster, and
//! so the plugin, as a boolean or a number, while this crate's parser reads
//! 1.2 and would keep the text. Finding them lets a conversion keep what the
//! cluster actually held.

use super::spans::{parse_spans, Node, NodeKind, Style};
use super::{Number, Value};

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A plain scalar whose 1.1 meaning differs from its 1.2 meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Yaml11Scalar {
    /// Where it is; for a key, the path of its mapping and then the key.
    pub path: Vec<Step>,
    /// Whether the scalar is a mapping key (else a value).
    pub is_key: bool,
    pub text: String,
    /// What a YAML 1.1 reader makes of it.
    pub value: Value,
    /// 1-based line in the document.
    pub line: usize,
}

/// The YAML 1.1 meaning of a plain scalar, where it is a boolean or an
/// integer that YAML 1.2 reads otherwise (the rules of go-yaml v2, which
/// Kubernetes' YAML reader wraps).
pub fn yaml11_meaning(plain: &str) -> Option<Value> {
    // Fast refusal: every such scalar is short and starts with one of these.
    match plain.as_bytes().first() {
        Some(b'y' | b'Y' | b'n' | b'N' | b'o' | b'O' | b'0'..=b'9' | b'+' | b'-')
            if plain.len() <= 40 => {}
        _ => return None,
    }
    match plain {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some(Value::Bool(true)),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some(Value::Bool(false)),
        _ => {}
    }
    let (negative, digits) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain.strip_prefix('+').unwrap_or(plain)),
    };
    let had_underscore = digits.contains('_');
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || clean.starts_with('_') {
        return None;
    }
    let magnitude = if let Some(bin) = clean.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if clean.len() > 1 && clean.starts_with('0') && clean.bytes().all(|b| b.is_ascii_digit())
    {
        if !clean.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        i64::from_str_radix(&clean, 8).ok()?
    } else if had_underscore && clean.bytes().all(|b| b.is_ascii_digit()) {
        clean.parse::<i64>().ok()?
    } else {
        return None;
    };
    let n = if negative { -magnitude } else { magnitude };
    Some(Value::Number(Number::from(n)))
}

/// Cheap test: could a document whose part of interest parsed (with YAML
/// 1.2) to `value` hold such a scalar? Every such scalar reads as a string
/// in 1.2 (`yes`, `1_000`, `0b1`), except a leading-zero integer (`010`,
/// which 1.2 reads as 10): that one is looked for in the text. A document
/// for which this is false is never parsed a second time.
pub fn may_differ(value: &Value, text: &str) -> bool {
    fn strings(v: &Value) -> bool {
        match v {
            Value::String(s) => yaml11_meaning(s).is_some(),
            Value::Sequence(items) => items.iter().any(strings),
            Value::Mapping(m) => m.iter().any(|(k, v)| strings(k) || strings(v)),
            Value::Tagged(t) => strings(&t.value),
            _ => false,
        }
    }
    strings(value) || leading_zero_number(text)
}

/// A plain number with a leading zero after `: `, `- `, `[` or `, `.
fn leading_zero_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(i) = text[from..].find('0').map(|i| i + from) {
        from = i + 1;
        let before = if i >= 2 { &b[i - 2..i] } else { &b[..i] };
        let opens = before.ends_with(b": ")
            || before.ends_with(b"- ")
            || before.ends_with(b", ")
            || before.ends_with(b"[")
            || before.ends_with(b"{");
        if opens && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            return true;
        }
    }
    false
}

/// Every plain scalar of the document whose 1.1 meaning differs from the
/// 1.2 one. A document the position parser refuses yields none.
pub fn differences(text: &str) -> Vec<Yaml11Scalar> {
    let mut out = Vec::new();
    if let Ok(Some(root)) = parse_spans(text) {
        walk(&root, &mut Vec::new(), &mut out);
    }
    out
}

fn plain_difference(node: &Node) -> Option<(String, Value)> {
    match &node.kind {
        NodeKind::Scalar {
            value,
            style: Style::Plain,
        } if !node.decorated => {
            let v11 = yaml11_meaning(value)?;
            let v12 = super::parse(value).ok()?;
            (v11 != v12).then(|| (value.clone(), v11))
        }
        _ => None,
    }
}

fn walk(node: &Node, path: &mut Vec<Step>, out: &mut Vec<Yaml11Scalar>) {
    match &node.kind {
        NodeKind::Mapping { entries, .. } => {
            for (k, v) in entries {
                let Some(key) = k.scalar() else { continue };
                if let Some((text, value)) = plain_difference(k) {
                    let mut p = path.clone();
                    p.push(Step::Key(key.to_string()));
                    out.push(Yaml11Scalar {
                        path: p,
                        is_key: true,
                        text,
                        value,
                        line: k.line,
                    });
                }
                path.push(Step::Key(key.to_string()));
                walk(v, path, out);
                path.pop();
            }
        }
        NodeKind::Sequence { items, .. } => {
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                walk(item, path, out);
                path.pop();
            }
        }
        NodeKind::Scalar { .. } => {
            if let Some((text, value)) = plain_difference(node) {
                out.push(Yaml11Scalar {
                    path: path.clone(),
                    is_key: false,
                    text,
                    value,
                    line: node.line,
                });
            }
        }
        NodeKind::Alias => {}
    }
}

/// Give the scalar at `path` (relative to `root`) its 1.1 meaning: a value
/// is replaced, a key renamed to the text a 1.1 reader turns it into
/// (`true`, `8`), keeping the mapping's order. Returns whether it applied.
pub fn apply(root: &mut Value, d: &Yaml11Scalar, path: &[Step]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = root;
    for step in parents {
        cur = match (step, cur) {
            (Step::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
                Some(v) => v,
                None => return false,
            },
            (Step::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Step::Key(k), Value::Mapping(m)) if d.is_key => {
            let new_key = match &d.value {
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return false,
            };
            if !m.contains_key(k.as_str()) || m.contains_key(new_key.as_str()) {
                return false;
            }
            let old = std::mem::take(m);
            for (key, value) in old {
                if key.as_str() == Some(k.as_str()) {
                    m.insert(Value::String(new_key.clone()), value);
                } else {
                    m.insert(key, value);
                }
            }
            true
        }
        (Step::Key(k), Value::Mapping(m)) => match m.get_mut(k.as_str()) {
            Some(v) => {
                *v = d.value.clone();
                true
            }
            None => false,
        },
        (Step::Index(i), Value::Sequence(s)) => match s.get_mut(*i) {
            Some(v) => {
                *v = d.value.clone();
                true
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings() {
        assert_eq!(yaml11_meaning("yes"), Some(Value::Bool(true)));
        assert_eq!(yaml11_meaning("Off"), Some(Value::Bool(false)));
        assert_eq!(yaml11_meaning("010"), Some(Value::Number(8.into())));
        assert_eq!(
            yaml11_meaning("-1_000"),
            Some(Value::Number((-1000).into()))
        );
        assert_eq!(yaml11_meaning("0b101"), Some(Value::Number(5.into())));
        assert_eq!(yaml11_meaning("09"), None);
        assert_eq!(yaml11_meaning("true"), None);
        assert_eq!(yaml11_meaning("10"), None);
        assert_eq!(yaml11_meaning("yess"), None);
    }

    #[test]
    fn finds_and_applies_only_plain_differences() {
        let text = "config:\n  enabled: yes\n  quoted: 'yes'\n  mode: on\n  octal: 010\n  list: [n, 'n', 1_000]\n  n: .5\n  plain: true\n";
        assert!(may_differ(&crate::yaml::parse(text).unwrap(), text));
        let diffs = differences(text);
        let texts: Vec<&str> = diffs.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, vec!["yes", "on", "010", "n", "1_000", "n"]);
        let mut v = crate::yaml::parse(text).unwrap();
        for d in &diffs {
            assert!(apply(&mut v, d, &d.path), "{d:?}");
        }
        let c = &v["config"];
        assert_eq!(c["enabled"], Value::Bool(true));
        assert_eq!(c["quoted"].as_str(), Some("yes"));
        assert_eq!(c["mode"], Value::Bool(true));
        assert_eq!(c["octal"].as_i64(), Some(8));
        assert_eq!(c["list"][0], Value::Bool(false));
        assert_eq!(c["list"][1].as_str(), Some("n"));
        assert_eq!(c["list"][2].as_i64(), Some(1000));
        assert_eq!(c["false"].as_f64(), Some(0.5));
        let keys: Vec<String> = c
            .as_mapping()
            .unwrap()
            .keys()
            .map(crate::yaml::key_string)
            .collect();
        assert_eq!(keys[5], "false", "a renamed key keeps its place: {keys:?}");
        let plain = "a: 'x'\nb: true\nc: 10\nd: 0.5\n";
        assert!(!may_differ(&crate::yaml::parse(plain).unwrap(), plain));
        let octal = "a: 010\n";
        assert!(may_differ(&crate::yaml::parse(octal).unwrap(), octal));
    }
}
