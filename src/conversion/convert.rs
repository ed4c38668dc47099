//! One ServiceMeshExtension → one WasmPlugin (SPEC §3–§6), and the
//! `Converter` that collects a whole run's SMEs so that their order can be
//! reconciled across all of them (SPEC §5). Pure: no I/O here.

use crate::conversion::imagemap::{digest_hex, ImageMap, ImageMapEntry};
use crate::conversion::manifest::Manifest;
use crate::conversion::mapping::{PhaseMap, PluginPhase, SmePhase};
use crate::conversion::order::{self, Item};
use crate::conversion::sme::{ApiVersion, Config, ServiceMeshExtension};
use crate::conversion::wasmplugin::{
    self, IstioVersion, Metadata, Selector, Spec, TrafficSelector, WasmPlugin,
};
use crate::notify::{Code, Level, Notification, Source};
use crate::yaml::{self, Document, Mapping, Value};

/// Everything that decides how SMEs are converted, validated up front.
#[derive(Debug, Clone)]
pub struct Options {
    pub phase_map: PhaseMap,
    pub root_namespace: String,
    /// Where the WasmPlugins of root-namespace SMEs go, when the new mesh's
    /// root namespace differs.
    pub new_root_namespace: Option<String>,
    pub istio_version: IstioVersion,
    /// Write `pluginName: <name>_root` (Maistra's root_id).
    pub plugin_name: bool,
    /// Defaults for phase and priority (an SME image's manifest.yaml).
    pub manifest: Option<Manifest>,
    pub image_map: Option<ImageMap>,
    /// SMEs (`namespace/name`) whose plugin must not be written, and why
    /// (`migrate --verify`).
    pub refuse: std::collections::BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            phase_map: PhaseMap::default(),
            root_namespace: "istio-system".into(),
            new_root_namespace: None,
            istio_version: IstioVersion::DEFAULT,
            plugin_name: true,
            manifest: None,
            image_map: None,
            refuse: Default::default(),
        }
    }
}

/// Where an SME was read: the file, and the document for field positions
/// (none for an item of a `kind: List`, which only has its own line).
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub file: &'a str,
    pub line: usize,
    pub doc: Option<Document<'a>>,
    /// The document's plain scalars that YAML 1.1 reads otherwise, when
    /// the reader has found them already (else they are looked for in
    /// `doc` when the config may hold one).
    pub yaml11: Option<&'a [crate::yaml::yaml11::Yaml11Scalar]>,
}

impl<'a> Site<'a> {
    /// A whole document of `file`, with the 1.1 scalars its reader found.
    pub fn document(
        file: &'a str,
        doc: Document<'a>,
        yaml11: Option<&'a [crate::yaml::yaml11::Yaml11Scalar]>,
    ) -> Self {
        Site {
            file,
            line: doc.content_line(),
            doc: Some(doc),
            yaml11,
        }
    }

    /// An object that has only its own line (an item of a `kind: List`).
    pub fn line(file: &'a str, line: usize) -> Self {
        Site {
            file,
            line,
            doc: None,
            yaml11: None,
        }
    }

    pub fn source(&self) -> Source {
        Source::new(self.file, self.line)
    }

    /// The line of a field such as `spec.phase`, where it can be found.
    pub fn field(&self, path: &str) -> Source {
        let parts: Vec<&str> = path.split('.').collect();
        let line = match &self.doc {
            Some(d) => d.line_of(&parts),
            None => self.line,
        };
        Source::new(self.file, line)
    }
}

/// How sure the gateway decision is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayEvidence {
    /// A label Istio's or Gateway API's gateways carry.
    Known(String),
    /// Another label whose value names a gateway: a guess.
    Guessed(String),
    None,
}

/// Does this selector pick a gateway? Gateways take a WasmPlugin on every
/// listener and need no `match` (SPEC §6). Known: the Gateway API and
/// istio.io gateway-name keys, and an `istio` label naming an ingress or
/// egress gateway (`ingressgateway` from the operator, `ingress` from the
/// gateway chart). Guessed: any other label value containing `gateway`.
pub fn gateway_evidence(selector: &[(String, String)]) -> GatewayEvidence {
    for (k, v) in selector {
        let lower = v.to_ascii_lowercase();
        if k == "gateway.networking.k8s.io/gateway-name"
            || k == "istio.io/gateway-name"
            || (k == "istio"
                && (lower.contains("gateway")
                    || lower.contains("ingress")
                    || lower.contains("egress")))
        {
            return GatewayEvidence::Known(format!("{k}={v}"));
        }
    }
    match selector
        .iter()
        .find(|(_, v)| v.to_ascii_lowercase().contains("gateway"))
    {
        Some((k, v)) => GatewayEvidence::Guessed(format!("{k}={v}")),
        None => GatewayEvidence::None,
    }
}

pub fn selects_gateway(selector: &[(String, String)]) -> bool {
    gateway_evidence(selector) != GatewayEvidence::None
}

/// Integers beyond this lose precision in a protobuf Struct (a double).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

fn is_inexact(n: &yaml::Number) -> bool {
    let big = n.as_i64().map(|i| i.unsigned_abs() > MAX_EXACT_INTEGER);
    let big = big.or_else(|| n.as_u64().map(|u| u > MAX_EXACT_INTEGER));
    big == Some(true)
}

/// Whether `inexact_numbers` would find anything, without building paths.
fn has_inexact_number(v: &Value) -> bool {
    match v {
        Value::Number(n) => is_inexact(n),
        Value::Sequence(s) => s.iter().any(has_inexact_number),
        Value::Mapping(m) => m.values().any(has_inexact_number),
        Value::Tagged(t) => has_inexact_number(&t.value),
        _ => false,
    }
}

fn inexact_numbers(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Number(n) if is_inexact(n) => out.push(path.to_string()),
        Value::Sequence(s) => {
            for (i, x) in s.iter().enumerate() {
                inexact_numbers(x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Mapping(m) => {
            for (k, x) in m {
                inexact_numbers(x, &format!("{path}.{}", yaml::key_string(k)), out);
            }
        }
        Value::Tagged(t) => inexact_numbers(&t.value, path, out),
        _ => {}
    }
}

/// The effective value of a field that Maistra resolved from status, spec
/// and manifest.yaml, in that order of precedence (SPEC §1, §2).
struct Resolved<T> {
    value: T,
    from: &'static str,
}

/// One SME that `Converter::add` accepted; its id is its index.
struct Accepted {
    /// Its owner slot (in `Converter::ends` and `sources`).
    owner: usize,
    /// Its index in `Converter::items`; the same object read twice shares
    /// one order item.
    order: usize,
}

/// Collects the SMEs of one run, converts each, and reconciles their order.
pub struct Converter<'o> {
    opts: &'o Options,
    /// What ordering needs, one per distinct object.
    items: Vec<Item>,
    /// The accepted SME whose order item this is (where its WARNs go).
    item_owner: Vec<usize>,
    accepted: Vec<Accepted>,
    /// Every notification so far, owner by owner (an SME added, or an
    /// input that could not be read), in one list rather than one per SME.
    notes: Vec<Notification>,
    /// For each owner, the end of its notifications in `notes`.
    ends: Vec<usize>,
    /// For each owner, where it was read.
    sources: Vec<Source>,
    /// `namespace/name` of every SME added: the owner that first read it,
    /// and its order item once accepted.
    seen: std::collections::HashMap<String, (usize, Option<usize>)>,
}

/// A priority the order reconciliation moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityChange {
    /// The id `Converter::add` returned.
    pub id: usize,
    pub new: i64,
}

/// What a finished conversion run produced besides the plugins.
pub struct Finished {
    pub changes: Vec<PriorityChange>,
    /// Ids that must not be written after all (ordering failed for them).
    pub failed: Vec<usize>,
    /// Every notification, in input order.
    pub notifications: Vec<Notification>,
}

impl<'o> Converter<'o> {
    pub fn new(opts: &'o Options) -> Self {
        Converter {
            opts,
            items: Vec::new(),
            item_owner: Vec::new(),
            accepted: Vec::new(),
            notes: Vec::new(),
            ends: Vec::new(),
            sources: Vec::new(),
            seen: std::collections::HashMap::new(),
        }
    }

    /// Add a notification that belongs to no SME (an unreadable document),
    /// keeping input order.
    pub fn note(&mut self, n: Notification) {
        // `sources` is indexed like `ends`, by owner.
        self.sources
            .push(n.source.clone().unwrap_or_else(|| Source::new("", 0)));
        self.notes.push(n);
        self.ends.push(self.notes.len());
    }

    /// Convert one SME. Returns its id and the WasmPlugin, or `None` when it
    /// cannot be converted (an ERROR says why).
    pub fn add(&mut self, sme: &ServiceMeshExtension, site: &Site) -> Option<(usize, WasmPlugin)> {
        self.add_owned(sme.clone(), site)
    }

    /// As `add`, taking the SME so that its config moves into the plugin
    /// instead of being copied.
    pub fn add_owned(
        &mut self,
        sme: ServiceMeshExtension,
        site: &Site,
    ) -> Option<(usize, WasmPlugin)> {
        let key = sme.object();
        let earlier = self.seen.get(&key).copied();
        if let Some((first_owner, _)) = earlier {
            let first = &self.sources[first_owner];
            self.notes.push(
                Notification::new(
                    Code::DuplicateSme,
                    &key,
                    format!("the same ServiceMeshExtension was already read at {first}; both are converted"),
                )
                .at(site.source())
                .advice("convert base and overlay separately, or render them first (kustomize build), so that one cluster object gives one WasmPlugin"),
            );
        }
        let result = match (
            convert_owned(sme, site, self.opts, &mut self.notes),
            self.opts.refuse.contains_key(&key),
        ) {
            // `migrate --verify` already said why (an ERROR).
            (Some(_), true) => None,
            (result, _) => result,
        };
        let owner = self.ends.len();
        self.ends.push(self.notes.len());
        self.sources.push(site.source());
        let Some((plugin, item)) = result else {
            self.seen.entry(key).or_insert((owner, None));
            return None;
        };
        let id = self.accepted.len();
        let order = match earlier.and_then(|(_, order)| order) {
            Some(order) => order,
            None => {
                self.items.push(item);
                self.item_owner.push(id);
                let first_owner = earlier.map_or(owner, |(o, _)| o);
                self.seen
                    .insert(key, (first_owner, Some(self.items.len() - 1)));
                self.items.len() - 1
            }
        };
        self.accepted.push(Accepted { owner, order });
        Some((id, plugin))
    }

    /// Reconcile the order of everything added, and hand back the priority
    /// changes and all notifications.
    pub fn finish(mut self) -> Finished {
        let mut failed = Vec::new();
        // Notifications appended to `notes` that belong after the owners in
        // `later` (in increasing order): merged into place at the end.
        let mut later: Vec<usize> = Vec::new();
        let changes = match order::reconcile(&self.items, &self.opts.root_namespace) {
            Ok(changes) => changes,
            Err(message) => {
                // Only reachable with priorities near the int32 bounds: none
                // of the SMEs is written.
                for (id, a) in self.accepted.iter().enumerate() {
                    failed.push(id);
                    later.push(a.owner);
                    self.notes.push(
                        Notification::new(
                            Code::OrderConflict,
                            self.items[a.order].object(),
                            message.clone(),
                        )
                        .at(self.sources[a.owner].clone())
                        .advice("not written; adjust the priorities and run again"),
                    );
                }
                Vec::new()
            }
        };
        for c in &changes {
            let me = &self.items[c.index];
            let other = &self.items[c.partner];
            let relation = if c.before { "before" } else { "after" };
            let why = if me.plugin_phase == other.plugin_phase && me.sme_phase != other.sme_phase {
                format!(
                    "{} and {} both become {}",
                    me.sme_phase, other.sme_phase, me.plugin_phase
                )
            } else {
                format!(
                    "both are {} and Istio breaks ties differently",
                    me.plugin_phase
                )
            };
            let owner = self.accepted[self.item_owner[c.index]].owner;
            later.push(owner);
            self.notes.push(
                Notification::new(
                    Code::PriorityChanged,
                    me.object(),
                    format!(
                        "priority changed from {} to {} so that it still runs {relation} {} as in Maistra ({why})",
                        c.old,
                        c.new,
                        other.object()
                    ),
                )
                .at(self.sources[owner].clone())
                .advice("review the new priority; other WasmPlugins you add later must respect it"),
            );
        }
        let mut new_by_order = vec![None; self.items.len()];
        for c in &changes {
            new_by_order[c.index] = Some(c.new);
        }
        // Free what is no longer needed before the merge.
        drop(std::mem::take(&mut self.items));
        drop(std::mem::take(&mut self.sources));
        let notifications = merge_after_owners(self.notes, &self.ends, &later);
        Finished {
            changes: self
                .accepted
                .iter()
                .enumerate()
                .filter_map(|(id, a)| new_by_order[a.order].map(|new| PriorityChange { id, new }))
                .collect(),
            failed,
            notifications,
        }
    }
}

/// `notes` is grouped by owner (owner `o`'s end at `ends[o]`) and then
/// holds one notification for each owner of `later` (owners in increasing
/// order): place each of those after its owner's own. Done in place: a
/// run's notifications are not copied.
fn merge_after_owners(
    mut notes: Vec<Notification>,
    ends: &[usize],
    later: &[usize],
) -> Vec<Notification> {
    if later.is_empty() {
        return notes;
    }
    debug_assert!(later.windows(2).all(|w| w[0] <= w[1]));
    debug_assert_eq!(notes.len(), ends.last().copied().unwrap_or(0) + later.len());
    // Where each ends up: `notes[i]` of owner `o` moves down by the number
    // of later notifications of owners before `o`; the k-th later one goes
    // to `ends[o] + k`.
    let mut target: Vec<usize> = Vec::with_capacity(notes.len() + later.len());
    let mut before = 0;
    let mut start = 0;
    for (owner, &end) in ends.iter().enumerate() {
        while before < later.len() && later[before] < owner {
            before += 1;
        }
        target.extend((start..end).map(|i| i + before));
        start = end;
    }
    for (k, owner) in later.iter().enumerate() {
        target.push(ends[*owner] + k);
    }
    // Follow the cycles of the permutation: each swap puts one in place.
    for p in 0..notes.len() {
        while target[p] != p {
            let t = target[p];
            notes.swap(p, t);
            target.swap(p, t);
        }
    }
    notes
}

fn resolve_phase(
    sme: &ServiceMeshExtension,
    defaults: Option<(Option<&str>, &'static str)>,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Option<Resolved<String>> {
    let obj = sme.object();
    let status = sme.status.as_ref().and_then(|s| s.phase.clone());
    match (&sme.phase, status) {
        (Some(spec), Some(st)) if *spec != st => {
            notes.push(
                Notification::new(
                    Code::StatusPhase,
                    &obj,
                    format!("status.phase {st} differs from spec.phase {spec}; istiod applied {st}, so the WasmPlugin keeps it"),
                )
                .at(site.field("status.phase"))
                .advice("check which phase the extension is meant to run in"),
            );
            Some(Resolved {
                value: st,
                from: "status",
            })
        }
        (_, Some(st)) => Some(Resolved {
            value: st,
            from: "status",
        }),
        (Some(spec), None) => Some(Resolved {
            value: spec.clone(),
            from: "spec",
        }),
        (None, None) => match defaults {
            Some((Some(p), from)) => {
                notes.push(
                    Notification::new(
                        Code::PhaseFromManifest,
                        &obj,
                        format!("spec.phase is not set; Maistra used {p} from {from}"),
                    )
                    .at(site.source()),
                );
                Some(Resolved {
                    value: p.to_string(),
                    from,
                })
            }
            _ => {
                notes.push(
                    Notification::new(
                        Code::PhaseUnknown,
                        &obj,
                        "spec.phase is not set and no manifest.yaml says which phase the image declares",
                    )
                    .at(site.source())
                    .advice("pass --manifest with the image's manifest.yaml, or --image-map written by `sme2wasm repack`, or set spec.phase"),
                );
                None
            }
        },
    }
}

fn resolve_priority(
    sme: &ServiceMeshExtension,
    defaults: Option<(Option<i64>, &'static str)>,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Resolved<i64> {
    let status = sme.status.as_ref().and_then(|s| s.priority);
    match (sme.priority, status) {
        (Some(spec), Some(st)) if spec != st => {
            notes.push(
                Notification::new(
                    Code::StatusPriority,
                    sme.object(),
                    format!("status.priority {st} differs from spec.priority {spec}; istiod applied {st}, so the WasmPlugin keeps it"),
                )
                .at(site.field("status.priority")),
            );
            Resolved {
                value: st,
                from: "status",
            }
        }
        (_, Some(st)) => Resolved {
            value: st,
            from: "status",
        },
        (Some(spec), None) => Resolved {
            value: spec,
            from: "spec",
        },
        (None, None) => {
            let (value, from) = match defaults {
                Some((Some(p), from)) => (p, from),
                Some((None, from)) => (0, from),
                None => (0, "Maistra's default"),
            };
            notes.push(
                Notification::new(
                    Code::PriorityExplicit,
                    sme.object(),
                    format!("spec.priority is not set; Maistra used {value} ({from}), written explicitly because Istio sorts an unset priority last"),
                )
                .at(site.source()),
            );
            Resolved { value, from }
        }
    }
}

/// The url and sha256 for an SME image: the repacked image when the image
/// map knows it, else the same image with an explicit `oci://`.
pub fn plugin_url(image: &str, entry: Option<&ImageMapEntry>) -> (String, Option<String>) {
    match entry {
        Some(e) => (
            format!("oci://{}", e.to),
            digest_hex(&e.digest).map(str::to_string),
        ),
        None if image.contains("://") => (image.to_string(), None),
        None => (format!("oci://{image}"), None),
    }
}

/// `plugin_url`, with the notification that says where the url came from.
fn resolve_url(
    sme: &ServiceMeshExtension,
    image: &str,
    entry: Option<&ImageMapEntry>,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> (String, Option<String>) {
    if let Some(e) = entry {
        notes.push(
            Notification::new(
                Code::ImageRepacked,
                sme.object(),
                format!(
                    "image {image} becomes the repacked {}, pinned to {}",
                    e.to, e.digest
                ),
            )
            .at(site.field("spec.image")),
        );
        return plugin_url(image, Some(e));
    }
    let (url, _) = plugin_url(image, None);
    notes.push(
        Notification::new(
            Code::ImageNotRepacked,
            sme.object(),
            format!("image {image} has not been repacked: unless it already holds /plugin.wasm, Istio's fetcher refuses it"),
        )
        .at(site.field("spec.image"))
        .advice("run `sme2wasm repack` on it and convert again with --image-map"),
    );
    (url, None)
}

/// What to do about a plugin that will receive an empty configuration.
const VERIFY_ADVICE: &str = "run `sme2wasm verify` on it to see whether the plugin still loads and behaves the same, and give it a pluginConfig if not";

fn convert_config(
    sme: &ServiceMeshExtension,
    config: Config,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Result<Option<Mapping>, ()> {
    let obj = sme.object();
    let from_object = matches!(config, Config::Object(_));
    let error = |message: String| {
        Notification::new(Code::ConfigNotObject, &obj, message)
            .at(site.field("spec.config"))
            .advice("a WasmPlugin's pluginConfig is a JSON object (a protobuf Struct); change the plugin to read a JSON object, then set spec.config to one")
    };
    let map = match config {
        Config::Absent => {
            notes.push(
                Notification::new(
                    Code::ConfigNull,
                    &obj,
                    "no spec.config: the WasmPlugin has no pluginConfig; the plugin used to receive the text `null` as its configuration and now receives an empty one, and may behave differently",
                )
                .at(site.source())
                .advice(VERIFY_ADVICE),
            );
            return Ok(None);
        }
        Config::Object(m) if m.is_empty() => {
            notes.push(
                Notification::new(
                    Code::ConfigEmptyObject,
                    &obj,
                    "spec.config is an empty object: the plugin used to receive the text `{}`, but Istio passes no configuration at all for an empty pluginConfig",
                )
                .at(site.field("spec.config"))
                .advice(VERIFY_ADVICE),
            );
            m
        }
        Config::Object(m) => m,
        // Maistra's v1alpha1 conversion turned an empty or `null` string into
        // no config at all, which the plugin received as `null`.
        Config::Text(s)
            if sme.api_version == ApiVersion::V1Alpha1 && matches!(s.trim(), "" | "null") =>
        {
            notes.push(
                Notification::new(
                    Code::ConfigNull,
                    &obj,
                    "the v1alpha1 config string is empty: the WasmPlugin has no pluginConfig; the plugin used to receive the text `null` as its configuration and now receives an empty one, and may behave differently",
                )
                .at(site.field("spec.config"))
                .advice(VERIFY_ADVICE),
            );
            return Ok(None);
        }
        Config::Text(s) if sme.api_version == ApiVersion::V1Alpha1 => {
            match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(serde_json::Value::Object(o)) => {
                    notes.push(
                        Notification::new(
                            Code::ConfigReserialized,
                            &obj,
                            "the v1alpha1 string config is a JSON object and becomes pluginConfig; the plugin now receives it re-serialized (spacing and number formatting may differ)",
                        )
                        .at(site.field("spec.config")),
                    );
                    match yaml::to_value(&serde_json::Value::Object(o)) {
                        Value::Mapping(m) => m,
                        _ => unreachable!("a JSON object converts to a mapping"),
                    }
                }
                _ => {
                    notes.push(error(
                        "the v1alpha1 string config is not a JSON object; the plugin received the raw text, which a pluginConfig (a Struct) cannot carry".into(),
                    ));
                    return Err(());
                }
            }
        }
        Config::Text(_) | Config::Other(_) => {
            notes.push(error(
                "spec.config is not an object; a pluginConfig (a Struct) cannot carry it".into(),
            ));
            return Err(());
        }
    };
    let map = if from_object {
        yaml11_config(map, site, &obj, notes)
    } else {
        map
    };
    if map.contains_key("raw_v1alpha1_config") {
        notes.push(error(
            "spec.config holds raw_v1alpha1_config: the plugin received a raw string, which a pluginConfig (a Struct) cannot carry".into(),
        ));
        return Err(());
    }
    let mut inexact = Vec::new();
    // The paths are only spelt out when there is a number to report.
    if map.values().any(has_inexact_number) {
        for (k, x) in &map {
            let path = format!("pluginConfig.{}", yaml::key_string(k));
            inexact_numbers(x, &path, &mut inexact);
        }
    }
    for path in inexact {
        notes.push(
            Notification::new(
                Code::ConfigRounded,
                &obj,
                format!("{path} is an integer beyond 2^53: a Struct stores numbers as doubles, so the plugin receives a rounded value"),
            )
            .at(site.field("spec.config"))
            .advice("write the value as a string and parse it in the plugin"),
        );
    }
    Ok(Some(map))
}

/// The WasmPlugin's namespace: the SME's, or the new root namespace for an
/// SME that applied mesh-wide from the old one.
fn target_namespace(
    sme: &ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Option<String> {
    match (&sme.namespace, &opts.new_root_namespace) {
        (Some(ns), Some(new)) if *ns == opts.root_namespace => {
            let secret = !sme.image_pull_secrets.is_empty();
            let mut n = Notification::new(
                if secret {
                    Code::MeshWidePullSecret
                } else {
                    Code::MeshWide
                },
                sme.object(),
                format!("mesh-wide: the WasmPlugin goes to the new root namespace {new}"),
            )
            .at(site.field("metadata.namespace"));
            if secret {
                n.advice = format!("create the pull secret in {new} too").into();
            }
            notes.push(n);
            Some(new.clone())
        }
        (ns, _) => ns.clone(),
    }
}

/// The config as the cluster held it: plain scalars that kubectl reads with
/// YAML 1.1 rules (`yes`, `on`, `010`, `1_000`…) get that meaning, each with a
/// WARN, since that is what the plugin received.
fn yaml11_config(map: Mapping, site: &Site, obj: &str, notes: &mut Vec<Notification>) -> Mapping {
    use crate::yaml::yaml11::{self, Step};
    let Some(doc) = &site.doc else { return map };
    let mut root = Value::Mapping(map);
    let found;
    let differences = match site.yaml11 {
        Some(d) => d,
        None if yaml11::may_differ(&root, doc.text) => {
            found = yaml11::differences(doc.text);
            &found
        }
        None => &[],
    };
    for d in differences {
        let rest = match d.path.as_slice() {
            [Step::Key(s), Step::Key(c), rest @ ..]
                if s == "spec" && c == "config" && !rest.is_empty() =>
            {
                rest
            }
            _ => continue,
        };
        if !yaml11::apply(&mut root, d, rest) {
            continue;
        }
        let path: String = rest
            .iter()
            .map(|s| match s {
                Step::Key(k) => format!(".{k}"),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect();
        let meaning = yaml::to_string(&d.value);
        let what = if d.is_key { "key" } else { "value" };
        notes.push(
            Notification::new(
                Code::ConfigYaml11,
                obj,
                format!(
                    "spec.config{path}: kubectl reads the plain {what} `{}` with YAML 1.1 rules as {}, which is what the cluster held and the plugin received; the WasmPlugin keeps that",
                    d.text,
                    meaning.trim_end()
                ),
            )
            .at(Source::new(site.file, doc.start_line + d.line - 1))
            .advice(format!("if the text `{}` was meant, quote it in the source", d.text)),
        );
    }
    match root {
        Value::Mapping(m) => m,
        _ => unreachable!("the root stays a mapping"),
    }
}

/// The conversion of one SME: the WasmPlugin and its order item, or `None`
/// with an ERROR in `notes`.
pub fn convert_one(
    sme: &ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Option<(WasmPlugin, Item)> {
    convert_owned(sme.clone(), site, opts, notes)
}

/// As `convert_one`, taking the SME: its config, labels and annotations
/// move into the plugin.
///
/// SPEC §3's field table: one function per WasmPlugin field, each taking the
/// SME (and the options) and giving the field's value, its notifications
/// pushed to `notes` in the order the user reads them.
pub fn convert_owned(
    mut owned: ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Option<(WasmPlugin, Item)> {
    let config = std::mem::replace(&mut owned.config, Config::Absent);
    let sme = &owned;
    let before = notes.len();
    check_fields(sme, site, notes);
    let image = field_image(sme, site, notes)?;
    let entry = opts.image_map.as_ref().and_then(|m| m.lookup(&image));
    let (sme_phase, priority) = field_maistra_phase_and_priority(sme, entry, site, opts, notes);
    check_ready(sme, site, notes);
    let plugin_phase = field_phase(sme, sme_phase, site, opts, notes);
    let (url, sha256) = resolve_url(sme, &image, entry, site, notes);
    let image_pull_policy = field_pull_policy(sme, site, notes);
    let image_pull_secret = field_pull_secret(sme, site, notes);
    let config = convert_config(sme, config, site, notes);
    let match_ = field_match(sme, site, opts, notes);
    let failed = notes[before..].iter().any(|n| n.level == Level::Error);
    let (sme_phase, plugin_phase, config) = match (sme_phase, plugin_phase, config) {
        (Some(a), Some(b), Ok(c)) if !failed => (a, b, c),
        _ => return None,
    };
    let plugin_name = field_plugin_name(sme, opts);
    let metadata = field_metadata(&mut owned, site, opts, notes);
    let plugin = WasmPlugin {
        api_version: wasmplugin::API_VERSION,
        kind: wasmplugin::KIND,
        metadata,
        spec: Spec {
            selector: field_selector(&owned),
            url,
            sha256,
            image_pull_policy,
            image_pull_secret,
            plugin_config: config,
            plugin_name,
            phase: plugin_phase.field_value(),
            priority: priority.value,
            match_,
        },
    };
    if !check_plugin(&plugin, &owned, site, opts, notes) {
        return None;
    }
    let item = Item {
        namespace: owned.namespace,
        name: owned.name,
        image,
        sme_phase,
        priority: priority.value,
        selector: owned.selector,
        plugin_phase,
    };
    Some((plugin, item))
}

/// Every field: one Maistra's API accepts, and part of its API.
fn check_fields(sme: &ServiceMeshExtension, site: &Site, notes: &mut Vec<Notification>) {
    let obj = sme.object();
    for (path, why) in &sme.invalid_fields {
        notes.push(
            Notification::new(Code::InvalidField, &obj, format!("{path} {why}"))
                .at(site.field(path))
                .advice("fix the field; Maistra's API would have refused it"),
        );
    }
    for path in &sme.unknown_fields {
        notes.push(
            Notification::new(
                Code::UnknownField,
                &obj,
                format!(
                    "{path} is not part of the ServiceMeshExtension API and is not carried over"
                ),
            )
            .at(site.field(path))
            .advice("carry it over by hand if it matters"),
        );
    }
}

/// url's source: spec.image, which must be set.
fn field_image(
    sme: &ServiceMeshExtension,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Option<String> {
    match &sme.image {
        Some(i) if !i.trim().is_empty() => Some(i.trim().to_string()),
        _ => {
            notes.push(
                Notification::new(Code::MissingImage, sme.object(), "spec.image is missing")
                    .at(site.source())
                    .advice("set spec.image to the extension's image"),
            );
            None
        }
    }
}

/// The phase and priority Maistra used: spec, status, or the image's
/// manifest.yaml (from the image map or --manifest); each checked.
fn field_maistra_phase_and_priority(
    sme: &ServiceMeshExtension,
    entry: Option<&ImageMapEntry>,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> (Option<SmePhase>, Resolved<i64>) {
    let obj = sme.object();
    let (phase_default, priority_default) = match (entry, &opts.manifest) {
        (Some(e), _) if e.phase.is_some() => (
            Some((
                e.phase.as_deref(),
                "the image's manifest.yaml, from the image map",
            )),
            Some((e.priority, "the image's manifest.yaml, from the image map")),
        ),
        (_, Some(m)) => (
            Some((
                Some(m.phase.as_str()),
                "manifest.yaml given with --manifest",
            )),
            Some((m.priority, "manifest.yaml given with --manifest")),
        ),
        _ => (None, None),
    };
    let phase = resolve_phase(sme, phase_default, site, notes);
    let priority = resolve_priority(sme, priority_default, site, notes);
    let sme_phase = match phase {
        Some(p) => match SmePhase::parse_exact(&p.value) {
            Ok(sp) => Some(sp),
            Err(message) => {
                let field = if p.from == "status" {
                    "status.phase"
                } else {
                    "spec.phase"
                };
                notes.push(
                    Notification::new(Code::InvalidPhase, &obj, message)
                        .at(site.field(field))
                        .advice("Maistra never applied an SME with this phase; converting it would switch it on. Correct the phase if the extension is meant to run, or delete it"),
                );
                None
            }
        },
        None => None,
    };
    if i32::try_from(priority.value).is_err() {
        notes.push(
            Notification::new(
                Code::PriorityRange,
                &obj,
                format!(
                    "priority {} ({}) does not fit in int32, which WasmPlugin requires",
                    priority.value, priority.from
                ),
            )
            .at(site.field("spec.priority"))
            .advice("choose a priority between -2147483648 and 2147483647 that keeps the order"),
        );
    }
    (sme_phase, priority)
}

/// An extension Maistra did not apply becomes an active WasmPlugin.
fn check_ready(sme: &ServiceMeshExtension, site: &Site, notes: &mut Vec<Notification>) {
    let obj = sme.object();
    if let Some(false) = sme.status.as_ref().and_then(|s| s.ready) {
        notes.push(
            Notification::new(
                Code::NotReady,
                &obj,
                "status.deployment.ready is false: Maistra did not apply this extension, but the WasmPlugin will be active",
            )
            .at(site.field("status.deployment"))
            .advice("make sure the extension should run before applying the WasmPlugin"),
        );
    }
}

/// phase: Maistra's phase through the phase table (and --phase-map).
fn field_phase(
    sme: &ServiceMeshExtension,
    sme_phase: Option<SmePhase>,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Option<PluginPhase> {
    let obj = sme.object();
    let plugin_phase = sme_phase.map(|p| opts.phase_map.get(p));
    if let (Some(sp), Some(pp)) = (sme_phase, plugin_phase) {
        if sp.slot() != pp.slot() {
            notes.push(
                Notification::new(
                    Code::PhaseMapped,
                    &obj,
                    format!("phase {sp} becomes {pp} by --phase-map: the plugin now runs at another place relative to Istio's authentication, authorization and stats filters"),
                )
                .at(site.field("spec.phase")),
            );
        }
    }
    plugin_phase
}

/// imagePullPolicy: IfNotPresent and Always carried over, Never dropped.
fn field_pull_policy(
    sme: &ServiceMeshExtension,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Option<String> {
    let obj = sme.object();
    match sme.image_pull_policy.as_deref() {
        None => None,
        Some(p @ ("IfNotPresent" | "Always")) => Some(p.to_string()),
        Some("Never") => {
            notes.push(
                Notification::new(
                    Code::PullPolicyNever,
                    &obj,
                    "imagePullPolicy Never has no WasmPlugin equivalent and is dropped; Istio's default applies (Always for a :latest tag, else IfNotPresent)",
                )
                .at(site.field("spec.imagePullPolicy")),
            );
            None
        }
        Some(other) => {
            notes.push(
                Notification::new(
                    Code::InvalidPullPolicy,
                    &obj,
                    format!("imagePullPolicy {other:?} is not IfNotPresent, Always or Never"),
                )
                .at(site.field("spec.imagePullPolicy")),
            );
            None
        }
    }
}

/// imagePullSecret: the first of imagePullSecrets.
fn field_pull_secret(
    sme: &ServiceMeshExtension,
    site: &Site,
    notes: &mut Vec<Notification>,
) -> Option<String> {
    let obj = sme.object();
    let image_pull_secret = sme.image_pull_secrets.first().cloned();
    if sme.image_pull_secrets.len() > 1 {
        notes.push(
            Notification::new(
                Code::ExtraPullSecrets,
                &obj,
                format!(
                    "a WasmPlugin takes one imagePullSecret: {} is kept, {} dropped",
                    sme.image_pull_secrets[0],
                    sme.image_pull_secrets[1..].join(", ")
                ),
            )
            .at(site.field("spec.imagePullSecrets"))
            .advice("merge the registries' credentials into the kept secret"),
        );
    }
    if let Some(secret) = &image_pull_secret {
        notes.push(
            Notification::new(
                Code::PullSecretKind,
                &obj,
                format!("imagePullSecret {secret} must be a kubernetes.io/dockerconfigjson secret in the WasmPlugin's namespace"),
            )
            .at(site.field("spec.imagePullSecrets")),
        );
    }
    image_pull_secret
}

/// match: SERVER (inbound only, as Maistra ran it) unless the selector picks
/// a gateway, or the target Istio has no match.
fn field_match(
    sme: &ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Vec<TrafficSelector> {
    let obj = sme.object();
    let evidence = gateway_evidence(&sme.selector);
    let is_gateway = evidence != GatewayEvidence::None;
    let mut match_ = Vec::new();
    if opts.istio_version >= IstioVersion::MATCH {
        if let GatewayEvidence::Guessed(label) = &evidence {
            notes.push(
                Notification::new(
                    Code::GatewayByLabel,
                    &obj,
                    format!("taken for a gateway from the label {label}: no match, so on a gateway the plugin keeps every listener; on a sidecar it would now also run on outbound traffic"),
                )
                .at(site.field("spec.workloadSelector"))
                .advice("if it selects sidecars, add `match: [{mode: SERVER}]` to the WasmPlugin"),
            );
        } else if is_gateway {
            notes.push(
                Notification::new(
                    Code::GatewaySelector,
                    &obj,
                    "the selector picks a gateway: no match, so the plugin keeps running on every gateway listener as before",
                )
                .at(site.field("spec.workloadSelector")),
            );
        } else {
            match_.push(TrafficSelector { mode: "SERVER" });
            if sme.selector.is_empty() {
                notes.push(
                    Notification::new(
                        Code::NoSelectorGatewayLosesPlugin,
                        &obj,
                        "no selector: match mode SERVER keeps sidecars inbound-only as before, but on Istio 1.16+ a gateway in scope counts as CLIENT and loses the plugin",
                    )
                    .at(site.source())
                    .advice("if a gateway must keep it, add a second WasmPlugin that selects the gateway, without match (on OSSM 2.4, istiod's APPLY_WASM_PLUGINS_TO_INBOUND_ONLY=true with no match keeps gateways and sidecar inbound alike)"),
                );
            } else {
                notes.push(
                    Notification::new(
                        Code::MatchServer,
                        &obj,
                        "match mode SERVER keeps the plugin on inbound traffic only, as before (WasmPlugins otherwise apply to outbound too); no label marks the selected workloads as a gateway",
                    )
                    .at(site.field("spec.workloadSelector")),
                );
            }
        }
    } else {
        notes.push(
            Notification::new(
                Code::NoMatchField,
                &obj,
                format!("Istio {} has no match field: the plugin also applies to outbound traffic, which the SME never did", opts.istio_version),
            )
            .at(site.source())
            .advice("set APPLY_WASM_PLUGINS_TO_INBOUND_ONLY=true in istiod's environment to keep it inbound-only"),
        );
    }
    match_
}

/// pluginName: Maistra's root_id, `<name>_root` (unless --no-plugin-name).
fn field_plugin_name(sme: &ServiceMeshExtension, opts: &Options) -> Option<String> {
    opts.plugin_name.then(|| format!("{}_root", sme.name))
}

/// metadata: name, namespace (the new root namespace for a mesh-wide SME),
/// labels and annotations, which move out of the SME.
fn field_metadata(
    owned: &mut ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> Metadata {
    Metadata {
        name: owned.name.clone(),
        namespace: target_namespace(owned, site, opts, notes),
        labels: std::mem::take(&mut owned.labels),
        annotations: std::mem::take(&mut owned.annotations),
    }
}

/// selector: workloadSelector.labels as matchLabels.
fn field_selector(sme: &ServiceMeshExtension) -> Option<Selector> {
    (!sme.selector.is_empty()).then(|| Selector {
        match_labels: sme.selector.iter().cloned().collect(),
    })
}

/// The WasmPlugin against the target Istio's schema (and the next one's
/// selector limit); false when it would be invalid.
fn check_plugin(
    plugin: &WasmPlugin,
    owned: &ServiceMeshExtension,
    site: &Site,
    opts: &Options,
    notes: &mut Vec<Notification>,
) -> bool {
    let obj = owned.object();
    let problems = plugin.validate(opts.istio_version);
    if owned.selector.len() > wasmplugin::MAX_SELECTOR_LABELS && problems.is_empty() {
        notes.push(
            Notification::new(
                Code::TooManyLabels,
                &obj,
                format!(
                    "the selector has {} labels: Istio {} takes them, but from 1.23 on the CRD allows at most {}, and the API server will refuse this WasmPlugin after an upgrade",
                    owned.selector.len(),
                    opts.istio_version,
                    wasmplugin::MAX_SELECTOR_LABELS
                ),
            )
            .at(site.field("spec.workloadSelector")),
        );
    }
    if !problems.is_empty() {
        for p in problems {
            notes.push(
                Notification::new(
                    Code::InvalidWasmPlugin,
                    &obj,
                    format!("the WasmPlugin would be invalid: {p}"),
                )
                .at(site.source())
                .advice("fix the SME field it comes from"),
            );
        }
        return false;
    }
    true
}

/// Warnings about the phase table itself, before any object.
pub fn phase_map_notes(opts: &Options) -> Vec<Notification> {
    opts.phase_map
        .inversions()
        .into_iter()
        .map(|(a, b)| {
            Notification::new(
                Code::PhaseMapReversesOrder,
                "",
                format!(
                    "--phase-map puts {b} before {a}, the reverse of Maistra's order; no priority can repair that"
                ),
            )
            .advice("map the phases so that their order is kept")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::split_documents;

    #[test]
    fn integers_beyond_2_53_are_named_by_path() {
        let text = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: a, namespace: ns}\nspec:\n  image: quay.io/x/y:1\n  phase: PreAuthN\n  priority: 1\n  config:\n    small: 1\n    deep:\n      list: [1, 9007199254740993, {x: -9007199254740993}]\n    big: 18446744073709551615\n";
        let doc = split_documents(text)[0];
        let sme = ServiceMeshExtension::from_value(&yaml::parse(text).unwrap()).unwrap();
        let site = Site {
            file: "f.yaml",
            line: 1,
            doc: Some(doc),
            yaml11: None,
        };
        let mut notes = Vec::new();
        let (plugin, _) = convert_one(&sme, &site, &Options::default(), &mut notes).unwrap();
        let beyond: Vec<(String, usize)> = notes
            .iter()
            .filter(|n| n.message.contains("beyond 2^53"))
            .map(|n| {
                let path = n.message.split(' ').next().unwrap().to_string();
                (path, n.source.as_ref().unwrap().line)
            })
            .collect();
        assert_eq!(
            beyond,
            vec![
                ("pluginConfig.deep.list[1]".to_string(), 8),
                ("pluginConfig.deep.list[2].x".to_string(), 8),
                ("pluginConfig.big".to_string(), 8),
            ]
        );
        assert_eq!(plugin.spec.plugin_config.unwrap().len(), 3);
    }

    #[test]
    fn field_lines_follow_the_key_path() {
        let text = "---\n# c\nkind: ServiceMeshExtension\nmetadata:\n  name: a\nspec:\n  'image': x\n  \"phase\": y\n  workloadSelector:\n    labels: {}\nstatus:\n  phase: z\n";
        let site = Site {
            file: "f",
            line: 3,
            doc: Some(split_documents(text)[0]),
            yaml11: None,
        };
        let line = |p: &str| site.field(p).line;
        assert_eq!(line("spec.image"), 7);
        assert_eq!(line("spec.phase"), 8);
        assert_eq!(line("status.phase"), 12);
        assert_eq!(line("spec.workloadSelector"), 9);
        assert_eq!(line("spec.nothing"), 6);
        assert_eq!(line("nothing.at.all"), 3);
    }
}
