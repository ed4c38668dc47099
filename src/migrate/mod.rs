//! `sme2wasm migrate`: convert every ServiceMeshExtension of a repository in
//! place, so that a reviewer sees exactly what changed and nothing else.
//!
//! The pipeline: walk the tree (`walk`), find every SME (plain documents,
//! `kind: List` items, kustomize patches, Helm templates), add them all to
//! ONE `Converter` so that the order is reconciled across the repository,
//! then edit each document in place (`rewrite`), parse the result back and
//! compare it with what `convert` produces, and only then write (atomically)
//! or print a diff. Writing is safe by default (`vcs`): only in a git work
//! tree, only to files without uncommitted changes, unless allowed.

mod fields;
mod helm;
mod kustomize;
mod rewrite;
mod vcs;
mod walk;

use crate::cli::MigrateArgs;
use crate::conversion::convert::{Converter, Options, Site};
use crate::conversion::imagemap::ImageMap;
use crate::conversion::remaining::{self, Left, Reason};
use crate::conversion::sme;
use crate::conversion::stream;
use crate::conversion::template::{self, Fixup, Tokens};
use crate::conversion::wasmplugin::WasmPlugin;
use crate::exit::Exit;
use crate::fsutil::quote_path;
use crate::notify::{Code, Counts, Level, Notification, Source};
use crate::output;
use crate::yaml::{self, Document, Value};
use std::collections::{HashMap, HashSet};
use walk::SourceFile;

pub use walk::MAX_FILE_SIZE;

/// What the run does with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Rewrite the files in place.
    Write,
    /// Print a unified diff, write nothing.
    Diff,
    /// Write nothing; report whether SMEs remain.
    Check,
}

/// What a document of a file becomes.
enum DocPlan {
    /// Left as it is, byte for byte.
    Keep,
    /// An SME converted to the plugin of this id.
    Sme { id: usize, have: Value },
    /// A List (`items`) or an OpenShift Template (`objects`) whose entries
    /// at these indexes become the plugins of these ids.
    List {
        have: Value,
        key: &'static str,
        items: Vec<(usize, usize)>,
    },
    /// New text already made (and verified) by the kustomize or Helm rewrite.
    Text(String),
}

struct FilePlan<'a> {
    file: &'a SourceFile,
    docs: Vec<(Document<'a>, DocPlan)>,
}

/// A file whose text changes.
pub struct Change {
    pub path: std::path::PathBuf,
    pub name: String,
    pub old: String,
    pub new: String,
    /// What the change carries: SMEs converted, kustomize patches and Helm
    /// templates rewritten (not counted when the file cannot be written).
    pub carries: Carries,
}

/// SMEs, patches and templates that one file's change carries.
#[derive(Debug, Default, Clone, Copy)]
pub struct Carries {
    pub converted: usize,
    pub patches: usize,
    pub templates: usize,
}

/// Everything a run found and would change.
#[derive(Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub notes: Vec<Notification>,
    pub scanned: usize,
    pub converted: usize,
    pub failed: usize,
    pub unreadable: usize,
    /// SMEs still in the repository before this run (documents, List items,
    /// patches, templates).
    pub remaining: usize,
    pub patches: usize,
    pub templates: usize,
    /// Files that could not be written (each has an ERROR).
    pub not_written: usize,
    /// Files that still hold a ServiceMeshExtension after this run (or
    /// would, after a rewrite), one per file, with the first reason.
    pub left: Vec<Left>,
}

#[derive(Default)]
struct Counters {
    converted: usize,
    failed: usize,
    unreadable: usize,
    remaining: usize,
    patches: usize,
    templates: usize,
    /// Why SMEs are left where they are, as found while planning.
    left: Vec<Left>,
}

/// Repacks the images the SMEs name and returns their image map (what
/// `--repack` does with the repack command's registry options bound in).
pub type Repack<'a> = &'a dyn Fn(&[String]) -> Result<ImageMap, String>;

/// Run `migrate` from its arguments.
pub fn run(args: &MigrateArgs) -> Exit {
    run_with(args, None)
}

/// Run `migrate`, first repacking every image the SMEs name when `repack`
/// is given; its entries take precedence over `--image-map`'s.
pub fn run_with(args: &MigrateArgs, repack: Option<Repack>) -> Exit {
    let mut opts = match crate::cli::options(&args.conversion) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    };
    let mode = if args.check {
        Mode::Check
    } else if args.diff {
        Mode::Diff
    } else {
        Mode::Write
    };
    let dir = match (&args.dir, mode) {
        (Some(d), _) => d.as_path(),
        (None, Mode::Write) => {
            eprintln!("{NO_PATH}");
            return Exit::Usage;
        }
        (None, _) => std::path::Path::new("."),
    };
    let allow = vcs::Allow {
        no_vcs: args.allow_no_vcs,
        dirty: args.allow_dirty,
        staged: args.allow_staged,
    };
    // Before any work: a tree outside version control is refused at once.
    let mut roots = Vec::new();
    if mode == Mode::Write && dir.is_dir() {
        match vcs::work_tree(dir) {
            Ok(top) => roots.push(top),
            Err(why) if !allow.no_vcs => {
                eprintln!(
                    "sme2wasm: {} is not in a git work tree ({why}): migrate rewrites only what `git checkout` can restore",
                    quote_path(&dir.to_string_lossy())
                );
                eprintln!("  review the change with --diff, put the files under git and commit them, or pass --allow-no-vcs to write anyway");
                return Exit::Usage;
            }
            Err(_) => {}
        }
    }
    let mut walked = match walk::walk(dir, args.recurse_repositories) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    };
    if mode == Mode::Write {
        for repo in std::mem::take(&mut walked.repositories) {
            match vcs::work_tree(&repo) {
                Ok(top) => roots.push(top),
                Err(why) if !allow.no_vcs => {
                    eprintln!(
                        "sme2wasm: {} looks like a git repository but git cannot read it ({why})",
                        quote_path(&repo.to_string_lossy())
                    );
                    eprintln!("  repair it, leave out --recurse-repositories, or pass --allow-no-vcs to write anyway");
                    return Exit::Usage;
                }
                Err(_) => {}
            }
        }
    }
    if let Some(repack) = repack {
        let images = images(&walked.files);
        match repack(&images) {
            Ok(fresh) => {
                let mut map = opts.image_map.take().unwrap_or_default();
                for entry in fresh.images {
                    map.merge(entry);
                }
                opts.image_map = Some(map);
            }
            Err(e) => {
                eprintln!("sme2wasm: --repack: {e}");
                return Exit::Usage;
            }
        }
    }
    let mut verify_notes = Vec::new();
    if args.verify {
        let files: Vec<(String, String)> = walked
            .files
            .iter()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        let module = args.verify_module.as_deref();
        match crate::verify::for_migrate(&files, &opts, module, &args.repack_target, args.force) {
            Ok((refuse, n)) => (opts.refuse, verify_notes) = (refuse, n),
            Err(e) => {
                eprintln!("sme2wasm: --verify: {e}");
                return Exit::Usage;
            }
        }
    }
    let mut outcome = migrate(walked, &opts);
    let mut notes = crate::conversion::convert::phase_map_notes(&opts);
    notes.append(&mut verify_notes);
    notes.append(&mut outcome.notes);
    // Acknowledged warnings, from the files as they were read (before any
    // write moves lines).
    let rewritten: Vec<&str> = outcome.changes.iter().map(|c| c.name.as_str()).collect();
    let text_of = |name: &str| match outcome.changes.iter().find(|c| c.name == name) {
        Some(c) => Some(c.old.clone()),
        None => std::fs::read_to_string(dir.join(name)).ok(),
    };
    let allowed = match output::acknowledge(&args.conversion, dir, &rewritten, &text_of, &mut notes)
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    };
    match mode {
        Mode::Write => {
            let files = outcome
                .changes
                .iter()
                .map(|c| (c.path.as_path(), c.name.as_str()));
            match vcs::check(files, &roots, allow) {
                Ok(refused) if refused.is_empty() => {}
                Ok(refused) => {
                    eprint!("{}", refusal(&refused));
                    return Exit::Usage;
                }
                Err(e) => {
                    eprintln!("sme2wasm: cannot check the files against git: {e}");
                    eprintln!(
                        "  pass --allow-dirty (and --allow-no-vcs) to write without the check"
                    );
                    return Exit::Usage;
                }
            }
            let failed: HashSet<usize> = write_all(&outcome.changes)
                .into_iter()
                .map(|(i, e)| {
                    let c = &outcome.changes[i];
                    notes.push(
                        Notification::new(Code::CannotWrite, "", format!("cannot write: {e}"))
                            .at(Source::new(c.name.clone(), 1))
                            .advice("the file keeps its old content"),
                    );
                    i
                })
                .collect();
            // Only what was written counts as changed and converted.
            let mut i = 0;
            outcome.changes.retain(|c| {
                let keep = !failed.contains(&i);
                i += 1;
                if !keep {
                    outcome.unreadable += 1;
                    outcome.not_written += 1;
                    outcome.converted = outcome.converted.saturating_sub(c.carries.converted);
                    outcome.patches = outcome.patches.saturating_sub(c.carries.patches);
                    outcome.templates = outcome.templates.saturating_sub(c.carries.templates);
                }
                keep
            });
        }
        Mode::Diff => {
            let diff = unified_diff(&outcome.changes);
            if let Err(e) = output::write_stdout(&diff) {
                eprintln!("sme2wasm: cannot write the diff: {e}");
                return Exit::Usage;
            }
        }
        Mode::Check => {}
    }
    let counts = Counts::of(&notes);
    let listed = crate::formats::Notes {
        notes: &notes,
        allowed: &allowed,
    };
    let changed: Vec<&str> = outcome.changes.iter().map(|c| c.name.as_str()).collect();
    let summary = serde_json::json!({
        "mode": match mode { Mode::Write => "write", Mode::Diff => "diff", Mode::Check => "check" },
        "filesScanned": outcome.scanned,
        "filesChanged": outcome.changes.len(),
        "changedFiles": changed,
        "converted": outcome.converted,
        "notConverted": outcome.failed,
        "kustomizePatches": outcome.patches,
        "helmTemplates": outcome.templates,
        "found": outcome.remaining,
        "remainingFiles": outcome.left.iter().map(|l| serde_json::json!({
            "file": l.source.file,
            "line": l.source.line,
            "reason": l.reason.label(),
        })).collect::<Vec<_>>(),
        "unreadable": outcome.unreadable,
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
            line: Some(summary_line(&outcome, mode, counts)),
            json: summary.clone(),
        },
    );
    if let Some(path) = &args.conversion.report {
        if let Err(e) = output::write_report(path, &listed, summary) {
            eprintln!("sme2wasm: {e}");
            return Exit::Usage;
        }
    }
    if mode == Mode::Check && outcome.unreadable == 0 {
        if outcome.remaining > 0 || !outcome.left.is_empty() {
            Exit::Remaining
        } else {
            Exit::Ok
        }
    } else {
        Exit::of(
            outcome.unreadable,
            outcome.failed,
            args.conversion.strict && listed.unacknowledged_warnings() > 0,
        )
    }
}

/// Threads that write files: the time goes into fsync, which waits on the
/// disk, not the CPU, so more threads than cores pay off.
const WRITERS: usize = 16;

/// Without PATH, migrate does not write: the ways to run it.
const NO_PATH: &str = "\
sme2wasm: migrate rewrites files in place: name the directory to rewrite
  sme2wasm migrate --diff [PATH]   # print the change as a diff; write nothing (PATH: . by default)
  sme2wasm migrate --check [PATH]  # exit 4 while ServiceMeshExtensions remain; write nothing
  sme2wasm migrate PATH            # rewrite the files below PATH (`.` for this directory)";

/// Why the files cannot be written, naming each, and what to do.
fn refusal(refused: &[vcs::Unsafe]) -> String {
    let mut out = format!(
        "sme2wasm: {} that migrate would rewrite {} not safe to rewrite: `git checkout` could not undo migrate alone\n",
        plural(refused.len(), "file", "files"),
        if refused.len() == 1 { "is" } else { "are" }
    );
    let (mut dirty, mut staged, mut no_vcs) = (false, false, false);
    for r in refused {
        let (name, why) = match r {
            vcs::Unsafe::Dirty(n) => {
                dirty = true;
                (n, "uncommitted changes".to_string())
            }
            vcs::Unsafe::Staged(n) => {
                staged = true;
                (n, "staged changes, not committed".to_string())
            }
            vcs::Unsafe::NoVcs(n, why) => {
                no_vcs = true;
                (n, why.clone())
            }
        };
        out.push_str(&format!("  {}: {why}\n", quote_path(name)));
    }
    let mut flags = Vec::new();
    if dirty || staged {
        flags.push(if dirty {
            "--allow-dirty"
        } else {
            "--allow-staged (or --allow-dirty)"
        });
    }
    if no_vcs {
        flags.push("--allow-no-vcs");
    }
    let first = if dirty || staged {
        "commit (or stash) the changes first"
    } else {
        "add them to git and commit them first"
    };
    out.push_str(&format!(
        "  {first} and run migrate again, or pass {} to write anyway\n",
        flags.join(" and ")
    ));
    out
}

/// Write every change atomically (`fsutil::write_atomic`), several at a
/// time, each only if the file still holds what was read; returns the
/// indexes of the changes that could not be written, with why.
fn write_all(changes: &[Change]) -> Vec<(usize, std::io::Error)> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed = std::sync::Mutex::new(Vec::new());
    let progress = crate::progress::Progress::bar(changes.len(), "files written");
    std::thread::scope(|scope| {
        for _ in 0..WRITERS.min(changes.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(c) = changes.get(i) else { break };
                // A file edited since it was read keeps the edit.
                let result = match std::fs::read(&c.path) {
                    Ok(now) if now != c.old.as_bytes() => Err(std::io::Error::other(
                        "the file changed while migrate ran; run migrate again",
                    )),
                    Ok(_) => crate::fsutil::write_atomic(&c.path, c.new.as_bytes()),
                    Err(e) => Err(e),
                };
                progress.inc(1);
                if let Err(e) = result {
                    failed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, e));
                }
            });
        }
    });
    progress.finish();
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_by_key(|(i, _)| *i);
    failed
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary_line(o: &Outcome, mode: Mode, c: Counts) -> String {
    let files = plural(o.scanned, "file", "files");
    let levels = format!("{} ERROR, {} WARN, {} INFO", c.error, c.warn, c.info);
    if o.remaining == 0 && o.left.is_empty() {
        return format!(
            "migrate: nothing to change: no ServiceMeshExtension in {files} scanned ({levels})"
        );
    }
    let left = if o.left.is_empty() {
        String::new()
    } else {
        let hold = if o.left.len() == 1 { "holds" } else { "hold" };
        let verb = match mode {
            Mode::Write => format!("still {hold}"),
            Mode::Diff | Mode::Check => "would still hold".to_string(),
        };
        format!(
            "; {} {verb} ServiceMeshExtensions ({})",
            plural(o.left.len(), "file", "files"),
            remaining::summary(&o.left)
        )
    };
    let mut what = vec![plural(
        o.converted,
        "ServiceMeshExtension converted",
        "ServiceMeshExtensions converted",
    )];
    if o.failed > 0 {
        what.push(format!("{} not converted", o.failed));
    }
    if o.patches > 0 {
        what.push(plural(o.patches, "kustomize patch", "kustomize patches"));
    }
    if o.templates > 0 {
        what.push(plural(o.templates, "Helm template", "Helm templates"));
    }
    let changed = plural(o.changes.len(), "file", "files");
    match mode {
        Mode::Write if o.not_written > 0 => format!(
            "migrate: {files} scanned, {changed} changed ({} not written); {}{left}; {levels}",
            o.not_written,
            what.join(", ")
        ),
        Mode::Write => format!(
            "migrate: {files} scanned, {changed} changed; {}{left}; {levels}",
            what.join(", ")
        ),
        Mode::Diff => format!(
            "migrate --diff: {files} scanned, {changed} would change (nothing written); {}{left}; {levels}",
            what.join(", ")
        ),
        Mode::Check => format!(
            "migrate --check: {} remain in {files} scanned ({changed} would change){left}; {levels}",
            plural(o.remaining, "ServiceMeshExtension", "ServiceMeshExtensions")
        ),
    }
}

/// A unified diff of every change, with `a/` and `b/` paths as git writes
/// them, so that `git apply` takes it.
pub fn unified_diff(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let diff = similar::TextDiff::from_lines(c.old.as_str(), c.new.as_str());
        // Quoted as git quotes them: a name cannot forge a line of the diff.
        let a = quote_path(&format!("a/{}", c.name)).into_owned();
        let b = quote_path(&format!("b/{}", c.name)).into_owned();
        out.push_str(&format!("diff --git {a} {b}\n"));
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&a, &b)
                .to_string(),
        );
    }
    out
}

/// Find, convert and rewrite everything in the walked files. Pure but for
/// reading patch files that kustomizations name (already in `walked`).
pub fn migrate(walked: walk::Walked, opts: &Options) -> Outcome {
    let walk::Walked {
        mut files,
        scanned,
        unreadable,
        notes: walk_notes,
        skipped_with_sme,
        ..
    } = walked;
    let mut conv = Converter::new(opts);
    let mut counters = Counters {
        unreadable,
        ..Counters::default()
    };
    let mut extra: Vec<Notification> = walk_notes;
    // A file skipped unread that mentions ServiceMeshExtension all the same
    // (UTF-16 text, or over the size limit) is not silently passed over.
    let mut skipped_left = Vec::new();
    for name in skipped_with_sme {
        let source = Source::new(name, 1);
        counters.remaining += 1;
        counters.failed += 1;
        extra.push(
            Notification::new(
                Code::SkippedWithSme,
                "",
                "mentions ServiceMeshExtension but was skipped (not UTF-8, such as UTF-16, or too large): its SMEs are not converted",
            )
            .at(source.clone())
            .advice("convert the file to UTF-8 (or split it) and run migrate again, or convert it with `sme2wasm convert`"),
        );
        skipped_left.push(Left {
            source,
            reason: Reason::Skipped,
        });
    }
    let patch_index = kustomize::PatchIndex::build(&mut files, &mut extra);
    let chart_order = helm::ChartOrder::build(&files, opts);
    let mut plugins: Vec<WasmPlugin> = Vec::new();
    let mut templates = Templates::default();
    let mut plans: Vec<FilePlan> = Vec::with_capacity(files.len());
    let mut carries: Vec<Carries> = Vec::with_capacity(files.len());
    for file in &files {
        let before = (counters.converted, counters.patches, counters.templates);
        let docs = if file.is_kustomization() {
            kustomize::plan_kustomization(file, &patch_index, opts, &mut extra, &mut counters)
        } else if let Some(uses) = patch_index.uses(&file.name) {
            kustomize::plan_patch_file(file, uses, opts, &mut extra, &mut counters)
        } else {
            plan_plain(
                file,
                Views {
                    kustomize: &patch_index,
                    charts: &chart_order,
                },
                opts,
                &mut conv,
                &mut plugins,
                &mut templates,
                &mut extra,
                &mut counters,
            )
        };
        carries.push(Carries {
            converted: counters.converted - before.0,
            patches: counters.patches - before.1,
            templates: counters.templates - before.2,
        });
        plans.push(FilePlan { file, docs });
    }
    let finished = conv.finish();
    for c in &finished.changes {
        plugins[c.id].spec.priority = c.new;
    }
    let dropped: HashSet<usize> = finished.failed.iter().copied().collect();
    counters.failed += dropped.len();
    counters.converted -= dropped.len();
    let mut changes = Vec::new();
    let mut finals: Vec<(&SourceFile, Option<usize>)> = Vec::with_capacity(plans.len());
    for (plan, mut carries) in plans.into_iter().zip(carries) {
        let rendered = render_file(
            &plan,
            &plugins,
            &templates,
            &dropped,
            &mut extra,
            &mut counters,
        );
        let mut change = None;
        if let Some(new) = rendered {
            if new != plan.file.text {
                // SMEs dropped by the order reconciliation are not written.
                carries.converted = carries.converted.saturating_sub(
                    plan.docs
                        .iter()
                        .map(|(_, p)| match p {
                            DocPlan::Sme { id, .. } => usize::from(dropped.contains(id)),
                            DocPlan::List { items, .. } => {
                                items.iter().filter(|(_, id)| dropped.contains(id)).count()
                            }
                            _ => 0,
                        })
                        .sum::<usize>(),
                );
                change = Some(changes.len());
                changes.push(Change {
                    path: plan.file.path.clone(),
                    name: plan.file.name.clone(),
                    old: plan.file.text.clone(),
                    new,
                    carries,
                });
            }
        }
        finals.push((plan.file, change));
    }
    let mut notes = finished.notifications;
    notes.extend(chart_order.notes);
    notes.extend(extra);
    let mut left = left_behind(&finals, &changes, counters.left, &mut notes);
    left.extend(skipped_left);
    if !templates.tokens.is_empty() {
        for n in &mut notes {
            templates.tokens.untokenize_note(n);
        }
    }
    // Stable: within a file and line, the order in which they were found.
    notes.sort_by(|a, b| a.source.cmp(&b.source));
    Outcome {
        changes,
        notes,
        scanned,
        converted: counters.converted,
        failed: counters.failed,
        unreadable: counters.unreadable,
        remaining: counters.remaining,
        patches: counters.patches,
        templates: counters.templates,
        not_written: 0,
        left,
    }
}

/// The placeholders of a run's OpenShift Templates, and how each plugin of
/// a Template object gets them back.
#[derive(Default)]
struct Templates {
    tokens: Tokens,
    fixups: HashMap<usize, Fixup>,
}

impl Templates {
    /// The plugin of this id as it is written.
    fn value(&self, id: usize, plugin: &WasmPlugin) -> Value {
        let mut v = yaml::to_value(plugin);
        if let Some(f) = self.fixups.get(&id) {
            f.apply(&self.tokens, &mut v);
        }
        v
    }
}

/// Every file that still holds `kind: ServiceMeshExtension` once the
/// changes are made, one per file, with the reason found while planning;
/// one with no reason yet gets it from its ERRORs, or an ERROR of its own:
/// nothing is left behind silently.
fn left_behind(
    finals: &[(&SourceFile, Option<usize>)],
    changes: &[Change],
    found: Vec<Left>,
    notes: &mut Vec<Notification>,
) -> Vec<Left> {
    let mut out: Vec<Left> = Vec::new();
    for (file, change) in finals {
        let text = match change {
            Some(i) => changes[*i].new.as_str(),
            None => file.text.as_str(),
        };
        let Some(line) = remaining::still_holds(text) else {
            continue;
        };
        if let Some(l) = found.iter().find(|l| l.source.file == file.name) {
            out.push(l.clone());
            continue;
        }
        let source = Source::new(file.name.clone(), line + 1);
        let has_error = notes.iter().any(|n| {
            n.level == Level::Error && n.source.as_ref().is_some_and(|s| s.file == file.name)
        });
        if has_error {
            out.push(Left {
                source,
                reason: Reason::NotConverted,
            });
            continue;
        }
        notes.push(
            Notification::new(
                Code::SmeLeft,
                "",
                "still holds kind: ServiceMeshExtension after the rewrite: sme2wasm did not understand where it sits, and did not convert it",
            )
            .at(source.clone())
            .advice("convert it by hand (`sme2wasm convert` on the object), or report the case"),
        );
        out.push(Left {
            source,
            reason: Reason::Unexplained,
        });
    }
    out
}

/// What the whole repository says about one file's SMEs: where kustomize
/// renders them, and the order of a chart's templates.
#[derive(Clone, Copy)]
struct Views<'v> {
    kustomize: &'v kustomize::PatchIndex,
    charts: &'v helm::ChartOrder,
}

// The run's state, passed apart so that each borrow is as narrow as it can be.
#[allow(clippy::too_many_arguments)]
fn plan_plain<'a>(
    file: &'a SourceFile,
    views: Views,
    opts: &Options,
    conv: &mut Converter,
    plugins: &mut Vec<WasmPlugin>,
    templates: &mut Templates,
    extra: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    let mut out = Vec::new();
    for doc in yaml::split_documents(&file.text) {
        if !doc.text.contains(sme::KIND) || doc.is_blank() {
            out.push((doc, DocPlan::Keep));
            continue;
        }
        // `${{PARAM}}` in an OpenShift Template is not a Helm action.
        let openshift = doc.text.contains("${{")
            && yaml::parse(doc.text).is_ok_and(|v| template::is_template(&v));
        if !openshift && helm::is_template(file, &doc) {
            let plan = match helm::rewrite_template(file, &doc, views.charts, opts, extra, counters)
            {
                Some(t) if t != doc.text => DocPlan::Text(t),
                _ => DocPlan::Keep,
            };
            out.push((doc, plan));
            continue;
        }
        // One pass: the value, and the scalars YAML 1.1 reads otherwise.
        let (have, yaml11) = match yaml::read(doc.text) {
            Ok(r) => (r.value, r.yaml11),
            Err(e) => {
                counters.unreadable += 1;
                let note = stream::parse_error(&file.name, &doc, &e)
                    .advice("fix the document; it was left untouched");
                if remaining::kind_line(doc.text).is_some() {
                    counters.remaining += 1;
                    counters.left.push(Left {
                        source: note.source.clone().unwrap_or_else(|| site_of(file, &doc)),
                        reason: Reason::Unparseable,
                    });
                }
                conv.note(note);
                out.push((doc, DocPlan::Keep));
                continue;
            }
        };
        let site = Site::document(&file.name, doc, Some(&yaml11));
        if sme::is_sme(&have) {
            counters.remaining += 1;
            let plan = match stream::read_sme(&have, &site, conv).and_then(|s| {
                add_in_rendered_namespace(conv, views.kustomize, &file.name, s, &site)
            }) {
                Some((id, plugin)) => {
                    debug_assert_eq!(id, plugins.len());
                    plugins.push(plugin);
                    counters.converted += 1;
                    DocPlan::Sme { id, have }
                }
                None => {
                    counters.failed += 1;
                    DocPlan::Keep
                }
            };
            out.push((doc, plan));
            continue;
        }
        if sme::is_other_sme(&have) {
            counters.remaining += 1;
            counters.failed += 1;
            counters.left.push(Left {
                source: site.source(),
                reason: Reason::UnknownGroup,
            });
            conv.note(remaining::unknown_group(
                sme::api_version_of(&have),
                &sme::object_name(&have),
                site.source(),
            ));
            out.push((doc, DocPlan::Keep));
            continue;
        }
        let is_template = template::is_template(&have);
        let key = if is_template { "objects" } else { "items" };
        let mut items = Vec::new();
        if is_template || sme::kind_of(&have) == Some("List") {
            let params = if is_template {
                template::Parameters::of(&have)
            } else {
                template::Parameters::default()
            };
            if let Some(Value::Sequence(seq)) = have.get(key) {
                let mut lines = stream::ItemLines::new(&doc, key, site.line);
                for (i, item) in seq.iter().enumerate() {
                    let line = lines.next(item);
                    let at = Source::new(file.name.clone(), line);
                    if !sme::is_sme(item) {
                        if let Some(n) = stream::left_in_item(item, at.clone()) {
                            counters.remaining += 1;
                            counters.failed += 1;
                            let reason = if sme::is_other_sme(item) {
                                Reason::UnknownGroup
                            } else if sme::kind_of(item) == Some("List") {
                                Reason::ListInList
                            } else {
                                Reason::Wrapper
                            };
                            counters.left.push(Left { source: at, reason });
                            conv.note(n);
                        }
                        continue;
                    }
                    counters.remaining += 1;
                    let item_site = Site::line(&file.name, line);
                    let mut fixup = None;
                    let prepared;
                    let item = if is_template {
                        let p = template::prepare(item, &params, &mut templates.tokens, &at);
                        for n in p.notes {
                            conv.note(n);
                        }
                        if p.failed {
                            counters.failed += 1;
                            continue;
                        }
                        fixup = Some(p.fixup);
                        prepared = p.value;
                        &prepared
                    } else {
                        item
                    };
                    match stream::read_sme(item, &item_site, conv)
                        .and_then(|s| conv.add(&s, &item_site))
                    {
                        Some((id, plugin)) => {
                            plugins.push(plugin);
                            counters.converted += 1;
                            if let Some(f) = fixup {
                                templates.fixups.insert(id, f);
                            }
                            items.push((i, id));
                        }
                        None => counters.failed += 1,
                    }
                }
            }
        } else if let Some(path) = remaining::find_sme(&have) {
            let at = Source::new(
                file.name.clone(),
                remaining::kind_line(doc.text).map_or(site.line, |l| doc.start_line + l),
            );
            counters.remaining += 1;
            counters.failed += 1;
            counters.left.push(Left {
                source: at.clone(),
                reason: Reason::Wrapper,
            });
            conv.note(remaining::wrapper(
                sme::kind_of(&have).unwrap_or(""),
                &path,
                &sme::object_name(&have),
                at,
            ));
        }
        let plan = if items.is_empty() {
            DocPlan::Keep
        } else {
            DocPlan::List { have, key, items }
        };
        out.push((doc, plan));
    }
    out
}

/// Add an SME to the run; where kustomize's namespace transformers render
/// it in another namespace than its file says, its order is reconciled
/// among the SMEs of that namespace, and the plugin keeps the file's.
fn add_in_rendered_namespace(
    conv: &mut Converter,
    index: &kustomize::PatchIndex,
    file: &str,
    mut sme: sme::ServiceMeshExtension,
    site: &Site,
) -> Option<(usize, WasmPlugin)> {
    let written = sme.namespace.clone();
    let Some(ns) = index.rendered_namespace(file, &sme.name, written.as_deref()) else {
        return conv.add_owned(sme, site);
    };
    sme.namespace = Some(ns.to_string());
    let (id, mut plugin) = conv.add_owned(sme, site)?;
    plugin.metadata.namespace = written;
    Some((id, plugin))
}

/// Where a document starts, for a note with no better position.
fn site_of(file: &SourceFile, doc: &Document) -> Source {
    Source::new(file.name.clone(), doc.content_line())
}

/// The line ending a text uses (the most frequent of LF, CRLF and CR).
pub(crate) fn newline_of(text: &str) -> &'static str {
    yaml::newline_of(text)
}

/// The lines that open a document and carry no content: a BOM, the `---`
/// marker, blank lines and comments. A clean rendering keeps them.
fn document_prefix(text: &str) -> String {
    let mut end = 0;
    let mut marker_with_content = false;
    for (i, line) in yaml::lines_inclusive(text).enumerate() {
        let t = line.trim_start_matches('\u{feff}').trim();
        let is_marker = t == "---" || t.starts_with("--- #") || t.starts_with("---\t#");
        if i == 0
            && t.starts_with("---")
            && !is_marker
            && (t.len() == 3 || t[3..].starts_with([' ', '\t']))
        {
            marker_with_content = true;
            break;
        }
        if (i == 0 && is_marker) || t.is_empty() || t.starts_with('#') {
            end += line.len();
        } else {
            break;
        }
    }
    let mut prefix = text[..end].to_string();
    if marker_with_content {
        if text.starts_with('\u{feff}') {
            prefix.push('\u{feff}');
        }
        prefix.push_str("---");
        prefix.push_str(newline_of(text));
    } else if text.starts_with('\u{feff}') && !prefix.starts_with('\u{feff}') {
        prefix.insert(0, '\u{feff}');
    }
    prefix
}

/// A document written anew: its opening lines (marker, comments), then the
/// rendering, in the document's line ending and final-newline state.
fn clean_document(doc_text: &str, rendered: &str, json: bool) -> String {
    let mut out = if json {
        if doc_text.starts_with('\u{feff}') {
            "\u{feff}".to_string()
        } else {
            String::new()
        }
    } else {
        document_prefix(doc_text)
    };
    let nl = newline_of(doc_text);
    let body = rendered.trim_end_matches('\n');
    if nl != "\n" {
        out.push_str(&body.replace('\n', nl));
    } else {
        out.push_str(body);
    }
    if doc_text.ends_with(['\n', '\r']) {
        out.push_str(nl);
    }
    out
}

/// Whether `text` means `want`.
fn verify(text: &str, want: &Value) -> Result<(), String> {
    match yaml::parse(text) {
        Ok(v) if v == *want => Ok(()),
        Ok(_) => Err("the edited document means something else".into()),
        Err(e) => Err(format!("the edited document does not parse: {}", e.message)),
    }
}

/// The in-place edit of a document, verified; else a clean rendering with
/// a WARN naming the document.
fn edit_or_render(
    file: &SourceFile,
    doc: &Document,
    object: &str,
    edited: Result<String, rewrite::Unsupported>,
    want: &Value,
    render: impl FnOnce() -> String,
    extra: &mut Vec<Notification>,
) -> Option<String> {
    let why = match edited
        .map_err(|e| e.0)
        .and_then(|t| verify(&t, want).map(|()| t))
    {
        Ok(t) => return Some(t),
        Err(why) => why,
    };
    let clean = clean_document(doc.text, &render(), file.is_json());
    let source = Source::new(file.name.clone(), doc.content_line());
    if let Err(e) = verify(&clean, want) {
        extra.push(
            Notification::new(
                Code::CannotRewrite,
                object,
                format!("cannot be rewritten: {why}; a clean rendering failed too: {e}"),
            )
            .at(source)
            .advice("the document was left untouched; convert it with `sme2wasm convert`"),
        );
        return None;
    }
    extra.push(
        Notification::new(
            Code::CleanRendering,
            object,
            format!("could not be edited in place ({why}): written as a clean rendering"),
        )
        .at(source)
        .advice("comments and layout inside this document were not kept; review it"),
    );
    Some(clean)
}

fn render_file(
    plan: &FilePlan,
    plugins: &[WasmPlugin],
    templates: &Templates,
    dropped: &HashSet<usize>,
    extra: &mut Vec<Notification>,
    counters: &mut Counters,
) -> Option<String> {
    let file = plan.file;
    let mut out = String::with_capacity(file.text.len() + 512);
    let mut changed = false;
    for (doc, p) in &plan.docs {
        let text = match p {
            DocPlan::Keep => None,
            DocPlan::Text(t) => Some(t.clone()),
            DocPlan::Sme { id, .. } if dropped.contains(id) => None,
            DocPlan::Sme { id, have } => {
                let plugin = &plugins[*id];
                let want = yaml::to_value(plugin);
                let edited = rewrite::rewrite(doc.text, have, &want, fields::sme_key);
                let object = sme::object_name(have);
                edit_or_render(
                    file,
                    doc,
                    &object,
                    edited,
                    &want,
                    || render_plugin(plugin, file.is_json()),
                    extra,
                )
            }
            DocPlan::List { have, key, items } => {
                let items: Vec<(usize, Value)> = items
                    .iter()
                    .filter(|(_, id)| !dropped.contains(id))
                    .map(|(i, id)| (*i, templates.value(*id, &plugins[*id])))
                    .collect();
                let mut want = have.clone();
                if let Some(Value::Sequence(seq)) = want.get_mut(*key) {
                    for (i, v) in &items {
                        seq[*i] = v.clone();
                    }
                }
                let edited = rewrite::rewrite_items(doc.text, have, key, &items, fields::sme_key);
                let json = file.is_json();
                edit_or_render(
                    file,
                    doc,
                    "",
                    edited,
                    &want,
                    || render_value(&want, json),
                    extra,
                )
            }
        };
        match text {
            Some(t) => {
                changed = true;
                out.push_str(&t);
            }
            None => out.push_str(doc.text),
        }
    }
    if !changed {
        return None;
    }
    // The whole file: as many documents as before, and still JSON if it was.
    let before = yaml::split_documents(&file.text).len();
    let after = yaml::split_documents(&out).len();
    let json_lost = file.is_json()
        && serde_json::from_str::<serde_json::Value>(file.text.trim_start_matches('\u{feff}'))
            .is_ok()
        && serde_json::from_str::<serde_json::Value>(out.trim_start_matches('\u{feff}')).is_err();
    if before != after || json_lost {
        counters.unreadable += 1;
        extra.push(
            Notification::new(
                Code::DocumentsMerge,
                "",
                "the rewritten file would not keep its documents apart (or stop being JSON): not written",
            )
            .at(Source::new(file.name.clone(), 1))
            .advice("convert this file with `sme2wasm convert` and report the case"),
        );
        return None;
    }
    Some(out)
}

fn render_plugin(plugin: &WasmPlugin, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(plugin).expect("a plugin serialises")
    } else {
        yaml::to_string(plugin)
    }
}

fn render_value(value: &Value, json: bool) -> String {
    if json {
        serde_json::to_string_pretty(&yaml::to_json(value)).expect("JSON serialises")
    } else {
        yaml::to_string(value)
    }
}

/// Every image the SMEs of a repository name (documents, List items and
/// strategic-merge patches), each once, in order of first appearance (for
/// `--repack`).
fn images(files: &[SourceFile]) -> Vec<String> {
    let mut seen = HashMap::new();
    let mut out = Vec::new();
    for f in files {
        for doc in yaml::split_documents(&f.text) {
            if !doc.text.contains(sme::KIND) {
                continue;
            }
            let Ok(v) = yaml::parse(doc.text) else {
                continue;
            };
            let mut push = |v: &Value| {
                if let Some(i) = v
                    .get("spec")
                    .and_then(|s| s.get("image"))
                    .and_then(Value::as_str)
                {
                    if seen.insert(i.to_string(), ()).is_none() {
                        out.push(i.to_string());
                    }
                }
            };
            if sme::is_sme(&v) {
                push(&v);
            } else if let Some(Value::Sequence(items)) = v.get("items") {
                items.iter().filter(|i| sme::is_sme(i)).for_each(&mut push);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repack_hook_points_urls_at_the_new_images() {
        use clap::Parser;
        let dir = tempfile::tempdir().unwrap();
        let sme = "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\nspec:\n  image: quay.io/x/a:1   # old\n  phase: PreAuthN\n  priority: 1\n";
        std::fs::write(dir.path().join("a.yaml"), sme).unwrap();
        let cli = crate::cli::Cli::parse_from(
            ["sme2wasm", "migrate", "--quiet", "--allow-no-vcs"]
                .into_iter()
                .chain(dir.path().to_str()),
        );
        let crate::cli::Command::Migrate(args) = cli.command else {
            panic!("not migrate")
        };
        let seen = std::cell::RefCell::new(Vec::new());
        let repack = |images: &[String]| {
            seen.borrow_mut().extend_from_slice(images);
            let mut map = ImageMap::default();
            map.merge(crate::conversion::imagemap::ImageMapEntry {
                from: "quay.io/x/a:1".into(),
                to: "registry.local/wasm/a:1".into(),
                digest: format!("sha256:{}", "ab".repeat(32)),
                phase: None,
                priority: None,
            });
            Ok(map)
        };
        assert_eq!(run_with(&args, Some(&repack)), Exit::Ok);
        assert_eq!(*seen.borrow(), vec!["quay.io/x/a:1".to_string()]);
        let text = std::fs::read_to_string(dir.path().join("a.yaml")).unwrap();
        assert!(
            text.contains("  url: oci://registry.local/wasm/a:1   # old\n  sha256: abab"),
            "{text}"
        );
    }

    #[test]
    fn prefix_keeps_marker_and_comments() {
        assert_eq!(
            document_prefix("--- # c\n# about\nkind: X\n"),
            "--- # c\n# about\n"
        );
        assert_eq!(document_prefix("\u{feff}kind: X\n"), "\u{feff}");
        assert_eq!(document_prefix("--- {a: 1}\n"), "---\n");
        assert_eq!(document_prefix("---\r\nkind: X\r\n"), "---\r\n");
    }

    #[test]
    fn clean_document_keeps_line_endings_and_final_newline() {
        assert_eq!(
            clean_document("---\r\na: 1", "b: 2\nc: 3\n", false),
            "---\r\nb: 2\r\nc: 3"
        );
    }
}

#[cfg(test)]
mod fuzz {
    //! No input makes migrate panic, and whatever it would write keeps the
    //! file's documents apart: mutations of the fixtures, run through the
    //! whole pipeline (without the file system).
    use super::*;
    use proptest::prelude::*;

    const SEEDS: [(&str, &str); 5] = [
        (
            "multi.yaml",
            include_str!("../../testdata/migrate/multidoc/in/bookinfo.yaml"),
        ),
        (
            "list.yaml",
            include_str!("../../testdata/migrate/list/in/dump.yaml"),
        ),
        (
            "sme.json",
            include_str!("../../testdata/migrate/json/in/sme.json"),
        ),
        (
            "overlays/prod/kustomization.yaml",
            include_str!("../../testdata/migrate/kustomize/in/overlays/prod/kustomization.yaml"),
        ),
        (
            "chart/templates/x.yaml",
            include_str!("../../testdata/migrate/helm/in/chart/templates/extensions.yaml"),
        ),
    ];

    const SNIPPETS: [&str; 14] = [
        ": ", "\n", "- ", "{", "}", "[", "'", "\"", "é", "\r\n", "  ", "&a ", "*a", "{{ x }}",
    ];

    fn mutate(text: &str, cuts: &[(usize, usize, usize)]) -> String {
        let mut t = text.to_string();
        for &(at, len, snippet) in cuts {
            let mut at = at % (t.len() + 1);
            while !t.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + len % 8).min(t.len());
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t.replace_range(at..end, SNIPPETS[snippet % SNIPPETS.len()]);
        }
        t
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn mutated_inputs_never_panic(
            seed in 0..SEEDS.len(),
            cuts in proptest::collection::vec((0usize..4000, 0usize..8, 0usize..20), 0..4),
        ) {
            let (name, text) = SEEDS[seed];
            let text = mutate(text, &cuts);
            let file = SourceFile {
                path: std::path::PathBuf::from(format!("/nonexistent/{name}")),
                name: name.to_string(),
                text: text.clone(),
            };
            let walked = walk::Walked { files: vec![file], scanned: 1, ..Default::default() };
            let outcome = migrate(walked, &Options::default());
            for c in &outcome.changes {
                prop_assert_eq!(
                    yaml::split_documents(&c.new).len(),
                    yaml::split_documents(&c.old).len()
                );
            }
        }
    }
}
