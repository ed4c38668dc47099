//! `sme2wasm repack`: rebuild ServiceMeshExtension images as the
//! single-layer images Istio's fetcher accepts (SPEC §2, §7), and say which
//! digest to pin.
//!
//! Arguments become a validated [`RepackConfig`] before any work starts; the
//! work code never sees clap. Per image: fetch the manifest (choosing a
//! platform from an index), read layers from the top down until
//! manifest.yaml and the module are settled, check the module, build the new
//! image, refuse to replace a different image under the same tag, push blobs
//! then the manifest, and read the manifest back. One image's failure is
//! reported and the others go on; it only changes the exit code.

use crate::conversion::imagemap::{ImageMap, ImageMapEntry};
use crate::exit::Exit;
use crate::image::auth::{AuthConfig, Secret};
use crate::image::build::{self, BuiltImage, ImageSpec};
use crate::image::extract::{self, Found};
use crate::image::layout::LayoutStore;
use crate::image::media::{Format, Platform};
use crate::image::registry::{RegistryClient, RegistryOptions, RegistryStore, RetryPolicy};
use crate::image::source::{Selector, Store};
use crate::image::wasm::{self, ModuleInfo};
use crate::image::ImageRef;
use crate::notify::{Code, Notification};
use serde::Serialize;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::cli::repack::{FormatArg, OutputArg, RepackArgs, TargetArgs};

/// One image to repack.
#[derive(Debug, Clone)]
pub struct Job {
    /// As the user wrote it.
    pub written: String,
    /// The image map's `from` when it is not `written` (`--source-name`).
    pub map_from: Option<String>,
    /// The image map's `to` when it is not the destination (`--dest-name`).
    pub map_to: Option<String>,
    pub source: ImageRef,
    pub destination: ImageRef,
}

/// Everything a run needs, validated.
#[derive(Debug)]
pub struct RepackConfig {
    pub jobs: Vec<Job>,
    pub destination: DestinationRule,
    pub format: Format,
    pub sme_manifest: bool,
    pub overwrite: bool,
    pub platform: Option<Platform>,
    pub image_map: Option<PathBuf>,
    pub json: bool,
    pub parallel: usize,
    pub registry: RegistryOptions,
}

/// A usage error: exit 2, nothing done.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Where each source goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationRule {
    /// `--to`: one destination for one source.
    To(ImageRef),
    /// `--tag-suffix`: the same repository, the tag with a suffix.
    TagSuffix(String),
    /// `--registry HOST[/PREFIX]`: the same repository path under HOST/PREFIX.
    Registry(String),
}

impl DestinationRule {
    /// The destination of `src`.
    pub fn destination(&self, src: &ImageRef) -> Result<ImageRef, String> {
        match self {
            DestinationRule::To(d) => Ok(d.clone()),
            DestinationRule::TagSuffix(suffix) => with_suffix(src, suffix),
            DestinationRule::Registry(target) => under_registry(src, target),
        }
    }
}

fn with_suffix(src: &ImageRef, suffix: &str) -> Result<ImageRef, String> {
    let tag = src.tag().ok_or_else(|| {
        format!("{src} has no tag to append {suffix:?} to; name the destination with --to")
    })?;
    let candidate = src.with_tag(&format!("{tag}{suffix}"));
    match src {
        // Parse again: the suffix must still make a valid tag.
        ImageRef::Registry(_) => ImageRef::parse(&candidate.to_string())
            .map_err(|e| format!("--tag-suffix {suffix:?} makes {e}")),
        ImageRef::Layout(_) => Ok(candidate),
    }
}

fn under_registry(src: &ImageRef, target: &str) -> Result<ImageRef, String> {
    let target = target.trim_end_matches('/');
    let (repo, tag) = match src {
        ImageRef::Registry(r) => (
            r.repository.clone(),
            r.tag.clone().ok_or_else(|| {
                format!("{src} has no tag to keep; name the destination with --to")
            })?,
        ),
        ImageRef::Layout(l) => {
            let name = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_lowercase())
                .unwrap_or_else(|| "image".into());
            (name, l.tag.clone().unwrap_or_else(|| "latest".into()))
        }
    };
    match ImageRef::parse(&format!("{target}/{repo}:{tag}")) {
        // A TARGET without a host would silently mean Docker Hub.
        Ok(ImageRef::Registry(r))
            if r.registry != crate::image::reference::DOCKER_HUB
                || target.starts_with("docker.io") =>
        {
            Ok(ImageRef::Registry(r))
        }
        Ok(_) => Err(format!(
            "--registry {target:?} must start with a registry host (host.example or host:port)"
        )),
        Err(e) => Err(format!("--registry {target:?}: {e}")),
    }
}

/// The jobs for some sources under a destination rule.
pub fn jobs_for(rule: &DestinationRule, sources: &[String]) -> Result<Vec<Job>, String> {
    let mut jobs = Vec::new();
    for s in sources {
        let source = ImageRef::parse(s).map_err(|e| e.to_string())?;
        // A destination equal to the source is a no-op for an image that is
        // migrated already, and an error for any other (found per image).
        let destination = rule.destination(&source)?;
        jobs.push(Job {
            written: s.clone(),
            map_from: None,
            map_to: None,
            source,
            destination,
        });
    }
    Ok(jobs)
}

impl RepackConfig {
    /// The configuration `migrate --repack` uses: the images come later,
    /// from the SMEs.
    pub fn for_migrate(
        target: &TargetArgs,
        stdin: &mut dyn Read,
    ) -> Result<RepackConfig, UsageError> {
        RepackConfig::from_args(
            &RepackArgs {
                sources: Vec::new(),
                target: target.clone(),
                image_map: None,
                source_name: None,
                dest_name: None,
                output: OutputArg::Text,
            },
            stdin,
        )
    }

    /// Validate the flags; `stdin` supplies the password for --password-stdin.
    pub fn from_args(args: &RepackArgs, stdin: &mut dyn Read) -> Result<RepackConfig, UsageError> {
        let u = |m: String| UsageError(m);
        if args.target.to.is_some() && args.sources.len() > 1 {
            return Err(u(format!(
                "--to names one destination but {} sources were given; use --tag-suffix or --registry for several",
                args.sources.len()
            )));
        }
        if args.target.jobs == 0 {
            return Err(u("-j must be at least 1".into()));
        }
        let destination = match (
            &args.target.to,
            &args.target.tag_suffix,
            &args.target.registry,
        ) {
            (Some(d), _, _) => {
                DestinationRule::To(ImageRef::parse(d).map_err(|e| u(format!("--to: {e}")))?)
            }
            (_, Some(suffix), _) => DestinationRule::TagSuffix(suffix.clone()),
            (_, _, Some(target)) => DestinationRule::Registry(target.clone()),
            _ => {
                return Err(u(
                    "name the destination with --to, --tag-suffix or --registry".into(),
                ))
            }
        };
        let mut jobs = jobs_for(&destination, &args.sources).map_err(u)?;
        if let Some(name) = &args.source_name {
            if jobs.len() != 1 {
                return Err(u("--source-name names one SRC; give exactly one".into()));
            }
            if name.contains("://") || name.starts_with("oci:") || name.trim().is_empty() {
                return Err(u(format!(
                    "--source-name {name:?}: give the image reference as the SMEs write it, e.g. quay.io/acme/filter:1.0"
                )));
            }
            jobs[0].map_from = Some(name.clone());
        }
        if let Some(name) = &args.dest_name {
            if jobs.len() != 1 {
                return Err(u(
                    "--dest-name names one destination; give exactly one SRC".into()
                ));
            }
            match ImageRef::parse(name) {
                Ok(ImageRef::Registry(_)) => jobs[0].map_to = Some(name.clone()),
                _ => {
                    return Err(u(format!(
                        "--dest-name {name:?}: give the registry reference the WasmPlugins will pull, e.g. registry.example.com/wasm/filter:1.0"
                    )))
                }
            }
        }
        let timeout = crate::image::registry::parse_duration(&args.target.timeout)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                u(format!(
                    "--timeout {:?}: give a duration such as 90s, 20m or 2h",
                    args.target.timeout
                ))
            })?;
        let platform = args
            .target
            .platform
            .as_deref()
            .map(Platform::parse)
            .transpose()
            .map_err(u)?;
        let explicit = match &args.target.username {
            Some(user) => {
                let mut pw = String::new();
                stdin
                    .read_to_string(&mut pw)
                    .map_err(|e| u(format!("--password-stdin: cannot read stdin: {e}")))?;
                let pw = pw.trim_end_matches(['\n', '\r']).to_string();
                if pw.is_empty() {
                    return Err(u(
                        "--password-stdin: stdin was empty; pipe the password in".into()
                    ));
                }
                Some((user.clone(), Secret::new(pw)))
            }
            None => None,
        };
        if let Some(f) = &args.target.authfile {
            if !f.is_file() {
                return Err(u(format!("--authfile {}: no such file", f.display())));
            }
        }
        for f in &args.target.ca_file {
            if !f.is_file() {
                return Err(u(format!("--ca-file {}: no such file", f.display())));
            }
        }
        Ok(RepackConfig {
            jobs,
            destination,
            format: match args.target.format {
                FormatArg::Oci => Format::Oci,
                FormatArg::Docker => Format::Docker,
            },
            sme_manifest: !args.target.no_sme_manifest,
            overwrite: args.target.overwrite,
            platform,
            image_map: args.image_map.clone(),
            json: args.output == OutputArg::Json,
            parallel: args.target.jobs,
            registry: RegistryOptions {
                plain_http: args.target.plain_http.clone(),
                ca_files: args.target.ca_file.clone(),
                auth: AuthConfig::from_env(explicit, args.target.authfile.clone()),
                retry: RetryPolicy {
                    image_timeout: timeout,
                    ..RetryPolicy::from_env()
                },
            },
        })
    }
}

/// What happened to one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Built and pushed; the manifest read back matches.
    Pushed,
    /// The destination already held exactly this image.
    Unchanged,
    /// The source already is a single-layer plugin.wasm image: left as it is.
    AlreadyMigrated,
    Failed,
}

/// The module as found in the source image.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleReport {
    /// Where manifest.yaml said it is (resolved path inside the image).
    pub path: String,
    #[serde(flatten)]
    pub info: ModuleInfo,
}

/// The result for one image: the stdout line, the JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub source: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The manifest digest to pin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<ModuleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Layers of the source image, and how many were downloaded.
    pub layers_total: usize,
    pub layers_read: usize,
    pub notifications: Vec<Notification>,
    #[serde(skip)]
    pub map_to: Option<String>,
    #[serde(skip)]
    pub map_from: Option<String>,
}

impl Outcome {
    fn new(job: &Job) -> Outcome {
        Outcome {
            source: job.written.clone(),
            status: Status::Failed,
            destination: None,
            digest: None,
            module: None,
            phase: None,
            priority: None,
            layers_total: 0,
            layers_read: 0,
            notifications: Vec::new(),
            map_to: None,
            map_from: job.map_from.clone(),
        }
    }
    fn note(&mut self, code: Code, message: impl Into<std::borrow::Cow<'static, str>>) {
        self.notifications
            .push(Notification::new(code, self.source.clone(), message));
    }
    /// `SRC -> DST@sha256:…`
    pub fn line(&self) -> Option<String> {
        Some(format!(
            "{} -> {}",
            self.source,
            self.destination.as_deref()?
        ))
    }
}

/// Shared state of a run.
struct Context<'a> {
    config: &'a RepackConfig,
    client: Option<Arc<RegistryClient>>,
}

impl Context<'_> {
    fn store(&self, r: &ImageRef) -> Result<Box<dyn Store + '_>, String> {
        match r {
            ImageRef::Layout(l) => Ok(Box::new(LayoutStore::new(l.clone()))),
            ImageRef::Registry(r) => {
                let client = self
                    .client
                    .clone()
                    .ok_or_else(|| "no registry client".to_string())?;
                Ok(Box::new(RegistryStore::new(client, r.clone())))
            }
        }
    }
}

/// A failure of one image: the message already names the image.
type Failure = String;

fn repack_one(ctx: &Context, job: &Job) -> Outcome {
    let mut out = Outcome::new(job);
    let limit = ctx.config.registry.retry.image_timeout;
    crate::image::registry::set_deadline(Some(std::time::Instant::now() + limit));
    let result = repack_inner(ctx, job, &mut out);
    crate::image::registry::set_deadline(None);
    if let Err(m) = result {
        out.status = Status::Failed;
        // The notification names the image; do not say it twice.
        let m = m
            .strip_prefix(&format!("{}: ", job.source))
            .map(str::to_string)
            .unwrap_or(m);
        // Messages may carry what a server echoed; no secret is printed.
        let m = crate::image::redact::redact(&m);
        out.notifications.push(Notification::new(
            Code::RepackFailed,
            job.written.clone(),
            m,
        ));
    }
    out
}

fn repack_inner(ctx: &Context, job: &Job, out: &mut Outcome) -> Result<(), Failure> {
    let src = &job.source;
    let store = ctx.store(src).map_err(|m| format!("{src}: {m}"))?;
    let source = extract::read_source(store.as_ref(), src, ctx.config.platform.as_ref())?;
    let image = &source.image;
    out.layers_total = image.layers.len();
    if let (Some(want), Some(have)) = (&ctx.config.platform, &source.platform) {
        if want.os != have.os || want.architecture != have.architecture {
            out.note(
                Code::PlatformMismatch,
                format!("--platform {want} asked, but the image is a single {have} image; repacking it as {have}"),
            );
        }
    }
    let extraction = extract::extract(store.as_ref(), src, image)?;
    out.layers_read = extraction.layers_read;
    let (manifest, path, module) = match extraction.found {
        Found::AlreadyMigrated { info, manifest } => {
            if let Some(m) = manifest {
                out.phase = Some(m.phase.to_string());
                out.priority = m.priority;
            }
            out.module = Some(ModuleReport {
                path: "plugin.wasm".into(),
                info,
            });
            out.status = Status::AlreadyMigrated;
            out.digest = Some(source.manifest_digest.clone());
            copy_unchanged(ctx, job, store.as_ref(), &source, out)?;
            return Ok(());
        }
        Found::Extension {
            manifest,
            path,
            module,
        } => (manifest, path, module),
    };
    if job.destination == *src {
        return Err(format!(
            "{src}: the destination is the source itself, which would replace the ServiceMeshExtension image in use; choose another tag or repository"
        ));
    }
    out.phase = Some(manifest.phase.to_string());
    out.priority = manifest.priority;
    let module_path = manifest.module.trim();
    let info = wasm::check(&module)
        .map_err(|e| format!("{src}: module /{path} (from manifest.yaml `module: {module_path}`): {e}; nothing was pushed"))?;
    // Envoy's load check (ABI, imports, allocator): a module it would refuse is not pushed.
    crate::verify::abi::load_check(&module).map_err(|e| {
        format!("{src}: module /{path}: Envoy would refuse to load it: {e}; nothing was pushed (`sme2wasm verify` runs it as Envoy would)")
    })?;
    out.note(
        Code::ModuleFound,
        format!(
            "module /{path}: {} bytes, proxy-wasm ABI {}; read {} of {} layers",
            info.size,
            if info.abi_versions.is_empty() {
                "none".to_string()
            } else {
                info.abi_versions.join(", ")
            },
            out.layers_read,
            out.layers_total
        ),
    );
    out.module = Some(ModuleReport { path, info });

    // The new image.
    let sme_manifest = ctx
        .config
        .sme_manifest
        .then(|| manifest.render_for_plugin_wasm());
    let built = build::build(&ImageSpec {
        module: &module,
        sme_manifest: sme_manifest.as_deref(),
        format: ctx.config.format,
        platform: source.platform.clone(),
    })
    .map_err(|e| format!("{src}: building the new image: {e}"))?;
    drop(module);
    push(ctx, job, &built, out)
}

fn push(ctx: &Context, job: &Job, built: &BuiltImage, out: &mut Outcome) -> Result<(), Failure> {
    let dst = &job.destination;
    let store = ctx.store(dst).map_err(|m| format!("{dst}: {m}"))?;
    let sel = Selector::of(dst);
    if let Selector::Digest(d) = &sel {
        if d != built.digest() {
            return Err(format!(
                "{}: the destination names digest {d}, but the repacked image is {}; name a tag instead",
                job.written,
                built.digest()
            ));
        }
    }
    let existing = store.fetch_manifest(&sel).map_err(|e| e.message)?;
    let unchanged = match existing {
        Some(f) if f.digest == built.digest() => true,
        Some(f) if !ctx.config.overwrite => {
            return Err(format!(
                "{dst} already points to {} (different content); pass --overwrite to replace it, or choose another tag",
                f.digest
            ))
        }
        _ => false,
    };
    if !unchanged {
        // Blobs first: the tag appears only when everything it names is there.
        store.put_blob(&built.layer).map_err(|e| e.message)?;
        store.put_blob(&built.config).map_err(|e| e.message)?;
        store
            .put_manifest(&built.manifest, &sel)
            .map_err(|e| e.message)?;
    }
    let back = store
        .fetch_manifest(&sel)
        .map_err(|e| e.message)?
        .ok_or_else(|| {
            format!("{dst}: the manifest was pushed but cannot be read back; check the registry")
        })?;
    if back.digest != built.digest() || back.body != built.manifest.data {
        return Err(format!(
            "{dst}: read back digest {} instead of the pushed {}; another writer may have replaced the tag",
            back.digest,
            built.digest()
        ));
    }
    out.status = if unchanged {
        Status::Unchanged
    } else {
        Status::Pushed
    };
    if unchanged {
        out.note(
            Code::AlreadyPushed,
            format!("{dst} already holds this image; nothing pushed"),
        );
    }
    out.digest = Some(built.digest().to_string());
    out.destination = Some(dst.pinned(built.digest()));
    out.map_to = map_target(ctx, job, dst, out);
    Ok(())
}

/// An image that already is what Istio's fetcher takes goes to the
/// destination as it is: the same manifest bytes (so the same digest), its
/// blobs mounted or copied.
fn copy_unchanged(
    ctx: &Context,
    job: &Job,
    src_store: &dyn Store,
    source: &extract::SourceImage,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let (src, dst) = (&job.source, &job.destination);
    let digest = source.manifest_digest.as_str();
    if src == dst {
        out.destination = Some(dst.pinned(digest));
        out.map_to = map_target(ctx, job, dst, out);
        out.note(
            Code::AlreadyMigrated,
            "already migrated (one gzip layer with /plugin.wasm, as Istio's fetcher wants), and the destination is the source itself: left as it is",
        );
        return Ok(());
    }
    let fetched = src_store
        .fetch_manifest(&Selector::Digest(digest.to_string()))
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("{src}: the manifest {digest} vanished while it was read"))?;
    let manifest =
        crate::image::build::Blob::new(source.image.format.manifest_type(), fetched.body);
    let store = ctx.store(dst).map_err(|m| format!("{dst}: {m}"))?;
    let sel = Selector::of(dst);
    if let Selector::Digest(d) = &sel {
        if d != digest {
            return Err(format!(
                "{}: the destination names digest {d}, but the image is {digest}; name a tag instead",
                job.written
            ));
        }
    }
    let unchanged = match store.fetch_manifest(&sel).map_err(|e| e.message)? {
        Some(f) if f.digest == digest => true,
        Some(f) if !ctx.config.overwrite => {
            return Err(format!(
                "{dst} already points to {} (different content); pass --overwrite to replace it, or choose another tag",
                f.digest
            ))
        }
        _ => false,
    };
    if !unchanged {
        let image = &source.image;
        for desc in std::iter::once(&image.config).chain(&image.layers) {
            if store.has_blob(desc).map_err(|e| e.message)? {
                continue;
            }
            if desc.size > crate::image::merged::MAX_MODULE * 2 {
                return Err(format!(
                    "{src}: blob {} is {} bytes; an already migrated image holds a module of at most {} bytes",
                    desc.digest,
                    desc.size,
                    crate::image::merged::MAX_MODULE
                ));
            }
            let mut data = Vec::with_capacity(desc.size as usize);
            src_store
                .open_blob(desc)
                .map_err(|e| e.message)?
                .read_to_end(&mut data)
                .map_err(|e| format!("{src}: blob {}: {e}", desc.digest))?;
            let blob = crate::image::build::Blob {
                media_type: desc.media_type.clone(),
                digest: desc.digest.clone(),
                data,
            };
            store.put_blob(&blob).map_err(|e| e.message)?;
        }
        store.put_manifest(&manifest, &sel).map_err(|e| e.message)?;
    }
    let back = store
        .fetch_manifest(&sel)
        .map_err(|e| e.message)?
        .ok_or_else(|| {
            format!("{dst}: the manifest was copied but cannot be read back; check the registry")
        })?;
    if back.digest != digest {
        return Err(format!(
            "{dst}: read back digest {} instead of the copied {digest}; another writer may have replaced the tag",
            back.digest
        ));
    }
    out.destination = Some(dst.pinned(digest));
    out.map_to = map_target(ctx, job, dst, out);
    out.note(
        Code::AlreadyMigrated,
        if unchanged {
            format!("already migrated (one gzip layer with /plugin.wasm, as Istio's fetcher wants), and {dst} already holds it; nothing copied")
        } else {
            format!("already migrated (one gzip layer with /plugin.wasm, as Istio's fetcher wants): copied to {dst} unchanged, same digest")
        },
    );
    Ok(())
}

/// The image map's `to` for a job: `--dest-name`, else the destination when
/// it is a registry; a layout is no place a WasmPlugin can pull from.
fn map_target(ctx: &Context, job: &Job, dst: &ImageRef, out: &mut Outcome) -> Option<String> {
    if let Some(name) = &job.map_to {
        return Some(name.clone());
    }
    match dst {
        ImageRef::Registry(_) => Some(dst.to_string()),
        _ => {
            if ctx.config.image_map.is_some() {
                out.note(
                    Code::LayoutNoMapEntry,
                    format!("{dst} is an image layout: it gets no image map entry, since a WasmPlugin cannot pull from it; copy it to a registry and name that reference with --dest-name"),
                );
            }
            None
        }
    }
}

/// Run the whole command; returns the exit code.
pub fn run(args: RepackArgs) -> Exit {
    let config = match RepackConfig::from_args(&args, &mut std::io::stdin()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Usage;
        }
    };
    execute(&config)
}

/// Repack every job of a validated configuration; print results; exit code.
pub fn execute(config: &RepackConfig) -> Exit {
    let outcomes = match repack_jobs(config, &config.jobs) {
        Ok(o) => o,
        Err(m) => {
            eprintln!("error: {m}");
            return Exit::Usage;
        }
    };
    let mut code = if outcomes.iter().any(|o| o.status == Status::Failed) {
        Exit::NotConverted
    } else {
        Exit::Ok
    };
    if let Some(path) = &config.image_map {
        if let Err(m) = write_image_map(path, &outcomes) {
            eprintln!("ERROR {}: {m}", path.display());
            code = Exit::NotConverted;
        }
    }
    print_notifications(&outcomes);
    let stdout = std::io::stdout();
    let mut stdout = stdout.lock();
    // A closed stdout (a pipe to head) is not an error worth a panic.
    if config.json {
        let _ = serde_json::to_writer_pretty(&mut stdout, &outcomes);
        let _ = writeln!(stdout);
    } else {
        for line in outcomes.iter().filter_map(Outcome::line) {
            let _ = writeln!(stdout, "{line}");
        }
    }
    code
}

fn print_notifications(outcomes: &[Outcome]) {
    let mut stderr = std::io::stderr().lock();
    for n in outcomes.iter().flat_map(|o| &o.notifications) {
        let _ = writeln!(stderr, "{}", n.painted());
    }
}

/// Repack `images` (as SMEs name them) under the configuration's
/// destination rule and options, and return their image map: the step
/// `migrate --repack` takes before rewriting. Notifications go to stderr;
/// nothing goes to stdout. Fails, naming the count, if any image failed.
pub fn image_map_of(config: &RepackConfig, images: &[String]) -> Result<ImageMap, String> {
    if let DestinationRule::To(_) = config.destination {
        if images.len() > 1 {
            return Err("--to names one destination; use --tag-suffix or --registry".into());
        }
    }
    let jobs = jobs_for(&config.destination, images)?;
    let outcomes = repack_jobs(config, &jobs)?;
    print_notifications(&outcomes);
    let failed = outcomes
        .iter()
        .filter(|o| o.status == Status::Failed)
        .count();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} images could not be repacked (see the errors above)",
            outcomes.len()
        ));
    }
    let mut map = ImageMap::default();
    merge_outcomes(&mut map, &outcomes);
    Ok(map)
}

/// Repack jobs, `config.parallel` at a time; one outcome per job, in order.
fn repack_jobs(config: &RepackConfig, jobs: &[Job]) -> Result<Vec<Outcome>, String> {
    let needs_registry = jobs.iter().any(|j| {
        matches!(j.source, ImageRef::Registry(_)) || matches!(j.destination, ImageRef::Registry(_))
    });
    let client = if needs_registry {
        Some(RegistryClient::new(config.registry.clone())?)
    } else {
        None
    };
    let ctx = Context { config, client };
    let progress = (std::io::stderr().is_terminal() && jobs.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(jobs.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} images {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let results: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..config.parallel.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                if let Some(bar) = &progress {
                    bar.set_message(job.written.clone());
                }
                let outcome = repack_one(&ctx, job);
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
                if let Some(bar) = &progress {
                    bar.inc(1);
                }
            });
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    Ok(results
        .into_iter()
        .filter_map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect())
}

/// Add the successful results to an image map.
fn merge_outcomes(map: &mut ImageMap, outcomes: &[Outcome]) {
    for o in outcomes {
        let (Some(to), Some(digest)) = (&o.map_to, &o.digest) else {
            continue;
        };
        map.merge(ImageMapEntry {
            from: o.map_from.clone().unwrap_or_else(|| o.source.clone()),
            to: to.clone(),
            digest: digest.clone(),
            phase: o.phase.clone(),
            priority: o.priority,
        });
    }
}

/// Merge the successful results into the image map `convert` reads.
fn write_image_map(path: &std::path::Path, outcomes: &[Outcome]) -> Result<(), String> {
    let mut map = if path.exists() {
        ImageMap::read(path).map_err(|e| format!("{e}; fix or remove the file, then run again"))?
    } else {
        ImageMap::default()
    };
    merge_outcomes(&mut map, outcomes);
    crate::fsutil::write_atomic(path, map.render().as_bytes())
        .map_err(|e| format!("cannot write the image map: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: RepackArgs,
    }

    fn config(args: &[&str]) -> Result<RepackConfig, UsageError> {
        let w = Wrapper::try_parse_from(std::iter::once("repack").chain(args.iter().copied()))
            .map_err(|e| UsageError(e.to_string()))?;
        RepackConfig::from_args(&w.args, &mut &b"s3cret\n"[..])
    }

    fn destinations(args: &[&str]) -> Vec<String> {
        config(args)
            .unwrap()
            .jobs
            .iter()
            .map(|j| j.destination.to_string())
            .collect()
    }

    #[test]
    fn destinations_from_suffix_and_registry() {
        assert_eq!(
            destinations(&["quay.io/a/b:1.0", "nginx:1", "--tag-suffix", "-wasm"]),
            ["quay.io/a/b:1.0-wasm", "docker.io/library/nginx:1-wasm"]
        );
        assert_eq!(
            destinations(&[
                "quay.io/a/b:1.0",
                "nginx:1",
                "--registry",
                "r.example:5000/mirror/"
            ]),
            [
                "r.example:5000/mirror/a/b:1.0",
                "r.example:5000/mirror/library/nginx:1"
            ]
        );
        assert_eq!(
            destinations(&["oci:some/Dir:2", "--registry", "r.example"]),
            ["r.example/dir:2"]
        );
        assert_eq!(
            destinations(&["oci:d:2", "--tag-suffix", ".w"]),
            ["oci:d:2.w"]
        );
    }

    #[test]
    fn usage_errors_say_what_to_do() {
        let e = config(&["quay.io/a/b@sha256:", "--to", "c:1"])
            .err()
            .unwrap();
        assert!(!e.0.is_empty());
        let d = format!("quay.io/a/b@sha256:{}", "a".repeat(64));
        let e = config(&[&d, "--tag-suffix", "-w"]).err().unwrap();
        assert!(e.0.contains("--to"), "{e}");
        let e = config(&["a:1", "--registry", "justaname"]).err().unwrap();
        assert!(e.0.contains("registry host"), "{e}");
        let c = config(&["a:1", "--to", "b:1", "--username", "u", "--password-stdin"]).unwrap();
        let (user, pass) = c.registry.auth.explicit.clone().unwrap();
        assert_eq!((user.as_str(), pass.expose()), ("u", "s3cret"));
        assert!(!format!("{:?}", c.registry.auth).contains("s3cret"));
    }
}
