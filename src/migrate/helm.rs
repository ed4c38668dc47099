//! Helm templates that hold ServiceMeshExtensions. A template is not YAML
//! until it is rendered, so nothing here parses it: the literal lines whose
//! edit is certain are rewritten line by line (apiVersion, kind, key names,
//! literal phases and images, the added pluginName and match), and every
//! templated field that needs a look is reported with its file and line.
//! A template is never skipped silently.
//!
//! Where one template action decides a field, the action is rewritten so
//! that the chart renders what `convert` makes of its old rendering: a
//! phase through the phase table (failing on any other value), an image
//! with `oci://` in front, `match` only where the rendered selector picks
//! no gateway, a priority clamped to keep Maistra's order against the
//! chart's literal templates (`ChartOrder`, which also reconciles the
//! literal priorities of a chart's templates).

use super::walk::SourceFile;
use super::Counters;
use crate::conversion::convert::{plugin_url, selects_gateway, Options};
use crate::conversion::mapping::SmePhase;
use crate::conversion::sme;
use crate::conversion::wasmplugin::{self, IstioVersion};
use crate::notify::{Code, Level, Notification, Source};
use crate::yaml::Document;

/// Whether a document is a template rather than YAML: it holds `{{` and
/// either lies in a chart's `templates/` directory or does not parse.
pub fn is_template(file: &SourceFile, doc: &Document) -> bool {
    doc.text.contains("{{")
        && (file.name.split('/').any(|p| p == "templates") || crate::yaml::parse(doc.text).is_err())
}

/// One line of a template, split where a `key: value` line splits.
struct Line<'a> {
    text: &'a str,
    newline: &'a str,
    indent: usize,
    /// `- ` opens the line.
    item: bool,
    key: Option<&'a str>,
    /// The value without its trailing comment; empty for a parent key.
    value: &'a str,
    /// Byte range of `value` in `text`.
    value_at: (usize, usize),
}

fn split_line(raw: &str) -> Line<'_> {
    let (text, newline) = match raw.strip_suffix("\r\n") {
        Some(t) => (t, "\r\n"),
        None => match raw.strip_suffix('\n') {
            Some(t) => (t, "\n"),
            None => (raw, ""),
        },
    };
    let indent = text.len() - text.trim_start_matches(' ').len();
    let mut rest_at = indent;
    let item = text[indent..].starts_with("- ");
    if item {
        rest_at += 2;
    }
    let rest = &text[rest_at..];
    let key_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .unwrap_or(rest.len());
    let after = &rest[key_len..];
    let is_key =
        key_len > 0 && (after == ":" || after.starts_with(": ") || after.starts_with(":\t"));
    if !is_key {
        return Line {
            text,
            newline,
            indent,
            item,
            key: None,
            value: "",
            value_at: (text.len(), text.len()),
        };
    }
    let vstart = rest_at + key_len + 1;
    let vtext = &text[vstart..];
    let lead = vtext.len() - vtext.trim_start().len();
    let vstart = vstart + lead;
    // A comment starts at ` #` outside a template expression.
    let body = &text[vstart..];
    let mut vend = text.len();
    let mut depth = 0;
    let bytes = body.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i..].starts_with(b"{{") {
            depth += 1;
        } else if bytes[i..].starts_with(b"}}") && depth > 0 {
            depth -= 1;
        } else if depth == 0 && bytes[i] == b'#' && (i == 0 || bytes[i - 1] == b' ') {
            vend = vstart + i;
            break;
        }
    }
    let value = text[vstart..vend].trim_end();
    Line {
        text,
        newline,
        indent,
        item,
        key: Some(&rest[..key_len]),
        value,
        value_at: (vstart, vstart + value.len()),
    }
}

fn unquote(v: &str) -> (&str, &str) {
    for q in ["\"", "'"] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return (&v[1..v.len() - 1], q);
        }
    }
    (v, "")
}

/// The pipeline of a value that is exactly one template action
/// (`{{ .Values.x }}`, `{{- .Values.x | default "a" -}}`), without its
/// braces and trim markers.
fn single_action(v: &str) -> Option<&str> {
    let inner = v.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    let inner = inner.trim();
    (!inner.is_empty() && !inner.starts_with("/*")).then_some(inner)
}

/// The map expression of a `toYaml EXPR | nindent N` (or `indent N`)
/// action's pipeline.
fn to_yaml_map(pipeline: &str) -> Option<String> {
    let rest = pipeline.strip_prefix("toYaml ")?;
    let (expr, last) = rest.rsplit_once('|')?;
    let mut stage = last.split_whitespace();
    let ok = matches!(stage.next(), Some("nindent" | "indent"))
        && stage.next().is_some_and(|n| n.parse::<u32>().is_ok())
        && stage.next().is_none();
    let expr = expr.trim();
    (ok && !expr.is_empty()).then(|| format!("({expr})"))
}

/// A Go template string literal for plain printable ASCII text.
fn go_string(s: &str) -> Option<String> {
    (s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'))
    .then(|| format!("\"{s}\""))
}

/// A template condition that is true when the labels map `map` renders
/// picks a gateway, by the labels `convert` reads as a gateway (a
/// gateway-name key, or a value containing `gateway`, or an `istio` label
/// naming an ingress or egress).
fn gateway_condition(map: &str) -> String {
    format!(
        "{{{{- $selector := {map} | default (dict) }}}}\
         {{{{- if not (or (hasKey $selector \"gateway.networking.k8s.io/gateway-name\") (hasKey $selector \"istio.io/gateway-name\") \
         (contains \"gateway\" (lower (join \",\" (values $selector)))) \
         (regexMatch \"ingress|egress\" (lower (toString (get $selector \"istio\"))))) }}}}"
    )
}

/// A template expression that renders the WasmPlugin phase of the SME
/// phase `pipeline` renders, following the phase table, and fails the
/// rendering on any other value (Maistra never applied such an SME).
fn phase_expression(pipeline: &str, opts: &Options) -> String {
    let pairs: Vec<String> = SmePhase::ALL
        .iter()
        .map(|p| format!("{:?} {:?}", p.as_str(), opts.phase_map.get(*p).as_str()))
        .collect();
    let names: Vec<&str> = SmePhase::ALL.iter().map(|p| p.as_str()).collect();
    format!(
        "{{{{ required \"spec.phase must render one of {} (a ServiceMeshExtension phase)\" (get (dict {}) (toString ({pipeline}))) }}}}",
        names.join(", "),
        pairs.join(" ")
    )
}

/// A template expression that renders `oci://` in front of the image
/// `pipeline` renders. A pipeline that ends in `quote` or `squote` keeps
/// its quoting around the whole url.
fn url_expression(pipeline: &str) -> String {
    for q in ["quote", "squote"] {
        if let Some(rest) = pipeline.strip_suffix(q) {
            let rest = rest.trim_end();
            if let Some(inner) = rest.strip_suffix('|') {
                return format!("{{{{ {} | printf \"oci://%s\" | {q} }}}}", inner.trim_end());
            }
        }
    }
    format!("oci://{{{{ {pipeline} }}}}")
}

/// The literal priorities of a repository's SME templates, reconciled chart
/// by chart (SPEC §5): a chart renders its templates together, and
/// `convert` reconciles what it renders. Templates whose phase or priority
/// is templated are not part of it; templated selector labels count as
/// meeting every workload.
#[derive(Default)]
pub struct ChartOrder {
    /// New priority by (file, 1-based line of the template's first line).
    changes: std::collections::HashMap<(String, usize), i64>,
    /// Bounds for templated priorities, by the same key.
    clamps: std::collections::HashMap<(String, usize), Clamp>,
    /// The reconciliation's WARNs.
    pub notes: Vec<Notification>,
}

/// The fields of a template: dotted path → (value, templated, line index).
fn template_fields(lines: &[Line]) -> Vec<(String, String, bool, usize)> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(key) = l.key else {
            continue;
        };
        if l.item {
            continue;
        }
        while stack.last().is_some_and(|(ind, _)| *ind >= l.indent) {
            stack.pop();
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).chain([key]).collect();
        let path = path.join(".");
        if l.value.is_empty() {
            stack.push((l.indent, key.to_string()));
        }
        let (literal, _) = unquote(l.value);
        out.push((path, literal.to_string(), l.value.contains("{{"), i));
    }
    out
}

/// A template's text with each action replaced by `mark` (for names and
/// images: what the actions render is the same in every template of a
/// release, so the order of the rest is Maistra's tie-break).
fn without_actions(s: &str, mark: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        out.push_str(mark);
        match rest[i..].find("}}") {
            Some(j) => rest = &rest[i + j + 2..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

impl ChartOrder {
    pub fn build(files: &[SourceFile], opts: &Options) -> ChartOrder {
        use crate::conversion::convert::{Converter, Site};
        use crate::yaml::{Mapping, Value};
        let mut charts: std::collections::BTreeMap<String, Vec<(&SourceFile, Document)>> =
            Default::default();
        for f in files {
            let parts: Vec<&str> = f.name.split('/').collect();
            let Some(t) = parts.iter().position(|p| *p == "templates") else {
                continue;
            };
            let chart = parts[..t].join("/");
            for doc in crate::yaml::split_documents(&f.text) {
                if doc.text.contains(sme::KIND) && is_template(f, &doc) {
                    charts.entry(chart.clone()).or_default().push((f, doc));
                }
            }
        }
        let mut order = ChartOrder::default();
        for (_, docs) in charts {
            let mut conv = Converter::new(opts);
            let mut items: Vec<Item> = Vec::new();
            for (f, doc) in &docs {
                let lines: Vec<Line> = doc.text.split_inclusive('\n').map(split_line).collect();
                let fields = template_fields(&lines);
                let get = |p: &str| fields.iter().find(|(q, ..)| q == p);
                if get("kind").map(|k| k.1.as_str()) != Some(sme::KIND) {
                    continue;
                }
                let phase = match get("spec.phase") {
                    Some((_, v, false, _)) => v.clone(),
                    _ => continue,
                };
                let Ok(sme_phase) = SmePhase::parse_exact(&phase) else {
                    continue;
                };
                let (priority, templated_priority) = match get("spec.priority") {
                    Some((_, v, false, _)) => match v.parse::<i64>() {
                        Ok(p) => (Some(p), false),
                        Err(_) => continue,
                    },
                    Some(_) => (None, true),
                    None => (None, false),
                };
                let text = |p: &str, mark: &str, default: &str| {
                    let v = get(p)
                        .map(|f| without_actions(&f.1, mark))
                        .unwrap_or_default();
                    if v.trim().is_empty() {
                        default.to_string()
                    } else {
                        v
                    }
                };
                let mut meta = Mapping::new();
                meta.insert(
                    "name".into(),
                    Value::String(text("metadata.name", "…", "x")),
                );
                if let Some((_, ns, false, _)) = get("metadata.namespace") {
                    meta.insert("namespace".into(), Value::String(ns.clone()));
                }
                let mut spec = Mapping::new();
                spec.insert("image".into(), Value::String(text("spec.image", "", "x")));
                spec.insert("phase".into(), Value::String(phase));
                if let Some(p) = priority {
                    spec.insert("priority".into(), p.into());
                }
                // Literal labels only; anything templated meets every workload.
                let label_lines: Vec<_> = fields
                    .iter()
                    .filter(|(p, ..)| p.starts_with("spec.workloadSelector.labels."))
                    .collect();
                // A template action among the selector's lines.
                let in_selector = get("spec.workloadSelector").is_some_and(|(_, _, _, at)| {
                    let indent = lines[*at].indent;
                    lines[at + 1..]
                        .iter()
                        .take_while(|l| l.text.trim().is_empty() || l.indent > indent)
                        .any(|l| l.key.is_none() && l.text.contains("{{"))
                });
                let opaque = in_selector
                    || fields
                        .iter()
                        .any(|(p, _, t, _)| *t && p.starts_with("spec.workloadSelector"));
                if !opaque && !label_lines.is_empty() {
                    let mut labels = Mapping::new();
                    for (p, v, _, _) in label_lines.iter().copied() {
                        let k = &p["spec.workloadSelector.labels.".len()..];
                        labels.insert(Value::String(k.into()), Value::String(v.clone()));
                    }
                    let mut sel = Mapping::new();
                    sel.insert("labels".into(), Value::Mapping(labels));
                    spec.insert("workloadSelector".into(), Value::Mapping(sel));
                }
                let mut item = Item {
                    key: (f.name.clone(), doc.content_line()),
                    name: text("metadata.name", "…", "x"),
                    namespace: match get("metadata.namespace") {
                        Some((_, ns, false, _)) => Some(ns.clone()),
                        _ => None,
                    },
                    labels: (!opaque).then(|| {
                        label_lines
                            .iter()
                            .map(|(p, v, _, _)| {
                                (
                                    p["spec.workloadSelector.labels.".len()..].to_string(),
                                    v.clone(),
                                )
                            })
                            .collect()
                    }),
                    phase: sme_phase,
                    priority: priority.unwrap_or_else(|| {
                        opts.manifest.as_ref().and_then(|m| m.priority).unwrap_or(0)
                    }),
                    id: None,
                };
                if templated_priority {
                    items.push(item);
                    continue;
                }
                let mut root = Mapping::new();
                root.insert("apiVersion".into(), "maistra.io/v1".into());
                root.insert("kind".into(), sme::KIND.into());
                root.insert("metadata".into(), Value::Mapping(meta));
                root.insert("spec".into(), Value::Mapping(spec));
                let Ok(sme) = sme::ServiceMeshExtension::from_value(&Value::Mapping(root)) else {
                    continue;
                };
                let site = Site::line(&f.name, doc.content_line());
                if let Some((id, _)) = conv.add_owned(sme, &site) {
                    item.id = Some(id);
                    items.push(item);
                }
            }
            let finished = conv.finish();
            for c in finished.changes {
                if let Some(item) = items.iter_mut().find(|i| i.id == Some(c.id)) {
                    order.changes.insert(item.key.clone(), c.new);
                    item.priority = c.new;
                }
            }
            // A templated priority is clamped where a literal template it
            // meets in the same WasmPlugin phase must stay on one side of it.
            for t in items.iter().filter(|i| i.id.is_none()) {
                let mut clamp = Clamp::default();
                for l in items.iter().filter(|i| i.id.is_some()) {
                    let same_phase = opts.phase_map.get(t.phase) == opts.phase_map.get(l.phase);
                    if !same_phase || t.phase == l.phase || !t.meets(l, &opts.root_namespace) {
                        continue;
                    }
                    if t.phase < l.phase {
                        clamp.min = Some(clamp.min.unwrap_or(i64::MIN).max(l.priority + 1));
                        clamp.before.push(l.name.clone());
                    } else {
                        clamp.max = Some(clamp.max.unwrap_or(i64::MAX).min(l.priority - 1));
                        clamp.after.push(l.name.clone());
                    }
                }
                if clamp.min.is_some() || clamp.max.is_some() {
                    order.clamps.insert(t.key.clone(), clamp);
                }
            }
            order.notes.extend(
                finished
                    .notifications
                    .into_iter()
                    .filter(|n| n.level == Level::Warn && n.message.contains("priority changed")),
            );
        }
        order
    }

    fn priority(&self, file: &str, line: usize) -> Option<i64> {
        self.changes.get(&(file.to_string(), line)).copied()
    }

    fn clamp(&self, file: &str, line: usize) -> Option<&Clamp> {
        self.clamps.get(&(file.to_string(), line))
    }
}

/// One SME template of a chart, as the order sees it.
struct Item {
    key: (String, usize),
    name: String,
    namespace: Option<String>,
    /// Literal labels; `None` when templated (meets every workload).
    labels: Option<Vec<(String, String)>>,
    phase: SmePhase,
    /// Literal (or reconciled) priority; for a templated one, unused.
    priority: i64,
    /// In the reconciliation: literal phase and priority.
    id: Option<usize>,
}

impl Item {
    fn meets(&self, other: &Item, root: &str) -> bool {
        let ns = |i: &Item| i.namespace.clone().unwrap_or_default();
        if ns(self) != ns(other) && ns(self) != root && ns(other) != root {
            return false;
        }
        match (&self.labels, &other.labels) {
            (Some(a), Some(b)) => a
                .iter()
                .all(|(k, v)| b.iter().all(|(k2, v2)| k != k2 || v == v2)),
            _ => true,
        }
    }
}

/// The bounds a templated priority must keep to stay on the right side of
/// the literal templates it meets.
#[derive(Default, Debug)]
struct Clamp {
    min: Option<i64>,
    max: Option<i64>,
    /// Templates it must run before (above) and after (below).
    before: Vec<String>,
    after: Vec<String>,
}

impl Clamp {
    /// The priority pipeline `p` clamped, as a template action.
    fn expression(&self, p: &str) -> String {
        let mut e = format!("{{{{ {p} | int");
        if let Some(min) = self.min {
            e.push_str(&format!(" | max {min}"));
        }
        if let Some(max) = self.max {
            e.push_str(&format!(" | min {max}"));
        }
        e.push_str(" }}");
        e
    }
}

/// Rewrite the literal parts of an SME template document. Returns the new
/// text, or `None` when the document is not an SME template.
pub fn rewrite_template(
    file: &SourceFile,
    doc: &Document,
    order: &ChartOrder,
    opts: &Options,
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Option<String> {
    let lines: Vec<Line> = doc.text.split_inclusive('\n').map(split_line).collect();
    let is_sme = lines
        .iter()
        .any(|l| l.indent == 0 && l.key == Some("kind") && unquote(l.value).0 == sme::KIND);
    if !is_sme {
        return None;
    }
    counters.remaining += 1;
    counters.templates += 1;
    let at = |i: usize| Source::new(&file.name, doc.start_line + i);
    let first = doc.content_line() - doc.start_line;
    let mut look = |i: usize, what: String| {
        notes.push(
            Notification::new(Code::HelmTemplated, "", format!("Helm template: {what}"))
                .at(at(i))
                .advice("render the chart and check this field of the WasmPlugin"),
        );
    };
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 4);
    // Open parents: (indent, key).
    let mut stack: Vec<(usize, &str)> = Vec::new();
    let mut name: Option<(String, &str)> = None;
    let mut spec_line: Option<(usize, usize)> = None; // (output index, child indent)
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut labels_templated = false;
    // The labels as a template map expression, while they can be one:
    // from one `toYaml` action, or from keys with literal or one-action
    // values.
    let mut label_map: Option<String> = None;
    let mut label_terms: Vec<String> = Vec::new();
    let mut labels_opaque = false;
    let mut has_priority = false;
    let mut skip_next_item = false;
    let mut config_reported = false;
    for (i, l) in lines.iter().enumerate() {
        let keep = || format!("{}{}", l.text, l.newline);
        let trimmed = l.text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push(keep());
            continue;
        }
        if l.key.is_none() && !l.item {
            if trimmed.starts_with("{{") {
                let action = trimmed
                    .trim_start_matches("{{")
                    .trim_start_matches('-')
                    .trim_start();
                let closing = action.starts_with("end") || action.starts_with("else");
                let keys: Vec<&str> = stack.iter().map(|(_, k)| *k).collect();
                if closing || l.indent == 0 || keys.first() != Some(&"spec") {
                    // Not inside spec, or the end of a block already reported.
                } else if keys.starts_with(&["spec", "workloadSelector"]) {
                    labels_templated = true;
                    match single_action(trimmed).and_then(to_yaml_map) {
                        Some(m) if keys.len() == 3 && label_map.is_none() => label_map = Some(m),
                        _ => labels_opaque = true,
                    }
                    look(
                        i,
                        format!("the selector's labels are templated ({trimmed})"),
                    );
                } else if keys == ["spec", "config"] {
                    if !config_reported {
                        config_reported = true;
                        look(
                            i,
                            "spec.config is templated: pluginConfig must render as an object"
                                .into(),
                        );
                    }
                } else {
                    look(
                        i,
                        format!("a template action inside spec ({trimmed}): check what it renders"),
                    );
                }
            } else if trimmed != "---" && trimmed != "..." {
                look(i, format!("a line that is not a key ({trimmed})"));
            }
            out.push(keep());
            continue;
        }
        let indent = if l.item { l.indent + 2 } else { l.indent };
        while stack
            .last()
            .is_some_and(|(ind, _)| *ind >= indent && !l.item)
        {
            stack.pop();
        }
        while l.item && stack.last().is_some_and(|(ind, _)| *ind > l.indent) {
            stack.pop();
        }
        if spec_line.is_some_and(|(_, ci)| ci == usize::MAX)
            && stack.len() == 1
            && stack[0].1 == "spec"
        {
            if let Some((o, _)) = spec_line {
                spec_line = Some((o, indent));
            }
        }
        let path: Vec<&str> = stack.iter().map(|(_, k)| *k).chain(l.key).collect();
        let templated = l.value.contains("{{");
        let (literal, quote) = unquote(l.value);
        let replace_value = |v: &str| {
            let (s, e) = l.value_at;
            format!(
                "{}{quote}{v}{quote}{}{}",
                &l.text[..s],
                &l.text[e..],
                l.newline
            )
        };
        let rename = |new: &str| {
            let k = l.key.unwrap_or_default();
            let pos = l.text[l.indent..]
                .find(k)
                .map(|p| p + l.indent)
                .unwrap_or(l.indent);
            format!(
                "{}{new}{}{}",
                &l.text[..pos],
                &l.text[pos + k.len()..],
                l.newline
            )
        };
        if skip_next_item && l.item {
            skip_next_item = false;
            continue;
        }
        skip_next_item = false;
        let line = match path.as_slice() {
            ["apiVersion"] if templated => {
                look(
                    i,
                    "apiVersion is templated: it must render extensions.istio.io/v1alpha1".into(),
                );
                keep()
            }
            ["apiVersion"] if literal.starts_with("maistra.io/") => {
                replace_value(wasmplugin::API_VERSION)
            }
            ["kind"] => replace_value(wasmplugin::KIND),
            ["metadata", "name"] => {
                name = Some((literal.to_string(), quote));
                keep()
            }
            ["spec"] => {
                spec_line = Some((out.len(), usize::MAX));
                keep()
            }
            ["spec", "image"] => {
                let renamed = split_line(&rename("url")).text.to_string();
                let l2 = split_line(&renamed);
                if templated {
                    match single_action(literal) {
                        Some(p) => {
                            look(
                                i,
                                if opts.image_map.is_some() {
                                    "spec.image is templated: oci:// was written in front of it, but the image map cannot be applied to a template; make it render the repacked image and add spec.sha256".into()
                                } else {
                                    "spec.image is templated: oci:// was written in front of it; the image it renders must be repacked (`sme2wasm repack`) unless it already holds /plugin.wasm".into()
                                },
                            );
                            let (s, e) = l2.value_at;
                            format!(
                                "{}{quote}{}{quote}{}{}",
                                &l2.text[..s],
                                url_expression(p),
                                &l2.text[e..],
                                l.newline
                            )
                        }
                        None => {
                            look(i, "spec.image is templated: spec.url must render with oci:// in front of the image".into());
                            format!("{}{}", l2.text, l.newline)
                        }
                    }
                } else {
                    let entry = opts.image_map.as_ref().and_then(|m| m.lookup(literal));
                    let (url, sha) = plugin_url(literal, entry);
                    if sha.is_some() {
                        look(
                            i,
                            format!("the image map pins {literal}: add spec.sha256 beside the url"),
                        );
                    }
                    let (s, e) = l2.value_at;
                    format!(
                        "{}{quote}{url}{quote}{}{}",
                        &l2.text[..s],
                        &l2.text[e..],
                        l.newline
                    )
                }
            }
            ["spec", "config"] => {
                config_reported = false;
                if !l.value.is_empty() {
                    look(i, "spec.config is written on its line (a string or a template): pluginConfig must render as an object".into());
                }
                rename("pluginConfig")
            }
            ["spec", "workloadSelector"] => rename("selector"),
            ["spec", "workloadSelector", "labels"] => {
                if templated {
                    labels_templated = true;
                    match single_action(literal).and_then(to_yaml_map) {
                        Some(m) => label_map = Some(m),
                        None => labels_opaque = true,
                    }
                    look(i, "the selector's labels are templated".into());
                }
                rename("matchLabels")
            }
            ["spec", "workloadSelector", "labels", k] => {
                let term = if templated {
                    labels_templated = true;
                    single_action(literal).map(|p| format!("({p})"))
                } else {
                    go_string(literal)
                };
                match (go_string(k), term) {
                    (Some(k), Some(v)) => label_terms.push(format!("{k} {v}")),
                    _ => labels_opaque = true,
                }
                labels.push((k.to_string(), literal.to_string()));
                keep()
            }
            ["spec", "workloadSelector", ..] => {
                labels_opaque = true;
                keep()
            }
            ["spec", "phase"] if templated => match single_action(literal) {
                Some(p) => replace_value(&phase_expression(p, opts)),
                None => {
                    look(i, "spec.phase is templated: it must render AUTHN, AUTHZ or STATS (see the phase table)".into());
                    keep()
                }
            },
            ["spec", "phase"] => match SmePhase::parse_exact(literal) {
                Ok(p) => match opts.phase_map.get(p).field_value() {
                    Some(v) => replace_value(v),
                    None => String::new(),
                },
                Err(e) => {
                    look(i, e);
                    keep()
                }
            },
            ["spec", "priority"] => {
                has_priority = true;
                let clamp = order.clamp(&file.name, doc.content_line());
                if let (true, Some(c), Some(p)) = (templated, clamp, single_action(literal)) {
                    match (c.min, c.max) {
                        (Some(lo), Some(hi)) if lo > hi => {
                            look(i, format!("spec.priority is templated, and no priority runs it before {} and after {} as in Maistra", c.before.join(", "), c.after.join(", ")));
                            keep()
                        }
                        _ => {
                            let mut why = Vec::new();
                            if !c.before.is_empty() {
                                why.push(format!("before {}", c.before.join(", ")));
                            }
                            if !c.after.is_empty() {
                                why.push(format!("after {}", c.after.join(", ")));
                            }
                            look(
                                i,
                                format!(
                                    "priority changed: the templated priority is kept {} so that it still runs {} as in Maistra",
                                    match (c.min, c.max) {
                                        (Some(lo), Some(hi)) => format!("between {lo} and {hi}"),
                                        (Some(lo), None) => format!("at {lo} or more"),
                                        (None, Some(hi)) => format!("at {hi} or less"),
                                        (None, None) => String::new(),
                                    },
                                    why.join(" and ")
                                ),
                            );
                            replace_value(&c.expression(p))
                        }
                    }
                } else if templated {
                    look(i, "spec.priority is templated: it must render a number (Istio sorts an unset priority last); it is not part of the order reconciliation".into());
                    keep()
                } else {
                    match order.priority(&file.name, doc.content_line()) {
                        Some(p) => replace_value(&p.to_string()),
                        None => keep(),
                    }
                }
            }
            ["spec", "imagePullPolicy"] if literal == "Never" => {
                look(
                    i,
                    "imagePullPolicy Never has no WasmPlugin equivalent: removed".into(),
                );
                String::new()
            }
            ["spec", "imagePullPolicy"] => {
                if templated {
                    look(
                        i,
                        "spec.imagePullPolicy is templated: Never has no WasmPlugin equivalent"
                            .into(),
                    );
                }
                keep()
            }
            ["spec", "imagePullSecrets"] => {
                // `imagePullSecrets:` with exactly one literal `- name: X`.
                let items: Vec<&Line> = lines[i + 1..]
                    .iter()
                    .take_while(|n| n.item || n.indent > l.indent)
                    .collect();
                match items.as_slice() {
                    [one] if one.item && one.key == Some("name") && !one.value.contains("{{") => {
                        skip_next_item = true;
                        let k = l.key.unwrap_or_default();
                        let pos = l.text.find(k).unwrap_or(l.indent);
                        format!(
                            "{}imagePullSecret: {}{}",
                            &l.text[..pos],
                            one.value,
                            l.newline
                        )
                    }
                    _ => {
                        look(i, "spec.imagePullSecrets: a WasmPlugin takes one imagePullSecret (a name); rewrite it by hand".into());
                        keep()
                    }
                }
            }
            ["spec", other] => {
                look(i, format!("spec.{other} has no WasmPlugin equivalent"));
                keep()
            }
            _ => keep(),
        };
        if l.key.is_some() && l.value.is_empty() && !l.item {
            stack.push((indent, l.key.unwrap_or_default()));
        }
        out.push(line);
    }
    // pluginName and match go right below `spec:`.
    if let Some((o, child)) = spec_line {
        let nl = lines
            .first()
            .map(|l| {
                if l.newline.is_empty() {
                    "\n"
                } else {
                    l.newline
                }
            })
            .unwrap_or("\n");
        let pad = " ".repeat(if child == usize::MAX { 2 } else { child });
        let mut add = String::new();
        if opts.plugin_name {
            if let Some((n, q)) = &name {
                let v = if q.is_empty() {
                    format!("{n}_root")
                } else {
                    format!("{q}{n}_root{q}")
                };
                add.push_str(&format!("{pad}pluginName: {v}{nl}"));
            }
        }
        let map = match (&label_map, label_terms.is_empty()) {
            (Some(m), true) => Some(m.clone()),
            (None, false) => Some(format!("(dict {})", label_terms.join(" "))),
            _ => None,
        };
        if !has_priority {
            // Istio sorts an unset priority last: write Maistra's default.
            let p = order
                .priority(&file.name, doc.content_line())
                .or_else(|| opts.manifest.as_ref().and_then(|m| m.priority))
                .unwrap_or(0);
            add.push_str(&format!("{pad}priority: {p}{nl}"));
        }
        let templated_map = map.filter(|_| labels_templated && !labels_opaque);
        if opts.istio_version < IstioVersion::MATCH {
            // No match before Istio 1.16.
        } else if let Some(map) = templated_map {
            notes.push(
                Notification::new(
                    Code::HelmSelector,
                    "",
                    "Helm template: the selector is templated, so whether it picks a gateway is decided when the chart renders: match mode SERVER is rendered only when it picks none (a gateway-name label, a value containing gateway, or an istio label naming an ingress or egress)",
                )
                .at(at(first))
                .advice("render the chart with each values file and check that gateways are recognised"),
            );
            add.push_str(&format!(
                "{pad}{}{nl}{pad}match:{nl}{pad}- mode: SERVER{nl}{pad}{{{{- end }}}}{nl}",
                gateway_condition(&map)
            ));
        } else if !selects_gateway(&labels) {
            if labels_templated {
                notes.push(
                    Notification::new(Code::HelmMatchAdded, "", "Helm template: match mode SERVER was added; if the templated selector picks a gateway, remove it")
                        .at(at(first)),
                );
            }
            add.push_str(&format!("{pad}match:{nl}{pad}- mode: SERVER{nl}"));
        }
        out.insert(o + 1, add);
    } else {
        look(
            first,
            "no literal spec: line; pluginName and match were not added".into(),
        );
    }
    notes.push(
        Notification::new(
            Code::HelmRewritten,
            "",
            "Helm template: literal parts rewritten; templated values are as they were, and a literal priority is reconciled only with the chart's other templates",
        )
        .at(at(first))
        .advice("render the chart (helm template) and review the WasmPlugin"),
    );
    Some(out.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_action_values() {
        assert_eq!(single_action("{{ .Values.x }}"), Some(".Values.x"));
        assert_eq!(
            single_action("{{- .Values.x | default \"a\" -}}"),
            Some(".Values.x | default \"a\"")
        );
        assert_eq!(single_action("Pre{{ .Values.x }}"), None);
        assert_eq!(single_action("{{ .a }}{{ .b }}"), None);
        assert_eq!(single_action("{{ }}"), None);
    }

    #[test]
    fn urls_get_the_scheme_inside_their_quoting() {
        assert_eq!(url_expression(".Values.i"), "oci://{{ .Values.i }}");
        assert_eq!(
            url_expression(".Values.i | quote"),
            "{{ .Values.i | printf \"oci://%s\" | quote }}"
        );
    }

    #[test]
    fn selector_maps_from_to_yaml_actions() {
        assert_eq!(
            to_yaml_map("toYaml .Values.sel | nindent 6").as_deref(),
            Some("(.Values.sel)")
        );
        assert_eq!(
            to_yaml_map("toYaml (merge .a .b) | indent 4").as_deref(),
            Some("((merge .a .b))")
        );
        assert_eq!(to_yaml_map("toYaml .Values.sel"), None);
        assert_eq!(to_yaml_map("toYaml .Values.sel | nindent 6 | trim"), None);
        assert_eq!(to_yaml_map("include \"x\" . | nindent 6"), None);
        assert_eq!(go_string("app").as_deref(), Some("\"app\""));
        assert_eq!(go_string("a\"b"), None);
        assert_eq!(go_string("é"), None);
    }

    #[test]
    fn phases_follow_the_phase_table() {
        let mut opts = Options::default();
        let e = phase_expression(".Values.p", &opts);
        assert!(e.contains("\"PostAuthZ\" \"STATS\""), "{e}");
        assert!(e.contains("\"PostStats\" \"UNSPECIFIED_PHASE\""), "{e}");
        assert!(e.ends_with("(toString (.Values.p))) }}"), "{e}");
        opts.phase_map =
            crate::conversion::mapping::PhaseMap::with_overrides(&["PostAuthZ=AUTHZ".into()])
                .unwrap();
        let e = phase_expression(".Values.p", &opts);
        assert!(e.contains("\"PostAuthZ\" \"AUTHZ\""), "{e}");
    }
}
