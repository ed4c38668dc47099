//! The configuration bytes each control plane hands the plugin, exactly
//! (VERIFY.md §2): Maistra marshalled `spec.config` (a Go
//! `map[string]interface{}` decoded by encoding/json, so every number is a
//! float64) with encoding/json; Istio marshals a non-empty pluginConfig (a
//! protobuf Struct, numbers doubles) to the same compact layout and passes
//! nothing at all for an absent or empty one.
//!
//! Go's layout differs from serde_json's: numbers through float64 with the
//! shortest round-trip digits, exponent form below 1e-6 and from 1e21 up
//! (`1e-7`, `1e+21`), keys sorted by bytes, `<` `>` `&` U+2028 U+2029
//! escaped, other non-ASCII written raw. Go before 1.22 writes `\b` and `\f`
//! as `\u0008` and `\u000c`.

use crate::conversion::sme::{ApiVersion, Config};
use crate::yaml::{self, Value};

/// Which Go wrote the bytes: only the escapes of `\b` and `\f` differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoVersion {
    /// Before Go 1.22 (Maistra 2.x was built with Go 1.17; Istio before 1.22).
    Before122,
    /// Go 1.22 and later (Istio 1.22 and later).
    From122,
}

/// A value Go could not have marshalled (NaN or an infinity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unrepresentable(pub String);

/// `value` as Go's encoding/json marshals the same data decoded into
/// `interface{}`.
pub fn to_go_json(value: &Value, go: GoVersion) -> Result<String, Unrepresentable> {
    let mut out = String::new();
    write_value(&mut out, value, go)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value, go: GoVersion) -> Result<(), Unrepresentable> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let f = if let Some(i) = n.as_i64() {
                i as f64
            } else if let Some(u) = n.as_u64() {
                u as f64
            } else {
                n.as_f64().unwrap_or(f64::NAN)
            };
            write_float(out, f)?;
        }
        Value::String(s) => write_string(out, s, go),
        Value::Sequence(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, go)?;
            }
            out.push(']');
        }
        Value::Mapping(m) => {
            // A Go map's keys are strings, marshalled in byte order; a later
            // duplicate (two YAML keys with the same text) wins, as in Go.
            let mut entries: Vec<(String, &Value)> = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = yaml::key_string(k);
                match entries.iter_mut().find(|(existing, _)| *existing == key) {
                    Some(slot) => slot.1 = v,
                    None => entries.push((key, v)),
                }
            }
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k, go);
                out.push(':');
                write_value(out, v, go)?;
            }
            out.push('}');
        }
        Value::Tagged(t) => write_value(out, &t.value, go)?,
    }
    Ok(())
}

/// encoding/json's floatEncoder for float64: `strconv.AppendFloat(f, 'f' or
/// 'e', -1, 64)`, 'e' below 1e-6 and from 1e21 up, then `e-07` → `e-7`.
pub fn write_float(out: &mut String, f: f64) -> Result<(), Unrepresentable> {
    if !f.is_finite() {
        return Err(Unrepresentable(format!(
            "the number {f} cannot be marshalled to JSON"
        )));
    }
    let abs = f.abs();
    // Rust's `{:e}` gives the shortest round-trip digits, as Go's -1 precision.
    let sci = format!("{:e}", abs);
    let (mantissa, exp) = sci.split_once('e').expect("`{:e}` has an exponent");
    let exp: i32 = exp.parse().expect("a decimal exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if f.is_sign_negative() {
        out.push('-');
    }
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // 'e': d[.ddd]e±XX with at least two exponent digits; encoding/json
        // then drops the leading zero of a negative two-digit exponent.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 && exp >= 0 {
            out.push('0');
        }
        out.push_str(&e.to_string());
        return Ok(());
    }
    // 'f': the digits placed around the decimal point, no exponent.
    if abs == 0.0 {
        out.push('0');
        return Ok(());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        for _ in 0..(point as usize - digits.len()) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
    Ok(())
}

/// encoding/json's string encoder with HTML escaping on (json.Marshal).
pub fn write_string(out: &mut String, s: &str, go: GoVersion) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' if go == GoVersion::From122 => out.push_str("\\b"),
            '\u{c}' if go == GoVersion::From122 => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The bytes Maistra handed the plugin for an SME's `spec.config`, or why
/// it cannot be told (a config the conversion refuses anyway).
pub fn maistra_bytes(api: ApiVersion, config: &Config) -> Result<Vec<u8>, Unrepresentable> {
    match config {
        Config::Absent => Ok(b"null".to_vec()),
        Config::Object(m) => {
            // v1's raw_v1alpha1_config carries a raw string; other keys are
            // ignored (Maistra's apply_extension).
            if let Some(Value::String(raw)) = m.get("raw_v1alpha1_config") {
                return Ok(raw.as_bytes().to_vec());
            }
            Ok(to_go_json(&Value::Mapping(m.clone()), GoVersion::Before122)?.into_bytes())
        }
        Config::Text(s) if api == ApiVersion::V1Alpha1 => {
            if matches!(s.trim(), "" | "null") {
                return Ok(b"null".to_vec());
            }
            // A string holding a JSON object was decoded (numbers float64)
            // and marshalled again; anything else went through raw.
            match serde_json::from_str::<serde_json::Value>(s) {
                Ok(serde_json::Value::Object(o)) => {
                    let v = yaml::to_value(&serde_json::Value::Object(o));
                    Ok(to_go_json(&v, GoVersion::Before122)?.into_bytes())
                }
                _ => Ok(s.as_bytes().to_vec()),
            }
        }
        Config::Text(_) | Config::Other(_) => Err(Unrepresentable(
            "spec.config is not an object; Maistra's API could not carry it".into(),
        )),
    }
}

/// The bytes Istio hands the plugin for a WasmPlugin's pluginConfig: none
/// for an absent or empty one.
pub fn istio_bytes(
    plugin_config: Option<&yaml::Mapping>,
    go: GoVersion,
) -> Result<Vec<u8>, Unrepresentable> {
    match plugin_config {
        None => Ok(Vec::new()),
        Some(m) if m.is_empty() => Ok(Vec::new()),
        Some(m) => Ok(to_go_json(&Value::Mapping(m.clone()), go)?.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(text: &str) -> String {
        to_go_json(&yaml::parse(text).unwrap(), GoVersion::Before122).unwrap()
    }

    /// Expected bytes written by hand from Go's rules (encoding/json
    /// floatEncoder: AppendFloat(f, 'f' or 'e', -1, 64), 'e' when
    /// |f| < 1e-6 or |f| >= 1e21, then `e-0X` → `e-X`; encodeState.string
    /// with escapeHTML: `<>&` and U+2028/U+2029 as \u00XX / \u20XX; map keys
    /// sorted as strings). `-0` is a float64 negative zero, which 'f' writes
    /// as `-0`; 2^53+1 is rounded to the nearest double, 2^53.
    #[test]
    fn go_layout_of_the_tricky_cases() {
        let text = "{z: 5000.0, a: 1e21, m: 1.0e-7, n: -0.0, big: 9007199254740993, html: \"<&>\", ls: \"a\u{2028}b\", b: [0.5, 100, 1.5e300, 1.2345678901234567e29], \"Z\": true, \"é\": null}";
        assert_eq!(
            go(text),
            "{\"Z\":true,\"a\":1e+21,\"b\":[0.5,100,1.5e+300,1.2345678901234568e+29],\"big\":9007199254740992,\"html\":\"\\u003c\\u0026\\u003e\",\"ls\":\"a\\u2028b\",\"m\":1e-7,\"n\":-0,\"z\":5000,\"é\":null}"
        );
    }

    #[test]
    fn numbers_one_by_one() {
        let cases: &[(f64, &str)] = &[
            (5000.0, "5000"),
            (1e21, "1e+21"),
            (999999999999999900000.0, "999999999999999900000"),
            (1e-7, "1e-7"),
            (1e-6, "0.000001"),
            (1.5e-10, "1.5e-10"),
            (-0.0, "-0"),
            (0.0, "0"),
            (9007199254740993.0, "9007199254740992"),
            (12345678901234567890.0, "12345678901234567000"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (123.456, "123.456"),
        ];
        for (f, want) in cases {
            let mut out = String::new();
            write_float(&mut out, *f).unwrap();
            assert_eq!(out, *want, "{f:e}");
        }
        assert!(write_float(&mut String::new(), f64::NAN).is_err());
    }

    #[test]
    fn control_characters_by_go_version() {
        let mut old = String::new();
        write_string(&mut old, "\u{8}\u{c}\u{1}\n\"\\é", GoVersion::Before122);
        assert_eq!(old, "\"\\u0008\\u000c\\u0001\\n\\\"\\\\é\"");
        let mut new = String::new();
        write_string(&mut new, "\u{8}\u{c}", GoVersion::From122);
        assert_eq!(new, "\"\\b\\f\"");
    }

    #[test]
    fn what_each_side_delivers() {
        let obj = |t: &str| match yaml::parse(t).unwrap() {
            Value::Mapping(m) => m,
            _ => unreachable!(),
        };
        assert_eq!(
            maistra_bytes(ApiVersion::V1, &Config::Absent).unwrap(),
            b"null"
        );
        assert_eq!(
            maistra_bytes(ApiVersion::V1, &Config::Object(obj("{}"))).unwrap(),
            b"{}"
        );
        assert_eq!(
            maistra_bytes(
                ApiVersion::V1,
                &Config::Object(obj("{raw_v1alpha1_config: 'x y', other: 1}"))
            )
            .unwrap(),
            b"x y"
        );
        assert_eq!(
            maistra_bytes(ApiVersion::V1Alpha1, &Config::Text("null".into())).unwrap(),
            b"null"
        );
        assert_eq!(
            maistra_bytes(
                ApiVersion::V1Alpha1,
                &Config::Text("{\"b\": 2.0, \"a\": \"<\"}".into())
            )
            .unwrap(),
            b"{\"a\":\"\\u003c\",\"b\":2}"
        );
        assert_eq!(
            maistra_bytes(ApiVersion::V1Alpha1, &Config::Text("plain".into())).unwrap(),
            b"plain"
        );
        assert!(istio_bytes(None, GoVersion::From122).unwrap().is_empty());
        assert!(istio_bytes(Some(&obj("{}")), GoVersion::From122)
            .unwrap()
            .is_empty());
        assert_eq!(
            istio_bytes(Some(&obj("{k: v}")), GoVersion::From122).unwrap(),
            b"{\"k\":\"v\"}"
        );
    }
}
