//! kustomize: patches that target kind ServiceMeshExtension are rewritten
//! with the resources they patch, or the overlay would stop applying.
//!
//! - `patchesJson6902` and `patches` entries whose target is a
//!   ServiceMeshExtension: the target's group, version and kind; the
//!   operations' paths (SPEC §3's renames, through `fields`) and values (the
//!   `oci://` url, phases), inline or in a file.
//! - strategic-merge patches (`patchesStrategicMerge`, or `patches` with a
//!   patch document of kind ServiceMeshExtension), inline or in a file: the
//!   document is converted as a partial WasmPlugin.
//!
//! - name transformers: a kustomization whose namePrefix/nameSuffix (or
//!   its components') rename SMEs gets a patch per WasmPlugin that sets
//!   pluginName to the rendered name + `_root` (Maistra's root_id).
//! - replacements, vars and transformer configurations whose selectors
//!   name SMEs: retargeted, their field paths moved; into or out of
//!   spec.image with options that keep `oci://`.
//! - namespace transformers: an SME rendered in one other namespace is
//!   ordered among the SMEs of that namespace (`NameModel::namespaces`).
//!
//! A patch that cannot be rewritten with certainty is an ERROR naming its
//! file and line, and is left as it was.

use super::rewrite::{self, Edit};
use super::walk::SourceFile;
use super::{fields, Counters, DocPlan};
use crate::conversion::convert::{plugin_url, Options};
use crate::conversion::mapping::SmePhase;
use crate::conversion::sme::{self, SERVER_SET_METADATA};
use crate::conversion::wasmplugin;
use crate::notify::{Code, Notification, Source};
use crate::yaml::{self, Document, Mapping, Node, NodeKind, Value};
use std::collections::HashMap;
use std::path::Path;

/// How a kustomization uses a patch file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// A strategic-merge patch: documents with their own kind.
    StrategicMerge,
    /// A file named by an entry whose target is a ServiceMeshExtension:
    /// JSON 6902 operations, or a strategic-merge document.
    Targeted,
    /// A file of `replacements` (named by an entry's `path`).
    Replacements,
    /// A transformer configuration (`configurations`): field specs.
    Configuration,
    /// OpenAPI definitions (`crds`).
    Crds,
}

/// Which files kustomizations use as patches, by display name, and the
/// pluginName patches name transformers call for.
#[derive(Default)]
pub struct PatchIndex {
    uses: HashMap<String, Vec<PatchKind>>,
    /// By kustomization file: the WasmPlugins (as its patches see them)
    /// whose rendered name its namePrefix/nameSuffix (or its components')
    /// change.
    renamed: HashMap<String, Vec<Renamed>>,
    /// SMEs that the kustomizations render in another namespace.
    namespaces: HashMap<Origin, String>,
}

/// An SME that a kustomization renders under another name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// Namespace and name as the kustomization's patches see them.
    namespace: Option<String>,
    name: String,
    /// The name it renders with.
    rendered: String,
}

/// An SME on its way through kustomizations.
#[derive(Debug, Clone)]
struct Obj {
    namespace: Option<String>,
    name: String,
    /// Index into `NameModel::origins`.
    origin: usize,
}

/// An SME where it is written: file, name, namespace.
type Origin = (String, String, Option<String>);

/// What kustomize's name transformers do to the SMEs of the repository:
/// each kustomization's resources (files and directories), its
/// components, then its namespace, namePrefix and nameSuffix.
struct NameModel<'a> {
    /// Kustomizations by directory.
    kustomizations: HashMap<String, (&'a SourceFile, Value)>,
    /// SMEs by file.
    smes: HashMap<&'a str, Vec<Obj>>,
    origins: Vec<Origin>,
    memo: HashMap<String, Vec<Obj>>,
    visiting: std::collections::HashSet<String>,
}

fn string_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A kustomization's own transformers, as they change names.
fn transform(objs: &mut [Obj], k: &Value) {
    let ns = string_of(k, "namespace");
    let (prefix, suffix) = (string_of(k, "namePrefix"), string_of(k, "nameSuffix"));
    for o in objs {
        if !ns.is_empty() {
            o.namespace = Some(ns.to_string());
        }
        o.name = format!("{prefix}{}{suffix}", o.name);
    }
}

fn renames(k: &Value) -> bool {
    !string_of(k, "namePrefix").is_empty() || !string_of(k, "nameSuffix").is_empty()
}

impl<'a> NameModel<'a> {
    fn new(files: &'a [SourceFile]) -> NameModel<'a> {
        let mut kustomizations = HashMap::new();
        let mut smes = HashMap::new();
        let mut origins = Vec::new();
        for f in files {
            if f.is_kustomization() {
                if let Ok(v @ Value::Mapping(_)) = yaml::parse(&f.text) {
                    kustomizations.insert(dir_of(&f.name).to_string(), (f, v));
                }
                continue;
            }
            if !f.text.contains(sme::KIND) {
                continue;
            }
            let mut objs = Vec::new();
            for doc in yaml::split_documents(&f.text) {
                let Ok(v) = yaml::parse(doc.text) else {
                    continue;
                };
                if !sme::is_sme(&v) {
                    continue;
                }
                let meta = v.get("metadata");
                let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
                let namespace = meta
                    .and_then(|m| m.get("namespace"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if let Some(name) = name {
                    objs.push(Obj {
                        namespace: namespace.clone(),
                        name: name.to_string(),
                        origin: origins.len(),
                    });
                    origins.push((f.name.clone(), name.to_string(), namespace));
                }
            }
            smes.insert(f.name.as_str(), objs);
        }
        NameModel {
            kustomizations,
            smes,
            origins,
            memo: HashMap::new(),
            visiting: Default::default(),
        }
    }

    /// The SMEs of a kustomization directory as its patches see them
    /// (resources and components, before its own transformers), and
    /// whether its components rename.
    fn seen(&mut self, dir: &str) -> (Vec<Obj>, bool) {
        let Some((_, k)) = self.kustomizations.get(dir).cloned() else {
            return (Vec::new(), false);
        };
        if !self.visiting.insert(dir.to_string()) {
            return (Vec::new(), false);
        }
        let mut objs = Vec::new();
        for key in ["resources", "bases"] {
            for r in k
                .get(key)
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let Some(path) = r.as_str().and_then(|r| join(dir, r)) else {
                    continue;
                };
                if self.kustomizations.contains_key(&path) {
                    objs.extend(self.rendered(&path));
                } else if let Some(o) = self.smes.get(path.as_str()) {
                    objs.extend(o.iter().cloned());
                }
            }
        }
        let mut component_renames = false;
        for c in k
            .get("components")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(path) = c.as_str().and_then(|c| join(dir, c)) else {
                continue;
            };
            let Some((_, ck)) = self.kustomizations.get(&path).cloned() else {
                continue;
            };
            let (own, _) = self.seen(&path);
            objs.extend(own);
            transform(&mut objs, &ck);
            component_renames |= renames(&ck);
        }
        self.visiting.remove(dir);
        (objs, component_renames)
    }

    /// The SMEs a kustomization directory renders.
    fn rendered(&mut self, dir: &str) -> Vec<Obj> {
        if let Some(o) = self.memo.get(dir) {
            return o.clone();
        }
        let (mut objs, _) = self.seen(dir);
        if let Some((_, k)) = self.kustomizations.get(dir) {
            transform(&mut objs, k);
        }
        self.memo.insert(dir.to_string(), objs.clone());
        objs
    }

    /// The kustomizations no other one uses: what the repository renders.
    fn roots(&self) -> Vec<String> {
        let mut used = std::collections::HashSet::new();
        for (dir, (_, k)) in &self.kustomizations {
            for key in ["resources", "bases", "components"] {
                for r in k
                    .get(key)
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    if let Some(p) = r.as_str().and_then(|r| join(dir, r)) {
                        used.insert(p);
                    }
                }
            }
        }
        let mut roots: Vec<String> = self
            .kustomizations
            .iter()
            .filter(|(d, (_, k))| !used.contains(*d) && string_of(k, "kind") != "Component")
            .map(|(d, _)| d.clone())
            .collect();
        roots.sort();
        roots
    }

    /// Where namespace transformers put SMEs: for each SME that every
    /// rendering puts in one namespace other than its file's, that
    /// namespace (so that the order is reconciled among the SMEs it meets
    /// there); and a WARN for each rendering that still groups SMEs
    /// otherwise than the run reconciles them.
    fn namespaces(&mut self, notes: &mut Vec<Notification>) -> HashMap<Origin, String> {
        let roots = self.roots();
        let renderings: Vec<(String, Vec<Obj>)> = roots
            .into_iter()
            .map(|d| {
                let objs = self.rendered(&d);
                (d, objs)
            })
            .collect();
        let mut seen_in: HashMap<usize, Vec<Option<String>>> = HashMap::new();
        for (_, objs) in &renderings {
            for o in objs {
                let list = seen_in.entry(o.origin).or_default();
                if !list.contains(&o.namespace) {
                    list.push(o.namespace.clone());
                }
            }
        }
        let mut effective: Vec<Option<String>> =
            self.origins.iter().map(|(_, _, ns)| ns.clone()).collect();
        let mut out = HashMap::new();
        for (origin, list) in &seen_in {
            if let [Some(ns)] = list.as_slice() {
                if effective[*origin].as_ref() != Some(ns) {
                    effective[*origin] = Some(ns.clone());
                    out.insert(self.origins[*origin].clone(), ns.clone());
                }
            }
        }
        for (dir, objs) in &renderings {
            let mut split = None;
            'pairs: for (i, a) in objs.iter().enumerate() {
                for b in &objs[i + 1..] {
                    let together = a.namespace == b.namespace;
                    let reconciled = effective[a.origin] == effective[b.origin];
                    if together != reconciled {
                        split = Some((a.clone(), b.clone(), together));
                        break 'pairs;
                    }
                }
            }
            if let Some((a, b, together)) = split {
                let (file, _) = &self.kustomizations[dir];
                let how = if together {
                    "renders them in one namespace, but other renderings put them in different ones"
                } else {
                    "renders them in different namespaces, but other renderings put them in one"
                };
                notes.push(
                    note(
                        Code::KustomizeTwice,
                        &file.name,
                        line_of(&file.text, "namespace"),
                        format!(
                            "{} and {}: this kustomization {how}; their priorities were reconciled for one of the two",
                            a.name, b.name
                        ),
                    )
                    .advice("render this kustomization and check the WasmPlugins' order"),
                );
            }
        }
        out
    }

    /// For every kustomization that renames SMEs: which, and to what.
    fn renamed(&mut self) -> HashMap<String, Vec<Renamed>> {
        let mut dirs: Vec<String> = self.kustomizations.keys().cloned().collect();
        dirs.sort();
        let mut out = HashMap::new();
        for dir in dirs {
            let (file, k) = self.kustomizations[&dir].clone();
            if string_of(&k, "kind") == "Component" {
                continue;
            }
            let (seen, component_renames) = self.seen(&dir);
            if !(renames(&k) || component_renames) || seen.is_empty() {
                continue;
            }
            let mut rendered = seen.clone();
            transform(&mut rendered, &k);
            let mut list: Vec<Renamed> = Vec::new();
            for (s, r) in seen.into_iter().zip(rendered) {
                let item = Renamed {
                    namespace: s.namespace,
                    name: s.name,
                    rendered: r.name,
                };
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            out.insert(file.name.clone(), list);
        }
        out
    }
}

fn target_is_sme(entry: &Value) -> bool {
    entry
        .get("target")
        .and_then(|t| t.get("kind"))
        .and_then(Value::as_str)
        == Some(sme::KIND)
}

/// `dir/rel` with `.` and `..` resolved, `/`-separated; `None` when it
/// leaves the walked directory (an absolute path always does).
fn join(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for p in rel.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn dir_of(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(d, _)| d)
}

fn note(code: Code, file: &str, line: usize, message: String) -> Notification {
    Notification::new(code, "", message).at(Source::new(file, line))
}

impl PatchIndex {
    /// Read every kustomization among `files`, and load the patch files
    /// they name that the walk did not keep (JSON 6902 operations do not
    /// name the kind they patch).
    pub fn build(files: &mut Vec<SourceFile>, notes: &mut Vec<Notification>) -> PatchIndex {
        let mut index = PatchIndex::default();
        let mut wanted: Vec<(String, PatchKind, std::path::PathBuf, String, usize)> = Vec::new();
        for file in files.iter().filter(|f| f.is_kustomization()) {
            let Ok(k) = yaml::parse(&file.text) else {
                continue;
            };
            let dir = dir_of(&file.name);
            let base = file.path.parent().unwrap_or(Path::new("."));
            let mut add = |rel: &str, kind: PatchKind| {
                let line = line_of(&file.text, rel);
                match join(dir, rel) {
                    Some(name) => {
                        wanted.push((name, kind, base.join(rel), file.name.clone(), line))
                    }
                    None => notes.push(note(
                        Code::KustomizePatchOutside,
                        &file.name,
                        line,
                        format!(
                            "patch {} lies outside the migrated directory: not rewritten",
                            crate::fsutil::quote_path(rel)
                        ),
                    )),
                }
            };
            if let Some(Value::Sequence(list)) = k.get("patchesStrategicMerge") {
                for p in list.iter().filter_map(Value::as_str) {
                    if !p.contains('\n') {
                        add(p, PatchKind::StrategicMerge);
                    }
                }
            }
            if let Some(Value::Sequence(list)) = k.get("replacements") {
                for p in list
                    .iter()
                    .filter_map(|e| e.get("path"))
                    .filter_map(Value::as_str)
                {
                    add(p, PatchKind::Replacements);
                }
            }
            for (key, kind) in [
                ("configurations", PatchKind::Configuration),
                ("crds", PatchKind::Crds),
            ] {
                if let Some(Value::Sequence(list)) = k.get(key) {
                    for p in list.iter().filter_map(Value::as_str) {
                        add(p, kind);
                    }
                }
            }
            for key in ["patchesJson6902", "patches"] {
                if let Some(Value::Sequence(list)) = k.get(key) {
                    for entry in list {
                        let Some(path) = entry.get("path").and_then(Value::as_str) else {
                            continue;
                        };
                        if target_is_sme(entry) {
                            add(path, PatchKind::Targeted);
                        } else if entry.get("target").is_none() {
                            add(path, PatchKind::StrategicMerge);
                        }
                    }
                }
            }
        }
        for (name, kind, path, from, line) in wanted {
            index.uses.entry(name.clone()).or_default().push(kind);
            if files.iter().any(|f| f.name == name) {
                continue;
            }
            let regular = std::fs::symlink_metadata(&path).map(|m| m.is_file());
            let text = match regular {
                Ok(true) => std::fs::read_to_string(&path).map_err(|e| e.to_string()),
                Ok(false) => Err("not a regular file".into()),
                Err(e) => Err(e.to_string()),
            };
            match text {
                Ok(text) if kind == PatchKind::Targeted => {
                    files.push(SourceFile { path, name, text })
                }
                Ok(_) => {}
                Err(e) => notes.push(note(
                    Code::KustomizePatchUnreadable,
                    &from,
                    line,
                    format!(
                        "patch file {} cannot be read ({e}): not rewritten",
                        crate::fsutil::quote_path(&name)
                    ),
                )),
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut model = NameModel::new(files);
        index.renamed = model.renamed();
        index.namespaces = model.namespaces(notes);
        index
    }

    /// The namespace the kustomizations render an SME in, where it is
    /// another than the one its file gives.
    pub fn rendered_namespace(
        &self,
        file: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<&str> {
        self.namespaces
            .get(&(
                file.to_string(),
                name.to_string(),
                namespace.map(str::to_string),
            ))
            .map(String::as_str)
    }

    pub fn uses(&self, name: &str) -> Option<&[PatchKind]> {
        self.uses.get(name).map(Vec::as_slice)
    }

    fn renamed(&self, name: &str) -> &[Renamed] {
        self.renamed.get(name).map_or(&[], Vec::as_slice)
    }
}

/// The line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|i| text[..i].matches('\n').count() + 1)
        .unwrap_or(1)
}

/// The WasmPlugin phase for an SME phase value, as a string (`UNSPECIFIED_PHASE`
/// for no phase: a patch cannot express "unset" by leaving the key out).
fn phase_value(v: &Value, opts: &Options) -> Result<Value, String> {
    let s = v.as_str().ok_or("phase must be a string")?;
    let p = SmePhase::parse_exact(s)?;
    Ok(Value::String(opts.phase_map.get(p).as_str().to_string()))
}

fn config_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::Mapping(m) if m.contains_key("raw_v1alpha1_config") => Err(
            "config holds raw_v1alpha1_config, which a pluginConfig (a Struct) cannot carry".into(),
        ),
        Value::Mapping(_) => Ok(v.clone()),
        Value::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(o @ serde_json::Value::Object(_)) => Ok(yaml::to_value(&o)),
            _ => Err(
                "config is a string that is not a JSON object; a pluginConfig cannot carry it"
                    .into(),
            ),
        },
        _ => Err("config is not an object; a pluginConfig cannot carry it".into()),
    }
}

/// One SME field, by its path below the object, as the WasmPlugin field:
/// the new path and the new value (`None` in, `None` out: a removal).
fn field(
    path: &[String],
    value: Option<&Value>,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<(Vec<String>, Option<Value>), String> {
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let same = || (path.to_vec(), value.cloned());
    match segs.as_slice() {
        ["apiVersion"] => Ok((
            path.to_vec(),
            value.map(|_| Value::String(wasmplugin::API_VERSION.into())),
        )),
        ["kind"] => Ok((
            path.to_vec(),
            value.map(|_| Value::String(wasmplugin::KIND.into())),
        )),
        ["metadata", ..] => Ok(same()),
        ["spec", "image"] => {
            let v = value
                .map(|v| {
                    let image = v.as_str().ok_or("spec.image must be a string")?;
                    let entry = opts.image_map.as_ref().and_then(|m| m.lookup(image));
                    let (url, sha) = plugin_url(image, entry);
                    if entry.is_none() {
                        warnings.push(format!(
                            "image {image} has not been repacked: unless it already holds /plugin.wasm, Istio's fetcher refuses it"
                        ));
                    }
                    if sha.is_some() {
                        warnings.push(format!(
                            "the image map pins {image}, but a patch cannot carry the sha256: add spec.sha256 to the patch by hand"
                        ));
                    }
                    Ok::<_, String>(Value::String(url))
                })
                .transpose()?;
            Ok((fields::plugin_path(&segs), v))
        }
        ["spec", "phase"] => Ok((
            path.to_vec(),
            value.map(|v| phase_value(v, opts)).transpose()?,
        )),
        ["spec", "priority"] => {
            warnings.push(
                "a patched priority is not part of the order reconciliation across the repository: check that the order still matches Maistra's".into(),
            );
            Ok(same())
        }
        ["spec", "imagePullPolicy"] => match value.and_then(Value::as_str) {
            Some("Never") => Err("imagePullPolicy Never has no WasmPlugin equivalent".into()),
            _ => Ok(same()),
        },
        ["spec", "imagePullSecrets"] => {
            let v = value
                .map(|v| {
                    let names: Vec<&str> = v
                        .as_sequence()
                        .map(|s| s.iter().filter_map(|i| i.get("name").and_then(Value::as_str)).collect())
                        .unwrap_or_default();
                    match names.as_slice() {
                        [] => Err("imagePullSecrets must be a list of {name: SECRET}".to_string()),
                        [first, rest @ ..] => {
                            if !rest.is_empty() {
                                warnings.push(format!(
                                    "a WasmPlugin takes one imagePullSecret: {first} is kept, {} dropped",
                                    rest.join(", ")
                                ));
                            }
                            Ok(Value::String(first.to_string()))
                        }
                    }
                })
                .transpose()?;
            Ok((fields::plugin_path(&segs), v))
        }
        ["spec", "config"] => Ok((
            fields::plugin_path(&segs),
            value.map(config_value).transpose()?,
        )),
        ["spec", "config", ..] => Ok((fields::plugin_path(&segs), value.cloned())),
        ["spec", "workloadSelector"] => {
            let v = value
                .map(|v| match v.get("labels") {
                    Some(Value::Mapping(l))
                        if !l.is_empty() && v.as_mapping().map(Mapping::len) == Some(1) =>
                    {
                        let mut m = Mapping::new();
                        m.insert("matchLabels".into(), Value::Mapping(l.clone()));
                        Ok(Value::Mapping(m))
                    }
                    _ => Err(
                        "workloadSelector must hold non-empty labels and nothing else".to_string(),
                    ),
                })
                .transpose()?;
            Ok((fields::plugin_path(&segs), v))
        }
        ["spec", "workloadSelector", "labels", ..] => {
            Ok((fields::plugin_path(&segs), value.cloned()))
        }
        ["spec"] => Err("a patch of the whole spec cannot be rewritten field by field".into()),
        ["spec", other, ..] => Err(format!("spec.{other} has no WasmPlugin equivalent")),
        ["status", ..] => Err("status has no meaning for a WasmPlugin".into()),
        _ => Ok(same()),
    }
}

fn pointer_segments(pointer: &str) -> Result<Vec<String>, String> {
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("path {pointer:?} is not a JSON pointer"))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn pointer(segs: &[String]) -> String {
    segs.iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// JSON 6902 operations on an SME, as operations on the WasmPlugin.
fn convert_ops(ops: &Value, opts: &Options, warnings: &mut Vec<String>) -> Result<Value, String> {
    let Value::Sequence(list) = ops else {
        return Err("a JSON 6902 patch must be a list of operations".into());
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, op) in list.iter().enumerate() {
        let Value::Mapping(m) = op else {
            return Err(format!("operation {} is not a mapping", i + 1));
        };
        let mut m = m.clone();
        let path = m
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("operation {} has no path", i + 1))?;
        let segs = pointer_segments(path)?;
        let (new_path, new_value) = field(&segs, m.get("value"), opts, warnings)
            .map_err(|e| format!("operation {} ({path}): {e}", i + 1))?;
        m.insert("path".into(), Value::String(pointer(&new_path)));
        if let Some(v) = new_value {
            m.insert("value".into(), v);
        }
        if let Some(from) = m.get("from").and_then(Value::as_str).map(str::to_string) {
            let segs = pointer_segments(&from)?;
            let (new_from, _) = field(&segs, None, opts, warnings)
                .map_err(|e| format!("operation {} (from {from}): {e}", i + 1))?;
            m.insert("from".into(), Value::String(pointer(&new_from)));
        }
        out.push(Value::Mapping(m));
    }
    Ok(Value::Sequence(out))
}

/// A strategic-merge patch document of kind ServiceMeshExtension, as a
/// partial WasmPlugin.
fn convert_partial(
    have: &Value,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Value, String> {
    let Value::Mapping(root) = have else {
        return Err("a patch document must be a mapping".into());
    };
    let mut out = Mapping::new();
    for (k, v) in root {
        let key = yaml::key_string(k);
        match key.as_str() {
            "apiVersion" | "kind" => {
                let (_, nv) = field(std::slice::from_ref(&key), Some(v), opts, warnings)?;
                out.insert(k.clone(), nv.unwrap_or(Value::Null));
            }
            "metadata" => {
                let mut m = v
                    .as_mapping()
                    .cloned()
                    .ok_or("metadata must be a mapping")?;
                for s in SERVER_SET_METADATA {
                    m.remove(s);
                }
                out.insert(k.clone(), Value::Mapping(m));
            }
            "spec" => {
                let spec = match v {
                    Value::Mapping(s) => s,
                    Value::Null => {
                        out.insert(k.clone(), Value::Null);
                        continue;
                    }
                    _ => return Err("spec must be a mapping".into()),
                };
                let mut new = Mapping::new();
                for (sk, sv) in spec {
                    let skey = yaml::key_string(sk);
                    if skey.starts_with('$') {
                        new.insert(sk.clone(), sv.clone());
                        continue;
                    }
                    let (p, nv) = field(&["spec".into(), skey], Some(sv), opts, warnings)?;
                    new.insert(Value::String(p[1].clone()), nv.unwrap_or(Value::Null));
                }
                out.insert(k.clone(), Value::Mapping(new));
            }
            "status" => {}
            k2 if k2.starts_with('$') => {
                out.insert(k.clone(), v.clone());
            }
            other => return Err(format!("{other} has no WasmPlugin equivalent")),
        }
    }
    Ok(Value::Mapping(out))
}

/// A kustomize selector (`target`, `select`, `reject`, `objref`) of kind
/// ServiceMeshExtension, made to select the WasmPlugin; `None` when it
/// selects something else.
fn retarget_selector(sel: &Value) -> Option<Value> {
    if sel.get("kind").and_then(Value::as_str) != Some(sme::KIND) {
        return None;
    }
    let mut t = sel.clone();
    t["kind"] = Value::String(wasmplugin::KIND.into());
    if t.get("group").is_some() {
        t["group"] = Value::String("extensions.istio.io".into());
    }
    if t.get("version").is_some() {
        t["version"] = Value::String("v1alpha1".into());
    }
    if t.get("apiVersion").is_some() {
        t["apiVersion"] = Value::String(wasmplugin::API_VERSION.into());
    }
    Some(t)
}

/// A kustomize field path (`spec.config.[name=a].x`): dot-separated,
/// brackets kept whole.
fn split_field_path(path: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Where an SME field a kustomize construct reads or writes lies in the
/// WasmPlugin, for values that keep their meaning there; an error for the
/// fields whose values change (phase, pull secrets) or have no equivalent.
fn moved_path(segs: &[String], warnings: &mut Vec<String>) -> Result<Vec<String>, String> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["spec", "phase"] => Err("kustomize copies a phase as it is, and no SME phase name is a WasmPlugin phase; write the WasmPlugin phase (see the phase table) where the value comes from".into()),
        ["spec", "imagePullSecrets", ..] => Err("imagePullSecrets (a list) becomes imagePullSecret (one name)".into()),
        ["spec", "imagePullPolicy"] => Err("imagePullPolicy Never has no WasmPlugin equivalent".into()),
        ["spec", "workloadSelector"] | ["spec", "workloadSelector", "labels"] => {
            Err("the whole workloadSelector cannot be moved: name a label (spec.workloadSelector.labels.KEY)".into())
        }
        ["spec", "priority"] => {
            warnings.push("a priority written by kustomize is not part of the order reconciliation across the repository: check that the order still matches Maistra's".into());
            Ok(segs.to_vec())
        }
        ["spec"] => Err("the whole spec cannot be moved field by field".into()),
        ["spec", "image" | "config" | "workloadSelector", ..] => Ok(fields::plugin_path(&s)),
        ["spec", other, ..] => Err(format!("spec.{other} has no WasmPlugin equivalent")),
        ["status", ..] => Err("status has no meaning for a WasmPlugin".into()),
        _ => Ok(segs.to_vec()),
    }
}

/// The `options` that keep `oci://` in front of an image a replacement
/// writes into (or reads from) spec.url.
fn url_options(options: Option<&Value>) -> Result<Value, String> {
    const SCHEME: &str = "oci://";
    let mut o = match options {
        None => Mapping::new(),
        Some(Value::Mapping(m)) => m.clone(),
        Some(_) => return Err("options is not a mapping".into()),
    };
    match o.get("delimiter").and_then(Value::as_str) {
        None | Some("") => {
            if o.contains_key("index") {
                return Err("options has an index without a delimiter".into());
            }
            o.insert("delimiter".into(), SCHEME.into());
            o.insert("index".into(), 1.into());
        }
        Some(d) => {
            let index = o.get("index").and_then(Value::as_i64).unwrap_or(0);
            if index <= 0 {
                return Err(format!(
                    "options (delimiter {d:?}, index {index}) replace the start of the image, which spec.url begins with oci://"
                ));
            }
            let shift = SCHEME.matches(d).count() as i64;
            o.insert("index".into(), (index + shift).into());
        }
    }
    Ok(Value::Mapping(o))
}

/// A `replacements` entry whose source or targets select SMEs, retargeted.
fn retarget_replacement(entry: &Value, warnings: &mut Vec<String>) -> Result<Value, String> {
    let mut want = entry.clone();
    if let Some(src) = entry.get("source") {
        if let Some(mut t) = retarget_selector(src) {
            let path = src
                .get("fieldPath")
                .and_then(Value::as_str)
                .unwrap_or("metadata.name");
            let segs = moved_path(&split_field_path(path, '.'), warnings)
                .map_err(|e| format!("source fieldPath {path}: {e}"))?;
            if src.get("fieldPath").is_some() {
                t["fieldPath"] = Value::String(segs.join("."));
            }
            if path == "spec.image" {
                let o = url_options(src.get("options"))
                    .map_err(|e| format!("source fieldPath {path}: {e}"))?;
                t["options"] = o;
            }
            want["source"] = t;
        }
    }
    if let Some(Value::Sequence(targets)) = entry.get("targets") {
        for (i, target) in targets.iter().enumerate() {
            let Some(sel) = target.get("select") else {
                continue;
            };
            let mut new = target.clone();
            if let Some(Value::Sequence(rejects)) = target.get("reject") {
                for (j, r) in rejects.iter().enumerate() {
                    if let Some(t) = retarget_selector(r) {
                        new["reject"][j] = t;
                    }
                }
            }
            let Some(t) = retarget_selector(sel) else {
                want["targets"][i] = new;
                continue;
            };
            new["select"] = t;
            let paths: Vec<&str> = target
                .get("fieldPaths")
                .and_then(Value::as_sequence)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut moved = Vec::new();
            for p in &paths {
                let segs = moved_path(&split_field_path(p, '.'), warnings)
                    .map_err(|e| format!("target {} fieldPath {p}: {e}", i + 1))?;
                moved.push(Value::String(segs.join(".")));
            }
            if paths.contains(&"spec.image") {
                if paths.len() > 1 {
                    return Err(format!(
                        "target {} writes spec.image with other fields: spec.url needs its own options; give spec.image a target of its own",
                        i + 1
                    ));
                }
                let o = url_options(target.get("options"))
                    .map_err(|e| format!("target {} fieldPath spec.image: {e}", i + 1))?;
                new["options"] = o;
            }
            if !moved.is_empty() {
                new["fieldPaths"] = Value::Sequence(moved);
            }
            want["targets"][i] = new;
        }
    }
    Ok(want)
}

/// A `vars` entry whose objref is an SME, retargeted.
fn retarget_var(entry: &Value, warnings: &mut Vec<String>) -> Result<Value, String> {
    let mut want = entry.clone();
    let Some(t) = entry.get("objref").and_then(retarget_selector) else {
        return Ok(want);
    };
    want["objref"] = t;
    let path = entry
        .get("fieldref")
        .and_then(|f| f.get("fieldpath"))
        .and_then(Value::as_str)
        .unwrap_or("metadata.name");
    if path == "spec.image" {
        return Err("a variable of spec.image would hold the url with oci:// in front; use a replacement (its delimiter and index options keep the scheme)".into());
    }
    let segs = moved_path(&split_field_path(path, '.'), warnings)
        .map_err(|e| format!("fieldref {path}: {e}"))?;
    if entry
        .get("fieldref")
        .and_then(|f| f.get("fieldpath"))
        .is_some()
    {
        want["fieldref"]["fieldpath"] = Value::String(segs.join("."));
    }
    Ok(want)
}

/// Field specs (`configurations`: `{path, kind, group, version}`, also
/// nested in nameReference) that name SME fields, retargeted.
fn retarget_field_specs(v: &Value, warnings: &mut Vec<String>) -> Result<Value, String> {
    match v {
        Value::Mapping(m) => {
            let mut out = Mapping::new();
            for (k, val) in m {
                out.insert(k.clone(), retarget_field_specs(val, warnings)?);
            }
            let mut out = Value::Mapping(out);
            if let Some(mut t) = retarget_selector(&out) {
                if let Some(path) = v.get("path").and_then(Value::as_str) {
                    if path == "spec/image" {
                        return Err("a field spec of spec/image: spec.url holds oci:// in front of the image, which a transformer would not keep".into());
                    }
                    let segs = moved_path(&split_field_path(path, '/'), warnings)
                        .map_err(|e| format!("field spec {path}: {e}"))?;
                    t["path"] = Value::String(segs.join("/"));
                }
                out = t;
            }
            Ok(out)
        }
        Value::Sequence(items) => Ok(Value::Sequence(
            items
                .iter()
                .map(|i| retarget_field_specs(i, warnings))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other.clone()),
    }
}

/// The patch text `inner` (a JSON 6902 list or a strategic-merge document)
/// rewritten in place; `None` when it needs no change.
fn convert_patch_text(
    inner: &str,
    json6902: Option<bool>,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, String> {
    let have =
        yaml::parse(inner).map_err(|e| format!("the patch is not valid YAML: {}", e.message))?;
    let is_ops = json6902.unwrap_or(matches!(have, Value::Sequence(_)));
    let want = if is_ops {
        convert_ops(&have, opts, warnings)?
    } else if sme::kind_of(&have) == Some(sme::KIND) {
        convert_partial(&have, opts, warnings)?
    } else {
        return Ok(None);
    };
    if want == have {
        return Ok(None);
    }
    let renames = if is_ops {
        rewrite::no_renames
    } else {
        fields::sme_key
    };
    let edited = rewrite::rewrite(inner, &have, &want, renames)
        .ok()
        .filter(|t| yaml::parse(t).is_ok_and(|v| v == want));
    Ok(Some(match edited {
        Some(t) => t,
        None if inner.trim_start().starts_with(['[', '{']) => {
            serde_json::to_string(&yaml::to_json(&want)).map_err(|e| e.to_string())?
        }
        None => yaml::to_string(&want),
    }))
}

fn warn_all(notes: &mut Vec<Notification>, file: &str, line: usize, warnings: Vec<String>) {
    for w in warnings {
        notes.push(
            note(Code::KustomizePatchReview, file, line, w).advice("review the rewritten patch"),
        );
    }
}

fn error(
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
    file: &str,
    line: usize,
    why: String,
) {
    counters.failed += 1;
    notes.push(
        note(
            Code::KustomizePatchNotRewritten,
            file,
            line,
            format!("the ServiceMeshExtension patch cannot be rewritten: {why}"),
        )
        .advice("rewrite it by hand for WasmPlugin; it was left as it was"),
    );
}

/// An ERROR for a kustomize construct that cannot be carried over: its
/// file is left as it was.
fn refuse(
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
    file: &str,
    line: usize,
    construct: &str,
    why: String,
) {
    counters.failed += 1;
    notes.push(
        note(
            Code::KustomizeConstruct,
            file,
            line,
            format!("{construct} naming a ServiceMeshExtension cannot be carried over to the WasmPlugin: {why}"),
        )
        .advice("rewrite it by hand for WasmPlugin; this file was left as it was"),
    );
}

/// A file of replacements, field specs or OpenAPI definitions that a
/// kustomization names, where they name SMEs.
fn plan_construct_file<'a>(
    file: &'a SourceFile,
    kind: PatchKind,
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    let docs = yaml::split_documents(&file.text);
    let construct = match kind {
        PatchKind::Replacements => "replacements",
        PatchKind::Configuration => "a transformer configuration",
        _ => "crds",
    };
    let mut plans = Vec::new();
    for doc in &docs {
        if doc.is_blank() || !doc.text.contains(sme::KIND) {
            plans.push(DocPlan::Keep);
            continue;
        }
        let line = doc.content_line();
        let have = match yaml::parse(doc.text) {
            Ok(v) => v,
            Err(e) => {
                counters.unreadable += 1;
                notes.push(
                    crate::conversion::stream::parse_error(&file.name, doc, &e)
                        .advice("fix the file; it was left untouched"),
                );
                return docs.into_iter().map(|d| (d, DocPlan::Keep)).collect();
            }
        };
        let mut warnings = Vec::new();
        let want = match kind {
            PatchKind::Replacements => match &have {
                Value::Sequence(list) => list
                    .iter()
                    .map(|e| retarget_replacement(e, &mut warnings))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Sequence),
                other => retarget_replacement(other, &mut warnings),
            },
            PatchKind::Configuration => retarget_field_specs(&have, &mut warnings),
            _ => Err("OpenAPI definitions of ServiceMeshExtension fields are not rewritten".into()),
        };
        let text = want.and_then(|want| {
            if want == have {
                return Ok(None);
            }
            rewrite::rewrite(doc.text, &have, &want, rewrite::no_renames)
                .map_err(|e| e.0)
                .and_then(|t| match yaml::parse(&t) {
                    Ok(v) if v == want => Ok(Some(t)),
                    _ => Err("the edited file would mean something else".into()),
                })
        });
        match text {
            Ok(Some(t)) => {
                counters.patches += 1;
                warn_all(notes, &file.name, line, warnings);
                plans.push(DocPlan::Text(t));
            }
            Ok(None) => plans.push(DocPlan::Keep),
            Err(why) => {
                let at = doc
                    .find_line_containing(sme::KIND)
                    .map_or(line, |p| doc.start_line + p);
                refuse(notes, counters, &file.name, at, construct, why);
                return docs.into_iter().map(|d| (d, DocPlan::Keep)).collect();
            }
        }
    }
    docs.into_iter().zip(plans).collect()
}

/// A kustomization: the targets of SME patches, inline patches, and the
/// pluginName patches its name transformers call for.
pub fn plan_kustomization<'a>(
    file: &'a SourceFile,
    index: &PatchIndex,
    opts: &Options,
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    let mut out = Vec::new();
    let mut renamed = if opts.plugin_name {
        index.renamed(&file.name)
    } else {
        &[]
    };
    for doc in yaml::split_documents(&file.text) {
        let plan = if doc.is_blank() {
            DocPlan::Keep
        } else {
            let plan = plan_kustomization_doc(file, &doc, renamed, opts, notes, counters);
            renamed = &[];
            plan
        };
        out.push((doc, plan));
    }
    out
}

/// A kustomize target name: a regular expression, anchored by kustomize.
fn name_regex(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The `patches` entry that sets a renamed WasmPlugin's pluginName, as a
/// value and as text (its lines indented by `indent`).
fn plugin_name_patch(r: &Renamed, indent: &str, nl: &str) -> (Value, String) {
    let plugin_name = format!("{}_root", r.rendered);
    let mut target = Mapping::new();
    target.insert("group".into(), "extensions.istio.io".into());
    target.insert("version".into(), "v1alpha1".into());
    target.insert("kind".into(), wasmplugin::KIND.into());
    target.insert("name".into(), Value::String(name_regex(&r.name)));
    if let Some(ns) = &r.namespace {
        target.insert("namespace".into(), Value::String(ns.clone()));
    }
    let patch = format!(
        "- op: add\n  path: /spec/pluginName\n  value: {}",
        quoted(&plugin_name)
    );
    let mut entry = Mapping::new();
    entry.insert("target".into(), Value::Mapping(target));
    entry.insert("patch".into(), Value::String(patch));
    let mut text = format!(
        "{indent}# {} renders as {}: Maistra's root_id was {plugin_name}{nl}\
         {indent}- target:{nl}\
         {indent}    group: extensions.istio.io{nl}\
         {indent}    version: v1alpha1{nl}\
         {indent}    kind: WasmPlugin{nl}\
         {indent}    name: {}{nl}",
        r.name,
        r.rendered,
        quoted(&name_regex(&r.name)),
    );
    if let Some(ns) = &r.namespace {
        text.push_str(&format!("{indent}    namespace: {}{nl}", quoted(ns)));
    }
    text.push_str(&format!(
        "{indent}  patch: |-{nl}\
         {indent}    - op: add{nl}\
         {indent}      path: /spec/pluginName{nl}\
         {indent}      value: {}{nl}",
        quoted(&plugin_name)
    ));
    (Value::Mapping(entry), text)
}

/// The edit that appends the pluginName patches of `renamed` to the
/// kustomization's `patches` (made when there is none).
fn plugin_name_edit(
    text: &str,
    root: &Node,
    want: &mut Value,
    renamed: &[Renamed],
) -> Result<Edit, String> {
    let nl = super::newline_of(text);
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (at, indent, head) = match root.entry("patches") {
        Some((_, seq)) => {
            let NodeKind::Sequence { flow: false, items } = &seq.kind else {
                return Err("its patches are not a block list".into());
            };
            let Some(first) = items.first() else {
                return Err("its patches are not a block list".into());
            };
            let ls = line_start(first.start);
            let indent = &text[ls..first.start];
            let dash = indent.find('-').ok_or("its patches are not a block list")?;
            if !indent[..dash].bytes().all(|b| b == b' ') {
                return Err("its patches are not a block list".into());
            }
            let at = text[seq.end..].find('\n').map(|i| seq.end + i + 1);
            match at {
                Some(at) => (at, indent[..dash].to_string(), String::new()),
                None => (text.len(), indent[..dash].to_string(), nl.to_string()),
            }
        }
        None => {
            let head = if text.is_empty() || text.ends_with('\n') {
                format!("patches:{nl}")
            } else {
                format!("{nl}patches:{nl}")
            };
            (text.len(), String::new(), head)
        }
    };
    let mut new = head;
    let mut values = Vec::new();
    for r in renamed {
        let (v, t) = plugin_name_patch(r, &indent, nl);
        values.push(v);
        new.push_str(&t);
    }
    match want.get_mut("patches") {
        Some(Value::Sequence(list)) => list.extend(values),
        _ => {
            if let Value::Mapping(m) = want {
                m.insert("patches".into(), Value::Sequence(values));
            }
        }
    }
    Ok(Edit {
        start: at,
        end: at,
        text: new,
    })
}

fn seq_items<'n>(root: &'n Node, key: &str) -> &'n [Node] {
    match root.entry(key).map(|(_, v)| &v.kind) {
        Some(NodeKind::Sequence { items, .. }) => items,
        _ => &[],
    }
}

fn plan_kustomization_doc(
    file: &SourceFile,
    doc: &Document,
    renamed: &[Renamed],
    opts: &Options,
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
) -> DocPlan {
    let have = match yaml::parse(doc.text) {
        Ok(v) => v,
        Err(e) => {
            if doc.text.contains(sme::KIND) {
                counters.unreadable += 1;
                notes.push(
                    crate::conversion::stream::parse_error(&file.name, doc, &e)
                        .advice("fix the kustomization; it was left untouched"),
                );
            }
            return DocPlan::Keep;
        }
    };
    if !doc.text.contains(sme::KIND) && renamed.is_empty() {
        return DocPlan::Keep;
    }
    let root = match yaml::parse_spans(doc.text) {
        Ok(Some(r)) => r,
        _ => {
            error(
                notes,
                counters,
                &file.name,
                doc.content_line(),
                "the span parser refused the kustomization".into(),
            );
            return DocPlan::Keep;
        }
    };
    let line = |n: &Node| doc.start_line + n.line - 1;
    // The span tree and the value tree must agree on every list, or an
    // index below would point at the wrong entry.
    for key in ["patchesStrategicMerge", "patchesJson6902", "patches"] {
        let values = have
            .get(key)
            .and_then(Value::as_sequence)
            .map_or(0, Vec::len);
        if seq_items(&root, key).len() != values {
            error(
                notes,
                counters,
                &file.name,
                doc.content_line(),
                format!("{key} could not be read item by item"),
            );
            return DocPlan::Keep;
        }
    }
    let mut want = have.clone();
    let mut edits: Vec<Edit> = Vec::new();
    let mut refused = false;
    // Strategic-merge patches written inline.
    for (i, node) in seq_items(&root, "patchesStrategicMerge").iter().enumerate() {
        let Some(inner) = have["patchesStrategicMerge"][i].as_str() else {
            continue;
        };
        if !inner.contains('\n') || !inner.contains(sme::KIND) {
            continue;
        }
        counters.remaining += 1;
        let mut warnings = Vec::new();
        let result =
            convert_patch_text(inner, Some(false), opts, &mut warnings).and_then(|new| match new {
                None => Ok(None),
                Some(t) => rewrite::string_edit(doc.text, node, &t)
                    .map(|e| Some((t, e)))
                    .map_err(|e| e.0),
            });
        match result {
            Ok(Some((t, e))) => {
                counters.patches += 1;
                edits.push(e);
                want["patchesStrategicMerge"][i] = Value::String(t);
                warn_all(notes, &file.name, line(node), warnings);
            }
            Ok(None) => {}
            Err(why) => {
                refused = true;
                error(notes, counters, &file.name, line(node), why)
            }
        }
    }
    for key in ["patchesJson6902", "patches"] {
        for (i, node) in seq_items(&root, key).iter().enumerate() {
            let entry = &have[key][i];
            if !target_is_sme(entry) {
                // A targetless inline patch may still be an SME document.
                if entry.get("target").is_some() {
                    continue;
                }
                let Some(inner) = entry.get("patch").and_then(Value::as_str) else {
                    continue;
                };
                if !inner.contains(sme::KIND) {
                    continue;
                }
            }
            counters.remaining += 1;
            let mut warnings = Vec::new();
            match rewrite_entry(
                doc.text,
                node,
                entry,
                key == "patchesJson6902",
                opts,
                &mut warnings,
            ) {
                Ok((new_entry, mut e)) => {
                    counters.patches += 1;
                    edits.append(&mut e);
                    want[key][i] = new_entry;
                    warn_all(notes, &file.name, line(node), warnings);
                }
                Err(why) => {
                    refused = true;
                    error(notes, counters, &file.name, line(node), why)
                }
            }
        }
    }
    // A kustomization is rewritten whole or not at all: half of it
    // rewritten would render something else than either.
    if refused {
        return DocPlan::Keep;
    }
    // Replacements written inline, and vars, whose selectors name SMEs.
    for key in ["replacements", "vars"] {
        for (i, node) in seq_items(&root, key).iter().enumerate() {
            let Some(entry) = have.get(key).and_then(|l| l.get(i)) else {
                error(
                    notes,
                    counters,
                    &file.name,
                    doc.content_line(),
                    format!("{key} could not be read item by item"),
                );
                return DocPlan::Keep;
            };
            let entry = entry.clone();
            let mut warnings = Vec::new();
            let new = if key == "vars" {
                retarget_var(&entry, &mut warnings)
            } else {
                retarget_replacement(&entry, &mut warnings)
            };
            let result = new.and_then(|new| {
                if new == entry {
                    return Ok(None);
                }
                rewrite::node_edits(doc.text, node, &entry, &new, rewrite::no_renames)
                    .map(|e| Some((new, e)))
                    .map_err(|e| e.0)
            });
            match result {
                Ok(None) => {}
                Ok(Some((new, mut e))) => {
                    counters.patches += 1;
                    edits.append(&mut e);
                    want[key][i] = new;
                    warn_all(notes, &file.name, line(node), warnings);
                }
                Err(why) => {
                    refuse(notes, counters, &file.name, line(node), key, why);
                    return DocPlan::Keep;
                }
            }
        }
    }
    if !renamed.is_empty() {
        let at = ["namePrefix", "nameSuffix", "components"]
            .iter()
            .find_map(|k| root.entry(k))
            .map_or(doc.content_line(), |(k, _)| line(k));
        match plugin_name_edit(doc.text, &root, &mut want, renamed) {
            Ok(e) => {
                edits.push(e);
                notes.push(
                    note(
                        Code::KustomizeRenamed,
                        &file.name,
                        at,
                        format!(
                            "name transformers rename {}: a patch sets each WasmPlugin's pluginName to its rendered name + _root (Maistra's root_id)",
                            plural_smes(renamed.len())
                        ),
                    ),
                );
            }
            Err(why) => {
                error(
                    notes,
                    counters,
                    &file.name,
                    at,
                    format!("namePrefix/nameSuffix rename {}, so each needs a pluginName patch, but {why}", plural_smes(renamed.len())),
                );
                return DocPlan::Keep;
            }
        }
    }
    if edits.is_empty() {
        return DocPlan::Keep;
    }
    let verified = rewrite::apply_edits(doc.text, edits)
        .map_err(|e| e.0)
        .and_then(|t| match yaml::parse(&t) {
            Ok(v) if v == want => Ok(t),
            Ok(_) => Err("the edited kustomization means something else".into()),
            Err(e) => Err(format!(
                "the edited kustomization does not parse: {}",
                e.message
            )),
        });
    match verified {
        Ok(t) => DocPlan::Text(t),
        Err(why) => {
            error(notes, counters, &file.name, doc.content_line(), why);
            DocPlan::Keep
        }
    }
}

fn plural_smes(n: usize) -> String {
    if n == 1 {
        "1 ServiceMeshExtension".into()
    } else {
        format!("{n} ServiceMeshExtensions")
    }
}

/// One `patches` / `patchesJson6902` entry: its target, and its inline
/// patch. Returns the new entry and the edits.
fn rewrite_entry(
    text: &str,
    node: &Node,
    entry: &Value,
    json6902: bool,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<(Value, Vec<Edit>), String> {
    let mut new_entry = entry.clone();
    let mut edits = Vec::new();
    if let (Some(target), Some((_, tnode))) = (entry.get("target"), node.entry("target")) {
        let mut t = target.clone();
        if t.get("group").is_some() {
            t["group"] = Value::String("extensions.istio.io".into());
        }
        if t.get("version").is_some() {
            t["version"] = Value::String("v1alpha1".into());
        }
        t["kind"] = Value::String(wasmplugin::KIND.into());
        edits.extend(
            rewrite::node_edits(text, tnode, target, &t, rewrite::no_renames).map_err(|e| e.0)?,
        );
        new_entry["target"] = t;
    }
    if let (Some(inner), Some((_, pnode))) = (
        entry.get("patch").and_then(Value::as_str),
        node.entry("patch"),
    ) {
        let kind = json6902.then_some(true);
        if let Some(t) = convert_patch_text(inner, kind, opts, warnings)? {
            edits.push(rewrite::string_edit(text, pnode, &t).map_err(|e| e.0)?);
            new_entry["patch"] = Value::String(t);
        }
    }
    Ok((new_entry, edits))
}

/// A file that kustomizations use as a patch.
pub fn plan_patch_file<'a>(
    file: &'a SourceFile,
    uses: &[PatchKind],
    opts: &Options,
    notes: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    if let Some(kind) = uses.iter().copied().find(|k| {
        matches!(
            k,
            PatchKind::Replacements | PatchKind::Configuration | PatchKind::Crds
        )
    }) {
        return plan_construct_file(file, kind, notes, counters);
    }
    let targeted = uses.contains(&PatchKind::Targeted);
    let mut out = Vec::new();
    let mut refused = false;
    for doc in yaml::split_documents(&file.text) {
        if doc.is_blank() || (!targeted && !doc.text.contains(sme::KIND)) {
            out.push((doc, DocPlan::Keep));
            continue;
        }
        let have = match yaml::parse(doc.text) {
            Ok(v) => v,
            Err(e) => {
                counters.unreadable += 1;
                notes.push(
                    crate::conversion::stream::parse_error(&file.name, &doc, &e)
                        .advice("fix the patch; it was left untouched"),
                );
                out.push((doc, DocPlan::Keep));
                continue;
            }
        };
        let is_ops = matches!(have, Value::Sequence(_));
        if !is_ops && sme::kind_of(&have) != Some(sme::KIND) {
            out.push((doc, DocPlan::Keep));
            continue;
        }
        if !is_ops {
            counters.remaining += 1;
        }
        let mut warnings = Vec::new();
        match convert_patch_text(doc.text, Some(is_ops), opts, &mut warnings) {
            Ok(Some(t)) => {
                counters.patches += 1;
                warn_all(notes, &file.name, doc.content_line(), warnings);
                out.push((doc, DocPlan::Text(t)));
            }
            Ok(None) => out.push((doc, DocPlan::Keep)),
            Err(why) => {
                error(notes, counters, &file.name, doc.content_line(), why);
                out.push((doc, DocPlan::Keep));
                refused = true;
            }
        }
    }
    // A patch file is rewritten whole or not at all.
    if refused {
        for (_, plan) in &mut out {
            *plan = DocPlan::Keep;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(text: &str) -> Result<String, String> {
        let mut w = Vec::new();
        let v = convert_ops(&yaml::parse(text).unwrap(), &Options::default(), &mut w)?;
        Ok(serde_json::to_string(&yaml::to_json(&v)).unwrap())
    }

    #[test]
    fn json_patch_paths_and_values() {
        assert_eq!(
            ops("[{op: replace, path: /spec/config/a, value: 1}, {op: add, path: /spec/workloadSelector/labels/app, value: x}, {op: replace, path: /spec/image, value: 'q/x:1'}, {op: replace, path: /spec/phase, value: PostStats}]").unwrap(),
            r#"[{"op":"replace","path":"/spec/pluginConfig/a","value":1},{"op":"add","path":"/spec/selector/matchLabels/app","value":"x"},{"op":"replace","path":"/spec/url","value":"oci://q/x:1"},{"op":"replace","path":"/spec/phase","value":"UNSPECIFIED_PHASE"}]"#
        );
        assert!(ops("[{op: replace, path: /spec/phase, value: Late}]").is_err());
        assert!(ops("[{op: add, path: /spec/foo, value: 1}]").is_err());
        assert!(ops("[{op: replace, path: /spec/imagePullPolicy, value: Never}]").is_err());
    }

    #[test]
    fn url_options_keep_the_scheme() {
        let o = |t: &str| url_options(Some(&yaml::parse(t).unwrap()));
        let none = url_options(None).unwrap();
        assert_eq!(
            none,
            yaml::parse("{delimiter: 'oci://', index: 1}").unwrap()
        );
        assert_eq!(
            o("{delimiter: ':', index: 1}").unwrap(),
            yaml::parse("{delimiter: ':', index: 2}").unwrap()
        );
        assert_eq!(
            o("{delimiter: '/', index: 1}").unwrap(),
            yaml::parse("{delimiter: '/', index: 3}").unwrap()
        );
        assert_eq!(
            o("{delimiter: '@', index: 1, create: true}").unwrap(),
            yaml::parse("{delimiter: '@', index: 1, create: true}").unwrap()
        );
        assert!(o("{delimiter: ':', index: 0}").is_err());
        assert!(o("{index: 1}").is_err());
    }

    #[test]
    fn field_paths_move_with_the_renamed_fields() {
        let mut w = Vec::new();
        let mv = |p: &str, w: &mut Vec<String>| {
            moved_path(&split_field_path(p, '.'), w).map(|s| s.join("."))
        };
        assert_eq!(
            mv("spec.config.rules.[name=a.b].level", &mut w).unwrap(),
            "spec.pluginConfig.rules.[name=a.b].level"
        );
        assert_eq!(
            mv("spec.workloadSelector.labels.app", &mut w).unwrap(),
            "spec.selector.matchLabels.app"
        );
        assert_eq!(
            mv("metadata.labels.x", &mut w).unwrap(),
            "metadata.labels.x"
        );
        assert!(w.is_empty());
        assert_eq!(mv("spec.priority", &mut w).unwrap(), "spec.priority");
        assert_eq!(w.len(), 1);
        for refused in [
            "spec.phase",
            "spec.imagePullSecrets.0.name",
            "spec.workloadSelector",
            "spec.foo",
            "status.phase",
        ] {
            assert!(mv(refused, &mut w).is_err(), "{refused}");
        }
    }

    #[test]
    fn selectors_of_other_kinds_are_left_alone() {
        assert_eq!(
            retarget_selector(&yaml::parse("{kind: ConfigMap, name: x}").unwrap()),
            None
        );
        assert_eq!(
            retarget_selector(
                &yaml::parse("{kind: ServiceMeshExtension, group: maistra.io, name: x}").unwrap()
            ),
            Some(yaml::parse("{kind: WasmPlugin, group: extensions.istio.io, name: x}").unwrap())
        );
        assert_eq!(name_regex("a.b"), "a\\.b");
    }

    fn model(files: &[(&str, &str)]) -> (HashMap<String, Vec<Renamed>>, Vec<Notification>) {
        let files: Vec<SourceFile> = files
            .iter()
            .map(|(n, t)| SourceFile {
                path: std::path::PathBuf::from(n),
                name: n.to_string(),
                text: t.to_string(),
            })
            .collect();
        let mut m = NameModel::new(&files);
        let mut notes = Vec::new();
        let renamed = m.renamed();
        m.namespaces(&mut notes);
        (renamed, notes)
    }

    const SME_A: &str = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\n  namespace: n1\nspec: {}\n";
    const SME_B: &str = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: b\n  namespace: n2\nspec: {}\n";

    #[test]
    fn prefixes_of_overlays_and_components_add_up() {
        let (renamed, _) = model(&[
            ("base/kustomization.yaml", "resources: [a.yaml]\n"),
            ("base/a.yaml", SME_A),
            ("c/kustomization.yaml", "kind: Component\nnameSuffix: -c\n"),
            (
                "o/kustomization.yaml",
                "resources: [../base]\ncomponents: [../c]\nnamePrefix: p-\nnamespace: x\n",
            ),
            (
                "top/kustomization.yaml",
                "resources: [../o]\nnamePrefix: t-\n",
            ),
        ]);
        let o = &renamed["o/kustomization.yaml"];
        assert_eq!(
            (o[0].name.as_str(), o[0].rendered.as_str()),
            ("a-c", "p-a-c")
        );
        assert_eq!(o[0].namespace.as_deref(), Some("n1"));
        let t = &renamed["top/kustomization.yaml"];
        assert_eq!(
            (t[0].name.as_str(), t[0].rendered.as_str()),
            ("p-a-c", "t-p-a-c")
        );
        assert_eq!(t[0].namespace.as_deref(), Some("x"));
        assert!(!renamed.contains_key("base/kustomization.yaml"));
    }

    #[test]
    fn renderings_that_group_smes_differently_are_named() {
        let (_, notes) = model(&[
            ("a/kustomization.yaml", "resources: [a.yaml]\n"),
            ("a/a.yaml", SME_A),
            ("b/kustomization.yaml", "resources: [b.yaml]\n"),
            ("b/b.yaml", SME_B),
            ("apart/kustomization.yaml", "resources: [../a, ../b]\n"),
            (
                "together/kustomization.yaml",
                "namespace: x\nresources: [../a, ../b]\n",
            ),
        ]);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert_eq!(notes[0].level, crate::notify::Level::Warn);
        assert!(
            notes[0]
                .to_string()
                .contains("together/kustomization.yaml:1"),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn paths_are_joined_inside_the_directory() {
        assert_eq!(
            join("overlays/prod", "../../base/p.yaml").as_deref(),
            Some("base/p.yaml")
        );
        assert_eq!(join("", "../x.yaml"), None);
        assert_eq!(join("overlays/prod", "/etc/passwd"), None);
    }
}
