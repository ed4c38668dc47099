//! WasmPlugin (extensions.istio.io/v1alpha1) as written, fields in the order
//! Istio's reference documents them, and its validation (SPEC §8): nothing
//! that istiod or the CRD would refuse is ever written.

use crate::yaml::Mapping;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

pub const API_VERSION: &str = "extensions.istio.io/v1alpha1";
pub const KIND: &str = "WasmPlugin";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmPlugin {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub annotations: Mapping,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selector {
    #[serde(rename = "matchLabels")]
    pub match_labels: indexmap::IndexMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrafficSelector {
    pub mode: &'static str,
}

/// The spec, in the order of Istio's WasmPlugin reference.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_pull_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_config: Option<Mapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
    pub priority: i64,
    #[serde(rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub match_: Vec<TrafficSelector>,
}

/// An Istio minor version, `1.20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IstioVersion {
    pub major: u32,
    pub minor: u32,
}

impl IstioVersion {
    pub const DEFAULT: IstioVersion = IstioVersion {
        major: 1,
        minor: 20,
    };
    /// `match` (traffic selectors) exists from 1.16 on.
    pub const MATCH: IstioVersion = IstioVersion {
        major: 1,
        minor: 16,
    };
    /// WasmPlugin itself exists from 1.12 on.
    pub const FIRST: IstioVersion = IstioVersion {
        major: 1,
        minor: 12,
    };
}

impl FromStr for IstioVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an Istio version such as 1.20");
        let mut it = s.trim().trim_start_matches('v').split('.');
        let major = it.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
        let minor = it.next().and_then(|m| m.parse().ok()).ok_or_else(bad)?;
        if it.next().is_some_and(|p| p.parse::<u32>().is_err()) {
            return Err(bad());
        }
        let v = IstioVersion { major, minor };
        if v < IstioVersion::FIRST {
            return Err(format!(
                "Istio {v} has no WasmPlugin API (it came with 1.12)"
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Labels a selector may hold: the CRD's `maxProperties` from Istio 1.23 on.
pub const MAX_SELECTOR_LABELS: usize = 4096;

/// The CRD that limits selector labels to 4096.
const LABEL_LIMIT: IstioVersion = IstioVersion {
    major: 1,
    minor: 23,
};

fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Why Go's `url.Parse` refuses `url`, or `None`. istiod's webhook parses
/// the url with it, and the CRD's `isURL` rule (Istio 1.20+) refuses the
/// same texts: an ASCII control character anywhere, a `%` not followed by
/// two hex digits (in the host, the path or the fragment; the query is not
/// decoded), a character a host may not hold, a port that is not digits.
pub fn go_url_problem(url: &str) -> Option<String> {
    if let Some(c) = url.chars().find(|c| c.is_ascii_control()) {
        return Some(format!(
            "it holds an ASCII control character ({})",
            c.escape_default()
        ));
    }
    let bad_percent = |part: &str| {
        let b = part.as_bytes();
        (0..b.len())
            .find(|&i| b[i] == b'%' && !(i + 2 < b.len() && is_hex(b[i + 1]) && is_hex(b[i + 2])))
    };
    let percent = |part: &str| {
        bad_percent(part).map(|i| {
            let end = (i + 3).min(part.len());
            let mut end = end;
            while !part.is_char_boundary(end) {
                end -= 1;
            }
            format!(
                "{:?} is a % not followed by two hex digits (write a literal % as %25)",
                &part[i..end]
            )
        })
    };
    let (rest, fragment) = url.split_once('#').unwrap_or((url, ""));
    if let Some(p) = percent(fragment) {
        return Some(p);
    }
    // A scheme: a letter, then letters, digits, `+`, `-`, `.`, then `:`.
    let rest = match rest.split_once(':') {
        Some((scheme, after))
            if scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            after
        }
        _ => rest,
    };
    let (rest, _query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => match r.find('/') {
            Some(i) => (Some(&r[..i]), &r[i..]),
            None => (Some(r), ""),
        },
        None => (None, rest),
    };
    if let Some(authority) = authority {
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        if let Some(u) = userinfo {
            if let Some(p) = percent(u) {
                return Some(p);
            }
            if let Some(c) = u.chars().find(|c| {
                !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:%@".contains(*c) || !c.is_ascii())
            }) {
                return Some(format!("the user information holds {c:?}"));
            }
        }
        let (name, port) = if host.starts_with('[') {
            match host.find(']') {
                Some(i) => (&host[..=i], host[i + 1..].strip_prefix(':')),
                None => return Some("an IPv6 host without its closing ]".into()),
            }
        } else {
            match host.rfind(':') {
                Some(i) => (&host[..i], Some(&host[i + 1..])),
                None => (host, None),
            }
        };
        if let Some(port) = port {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return Some(format!("the port {port:?} is not a number"));
            }
        }
        if let Some(p) = percent(name) {
            return Some(p);
        }
        if let Some(c) = name.chars().find(|c| {
            c.is_ascii() && !(c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]<>\"%".contains(*c))
        }) {
            return Some(format!("the host {name:?} holds {c:?}"));
        }
    }
    percent(path)
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl WasmPlugin {
    /// Every way this WasmPlugin would be refused by Istio `version`
    /// (SPEC §8); empty when it is valid.
    pub fn validate(&self, version: IstioVersion) -> Vec<String> {
        let mut problems = Vec::new();
        let s = &self.spec;
        let scheme = s.url.split_once("://").map(|(sch, _)| sch).unwrap_or("");
        if !["", "oci", "file", "http", "https"].contains(&scheme) {
            problems.push(format!(
                "url {:?}: scheme {scheme:?} is not one of oci, file, http, https",
                s.url
            ));
        }
        if s.url.trim().is_empty() || s.url == "oci://" {
            problems.push("url is empty".into());
        } else if let Some(why) = go_url_problem(&s.url) {
            problems.push(format!(
                "url {:?} is not a URL istiod and the CRD accept (Go's url.Parse refuses it): {why}",
                s.url
            ));
        }
        if let Some(sha) = &s.sha256 {
            if !is_sha256_hex(sha) {
                problems.push(format!("sha256 {sha:?} is not 64 lowercase hex digits"));
            }
        }
        if let Some(n) = &s.plugin_name {
            if n.is_empty() || n.chars().count() > 256 {
                problems.push(format!(
                    "pluginName must have 1 to 256 characters, not {}",
                    n.chars().count()
                ));
            }
        }
        if let Some(sec) = &s.image_pull_secret {
            if sec.is_empty() || sec.chars().count() > 253 {
                problems.push(format!(
                    "imagePullSecret must have 1 to 253 characters, not {}",
                    sec.chars().count()
                ));
            }
        }
        if let Some(p) = &s.image_pull_policy {
            if !["UNSPECIFIED_POLICY", "IfNotPresent", "Always"].contains(&p.as_str()) {
                problems.push(format!(
                    "imagePullPolicy {p:?} is not IfNotPresent or Always"
                ));
            }
        }
        if let Some(p) = s.phase {
            if !["UNSPECIFIED_PHASE", "AUTHN", "AUTHZ", "STATS"].contains(&p) {
                problems.push(format!("phase {p:?} is not AUTHN, AUTHZ or STATS"));
            }
        }
        if i32::try_from(s.priority).is_err() {
            problems.push(format!("priority {} does not fit in int32", s.priority));
        }
        if let Some(sel) = &s.selector {
            if sel.match_labels.len() > MAX_SELECTOR_LABELS && version >= LABEL_LIMIT {
                problems.push(format!(
                    "the selector has {} labels; Istio {version}'s CRD allows at most {MAX_SELECTOR_LABELS}",
                    sel.match_labels.len()
                ));
            }
            for (k, v) in &sel.match_labels {
                if k.is_empty() {
                    problems.push("selector has an empty label key".into());
                }
                if k.contains('*') || v.contains('*') {
                    problems.push(format!("selector label {k}={v}: wildcards are not allowed"));
                }
                if v.chars().count() > 63 {
                    problems.push(format!(
                        "selector label {k}: value longer than 63 characters"
                    ));
                }
            }
        }
        if !s.match_.is_empty() && version < IstioVersion::MATCH {
            problems.push(format!("match needs Istio 1.16 or later, not {version}"));
        }
        if self.metadata.name.is_empty() {
            problems.push("metadata.name is empty".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> WasmPlugin {
        WasmPlugin {
            api_version: API_VERSION,
            kind: KIND,
            metadata: Metadata {
                name: "a".into(),
                namespace: None,
                labels: Mapping::new(),
                annotations: Mapping::new(),
            },
            spec: Spec {
                selector: None,
                url: "oci://r/x:1".into(),
                sha256: None,
                image_pull_policy: None,
                image_pull_secret: None,
                plugin_config: None,
                plugin_name: Some("a_root".into()),
                phase: Some("AUTHZ"),
                priority: 0,
                match_: vec![TrafficSelector { mode: "SERVER" }],
            },
        }
    }

    #[test]
    fn valid_plugin_has_no_problems() {
        assert!(plugin().validate(IstioVersion::DEFAULT).is_empty());
    }

    #[test]
    fn each_rule_can_fail() {
        type Mutation = fn(&mut WasmPlugin);
        let cases: Vec<(Mutation, &str)> = vec![
            (|p| p.spec.url = "ftp://x".into(), "scheme"),
            (|p| p.spec.sha256 = Some("ABC".into()), "sha256"),
            (|p| p.spec.plugin_name = Some("x".repeat(257)), "pluginName"),
            (
                |p| p.spec.image_pull_secret = Some(String::new()),
                "imagePullSecret",
            ),
            (
                |p| p.spec.image_pull_policy = Some("Never".into()),
                "imagePullPolicy",
            ),
            (|p| p.spec.priority = i64::from(i32::MAX) + 1, "int32"),
            (
                |p| p.spec.url = "oci://r/x\u{7}:1".into(),
                "control character",
            ),
            (|p| p.spec.url = "oci://r/x%zz:1".into(), "two hex digits"),
            (|p| p.spec.url = "oci://r/x:1%4".into(), "two hex digits"),
            (|p| p.spec.url = "oci://r{x}/a:1".into(), "host"),
            (|p| p.spec.url = "oci://r:50a0/a:1".into(), "port"),
            (
                |p| {
                    p.spec.selector = Some(Selector {
                        match_labels: (0..=MAX_SELECTOR_LABELS)
                            .map(|i| (format!("k{i}"), "v".to_string()))
                            .collect(),
                    })
                },
                "at most 4096",
            ),
            (
                |p| {
                    p.spec.selector = Some(Selector {
                        match_labels: [("app".to_string(), "*".to_string())].into_iter().collect(),
                    })
                },
                "wildcard",
            ),
        ];
        for (mutate, needle) in cases {
            let mut p = plugin();
            mutate(&mut p);
            let problems = p.validate("1.23".parse().unwrap());
            assert!(
                problems.iter().any(|m| m.contains(needle)),
                "{needle}: {problems:?}"
            );
        }
        let old: IstioVersion = "1.15".parse().unwrap();
        assert!(!plugin().validate(old).is_empty());
    }

    #[test]
    fn urls_go_accepts_pass() {
        for url in [
            "oci://quay.io/maistra-dev/header-append-filter:2.2",
            "oci://registry.example.com:5000/wasm/a@sha256:0123abcd",
            "oci://[::1]:5000/a:1",
            "oci://u:p%40ss@host/a:1",
            "https://example.com/a.wasm?x=%zz",
            "oci://host/a%2Fb:1",
        ] {
            assert_eq!(go_url_problem(url), None, "{url}");
        }
    }

    #[test]
    fn label_limit_follows_the_crd_version() {
        let mut p = plugin();
        p.spec.selector = Some(Selector {
            match_labels: (0..=MAX_SELECTOR_LABELS)
                .map(|i| (format!("k{i}"), "v".to_string()))
                .collect(),
        });
        assert!(p.validate("1.22".parse().unwrap()).is_empty());
        assert_eq!(p.validate("1.23".parse().unwrap()).len(), 1);
    }

    #[test]
    fn versions_parse() {
        assert_eq!("1.16".parse::<IstioVersion>().unwrap(), IstioVersion::MATCH);
        assert_eq!(
            "1.20.3".parse::<IstioVersion>().unwrap(),
            IstioVersion::DEFAULT
        );
        assert!("1.11".parse::<IstioVersion>().is_err());
        assert!("one".parse::<IstioVersion>().is_err());
    }
}
