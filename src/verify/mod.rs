//! `sme2wasm verify`: load each migrated plugin the way Envoy does, run it
//! under what Maistra gave it and under what Istio will give it, and
//! compare what it does (README "Checking that plugins behave the same").
//!
//! Per SME: convert it as `convert` does; get the module (`--module`, or
//! the SME's image read as `repack` reads it, and the image map's repacked
//! image, which must hold the same bytes); run the load check; run the
//! canary and the synthetic requests twice (Maistra's configuration bytes
//! and root_id, then Istio's); compare the effects.

pub mod abi;
pub mod gojson;
pub mod host;
pub mod module;
pub mod report;
pub mod scenario;

use crate::conversion::convert::{Converter, Options, Site};
use crate::conversion::sme::{self, Config, ServiceMeshExtension};
use crate::conversion::wasmplugin::{IstioVersion, WasmPlugin};
use crate::exit::Exit;
use crate::notify::{Code, Counts, Notification};
use crate::yaml::{self, Value};
use gojson::GoVersion;
use host::{Limits, Setup};
use module::{Loaded, Modules};
use report::PluginReport;
use scenario::Exchange;

pub use crate::cli::verify::{ImageArgs, OutputArg, VerifyArgs};

/// Everything a verify run needs besides the SMEs.
pub struct Settings {
    pub exchanges: Vec<Exchange>,
    pub limits: Limits,
    /// `--module`: one module for every SME.
    pub module: Option<Loaded>,
    /// Which Go wrote Istio's bytes (by --istio-version).
    pub istio_go: GoVersion,
}

impl Settings {
    pub fn new(opts: &Options) -> Settings {
        Settings {
            exchanges: vec![Exchange::default()],
            limits: Limits::default(),
            module: None,
            istio_go: istio_go(opts.istio_version),
        }
    }
}

/// Istio 1.22 and later are built with Go 1.22 or later.
pub fn istio_go(v: IstioVersion) -> GoVersion {
    if v >= (IstioVersion {
        major: 1,
        minor: 22,
    }) {
        GoVersion::From122
    } else {
        GoVersion::Before122
    }
}

/// One SME and its plugin, as converted.
pub struct Pair {
    pub sme: ServiceMeshExtension,
    pub plugin: WasmPlugin,
    pub source: String,
}

/// What reading and converting the inputs gave.
pub struct Read {
    pub pairs: Vec<Pair>,
    /// SMEs that could not be converted: (object, source).
    pub failed: Vec<(String, String)>,
    pub notifications: Vec<Notification>,
    pub unreadable: usize,
}

/// Read SMEs from the inputs (documents and `kind: List` items) and convert
/// each as `convert` does.
pub fn read_and_convert(inputs: &[crate::conversion::stream::Input], opts: &Options) -> Read {
    let mut conv = Converter::new(opts);
    let mut pairs = Vec::new();
    let mut failed = Vec::new();
    let mut unreadable = 0;
    for input in inputs {
        for doc in yaml::split_documents(&input.text) {
            if !doc.text.contains(sme::KIND) || doc.is_blank() {
                continue;
            }
            let (value, yaml11) = match yaml::read(doc.text) {
                Ok(r) => (r.value, r.yaml11),
                Err(e) => {
                    unreadable += 1;
                    conv.note(crate::conversion::stream::parse_error(
                        &input.name,
                        &doc,
                        &e,
                    ));
                    continue;
                }
            };
            let mut one = |item: &Value, site: &Site, conv: &mut Converter| {
                let source = format!("{}:{}", site.file, site.line);
                match crate::conversion::stream::read_sme(item, site, conv) {
                    Some(sme) => match conv.add(&sme, site) {
                        Some((_, plugin)) => pairs.push(Pair {
                            sme,
                            plugin,
                            source,
                        }),
                        None => failed.push((sme.object(), source)),
                    },
                    None => failed.push((sme::object_name(item), source)),
                }
            };
            if sme::is_sme(&value) {
                let site = Site::document(&input.name, doc, Some(&yaml11));
                one(&value, &site, &mut conv);
            } else if sme::kind_of(&value) == Some("List") {
                if let Some(Value::Sequence(items)) = value.get("items") {
                    for item in items.iter().filter(|i| sme::is_sme(i)) {
                        let site = Site::line(
                            &input.name,
                            crate::conversion::stream::list_item_line(
                                &doc,
                                item,
                                doc.content_line(),
                            ),
                        );
                        one(item, &site, &mut conv);
                    }
                }
            }
        }
    }
    Read {
        pairs,
        failed,
        notifications: conv.finish().notifications,
        unreadable,
    }
}

/// The two setups of a pair: what Maistra gave the plugin, what Istio will.
pub fn setups(pair: &Pair, settings: &Settings) -> Result<(Setup, Setup), String> {
    let sme = &pair.sme;
    let plugin = &pair.plugin;
    // The converted pluginConfig carries the values the cluster held (YAML
    // 1.1 scalars as kubectl read them); Maistra marshalled those.
    let old_config = match (&sme.config, &plugin.spec.plugin_config) {
        (Config::Object(m), Some(pc))
            if !m.is_empty() && !m.contains_key("raw_v1alpha1_config") =>
        {
            gojson::to_go_json(&Value::Mapping(pc.clone()), GoVersion::Before122)
                .map(String::into_bytes)
        }
        _ => gojson::maistra_bytes(sme.api_version, &sme.config),
    }
    .map_err(|e| format!("Maistra's configuration bytes: {e}"))?;
    let new_config = gojson::istio_bytes(plugin.spec.plugin_config.as_ref(), settings.istio_go)
        .map_err(|e| format!("Istio's configuration bytes: {e}"))?;
    let namespace = plugin.metadata.namespace.as_deref().unwrap_or("default");
    Ok((
        Setup {
            root_id: format!("{}_root", sme.name),
            plugin_name: sme.name.clone(),
            vm_id: String::new(),
            configuration: old_config,
        },
        Setup {
            root_id: plugin.spec.plugin_name.clone().unwrap_or_default(),
            plugin_name: format!("{namespace}.{}", plugin.metadata.name),
            vm_id: String::new(),
            configuration: new_config,
        },
    ))
}

/// The module of a pair: `--module`, else the SME's image, checked against
/// the image map's repacked image when there is one.
fn module_of(
    pair: &Pair,
    settings: &Settings,
    modules: &mut Modules,
) -> Result<(Loaded, String), String> {
    if let Some(m) = &settings.module {
        return Ok((m.clone(), m.sha256.clone()));
    }
    let image = pair.sme.image.as_deref().unwrap_or("").trim().to_string();
    let url = pair.plugin.spec.url.trim_start_matches("oci://");
    let repacked = match &pair.plugin.spec.sha256 {
        Some(sha) if url != image => Some(format!(
            "{}@sha256:{sha}",
            url.split('@').next().unwrap_or(url)
        )),
        _ => None,
    };
    let original = modules.from_image(&image);
    match (original, repacked) {
        (Ok(m), None) => {
            let what = format!("{} from {image}", m.sha256);
            Ok((m, what))
        }
        (Ok(m), Some(r)) => {
            let new = modules
                .from_image(&r)
                .map_err(|e| format!("the repacked image cannot be read: {e}"))?;
            if new.bytes != m.bytes {
                return Err(format!(
                    "the repacked image {r} holds module {}, but the SME's image {image} holds {}: they must be byte-identical; repack the image again",
                    new.sha256, m.sha256
                ));
            }
            let what = format!("{} from {image}, the same bytes in {r}", m.sha256);
            Ok((m, what))
        }
        (Err(e), Some(r)) => {
            let new = modules
                .from_image(&r)
                .map_err(|e2| format!("{e}; and the repacked image: {e2}"))?;
            let what = format!(
                "{} from {r} (the SME's image could not be read, so its bytes were not compared: {e})",
                new.sha256
            );
            Ok((new, what))
        }
        (Err(e), None) => Err(e),
    }
}

/// Check one pair.
pub fn verify_pair(pair: &Pair, settings: &Settings, modules: &mut Modules) -> PluginReport {
    let object = pair.sme.object();
    let source = pair.source.clone();
    let (loaded, what) = match module_of(pair, settings, modules) {
        Ok(m) => m,
        Err(e) => {
            return PluginReport::not_checked(object, source, format!("no module to run: {e}"))
        }
    };
    let prepared = modules.prepare(&loaded);
    let prepared = match prepared.as_ref() {
        Ok(p) => p,
        Err(e) => {
            let mut r = PluginReport::not_checked(
                object,
                source,
                format!("Envoy would refuse to load the module: {e}"),
            );
            r.verdict = report::Verdict::Refused;
            r.module = Some(what);
            r.advice = Some("rebuild the module against an SDK Envoy supports (proxy-wasm ABI 0.2.x), with only the host functions Envoy provides".into());
            return r;
        }
    };
    verify_prepared(pair, settings, prepared, what)
}

/// Check one pair with a module already prepared (`what` says where it
/// came from).
pub fn verify_prepared(
    pair: &Pair,
    settings: &Settings,
    prepared: &host::Prepared,
    what: String,
) -> PluginReport {
    let (old, new) = match setups(pair, settings) {
        Ok(s) => s,
        Err(e) => return PluginReport::not_checked(pair.sme.object(), pair.source.clone(), e),
    };
    let old_run = host::run(prepared, &old, &settings.exchanges, settings.limits);
    let new_run = host::run(prepared, &new, &settings.exchanges, settings.limits);
    report::compare(
        pair.sme.object(),
        pair.source.clone(),
        what,
        (old, old_run),
        (new, new_run),
    )
}

/// Run the whole command.
pub fn run(args: VerifyArgs) -> Exit {
    let usage = |m: String| {
        eprintln!("sme2wasm: {m}");
        Exit::Usage
    };
    let opts = match crate::cli::options(&args.conversion) {
        Ok(o) => o,
        Err(e) => return usage(e.to_string()),
    };
    let mut settings = Settings::new(&opts);
    if args.fuel == 0 || args.memory_limit == 0 {
        return usage("--fuel and --memory-limit must be at least 1".into());
    }
    settings.limits = Limits {
        fuel: args.fuel,
        memory: args.memory_limit.saturating_mul(1 << 20),
    };
    if let Some(path) = &args.request {
        match scenario::read(path) {
            Ok(ex) => settings.exchanges = ex,
            Err(e) => return usage(format!("--request {e}")),
        }
    }
    if let Some(path) = &args.module {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return usage(format!("--module {}: cannot read: {e}", path.display())),
        };
        if let Err(e) = crate::image::wasm::check(&bytes) {
            return usage(format!("--module {}: {e}", path.display()));
        }
        settings.module = Some(Loaded {
            sha256: module::sha256(&bytes),
            bytes: std::rc::Rc::new(bytes),
        });
    }
    let platform = match args
        .images
        .platform
        .as_deref()
        .map(crate::image::media::Platform::parse)
    {
        Some(Err(e)) => return usage(format!("--platform: {e}")),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    let explicit = match &args.images.username {
        Some(user) => {
            if args.paths.is_empty() || args.paths.iter().any(|p| p == "-") {
                return usage(
                    "--password-stdin reads stdin, so the SMEs must come from files".into(),
                );
            }
            let mut pw = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut pw) {
                return usage(format!("--password-stdin: cannot read stdin: {e}"));
            }
            let pw = pw.trim_end_matches(['\n', '\r']).to_string();
            if pw.is_empty() {
                return usage("--password-stdin: stdin was empty; pipe the password in".into());
            }
            Some((user.clone(), crate::image::auth::Secret::new(pw)))
        }
        None => None,
    };
    let registry = crate::image::registry::RegistryOptions {
        plain_http: args.images.plain_http.clone(),
        ca_files: args.images.ca_file.clone(),
        auth: crate::image::auth::AuthConfig::from_env(explicit, args.images.authfile.clone()),
        ..Default::default()
    };
    let mut modules = Modules::new(registry, platform);

    let (inputs, read_errors) = crate::conversion::stream::read_inputs(&args.paths);
    for e in &read_errors {
        eprintln!("sme2wasm: {e}");
    }
    let read = read_and_convert(&inputs, &opts);
    drop(inputs);
    let mut notes = read.notifications;
    notes.splice(0..0, crate::conversion::convert::phase_map_notes(&opts));
    let mut reports: Vec<PluginReport> = read
        .failed
        .iter()
        .map(|(o, s)| {
            PluginReport::not_checked(
                o.clone(),
                s.clone(),
                "it could not be converted (see the errors)".into(),
            )
        })
        .collect();
    for pair in &read.pairs {
        reports.push(verify_pair(pair, &settings, &mut modules));
    }
    reports.sort_by_key(|r| source_key(&r.source));
    for r in &reports {
        if r.verdict != report::Verdict::Same && r.verdict != report::Verdict::NotChecked
            || r.verdict == report::Verdict::NotChecked
                && !r.summary.starts_with("it could not be converted")
        {
            let (file, line) = source_key(&r.source);
            notes.push(
                Notification::new(
                    Code::VerifyDiffers,
                    r.object.clone(),
                    format!("verify: {}", r.summary),
                )
                .at(crate::notify::Source::new(file, line))
                .advice(
                    r.advice
                        .clone()
                        .unwrap_or_else(|| "see the report on stdout".into()),
                ),
            );
        }
    }
    if read.pairs.is_empty() && read.failed.is_empty() && read_errors.is_empty() {
        notes.push(Notification::new(
            Code::VerifyNothing,
            "",
            "no ServiceMeshExtension found in the input; nothing was verified",
        ));
    }
    let out = match args.output {
        OutputArg::Text => report::text(&reports),
        OutputArg::Json => {
            let count = |v: report::Verdict| reports.iter().filter(|r| r.verdict == v).count();
            let doc = serde_json::json!({
                "plugins": reports,
                "summary": {
                    "plugins": reports.len(),
                    "same": count(report::Verdict::Same),
                    "different": count(report::Verdict::Different),
                    "refused": count(report::Verdict::Refused),
                    "notChecked": count(report::Verdict::NotChecked),
                },
            });
            let mut t = serde_json::to_string_pretty(&doc).expect("the report serialises");
            t.push('\n');
            t
        }
    };
    if let Err(e) = crate::output::write_stdout(&out) {
        return usage(format!("cannot write the report: {e}"));
    }
    let text_of = |name: &str| crate::allow::marked_file_text(name);
    let allowed = match crate::output::acknowledge(
        &args.conversion,
        std::path::Path::new("."),
        &[],
        &text_of,
        &mut notes,
    ) {
        Ok(a) => a,
        Err(e) => return usage(e.to_string()),
    };
    let counts = Counts::of(&notes);
    let listed = crate::formats::Notes {
        notes: &notes,
        allowed: &allowed,
    };
    let bad = reports
        .iter()
        .filter(|r| r.verdict != report::Verdict::Same)
        .count();
    let summary = serde_json::json!({
        "verified": reports.len(),
        "notSame": bad,
        "unreadable": read.unreadable + read_errors.len(),
        "info": counts.info,
        "warn": counts.warn,
        "error": counts.error,
        "allowed": listed.acknowledged(),
    });
    let _ = crate::formats::emit(
        args.conversion.format,
        &listed,
        args.conversion.quiet,
        &crate::formats::Summary {
            line: None,
            json: summary.clone(),
        },
    );
    if let Some(path) = &args.conversion.report {
        if let Err(e) = crate::output::write_report(path, &listed, summary) {
            return usage(e.to_string());
        }
    }
    Exit::of(
        read.unreadable + read_errors.len(),
        bad,
        args.conversion.strict && listed.unacknowledged_warnings() > 0,
    )
}

/// Order reports by file, then line.
fn source_key(source: &str) -> (String, usize) {
    match source.rsplit_once(':') {
        Some((f, l)) => (f.to_string(), l.parse().unwrap_or(0)),
        None => (source.to_string(), 0),
    }
}

/// `migrate --verify`: check every SME of the files before anything is
/// written. Returns the SMEs whose plugin must not be written (`namespace/
/// name` → why: Envoy would refuse it under its new configuration, while it
/// worked under its old one), unless `force`, and the notifications to show.
pub fn for_migrate(
    files: &[(String, String)],
    opts: &Options,
    module: Option<&std::path::Path>,
    target: &crate::cli::repack::TargetArgs,
    force: bool,
) -> Result<
    (
        std::collections::BTreeMap<String, String>,
        Vec<Notification>,
    ),
    String,
> {
    let mut settings = Settings::new(opts);
    if let Some(path) = module {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("--verify-module {}: cannot read: {e}", path.display()))?;
        crate::image::wasm::check(&bytes)
            .map_err(|e| format!("--verify-module {}: {e}", path.display()))?;
        settings.module = Some(Loaded {
            sha256: module::sha256(&bytes),
            bytes: std::rc::Rc::new(bytes),
        });
    }
    let platform = target
        .platform
        .as_deref()
        .map(crate::image::media::Platform::parse)
        .transpose()
        .map_err(|e| format!("--platform: {e}"))?;
    let registry = crate::image::registry::RegistryOptions {
        plain_http: target.plain_http.clone(),
        ca_files: target.ca_file.clone(),
        auth: crate::image::auth::AuthConfig::from_env(None, target.authfile.clone()),
        ..Default::default()
    };
    let mut modules = Modules::new(registry, platform);
    let inputs: Vec<crate::conversion::stream::Input> = files
        .iter()
        .map(|(name, text)| crate::conversion::stream::Input {
            name: name.clone(),
            text: text.clone().into(),
        })
        .collect();
    // The conversion's own notifications come from migrate itself.
    let read = read_and_convert(&inputs, opts);
    let mut refuse = std::collections::BTreeMap::new();
    let mut notes = Vec::new();
    for pair in &read.pairs {
        let r = verify_pair(pair, &settings, &mut modules);
        let (file, line) = source_key(&r.source);
        let at = crate::notify::Source::new(file, line);
        let worked_before = r.old.as_ref().is_some_and(|o| o.run.refused.is_none());
        match r.verdict {
            report::Verdict::Same => {}
            report::Verdict::Refused if worked_before && !force => {
                let why = format!("verify: {}", r.summary);
                notes.push(
                    Notification::new(Code::VerifyRefusedWrite, r.object.clone(), why.clone())
                        .at(at)
                        .advice(format!(
                            "not written, its ServiceMeshExtension stays; {} (or pass --force to write it anyway)",
                            r.advice.clone().unwrap_or_else(|| "run `sme2wasm verify` on it for the details".into())
                        )),
                );
                refuse.insert(r.object.clone(), why);
            }
            _ => notes.push(
                Notification::new(
                    Code::VerifyWarning,
                    r.object.clone(),
                    format!("verify: {}", r.summary),
                )
                .at(at)
                .advice("run `sme2wasm verify` on it for the details"),
            ),
        }
    }
    Ok((refuse, notes))
}
