//! A block-style YAML emitter whose quoting is safe for YAML 1.1 readers
//! too. Kubernetes tooling (kubectl, Argo CD, Flux, kustomize) parses YAML
//! with 1.1 rules, where an unquoted `on`, `no`, `y`, `1:30` or `1_000` is a
//! boolean or a number: a plugin configuration written with 1.2 rules alone
//! would reach the plugin changed. Every string that any YAML version could
//! read as something else is quoted here.

use super::Value;
use std::fmt::Write;

/// Render a tree as one YAML document (no leading `---`).
pub fn emit(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    match value {
        Value::Mapping(m) if !m.is_empty() => mapping(&mut out, m, 0),
        Value::Sequence(s) if !s.is_empty() => sequence(&mut out, s, 0),
        other => {
            scalar_or_empty(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn mapping(out: &mut String, m: &super::Mapping, level: usize) {
    let mut first = true;
    for (k, v) in m {
        if !first {
            indent(out, level);
        }
        first = false;
        key(out, k);
        out.push(':');
        value_after_key(out, v, level);
    }
}

fn value_after_key(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, level + 2);
            mapping(out, m, level + 2);
        }
        Value::Sequence(s) if !s.is_empty() => {
            out.push('\n');
            indent(out, level);
            sequence(out, s, level);
        }
        Value::Tagged(t) => {
            let _ = write!(out, " {}", t.tag);
            value_after_key(out, &t.value, level);
        }
        other => {
            out.push(' ');
            scalar_or_empty(out, other, level + 2);
            out.push('\n');
        }
    }
}

fn sequence(out: &mut String, s: &[Value], level: usize) {
    let mut first = true;
    for item in s {
        if !first {
            indent(out, level);
        }
        first = false;
        out.push_str("- ");
        match item {
            Value::Mapping(m) if !m.is_empty() => mapping(out, m, level + 2),
            Value::Sequence(inner) if !inner.is_empty() => sequence(out, inner, level + 2),
            Value::Tagged(t) => {
                let _ = write!(out, "{} ", t.tag);
                scalar_or_empty(out, &t.value, level + 2);
                out.push('\n');
            }
            other => {
                scalar_or_empty(out, other, level + 2);
                out.push('\n');
            }
        }
    }
}

fn key(out: &mut String, k: &Value) {
    match k {
        Value::String(s) if s.contains('\n') => double_quoted(out, s),
        Value::String(s) => string(out, s, 0),
        Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_) => {
            // Complex keys cannot come from JSON or Kubernetes objects;
            // write them as a quoted flow rendering rather than fail.
            double_quoted(out, emit(k).trim_end())
        }
        other => scalar_or_empty(out, other, 0),
    }
}

fn scalar_or_empty(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => string(out, s, level),
        Value::Mapping(_) => out.push_str("{}"),
        Value::Sequence(_) => out.push_str("[]"),
        Value::Tagged(t) => {
            let _ = write!(out, "{} ", t.tag);
            scalar_or_empty(out, &t.value, level);
        }
    }
}

/// Words that YAML 1.1 or 1.2 read as booleans or null.
fn is_reserved_word(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | ""
    )
}

/// Could a plain scalar with this text be read as a number, a date or a
/// time by any YAML version? Conservative: anything that starts like a
/// number is quoted.
fn looks_numeric(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let first = t.chars().next();
    matches!(first, Some('0'..='9'))
        || (first == Some('.') && t[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
        || matches!(
            t.to_ascii_lowercase().as_str(),
            ".inf" | ".nan" | "inf" | "nan" | "infinity"
        )
}

/// Characters that are safe anywhere in a plain scalar we write.
fn plain_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '-'
                | '.'
                | '/'
                | '+'
                | '('
                | ')'
                | '='
                | '$'
                | '^'
                | ';'
                | '<'
                | '>'
                | '\\'
                | '@'
                | ':'
                | ' '
        )
}

fn is_plain_safe(s: &str) -> bool {
    let first = match s.chars().next() {
        Some(c) => c,
        None => return false,
    };
    if !(first.is_alphanumeric() || first == '_' || first == '/' || first == '.') {
        return false;
    }
    if is_reserved_word(s) || looks_numeric(s) || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.starts_with("<<") {
        return false;
    }
    // `a:b` is fine for 1.2 but `1:2` is a 1.1 number; numbers are already
    // excluded above, so a colon is only refused before a space.
    s.chars().all(plain_char)
}

/// Characters a YAML 1.1 reader takes for line breaks (besides `\n` and
/// `\r`), which only a double-quoted escape carries safely.
fn is_special_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn string(out: &mut String, s: &str, level: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if s.chars().any(is_special_break) {
        double_quoted(out, s);
    } else if s.contains('\n') && !s.contains('\r') && literal_ok(s) {
        literal(out, s, level);
    } else if s.chars().all(|c| !c.is_control()) {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        double_quoted(out, s);
    }
}

/// A literal block keeps every byte when no line starts with white space
/// that the indentation would swallow and no control character is in it.
fn literal_ok(s: &str) -> bool {
    !s.starts_with([' ', '\t', '\n'])
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
}

fn literal(out: &mut String, s: &str, level: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push_str(match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    });
    let body = s.trim_end_matches('\n');
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

fn double_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || is_special_break(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn risky_strings_are_quoted_and_round_trip() {
        let risky = [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "N",
            "True",
            "null",
            "~",
            "",
            "1e3",
            "0x10",
            "012",
            "1_000",
            "1:30",
            "2001-01-01",
            ".inf",
            "-1",
            "+1",
            "-",
            "<<",
            " lead",
            "trail ",
            "a: b",
            "a #b",
            "#x",
            "@x",
            "`x",
            "multi\nline",
            "two\n\n",
            "tab\there",
            "'q'",
            "\"dq\"",
            "back\\slash",
            "nul\u{0}",
            "cr\r\nlf",
            "ünï",
            "{a}",
            "[a]",
            "*alias",
            "&anchor",
            "!tag",
            "%p",
            "|",
            ">",
            "?",
            "a,b",
            ",",
        ];
        let mut m = yaml::Mapping::new();
        for s in risky {
            m.insert(Value::String(s.into()), Value::String(s.into()));
        }
        let text = emit(&Value::Mapping(m.clone()));
        let back = yaml::parse(&text).unwrap();
        assert_eq!(back, Value::Mapping(m), "{text}");
        for word in [
            "yes",
            "no",
            "on",
            "off",
            "y",
            "1_000",
            "1:30",
            "2001-01-01",
            "<<",
        ] {
            assert!(
                text.contains(&format!("'{word}': '{word}'")),
                "{word} must be quoted:\n{text}"
            );
        }
    }

    #[test]
    fn block_layout() {
        let v = yaml::parse(
            "a:\n  b: [1, {c: d}, [x]]\n  e: {}\n  f: []\nl:\n- - 1\n  - 2\n- k: v\n  m: n\n",
        )
        .unwrap();
        let text = emit(&v);
        assert_eq!(
            text,
            "a:\n  b:\n  - 1\n  - c: d\n  - - x\n  e: {}\n  f: []\nl:\n- - 1\n  - 2\n- k: v\n  m: 'n'\n"
        );
        assert_eq!(yaml::parse(&text).unwrap(), v);
    }

    #[test]
    fn plain_where_safe() {
        let v = yaml::parse("url: oci://quay.io/x/y:1.0\nname: header-append_root\nsha: 'ab12'\n")
            .unwrap();
        assert_eq!(
            emit(&v),
            "url: oci://quay.io/x/y:1.0\nname: header-append_root\nsha: ab12\n"
        );
    }
}
