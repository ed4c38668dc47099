//! OpenShift Templates (`template.openshift.io/v1`, and the legacy `v1`
//! Template): the ServiceMeshExtensions among a Template's `objects` are
//! converted in place, the rest of the Template is left as it is.
//!
//! A Template's objects hold `${NAME}` and `${{NAME}}` placeholders that
//! `oc process` replaces with parameter values. They are kept. To convert
//! and validate an object that holds them, each placeholder is swapped for a
//! neutral token (valid as a label value, a DNS name and an image
//! reference), and swapped back in the WasmPlugin and in every notification.
//! A field that holds a placeholder cannot be checked, so a WARN names the
//! parameter and what it must expand to. Where sme2wasm must decide
//! something from a field (the phase, the priority, whether the selector
//! picks a gateway), the parameter's default value in `parameters` decides,
//! and without one the object is an ERROR that names the parameter.

use crate::conversion::sme;
use crate::notify::{Code, Notification, Source};
use crate::yaml::{self, Mapping, Value};
use std::collections::HashMap;

/// Whether a parsed document is an OpenShift Template.
pub fn is_template(value: &Value) -> bool {
    sme::kind_of(value) == Some("Template")
        && matches!(
            sme::api_version_of(value),
            "template.openshift.io/v1" | "v1"
        )
}

/// A placeholder in a string: its byte range, its parameter's name, and
/// whether it is the `${{NAME}}` form (a value that is not a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub start: usize,
    pub end: usize,
    pub name: String,
}

/// Every `${NAME}` and `${{NAME}}` in `s` (NAME of letters, digits and `_`,
/// as `oc process` reads them).
pub fn placeholders(s: &str) -> Vec<Placeholder> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(at) = s[i..].find("${") {
        let start = i + at;
        let double = b.get(start + 2) == Some(&b'{');
        let name_start = start + if double { 3 } else { 2 };
        let name_len = s[name_start..]
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let close = if double { "}}" } else { "}" };
        let name_end = name_start + name_len;
        if name_len > 0 && s[name_end..].starts_with(close) {
            let end = name_end + close.len();
            out.push(Placeholder {
                start,
                end,
                name: s[name_start..name_end].to_string(),
            });
            i = end;
        } else {
            i = start + 2;
        }
    }
    out
}

/// A Template's parameters: name → default value (`value`), `None` for a
/// parameter without one (also a `generate: expression` one: its value is
/// only known at processing time).
#[derive(Debug, Default)]
pub struct Parameters(HashMap<String, Option<String>>);

impl Parameters {
    pub fn of(template: &Value) -> Parameters {
        let mut out = HashMap::new();
        if let Some(Value::Sequence(ps)) = template.get("parameters") {
            for p in ps {
                let Some(name) = p.get("name").and_then(Value::as_str) else {
                    continue;
                };
                let value = match p.get("value") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    _ => None,
                };
                out.insert(name.to_string(), value);
            }
        }
        Parameters(out)
    }

    /// `s` with every placeholder replaced by its parameter's default, or
    /// the names of the parameters that have none.
    fn substitute(&self, s: &str) -> Result<String, Vec<String>> {
        let mut out = String::new();
        let mut missing = Vec::new();
        let mut from = 0;
        for p in placeholders(s) {
            out.push_str(&s[from..p.start]);
            match self.0.get(&p.name) {
                Some(Some(v)) => out.push_str(v),
                _ => missing.push(p.name.clone()),
            }
            from = p.end;
        }
        out.push_str(&s[from..]);
        if missing.is_empty() {
            Ok(out)
        } else {
            missing.dedup();
            Err(missing)
        }
    }
}

/// The neutral tokens that stand for the placeholders of a run.
#[derive(Debug, Default)]
pub struct Tokens {
    /// (token, placeholder text), one per distinct placeholder text.
    list: Vec<(String, String)>,
}

impl Tokens {
    fn token_for(&mut self, text: &str) -> String {
        if let Some((t, _)) = self.list.iter().find(|(_, p)| p == text) {
            return t.clone();
        }
        // Lowercase letters and digits: a valid label value, DNS label and
        // image path component; the closing `x` keeps token 1 from
        // matching inside token 10.
        let token = format!("sme2wasmparam{}x", self.list.len());
        self.list.push((token.clone(), text.to_string()));
        token
    }

    fn tokenize(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut from = 0;
        for p in placeholders(s) {
            out.push_str(&s[from..p.start]);
            let token = self.token_for(&s[p.start..p.end]);
            out.push_str(&token);
            from = p.end;
        }
        out.push_str(&s[from..]);
        out
    }

    fn tokenize_value(&mut self, v: &mut Value) {
        match v {
            Value::String(s) if !placeholders(s).is_empty() => *s = self.tokenize(s),
            Value::Sequence(seq) => seq.iter_mut().for_each(|x| self.tokenize_value(x)),
            Value::Mapping(m) => {
                let entries: Vec<(Value, Value)> = std::mem::take(m).into_iter().collect();
                for (mut k, mut x) in entries {
                    self.tokenize_value(&mut k);
                    self.tokenize_value(&mut x);
                    m.insert(k, x);
                }
            }
            Value::Tagged(t) => self.tokenize_value(&mut t.value),
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// `s` with every token replaced by its placeholder.
    pub fn untokenize(&self, s: &str) -> String {
        if !s.contains("sme2wasmparam") {
            return s.to_string();
        }
        let mut out = s.to_string();
        // Longest first: `…param10x` before `…param1x` (which the `x`
        // already keeps apart; this is belt and braces).
        let mut list: Vec<&(String, String)> = self.list.iter().collect();
        list.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        for (t, p) in list {
            out = out.replace(t.as_str(), p);
        }
        out
    }

    pub fn untokenize_value(&self, v: &mut Value) {
        match v {
            Value::String(s) if s.contains("sme2wasmparam") => *s = self.untokenize(s),
            Value::Sequence(seq) => seq.iter_mut().for_each(|x| self.untokenize_value(x)),
            Value::Mapping(m) => {
                let entries: Vec<(Value, Value)> = std::mem::take(m).into_iter().collect();
                for (mut k, mut x) in entries {
                    self.untokenize_value(&mut k);
                    self.untokenize_value(&mut x);
                    m.insert(k, x);
                }
            }
            Value::Tagged(t) => self.untokenize_value(&mut t.value),
            _ => {}
        }
    }

    pub fn untokenize_note(&self, n: &mut Notification) {
        if self.list.is_empty() {
            return;
        }
        if n.object.contains("sme2wasmparam") {
            n.object = self.untokenize(&n.object);
        }
        if n.message.contains("sme2wasmparam") {
            n.message = self.untokenize(&n.message).into();
        }
        if n.advice.contains("sme2wasmparam") {
            n.advice = self.untokenize(&n.advice).into();
        }
    }
}

/// What turns a converted object's WasmPlugin back into the Template's
/// form: tokens back to placeholders, and whole-value placeholders put back
/// where a default stood in for them.
#[derive(Debug, Default, Clone)]
pub struct Fixup {
    restore: Vec<(Vec<&'static str>, Value)>,
}

impl Fixup {
    pub fn apply(&self, tokens: &Tokens, v: &mut Value) {
        tokens.untokenize_value(v);
        for (path, value) in &self.restore {
            let mut at = Some(&mut *v);
            for p in path {
                at = at.and_then(|x| x.get_mut(*p));
            }
            if let Some(slot) = at {
                *slot = value.clone();
            }
        }
    }
}

/// An object of a Template made ready for conversion: placeholders swapped
/// for tokens, decisions taken from defaults.
pub struct Prepared {
    pub value: Value,
    pub fixup: Fixup,
    pub notes: Vec<Notification>,
    /// An ERROR was noted: the object cannot be converted.
    pub failed: bool,
}

/// What a placeholder in a field must expand to, for its WARN.
fn must_expand_to(path: &str) -> &'static str {
    if path == "spec.image" {
        "an image reference without a scheme (oci:// is written in front of it), of an image repacked for WasmPlugin (`sme2wasm repack`)"
    } else if path.starts_with("spec.workloadSelector") {
        "labels that select the same workloads as before"
    } else if path == "metadata.name" {
        "the same name as before (pluginName is that name followed by _root, the root_id Maistra used)"
    } else if path == "metadata.namespace" {
        "the same namespace as before (the order was reconciled with the text as written)"
    } else if path.starts_with("spec.config") {
        "the same configuration value as before (the plugin now receives it inside a JSON object)"
    } else if path.starts_with("spec.imagePullSecrets") {
        "a kubernetes.io/dockerconfigjson secret in the WasmPlugin's namespace"
    } else {
        "the same value as in the ServiceMeshExtension"
    }
}

fn string_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut at = v;
    for p in path {
        at = at.get(*p)?;
    }
    at.as_str()
}

fn set_at(v: &mut Value, path: &[&str], new: Value) {
    let mut at = v;
    for p in &path[..path.len() - 1] {
        match at.get_mut(*p) {
            Some(x) => at = x,
            None => return,
        }
    }
    if let Some(m) = at.as_mapping_mut() {
        m.insert(Value::String(path[path.len() - 1].to_string()), new);
    }
}

/// Every string (key or value) below `v` that holds a placeholder, with its
/// dotted path.
fn strings_with_placeholders(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if !placeholders(s).is_empty() => out.push((path.to_string(), s.clone())),
        Value::Sequence(seq) => {
            for (i, x) in seq.iter().enumerate() {
                strings_with_placeholders(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m {
                let key = yaml::key_string(k);
                let p = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if !placeholders(&key).is_empty() {
                    out.push((p.clone(), key.clone()));
                }
                strings_with_placeholders(x, &p, out);
            }
        }
        Value::Tagged(t) => strings_with_placeholders(&t.value, path, out),
        _ => {}
    }
}

/// Prepare one ServiceMeshExtension of a Template's `objects`.
pub fn prepare(item: &Value, params: &Parameters, tokens: &mut Tokens, at: &Source) -> Prepared {
    let object = sme::object_name(item);
    let mut value = item.clone();
    let mut fixup = Fixup::default();
    let mut notes = Vec::new();
    let mut failed = false;
    let mut decided: Vec<&str> = Vec::new();
    let no_default = |field: &str, text: &str, missing: &[String], what: &str| {
        let names = missing.join(", ");
        Notification::new(
            Code::TemplateNoDefault,
            object.clone(),
            format!("{field} is {text}: sme2wasm must decide {what} from it, and parameter {names} has no default value in the Template's parameters; not converted"),
        )
        .at(at.clone())
        .advice(format!("give {names} a value in parameters (the value the Template is processed with), or write {field} literally"))
    };
    // The phase and the priority: the WasmPlugin gets the default's meaning,
    // written literally.
    for (path, what) in [
        (["spec", "phase"], "the WasmPlugin's phase"),
        (["spec", "priority"], "the WasmPlugin's priority"),
    ] {
        let field = path.join(".");
        let Some(text) = string_at(&value, &path).map(str::to_string) else {
            continue;
        };
        let ps = placeholders(&text);
        if ps.is_empty() {
            continue;
        }
        decided.push(if path[1] == "phase" {
            "spec.phase"
        } else {
            "spec.priority"
        });
        match params.substitute(&text) {
            Ok(default) => {
                let new = if path[1] == "priority" {
                    match yaml::parse(&default) {
                        Ok(v @ Value::Number(_)) => v,
                        _ => Value::String(default.clone()),
                    }
                } else {
                    Value::String(default.clone())
                };
                set_at(&mut value, &path, new);
                let names: Vec<String> = ps.iter().map(|p| p.name.clone()).collect();
                notes.push(
                    Notification::new(
                        Code::TemplateDefaultUsed,
                        object.clone(),
                        format!("{field} is {text}: {what} is decided with the default of parameter {}, {default}, and written literally; another value at processing time no longer changes it", names.join(", ")),
                    )
                    .at(at.clone())
                    .advice(format!("check that {default} is the value the Template is processed with")),
                );
            }
            Err(missing) => {
                failed = true;
                notes.push(no_default(&field, &text, &missing, what));
            }
        }
    }
    // The selector's labels: whether they pick a gateway decides `match`.
    let labels_path = ["spec", "workloadSelector", "labels"];
    let labels = value
        .get("spec")
        .and_then(|s| s.get("workloadSelector"))
        .and_then(|w| w.get("labels"))
        .cloned();
    match labels {
        Some(Value::String(text)) if !placeholders(&text).is_empty() => {
            decided.push("spec.workloadSelector.labels");
            match params.substitute(&text).map(|d| (yaml::parse(&d), d)) {
                Ok((Ok(Value::Mapping(m)), default)) => {
                    set_at(&mut value, &labels_path, Value::Mapping(m));
                    fixup.restore.push((
                        vec!["spec", "selector", "matchLabels"],
                        Value::String(text.clone()),
                    ));
                    notes.push(selector_warn(&object, at, &text, &default));
                }
                Ok((_, default)) => {
                    failed = true;
                    notes.push(
                        Notification::new(
                            Code::TemplateSelectorNotLabels,
                            object.clone(),
                            format!("spec.workloadSelector.labels is {text}, whose default {default:?} is not a mapping of labels; not converted"),
                        )
                        .at(at.clone())
                        .advice("give the parameter a JSON object of labels as its value"),
                    );
                }
                Err(missing) => {
                    failed = true;
                    notes.push(no_default(
                        "spec.workloadSelector.labels",
                        &text,
                        &missing,
                        "whether the selector picks a gateway (and so whether the WasmPlugin gets match: SERVER)",
                    ));
                }
            }
        }
        Some(Value::Mapping(m)) => {
            let mut with = Vec::new();
            let mut missing = Vec::new();
            let mut decision = Mapping::new();
            for (k, v) in &m {
                let key = yaml::key_string(k);
                let val = match v {
                    Value::String(s) => s.clone(),
                    other => yaml::key_string(other),
                };
                let mut resolve = |s: &str| match params.substitute(s) {
                    Ok(d) => d,
                    Err(mut m) => {
                        missing.append(&mut m);
                        s.to_string()
                    }
                };
                let (dk, dv) = (resolve(&key), resolve(&val));
                if !placeholders(&key).is_empty() || !placeholders(&val).is_empty() {
                    with.push(format!("{key}: {val}"));
                }
                decision.insert(Value::String(dk), Value::String(dv));
            }
            if !with.is_empty() {
                decided.push("spec.workloadSelector.labels");
                if missing.is_empty() {
                    let shown = yaml::to_string(&decision).trim_end().replace('\n', ", ");
                    fixup.restore.push((
                        vec!["spec", "selector", "matchLabels"],
                        Value::Mapping(m.clone()),
                    ));
                    set_at(&mut value, &labels_path, Value::Mapping(decision));
                    notes.push(selector_warn(&object, at, &with.join(", "), &shown));
                } else {
                    failed = true;
                    missing.dedup();
                    notes.push(no_default(
                        "spec.workloadSelector.labels",
                        &with.join(", "),
                        &missing,
                        "whether the selector picks a gateway (and so whether the WasmPlugin gets match: SERVER)",
                    ));
                }
            }
        }
        _ => {}
    }
    // A whole-value config (`config: ${{CONFIG}}`): its default stands in
    // for the conversion, the placeholder is put back.
    if let Some(text) = string_at(&value, &["spec", "config"]).map(str::to_string) {
        let ps = placeholders(&text);
        if ps.len() == 1 && ps[0].start == 0 && ps[0].end == text.len() {
            decided.push("spec.config");
            let name = ps[0].name.clone();
            let parsed = params.substitute(&text).ok().map(|d| yaml::parse(&d));
            match parsed {
                Some(Ok(Value::Mapping(m))) => {
                    set_at(&mut value, &["spec", "config"], Value::Mapping(m));
                    fixup
                        .restore
                        .push((vec!["spec", "pluginConfig"], Value::String(text.clone())));
                    notes.push(
                        Notification::new(
                            Code::TemplateConfigDefault,
                            object.clone(),
                            format!("spec.config is {text}: parameter {name} must expand to a JSON object, which becomes pluginConfig; it was checked with its default"),
                        )
                        .at(at.clone()),
                    );
                }
                _ => {
                    failed = true;
                    notes.push(
                        Notification::new(
                            Code::TemplateConfigUndecidable,
                            object.clone(),
                            format!("spec.config is {text}, and parameter {name} has no default that is a JSON object: whether pluginConfig can carry it cannot be decided; not converted"),
                        )
                        .at(at.clone())
                        .advice(format!("give {name} a JSON object as its value in parameters")),
                    );
                }
            }
        }
    }
    // Every other field: kept as a placeholder, with a WARN.
    let mut found = Vec::new();
    strings_with_placeholders(item, "", &mut found);
    let mut warned: Vec<(String, String)> = Vec::new();
    for (path, text) in found {
        if decided.iter().any(|d| path.starts_with(d)) {
            continue;
        }
        for p in placeholders(&text) {
            let key = (path.clone(), p.name.clone());
            if warned.contains(&key) {
                continue;
            }
            warned.push(key);
            notes.push(
                Notification::new(
                    Code::TemplateUnchecked,
                    object.clone(),
                    format!(
                        "{path} holds {}: it cannot be checked before the Template is processed; parameter {} must expand to {}",
                        &text[p.start..p.end],
                        p.name,
                        must_expand_to(&path)
                    ),
                )
                .at(at.clone()),
            );
        }
    }
    tokens.tokenize_value(&mut value);
    Prepared {
        value,
        fixup,
        notes,
        failed,
    }
}

fn selector_warn(object: &str, at: &Source, text: &str, default: &str) -> Notification {
    Notification::new(
        Code::TemplateSelector,
        object,
        format!("spec.workloadSelector.labels holds {text}: the parameters must expand to labels that select the same workloads as before; whether the selector picks a gateway (and so match) was decided with the defaults ({default})"),
    )
    .at(at.clone())
    .advice("if the processed labels pick a gateway and the defaults do not (or the other way round), correct match by hand")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_of_both_forms() {
        let p = placeholders("a${X}b${{Y_1}}c${}d${z");
        let names: Vec<_> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["X", "Y_1"]);
        assert_eq!((p[1].start, p[1].end), (6, 14));
    }

    #[test]
    fn tokens_round_trip() {
        let mut t = Tokens::default();
        let texts: Vec<String> = (0..12).map(|i| format!("x${{P{i}}}y")).collect();
        let toks: Vec<String> = texts.iter().map(|s| t.tokenize(s)).collect();
        for (s, tok) in texts.iter().zip(&toks) {
            assert!(!tok.contains('$'));
            assert_eq!(&t.untokenize(tok), s);
        }
    }

    #[test]
    fn decisions_come_from_defaults_or_fail() {
        let tpl = yaml::parse(
            "kind: Template\napiVersion: template.openshift.io/v1\nparameters:\n- {name: PHASE, value: PostAuthZ}\n- {name: PRIO, value: '10'}\n- {name: APP}\n",
        )
        .unwrap();
        let params = Parameters::of(&tpl);
        let item = yaml::parse(
            "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: a}\nspec:\n  image: ${IMAGE}\n  phase: ${PHASE}\n  priority: ${{PRIO}}\n",
        )
        .unwrap();
        let mut tokens = Tokens::default();
        let at = Source::new("t.yaml", 1);
        let p = prepare(&item, &params, &mut tokens, &at);
        assert!(!p.failed);
        assert_eq!(p.value["spec"]["phase"].as_str(), Some("PostAuthZ"));
        assert_eq!(p.value["spec"]["priority"].as_i64(), Some(10));
        assert_eq!(p.value["spec"]["image"].as_str(), Some("sme2wasmparam0x"));
        assert!(p.notes.iter().any(|n| n
            .message
            .contains("parameter IMAGE must expand to an image reference")));
        let item = yaml::parse(
            "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: a}\nspec:\n  image: x\n  phase: PreAuthN\n  workloadSelector:\n    labels: {app: '${APP}'}\n",
        )
        .unwrap();
        let p = prepare(&item, &params, &mut tokens, &at);
        assert!(p.failed);
        assert!(p
            .notes
            .iter()
            .any(|n| n.level == crate::notify::Level::Error
                && n.message.contains("parameter APP has no default")));
    }
}
