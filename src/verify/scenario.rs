//! The synthetic traffic `verify` runs each plugin with: by default one
//! plain GET answered 200; `--request FILE` gives a small YAML scenario.
//!
//! ```yaml
//! requests:                 # or a single exchange at the top level
//! - request:
//!     headers: {":method": POST, ":path": /api, ":authority": shop.example}
//!     body: '{"id": 1}'
//!   response:
//!     headers: {":status": "200", content-type: application/json}
//!     body: '{"ok": true}'
//! ```
//!
//! Missing pseudo-headers get the defaults (`:method GET`, `:path /`,
//! `:scheme http`, `:authority example.com`, `:status 200`); header names
//! are lower-cased as Envoy keeps them.

use crate::yaml::{self, Value};

/// One request and the upstream's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub request_headers: Vec<(String, String)>,
    pub request_body: Vec<u8>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Vec<u8>,
}

const REQUEST_DEFAULTS: [(&str, &str); 4] = [
    (":authority", "example.com"),
    (":path", "/"),
    (":method", "GET"),
    (":scheme", "http"),
];

fn with_defaults(
    mut headers: Vec<(String, String)>,
    defaults: &[(&str, &str)],
) -> Vec<(String, String)> {
    for (i, (k, v)) in defaults.iter().enumerate() {
        if !headers.iter().any(|(h, _)| h == k) {
            headers.insert(i.min(headers.len()), (k.to_string(), v.to_string()));
        }
    }
    headers
}

impl Default for Exchange {
    /// A plain GET answered 200.
    fn default() -> Self {
        Exchange {
            request_headers: with_defaults(
                vec![
                    ("user-agent".into(), "sme2wasm-verify".into()),
                    (
                        "x-request-id".into(),
                        "00000000-0000-4000-8000-000000000001".into(),
                    ),
                ],
                &REQUEST_DEFAULTS,
            ),
            request_body: Vec::new(),
            response_headers: vec![
                (":status".into(), "200".into()),
                ("content-length".into(), "0".into()),
            ],
            response_body: Vec::new(),
        }
    }
}

/// Read a scenario file; the error names the file and what is wrong.
pub fn read(path: &std::path::Path) -> Result<Vec<Exchange>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    parse(&text).map_err(|e| format!("{name}: {e}"))
}

pub fn parse(text: &str) -> Result<Vec<Exchange>, String> {
    let value = yaml::parse(text).map_err(|e| match e.line {
        Some(l) => format!("line {l}: not valid YAML: {}", e.message),
        None => format!("not valid YAML: {}", e.message),
    })?;
    let items: Vec<&Value> = match value.get("requests") {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(_) => return Err("`requests` must be a list of {request, response}".into()),
        None if value.is_mapping() => vec![&value],
        None => {
            return Err(
                "a scenario is a mapping with `requests` (a list) or one {request, response}"
                    .into(),
            )
        }
    };
    if items.is_empty() {
        return Err("`requests` is empty; give at least one".into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| exchange(item).map_err(|e| format!("requests[{i}]: {e}")))
        .collect()
}

fn exchange(v: &Value) -> Result<Exchange, String> {
    let m = v
        .as_mapping()
        .ok_or("must be a mapping with request and response")?;
    for k in m.keys() {
        let k = yaml::key_string(k);
        if k != "request" && k != "response" {
            return Err(format!(
                "unknown field {k:?} (request and response are known)"
            ));
        }
    }
    let (rh, rb) = side(v.get("request"), "request")?;
    let (sh, sb) = side(v.get("response"), "response")?;
    let mut response_headers = with_defaults(sh, &[(":status", "200")]);
    if !response_headers.iter().any(|(k, _)| k == "content-length") {
        response_headers.push(("content-length".into(), sb.len().to_string()));
    }
    Ok(Exchange {
        request_headers: with_defaults(rh, &REQUEST_DEFAULTS),
        request_body: rb,
        response_headers,
        response_body: sb,
    })
}

/// Headers in order, and a body.
type Side = (Vec<(String, String)>, Vec<u8>);

fn side(v: Option<&Value>, what: &str) -> Result<Side, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let m = v
        .as_mapping()
        .ok_or_else(|| format!("{what} must be a mapping with headers and body"))?;
    let mut headers = Vec::new();
    let mut body = Vec::new();
    for (k, val) in m {
        match yaml::key_string(k).as_str() {
            "headers" => match val {
                Value::Mapping(h) => {
                    for (hk, hv) in h {
                        let value = match hv {
                            Value::String(s) => s.clone(),
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            _ => {
                                return Err(format!(
                                    "{what}.headers.{}: a header value is a string",
                                    yaml::key_string(hk)
                                ))
                            }
                        };
                        headers.push((yaml::key_string(hk).to_ascii_lowercase(), value));
                    }
                }
                Value::Null => {}
                _ => return Err(format!("{what}.headers must be a mapping of name: value")),
            },
            "body" => match val {
                Value::String(s) => body = s.clone().into_bytes(),
                Value::Null => {}
                _ => return Err(format!("{what}.body must be a string")),
            },
            other => {
                return Err(format!(
                    "{what}: unknown field {other:?} (headers and body are known)"
                ))
            }
        }
    }
    Ok((headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_list() {
        let ex = parse("requests:\n- request: {headers: {X-A: b, \":method\": POST}, body: hi}\n- response: {headers: {\":status\": 404}}\n").unwrap();
        assert_eq!(ex.len(), 2);
        assert!(ex[0].request_headers.contains(&("x-a".into(), "b".into())));
        assert!(ex[0]
            .request_headers
            .contains(&(":method".into(), "POST".into())));
        assert!(ex[0]
            .request_headers
            .contains(&(":path".into(), "/".into())));
        assert_eq!(ex[0].request_body, b"hi");
        assert_eq!(ex[1].response_headers[0], (":status".into(), "404".into()));
        let one = parse("request: {headers: {x: y}}\n").unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse("requests: []\n").unwrap_err().contains("empty"));
        assert!(parse("request: {header: {}}\n")
            .unwrap_err()
            .contains("unknown field \"header\""));
        assert!(parse("requests:\n- request: {body: [1]}\n")
            .unwrap_err()
            .starts_with("requests[0]: request.body"));
        assert!(parse("a: [\n").unwrap_err().contains("line"));
    }
}
