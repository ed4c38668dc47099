//! Nothing left behind: a document that still holds a ServiceMeshExtension
//! after a run, and was not converted, is always named with its file, line
//! and reason. The operator refuses to upgrade while SMEs exist, and an SME
//! deleted unconverted is an extension lost, so a run never passes one on
//! silently.

use crate::conversion::sme;
use crate::notify::{Code, Notification, Source};
use crate::yaml::{self, Value};

/// Why a ServiceMeshExtension was left where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// The document does not parse.
    Unparseable,
    /// `kind: ServiceMeshExtension` under an apiVersion Maistra never served.
    UnknownGroup,
    /// Inside an object that is not an SME, a List or an OpenShift Template
    /// (a ConfigMap, an Argo CD Application with inline manifests…).
    Wrapper,
    /// A List inside a List.
    ListInList,
    /// A ServiceMeshExtension that could not be converted (its ERROR says why).
    NotConverted,
    /// In a file migrate skips (not UTF-8, such as UTF-16, or over its
    /// size limit).
    Skipped,
    /// Still there after the rewrite, for no reason found above.
    Unexplained,
}

impl Reason {
    /// The words the summary line groups by.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Unparseable => "unparseable",
            Reason::UnknownGroup => "unknown group or version",
            Reason::Wrapper => "inside a wrapper sme2wasm does not convert",
            Reason::ListInList => "List inside a List",
            Reason::NotConverted => "not converted (see its ERROR)",
            Reason::Skipped => "in a file skipped (not UTF-8, or too large)",
            Reason::Unexplained => "still there after the rewrite",
        }
    }
}

/// A file (or input) that still holds a ServiceMeshExtension, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    pub source: Source,
    pub reason: Reason,
}

/// The 0-based index of the first line of `text` that says
/// `kind: ServiceMeshExtension` (YAML or JSON, quoted or not), comment
/// lines aside. CR, LF and CRLF all end a line.
pub fn kind_line(text: &str) -> Option<usize> {
    if !text.contains(sme::KIND) {
        return None;
    }
    yaml::lines(text)
        .enumerate()
        .find(|(_, l)| !l.trim_start().starts_with('#') && says_kind(l))
        .map(|(i, _)| i)
}

/// Whether a piece of text says `kind: ServiceMeshExtension`.
pub fn says_kind(text: &str) -> bool {
    let mut from = 0;
    while let Some(i) = text[from..].find(sme::KIND) {
        let at = from + i;
        from = at + sme::KIND.len();
        let before = text[..at].trim_end_matches(['"', '\'', ' ', '\t']);
        let Some(before) = before.strip_suffix(':') else {
            continue;
        };
        let before = before.trim_end_matches(['"', '\'', ' ', '\t']);
        if before.ends_with("kind") {
            // The value ends there: a quote, a comma, a brace, a comment or
            // the end of the line follows (not prose that names the kind).
            let line = text[from..].split(['\n', '\r']).next().unwrap_or("");
            let rest = line.trim_start_matches(['"', '\'']).trim_start();
            if rest.is_empty() || rest.starts_with([',', '}', ']', '#']) {
                return true;
            }
        }
    }
    false
}

/// Where below `value` a ServiceMeshExtension sits: a mapping of that kind,
/// or a string that says `kind: ServiceMeshExtension` (an embedded
/// manifest). Returns its dotted path (empty for `value` itself).
pub fn find_sme(value: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut Vec<String>) -> bool {
        match v {
            Value::Mapping(m) => {
                match sme::kind_of(v) {
                    // An object, not a reference to the kind such as an
                    // Argo CD `ignoreDifferences` entry ({group, kind}).
                    Some(sme::KIND)
                        if path.is_empty()
                            || ["apiVersion", "metadata", "spec"]
                                .iter()
                                .any(|k| m.contains_key(*k)) =>
                    {
                        return true
                    }
                    // The CRD that defines ServiceMeshExtensions is not one.
                    Some("CustomResourceDefinition") => return false,
                    _ => {}
                }
                for (k, x) in m {
                    path.push(yaml::key_string(k));
                    if walk(x, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            Value::Sequence(s) => {
                for (i, x) in s.iter().enumerate() {
                    path.push(format!("[{i}]"));
                    if walk(x, path) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            Value::String(s) => says_kind(s),
            Value::Tagged(t) => walk(&t.value, path),
            _ => false,
        }
    }
    let mut path = Vec::new();
    walk(value, &mut path).then(|| {
        let mut out = String::new();
        for p in path {
            if !out.is_empty() && !p.starts_with('[') {
                out.push('.');
            }
            out.push_str(&p);
        }
        out
    })
}

/// The 0-based line of the first document of `text` that still holds a
/// ServiceMeshExtension: one that says `kind: ServiceMeshExtension` and
/// either does not parse or holds one (`find_sme`).
pub fn still_holds(text: &str) -> Option<usize> {
    kind_line(text)?;
    for doc in yaml::split_documents(text) {
        let Some(line) = kind_line(doc.text) else {
            continue;
        };
        let holds = match yaml::parse(doc.text) {
            Ok(v) => find_sme(&v).is_some(),
            Err(_) => true,
        };
        if holds {
            return Some(doc.start_line - 1 + line);
        }
    }
    None
}

/// The ERROR for `kind: ServiceMeshExtension` under an apiVersion that is
/// not `maistra.io/v1` or `maistra.io/v1alpha1`.
///
/// `extensions.maistra.io` was the group of the CRD while the extension
/// mechanism was developed for Maistra 2.0 (the operator installed it from
/// 5 October 2020 and moved it to `maistra.io` on 20 October 2020); the
/// first release, 2.0.0, already served `maistra.io`, and no released
/// branch (2.0, 2.1, 2.2) installs `extensions.maistra.io`. An SME in that
/// group never ran on a released Maistra: converting it would switch on an
/// extension that never ran.
pub fn unknown_group(api_version: &str, object: &str, at: Source) -> Notification {
    let (group, _) = api_version.split_once('/').unwrap_or((api_version, ""));
    let message = match group {
        "extensions.maistra.io" => format!(
            "apiVersion {api_version}: no released Maistra served the group extensions.maistra.io (only development builds before 2.0; every release serves maistra.io), so this ServiceMeshExtension never ran and is not converted: converting it would switch on an extension that never ran"
        ),
        "maistra.io" => format!(
            "apiVersion {api_version}: Maistra served ServiceMeshExtension only as maistra.io/v1 and maistra.io/v1alpha1; this one never ran and is not converted"
        ),
        _ => format!(
            "apiVersion {api_version:?} is not Maistra's ServiceMeshExtension API (maistra.io/v1 or maistra.io/v1alpha1); not converted"
        ),
    };
    Notification::new(Code::UnknownApiGroup, object, message)
        .at(at)
        .advice("if the extension is meant to run, set apiVersion to maistra.io/v1 (config an object) or maistra.io/v1alpha1 (config a string) and convert again; otherwise delete it")
}

/// The ERROR for a ServiceMeshExtension inside an object sme2wasm does not
/// convert (`kind` the wrapper's kind, `path` where inside it).
pub fn wrapper(kind: &str, path: &str, object: &str, at: Source) -> Notification {
    let article = if kind.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    let (kind, inside) = if kind.is_empty() {
        ("An object".to_string(), "an object of no kind".to_string())
    } else {
        (kind.to_string(), format!("{article} {kind}"))
    };
    let place = if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    };
    Notification::new(
        Code::SmeInsideWrapper,
        object,
        format!("{kind} holds a ServiceMeshExtension{place}, which sme2wasm does not convert inside {inside}; it is passed on as it is"),
    )
    .at(at)
    .advice("take the ServiceMeshExtension out (a file of its own), convert it with `sme2wasm convert`, and put the WasmPlugin back")
}

/// The ERROR for a List inside a List that holds a ServiceMeshExtension.
pub fn list_in_list(at: Source) -> Notification {
    Notification::new(
        Code::ListInList,
        "",
        "a List inside a List holds a ServiceMeshExtension: it is passed on as it is, not converted",
    )
    .at(at)
    .advice("flatten the List (its items into the outer items) and convert again")
}

/// "3 remain: 2 unknown group or version, 1 inside a wrapper…": how many
/// files (or documents) still hold an SME, grouped by reason.
pub fn summary(left: &[Left]) -> String {
    let mut by: std::collections::BTreeMap<Reason, usize> = Default::default();
    for l in left {
        *by.entry(l.reason).or_default() += 1;
    }
    by.into_iter()
        .map(|(r, n)| format!("{n} {}", r.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_is_found_in_yaml_json_and_quotes_not_in_comments() {
        for t in [
            "kind: ServiceMeshExtension",
            "  \"kind\": \"ServiceMeshExtension\",",
            "- kind: 'ServiceMeshExtension' # x",
            "{kind: ServiceMeshExtension}",
        ] {
            assert!(says_kind(t), "{t}");
        }
        for t in [
            "kind: ServiceMeshExtensionList",
            "# the ServiceMeshExtension of Red Hat",
            "name: ServiceMeshExtension",
            "note: \"kind: ServiceMeshExtension is gone\"",
        ] {
            assert!(!says_kind(t), "{t}");
        }
        assert_eq!(
            kind_line("# kind: ServiceMeshExtension\ra: 1\rkind: ServiceMeshExtension\r"),
            Some(2)
        );
    }

    #[test]
    fn embedded_manifests_are_found_with_their_path() {
        let v = yaml::parse(
            "kind: ConfigMap\ndata:\n  a: x\n  sme.yaml: |\n    kind: ServiceMeshExtension\n",
        )
        .unwrap();
        assert_eq!(find_sme(&v).as_deref(), Some("data.sme.yaml"));
        let v =
            yaml::parse("kind: X\nspec:\n  items:\n  - {kind: ServiceMeshExtension, spec: {}}\n")
                .unwrap();
        assert_eq!(find_sme(&v).as_deref(), Some("spec.items[0]"));
        // A reference to the kind is not one.
        let v = yaml::parse(
            "kind: Application\nspec:\n  ignoreDifferences:\n  - {group: maistra.io, kind: ServiceMeshExtension}\n",
        )
        .unwrap();
        assert_eq!(find_sme(&v), None);
        assert_eq!(find_sme(&yaml::parse("kind: X\n").unwrap()), None);
        let crd = "kind: CustomResourceDefinition\nspec:\n  names: {kind: ServiceMeshExtension}\n";
        assert_eq!(find_sme(&yaml::parse(crd).unwrap()), None);
        assert_eq!(still_holds(crd), None);
        assert_eq!(
            still_holds("a: 1\n---\n# c\nkind: ServiceMeshExtension\n"),
            Some(3)
        );
    }
}
