//! The `convert` pipeline over streams: read inputs, split them into
//! documents, convert the ServiceMeshExtensions, and write every document
//! back in order. A document that is not an SME is never parsed in YAML
//! output: it passes through byte for byte, comments included.

use crate::conversion::convert::{Converter, Options, Site};
use crate::conversion::remaining;
use crate::conversion::sme::{self, ServiceMeshExtension};
use crate::conversion::template;
use crate::conversion::wasmplugin::WasmPlugin;
use crate::notify::{Code, Notification, Source};
use crate::yaml::{self, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One input: its display name and its text.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub text: crate::fsutil::Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

/// What a run produced: the output text and every notification.
#[derive(Debug)]
pub struct Outcome {
    /// The output, when it was kept in memory (see `spooled`).
    pub output: String,
    /// A large YAML output waits in an anonymous temporary file until the
    /// order is known; `output` is then empty and this writes it.
    pub spooled: Option<Spooled>,
    pub notifications: Vec<Notification>,
    pub converted: usize,
    pub failed: usize,
    /// Documents that could not be read (exit code 2).
    pub unreadable: usize,
}

impl Outcome {
    /// Write the output (from memory, or from its spool).
    pub fn write_output(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match &self.spooled {
            Some(s) => s.write_to(w),
            None => w.write_all(self.output.as_bytes()),
        }
    }

    /// The output as one string (tests, benchmarks).
    pub fn output_text(&self) -> String {
        match &self.spooled {
            None => self.output.clone(),
            Some(s) => {
                let mut v = Vec::new();
                s.write_to(&mut v).expect("the spool reads back");
                String::from_utf8(v).expect("the output is UTF-8")
            }
        }
    }
}

/// An output written to an anonymous temporary file, and the priorities to
/// put in while it is copied out: (start, end, new text), in order.
#[derive(Debug)]
pub struct Spooled {
    file: std::fs::File,
    len: u64,
    patches: Vec<(u64, u64, String)>,
}

impl Spooled {
    pub fn write_to(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let mut file = &self.file;
        file.seek(std::io::SeekFrom::Start(0))?;
        let mut pos = 0u64;
        for (start, end, text) in &self.patches {
            std::io::copy(&mut file.take(start - pos), w)?;
            w.write_all(text.as_bytes())?;
            file.seek(std::io::SeekFrom::Start(*end))?;
            pos = *end;
        }
        std::io::copy(&mut file.take(self.len - pos), w)?;
        Ok(())
    }
}

/// Output beyond this much waits in a temporary file, not in memory.
const SPOOL_AT: usize = 4 << 20;

/// Errors that stop the reading of inputs.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "cannot read {}: {source}; check the path and its permissions",
        crate::fsutil::quote_path(path)
    )]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{} is not UTF-8 text; only YAML and JSON files can be converted",
        crate::fsutil::quote_path(path)
    )]
    NotUtf8 { path: String },
}

fn read_file(path: &Path) -> Result<Input, ReadError> {
    let name = path.display().to_string();
    use crate::fsutil::{Text, TextError};
    let text = Text::read(path).map_err(|e| match e {
        TextError::Io(source) => ReadError::Io {
            path: name.clone(),
            source,
        },
        TextError::NotUtf8 => ReadError::NotUtf8 { path: name.clone() },
    })?;
    Ok(Input { name, text })
}

fn is_manifest_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Every *.yaml, *.yml and *.json below `dir`, sorted, symlinks not followed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ReadError> {
    let io = |source| ReadError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let ft = e.file_type().map_err(io)?;
        let p = e.path();
        if ft.is_dir() {
            walk(&p, out)?;
        } else if ft.is_file() && is_manifest_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Read the named inputs (`-` is stdin; a directory is walked). Each input
/// that cannot be read is returned as an error beside the others.
pub fn read_inputs(paths: &[String]) -> (Vec<Input>, Vec<ReadError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let paths: Vec<String> = if paths.is_empty() {
        vec!["-".into()]
    } else {
        paths.to_vec()
    };
    for p in &paths {
        if p == "-" {
            let mut buf = Vec::new();
            match std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
                Ok(_) => match String::from_utf8(buf) {
                    Ok(text) => inputs.push(Input {
                        name: "<stdin>".into(),
                        text: text.into(),
                    }),
                    Err(_) => errors.push(ReadError::NotUtf8 {
                        path: "<stdin>".into(),
                    }),
                },
                Err(source) => errors.push(ReadError::Io {
                    path: "<stdin>".into(),
                    source,
                }),
            }
            continue;
        }
        let path = Path::new(p);
        if path.is_dir() {
            let mut files = Vec::new();
            match walk(path, &mut files) {
                Ok(()) => {
                    for f in files {
                        match read_file(&f) {
                            Ok(i) => inputs.push(i),
                            Err(e) => errors.push(e),
                        }
                    }
                }
                Err(e) => errors.push(e),
            }
        } else {
            match read_file(path) {
                Ok(i) => inputs.push(i),
                Err(e) => errors.push(e),
            }
        }
    }
    (inputs, errors)
}

/// A piece of output, kept until the order of all SMEs is known.
enum Piece<'a> {
    /// A document passed through as it was.
    Raw(&'a str),
    /// A converted WasmPlugin, already rendered: its text is the byte range
    /// `at` of the `YamlOut` buffer; `priority_at` is the byte range of the
    /// priority's digits in that text, patched if the order moves it.
    Plugin {
        id: usize,
        at: (usize, usize),
        priority_at: (usize, usize),
    },
    /// An SME that could not be converted: a comment in YAML output.
    NotConverted(String),
    /// A parsed document (JSON output, or a List with SMEs inside) whose SME
    /// items are replaced by the plugins of the given ids.
    /// (Boxed: a piece per document is kept for the whole run.)
    Tree(Box<Tree>),
}

/// A document kept as a tree until the order of all SMEs is known.
struct Tree {
    value: Value,
    /// `items` (a List) or `objects` (an OpenShift Template).
    key: &'static str,
    items: Vec<(usize, Option<usize>)>,
}

/// The YAML output, written while the documents are read so that a large
/// stream is not held twice (every piece, then the output). As long as every
/// piece could be written in its place (`in_order`), `out` is the output but
/// for the priorities that the order moves, which are patched in place at
/// the end. A piece that must wait for the order (a List with SMEs inside,
/// any JSON output) ends that: from then on `out` only keeps the plugins'
/// texts, and the output is put together from the pieces at the end.
struct YamlOut {
    /// The output not yet spooled; positions count from the start of the
    /// whole output (`spooled` bytes before `out`).
    out: String,
    spool: Option<std::fs::File>,
    spooled: usize,
    /// A temporary file could not be made: everything stays in memory.
    no_spool: bool,
    /// How much may wait in memory (`SPOOL_AT`; smaller in tests).
    spool_at: usize,
    /// Whether the next document needs a `---` before it.
    need_marker: bool,
    in_order: bool,
    only_converted: bool,
}

impl YamlOut {
    fn new(format: Format, only_converted: bool) -> YamlOut {
        YamlOut {
            out: String::new(),
            spool: None,
            spooled: 0,
            no_spool: false,
            spool_at: SPOOL_AT,
            need_marker: false,
            in_order: format == Format::Yaml,
            only_converted,
        }
    }

    fn raw(&mut self, text: &str) {
        if self.in_order {
            start_doc(&mut self.out, self.need_marker, text);
            self.out.push_str(text);
            self.need_marker = !text.trim().is_empty();
            self.maybe_spool();
        }
    }

    /// Write a plugin's text; returns its byte range in the whole output.
    fn plugin(&mut self, text: &str) -> (usize, usize) {
        if self.in_order {
            start_doc(&mut self.out, self.need_marker, text);
            self.need_marker = true;
        }
        let start = self.spooled + self.out.len();
        self.out.push_str(text);
        let range = (start, self.spooled + self.out.len());
        self.maybe_spool();
        range
    }

    /// In order, past `SPOOL_AT` bytes and at the end of a line (the next
    /// piece looks at the last byte written): move `out` to the spool.
    fn maybe_spool(&mut self) {
        use std::io::Write;
        if !self.in_order
            || self.no_spool
            || self.out.len() < self.spool_at
            || !self.out.ends_with('\n')
        {
            return;
        }
        if self.spool.is_none() {
            match tempfile::tempfile() {
                Ok(f) => self.spool = Some(f),
                Err(_) => {
                    self.no_spool = true;
                    return;
                }
            }
        }
        let file = self.spool.as_mut().expect("made above");
        match file.write_all(self.out.as_bytes()) {
            Ok(()) => {
                self.spooled += self.out.len();
                self.out.clear();
            }
            // A full disk: keep the rest in memory. The spool then holds
            // a prefix, which `whole` and `finish_spool` still read.
            Err(_) => self.no_spool = true,
        }
    }

    /// The whole output in memory (the spool read back, when there is one).
    fn whole(self) -> std::io::Result<String> {
        use std::io::{Read, Seek};
        let Some(mut file) = self.spool else {
            return Ok(self.out);
        };
        let mut text = String::with_capacity(self.spooled + self.out.len());
        file.seek(std::io::SeekFrom::Start(0))?;
        file.read_to_string(&mut text)?;
        text.push_str(&self.out);
        Ok(text)
    }

    /// Move what is left in memory to the spool; whether everything is
    /// now there.
    fn flush_all(&mut self) -> bool {
        use std::io::Write;
        let Some(file) = self.spool.as_mut() else {
            return false;
        };
        if self.out.is_empty() {
            return true;
        }
        match file.write_all(self.out.as_bytes()) {
            Ok(()) => {
                self.spooled += self.out.len();
                self.out = String::new();
                true
            }
            Err(_) => false,
        }
    }

    fn not_converted(&mut self, comment: &str) {
        if self.in_order && !self.only_converted {
            if !self.out.is_empty() && !self.out.ends_with('\n') {
                self.out.push('\n');
            }
            self.out.push_str(comment);
            self.maybe_spool();
        }
    }

    fn tree(&mut self) {
        self.in_order = false;
    }
}

/// Before a document's text: end the previous line, and add a `---` when
/// the document needs one and has none. A document that opens with a
/// directive (`%YAML 1.1`) has its own `---` after it; the previous one is
/// ended with `...`, the only marker allowed before a directive.
fn start_doc(out: &mut String, need_marker: bool, text: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    if need_marker && body.starts_with('%') {
        out.push_str("...\n");
    } else if need_marker && !body.starts_with("---") {
        out.push_str("---\n");
    }
}

/// `text` fit for a one-line comment: control characters (line breaks
/// among them) escaped.
fn one_line(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `text` with every CR that is not followed by LF turned into LF.
fn lone_cr_to_lf(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\r') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() != Some(&'\n') {
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Replace byte ranges of `text` (in increasing order, not overlapping)
/// with other strings, in place rather than into a second copy of a
/// possibly very large output.
fn patch_in_place(text: String, patches: &[(usize, usize, &str)]) -> String {
    if patches.is_empty() {
        return text;
    }
    let growth =
        |(start, end, new): &(usize, usize, &str)| new.len() as isize - (end - start) as isize;
    let mut buf = text.into_bytes();
    let old_len = buf.len();
    let new_len = old_len
        .checked_add_signed(patches.iter().map(growth).sum())
        .expect("a length");
    if new_len > old_len {
        buf.resize(new_len, 0);
    }
    // The text between patches, as (source start, source end, target start).
    let mut segments = Vec::with_capacity(patches.len() + 1);
    let mut shift = 0isize;
    let mut from = 0usize;
    let mut targets = Vec::with_capacity(patches.len());
    for patch in patches {
        segments.push((
            from,
            patch.0,
            from.checked_add_signed(shift).expect("a position"),
        ));
        targets.push(patch.0.checked_add_signed(shift).expect("a position"));
        shift += growth(patch);
        from = patch.1;
    }
    segments.push((
        from,
        old_len,
        from.checked_add_signed(shift).expect("a position"),
    ));
    // Segments that move left, first to last, then those that move right,
    // last to first: no segment is overwritten before it has moved.
    for &(start, end, to) in &segments {
        if to < start {
            buf.copy_within(start..end, to);
        }
    }
    for &(start, end, to) in segments.iter().rev() {
        if to > start {
            buf.copy_within(start..end, to);
        }
    }
    for (patch, to) in patches.iter().zip(targets) {
        buf[to..to + patch.2.len()].copy_from_slice(patch.2.as_bytes());
    }
    buf.truncate(new_len);
    String::from_utf8(buf).expect("UTF-8 ranges replaced by UTF-8 text")
}

/// The byte range of the spec's priority digits in a rendered plugin. The
/// priority is the last spec field with a value of the user's after it only
/// `match`, so the last `priority` key at spec level is it.
fn priority_range(text: &str, format: Format) -> (usize, usize) {
    let key = match format {
        Format::Yaml => "\n  priority: ",
        Format::Json => "\"priority\":",
    };
    let start = text.rfind(key).expect("a rendered plugin has a priority") + key.len();
    let len = text[start..]
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(text.len() - start);
    (start, start + len)
}

/// A plugin as a YAML document (`---` first). Its config, often most of
/// it, moves into the tree rendered rather than being copied.
fn render_yaml(mut plugin: WasmPlugin) -> String {
    let config = plugin.spec.plugin_config.as_mut().map(std::mem::take);
    let mut tree = yaml::to_value(&plugin);
    if let (Some(config), Some(slot)) = (
        config,
        tree.get_mut("spec").and_then(|s| s.get_mut("pluginConfig")),
    ) {
        *slot = Value::Mapping(config);
    }
    format!("---\n{}", yaml::emit(&tree))
}

/// A converted SME's plugin as YAML, after the comments that led the SME
/// (unless only converted objects are written).
fn plugin_text(plugin: WasmPlugin, doc: &yaml::Document, only_converted: bool) -> String {
    let comments = doc.leading_comments();
    let body = render_yaml(plugin);
    if comments.is_empty() || only_converted {
        return body;
    }
    let mut text = String::from("---\n");
    // A lone CR (an old Mac's line break) becomes the output's LF.
    text.push_str(&lone_cr_to_lf(comments));
    text.push_str(&body[4..]);
    text
}

/// The comment that stands for an SME not converted; `file` as printed.
fn not_converted_comment(object: &str, file: &str, line: usize) -> String {
    format!(
        "# sme2wasm: ServiceMeshExtension {} ({}:{}) was not converted; see the errors\n",
        one_line(object),
        one_line(file),
        line
    )
}

/// The plugins kept as trees, with their new priorities and their
/// Templates' placeholders back, by id.
fn tree_values(
    plugins: Vec<(usize, WasmPlugin)>,
    new_priority: &HashMap<usize, i64>,
    fixups: &HashMap<usize, template::Fixup>,
    tokens: &template::Tokens,
) -> HashMap<usize, Value> {
    plugins
        .into_iter()
        .map(|(id, mut p)| {
            if let Some(n) = new_priority.get(&id) {
                p.spec.priority = *n;
            }
            let mut v = yaml::to_value(&p);
            if let Some(f) = fixups.get(&id) {
                f.apply(tokens, &mut v);
            }
            (id, v)
        })
        .collect()
}

/// The output written in order: only the new priorities' digits change,
/// patched into the text in place.
/// The byte ranges, in the whole output, of the priorities the order moves,
/// with their new values, in output order.
fn moved_priorities<'p>(
    pieces: &'p [Piece],
    new_priority: &'p HashMap<usize, i64>,
) -> impl Iterator<Item = (usize, usize, i64)> + 'p {
    pieces.iter().filter_map(|piece| match piece {
        Piece::Plugin {
            id,
            at,
            priority_at,
        } => new_priority
            .get(id)
            .map(|p| (at.0 + priority_at.0, at.0 + priority_at.1, *p)),
        _ => None,
    })
}

/// The spooled output, the rest of it written out, and the priorities the
/// order moves as patches applied while it is copied out.
fn finish_spool(
    mut yaml_out: YamlOut,
    pieces: Vec<Piece>,
    new_priority: &HashMap<usize, i64>,
) -> Spooled {
    let patches = moved_priorities(&pieces, new_priority)
        .map(|(start, end, p)| (start as u64, end as u64, p.to_string()))
        .collect();
    drop(pieces);
    // `flush_all` moved everything there.
    let file = yaml_out.spool.take().expect("a spooled output");
    Spooled {
        file,
        len: yaml_out.spooled as u64,
        patches,
    }
}

fn new_priorities_in_place(
    out: String,
    pieces: Vec<Piece>,
    new_priority: &HashMap<usize, i64>,
) -> String {
    // The new priorities' digits, one after the other, then the patches
    // that point into them.
    let mut digits = String::new();
    let mut ranges: Vec<(usize, usize, usize)> = Vec::new();
    for (start, end, p) in moved_priorities(&pieces, new_priority) {
        ranges.push((start, end, digits.len()));
        digits.push_str(&p.to_string());
    }
    drop(pieces);
    let ends = ranges.iter().skip(1).map(|r| r.2).chain([digits.len()]);
    let patches: Vec<(usize, usize, &str)> = ranges
        .iter()
        .zip(ends)
        .map(|(&(start, end, from), to)| (start, end, &digits[from..to]))
        .collect();
    drop(ranges);
    patch_in_place(out, &patches)
}

/// A run of `convert_inputs`: what it has written and counted so far.
struct Run<'a, 'o> {
    conv: Converter<'o>,
    pieces: Vec<Piece<'a>>,
    yaml_out: YamlOut,
    /// Plugins kept as trees (List items, JSON output), by id.
    tree_plugins: Vec<(usize, WasmPlugin)>,
    converted: usize,
    failed: usize,
    unreadable: usize,
    /// Placeholders of OpenShift Templates, and how each plugin of a
    /// Template object gets them back.
    tokens: template::Tokens,
    fixups: HashMap<usize, template::Fixup>,
    format: Format,
    only_converted: bool,
}

/// Convert a whole run's inputs.
pub fn convert_inputs(
    inputs: &[Input],
    opts: &Options,
    format: Format,
    only_converted: bool,
) -> Outcome {
    convert_inputs_spooling_at(inputs, opts, format, only_converted, SPOOL_AT)
}

fn convert_inputs_spooling_at(
    inputs: &[Input],
    opts: &Options,
    format: Format,
    only_converted: bool,
    spool_at: usize,
) -> Outcome {
    let mut yaml_out = YamlOut::new(format, only_converted);
    yaml_out.spool_at = spool_at;
    // The output is at most about as long as the input, and what is in
    // memory at most about `SPOOL_AT`: reserved once, never copied to grow.
    yaml_out.out.reserve(
        inputs
            .iter()
            .map(|i| i.text.len() + 64)
            .sum::<usize>()
            .min(spool_at.saturating_add(1 << 20)),
    );
    let mut run = Run {
        conv: Converter::new(opts),
        pieces: Vec::new(),
        yaml_out,
        tree_plugins: Vec::new(),
        converted: 0,
        failed: 0,
        unreadable: 0,
        tokens: template::Tokens::default(),
        fixups: Default::default(),
        format,
        only_converted,
    };
    for input in inputs {
        let docs = yaml::split_documents(&input.text);
        // A mapped file: the split read every page; each is read again as
        // its documents are converted, and given back once they are done.
        input.text.release_all();
        for doc in docs {
            let end = doc.offset + doc.text.len();
            run.document(input, doc);
            input.text.release_before(end);
        }
    }
    run.finish()
}

impl<'a, 'o> Run<'a, 'o> {
    /// One document of an input: passed through, converted, or named as
    /// left behind.
    fn document(&mut self, input: &'a Input, doc: yaml::Document<'a>) {
        let could_be_sme = doc.text.contains(sme::KIND);
        if !could_be_sme && self.format == Format::Yaml {
            if !self.only_converted {
                self.yaml_out.raw(doc.text);
                self.pieces.push(Piece::Raw(doc.text));
            }
            return;
        }
        if doc.is_blank() {
            if !self.only_converted && self.format == Format::Yaml {
                self.yaml_out.raw(doc.text);
                self.pieces.push(Piece::Raw(doc.text));
            }
            return;
        }
        // One pass: the value, and the scalars YAML 1.1 reads otherwise.
        let (value, yaml11) = match yaml::read(doc.text) {
            Ok(r) => (r.value, r.yaml11),
            Err(e) => {
                self.unreadable += 1;
                self.conv.note(
                    parse_error(&input.name, &doc, &e)
                        .advice("fix the document; it was left out of the output"),
                );
                return;
            }
        };
        let site = Site::document(&input.name, doc, Some(&yaml11));
        if sme::is_sme(&value) {
            self.sme(input, &doc, value, &site);
            return;
        }
        if sme::is_other_sme(&value) {
            self.failed += 1;
            self.conv.note(remaining::unknown_group(
                sme::api_version_of(&value),
                &sme::object_name(&value),
                site.source(),
            ));
            let comment = not_converted_comment(&sme::object_name(&value), &input.name, site.line);
            self.yaml_out.not_converted(&comment);
            self.pieces.push(Piece::NotConverted(comment));
            return;
        }
        // A List (what `oc get … -o yaml` prints) or an OpenShift
        // Template with SMEs among its items or objects.
        let is_template = template::is_template(&value);
        let key = if is_template { "objects" } else { "items" };
        let mut items = Vec::new();
        if is_template || sme::kind_of(&value) == Some("List") {
            items = self.items(input, &doc, &value, site.line, is_template);
        } else if let Some(path) = remaining::find_sme(&value) {
            self.failed += 1;
            self.conv.note(remaining::wrapper(
                sme::kind_of(&value).unwrap_or(""),
                &path,
                &sme::object_name(&value),
                Source::new(
                    &input.name,
                    remaining::kind_line(doc.text).map_or(site.line, |l| doc.start_line + l),
                ),
            ));
        }
        if items.is_empty() && self.format == Format::Yaml {
            if !self.only_converted {
                self.yaml_out.raw(doc.text);
                self.pieces.push(Piece::Raw(doc.text));
            }
        } else if !self.only_converted || !items.is_empty() {
            self.yaml_out.tree();
            self.pieces
                .push(Piece::Tree(Box::new(Tree { value, key, items })));
        }
    }

    /// A ServiceMeshExtension document: its plugin, or the comment that
    /// stands for it.
    fn sme(&mut self, input: &'a Input, doc: &yaml::Document, mut value: Value, site: &Site) {
        // The config moves from the tree into the plugin.
        let read = ServiceMeshExtension::from_value_taking_config(&mut value);
        match read_sme_from(read, &value, site, &mut self.conv) {
            Some(sme) => {
                let object = sme.object();
                match self.conv.add_owned(sme, site) {
                    Some((id, plugin)) => {
                        self.converted += 1;
                        if self.format == Format::Yaml {
                            let text = plugin_text(plugin, doc, self.only_converted);
                            let priority_at = priority_range(&text, self.format);
                            let at = self.yaml_out.plugin(&text);
                            self.pieces.push(Piece::Plugin {
                                id,
                                at,
                                priority_at,
                            });
                        } else {
                            self.tree_plugins.push((id, plugin));
                            self.yaml_out.tree();
                            self.pieces.push(Piece::Tree(Box::new(Tree {
                                value: Value::Null,
                                key: "items",
                                items: vec![(id, None)],
                            })));
                        }
                    }
                    None => {
                        self.failed += 1;
                        let comment = not_converted_comment(
                            &object,
                            &crate::fsutil::quote_path(&input.name),
                            site.line,
                        );
                        self.yaml_out.not_converted(&comment);
                        self.pieces.push(Piece::NotConverted(comment));
                    }
                }
            }
            None => self.failed += 1,
        }
    }

    /// The SMEs among a List's items or a Template's objects: (plugin id or
    /// `usize::MAX` for one lost, item index) for each.
    fn items(
        &mut self,
        input: &'a Input,
        doc: &yaml::Document,
        value: &Value,
        line: usize,
        is_template: bool,
    ) -> Vec<(usize, Option<usize>)> {
        let key = if is_template { "objects" } else { "items" };
        let mut items = Vec::new();
        let params = if is_template {
            template::Parameters::of(value)
        } else {
            template::Parameters::default()
        };
        // A List loses an item that is not converted (its ERROR says
        // so); a Template keeps the object as it was, as migrate does.
        let lose = |items: &mut Vec<(usize, Option<usize>)>, i: usize| {
            if !is_template {
                items.push((usize::MAX, Some(i)));
            }
        };
        if let Some(Value::Sequence(seq)) = value.get(key) {
            let mut lines = ItemLines::new(doc, key, line);
            for (i, item) in seq.iter().enumerate() {
                let line = lines.next(item);
                let at = Source::new(&input.name, line);
                if !sme::is_sme(item) {
                    if let Some(n) = left_in_item(item, at) {
                        self.failed += 1;
                        self.conv.note(n);
                    }
                    continue;
                }
                let item_site = Site::line(&input.name, line);
                let mut fixup = None;
                let prepared;
                let item = if is_template {
                    let p = template::prepare(item, &params, &mut self.tokens, &item_site.source());
                    for n in p.notes {
                        self.conv.note(n);
                    }
                    if p.failed {
                        // The object stays in the Template as it was.
                        self.failed += 1;
                        continue;
                    }
                    fixup = Some(p.fixup);
                    prepared = p.value;
                    &prepared
                } else {
                    item
                };
                let read = ServiceMeshExtension::from_value(item);
                let Some(sme) = read_sme_from(read, item, &item_site, &mut self.conv) else {
                    self.failed += 1;
                    lose(&mut items, i);
                    continue;
                };
                match self.conv.add(&sme, &item_site) {
                    Some((id, plugin)) => {
                        self.converted += 1;
                        self.tree_plugins.push((id, plugin));
                        if let Some(f) = fixup {
                            self.fixups.insert(id, f);
                        }
                        items.push((id, Some(i)));
                    }
                    None => {
                        self.failed += 1;
                        lose(&mut items, i);
                    }
                }
            }
        }
        items
    }

    /// Order the run's plugins, and write the output.
    fn finish(mut self) -> Outcome {
        let finished = self.conv.finish();
        let new_priority: HashMap<usize, i64> =
            finished.changes.iter().map(|c| (c.id, c.new)).collect();
        let dropped: HashSet<usize> = finished.failed.iter().copied().collect();
        let tree_plugins =
            tree_values(self.tree_plugins, &new_priority, &self.fixups, &self.tokens);
        let mut notifications = finished.notifications;
        if !self.tokens.is_empty() {
            for n in &mut notifications {
                self.tokens.untokenize_note(n);
            }
        }
        let mut spooled = None;
        let in_order = self.yaml_out.in_order && dropped.is_empty();
        let output = match self.format {
            Format::Yaml if in_order && self.yaml_out.flush_all() => {
                spooled = Some(finish_spool(self.yaml_out, self.pieces, &new_priority));
                String::new()
            }
            Format::Yaml => match self.yaml_out.whole() {
                Ok(text) if in_order => new_priorities_in_place(text, self.pieces, &new_priority),
                Ok(text) => emit_yaml(
                    self.pieces,
                    &text,
                    &new_priority,
                    &dropped,
                    &tree_plugins,
                    self.only_converted,
                ),
                Err(e) => {
                    self.unreadable += 1;
                    notifications.push(
                        Notification::new(
                            Code::CannotWrite,
                            "",
                            format!("cannot read back the output's temporary file: {e}"),
                        )
                        .advice("check the space and health of the temporary directory (TMPDIR), or convert fewer files at once"),
                    );
                    String::new()
                }
            },
            Format::Json => emit_json(self.pieces, &dropped, &tree_plugins, self.only_converted),
        };
        Outcome {
            output,
            spooled,
            notifications,
            converted: self.converted - dropped.len(),
            failed: self.failed + dropped.len(),
            unreadable: self.unreadable,
        }
    }
}

/// The ERROR for an item of a List or an object of a Template that is not a
/// ServiceMeshExtension sme2wasm converts but holds one; `None` when it
/// holds none.
pub fn left_in_item(item: &Value, at: Source) -> Option<Notification> {
    if sme::is_other_sme(item) {
        return Some(remaining::unknown_group(
            sme::api_version_of(item),
            &sme::object_name(item),
            at,
        ));
    }
    let path = remaining::find_sme(item)?;
    Some(match sme::kind_of(item) {
        Some("List") => remaining::list_in_list(at),
        kind => remaining::wrapper(kind.unwrap_or(""), &path, &sme::object_name(item), at),
    })
}

/// A document that does not parse, as an ERROR at the parser's position.
pub fn parse_error(file: &str, doc: &yaml::Document, e: &yaml::ParseError) -> Notification {
    let mut at = Source::new(file, doc.start_line + e.line.unwrap_or(1) - 1);
    at.column = e.column;
    Notification::new(
        Code::InvalidYaml,
        "",
        format!("not valid YAML: {}", e.message),
    )
    .at(at)
}

/// The lines of the items of a List (`key` is `items`) or the objects of a
/// Template (`objects`), each found by its metadata.name below the previous
/// one's line, starting at the `key:` line (the document's line when the
/// name cannot be found).
pub struct ItemLines<'d, 'a> {
    doc: &'d yaml::Document<'a>,
    /// 0-based line of the document to search from.
    from: usize,
    fallback: usize,
}

impl<'d, 'a> ItemLines<'d, 'a> {
    pub fn new(doc: &'d yaml::Document<'a>, key: &str, fallback: usize) -> Self {
        let from = doc.line_of(&[key]).saturating_sub(doc.start_line);
        ItemLines {
            doc,
            from,
            fallback,
        }
    }

    /// The line of the next item.
    pub fn next(&mut self, item: &Value) -> usize {
        let name = item
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let exact = |quote: &str| {
            let quoted = format!("name: {quote}{name}{quote}");
            yaml::lines(self.doc.text)
                .enumerate()
                .skip(self.from)
                .find(|(_, l)| {
                    let l = l.split(" #").next().unwrap_or(l).trim_end();
                    l.ends_with(&quoted)
                        && l[..l.len() - quoted.len()]
                            .trim_start()
                            .trim_start_matches("- ")
                            .is_empty()
                })
                .map(|(i, _)| i)
        };
        match exact("").or_else(|| exact("'")).or_else(|| exact("\"")) {
            Some(i) => {
                self.from = i + 1;
                self.doc.start_line + i
            }
            None => list_item_line(self.doc, item, self.fallback),
        }
    }
}

/// The line of an item of a `kind: List`, found by its metadata.name (the
/// List's own line when the name cannot be found).
pub fn list_item_line(doc: &yaml::Document, item: &Value, fallback: usize) -> usize {
    let name = item
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    doc.find_line_containing(&format!("name: {name}"))
        .map(|l| doc.start_line + l)
        .unwrap_or(fallback)
}

/// Read an SME from a parsed object; an object that cannot be read at all
/// gets an ERROR in the converter's notifications.
pub fn read_sme(value: &Value, site: &Site, conv: &mut Converter) -> Option<ServiceMeshExtension> {
    read_sme_from(ServiceMeshExtension::from_value(value), value, site, conv)
}

/// As `read_sme`, for an SME already read (by `from_value_taking_config`).
fn read_sme_from(
    read: Result<ServiceMeshExtension, String>,
    value: &Value,
    site: &Site,
    conv: &mut Converter,
) -> Option<ServiceMeshExtension> {
    match read {
        Ok(s) => Some(s),
        Err(message) => {
            conv.note(
                Notification::new(Code::InvalidSme, sme::object_name(value), message)
                    .at(site.source())
                    .advice("fix the ServiceMeshExtension; it was not converted"),
            );
            None
        }
    }
}

/// The YAML output from the pieces, when it could not be written in order
/// (`arena` holds the plugins' texts).
fn emit_yaml(
    pieces: Vec<Piece>,
    arena: &str,
    new_priority: &std::collections::HashMap<usize, i64>,
    dropped: &std::collections::HashSet<usize>,
    plugins: &std::collections::HashMap<usize, Value>,
    only_converted: bool,
) -> String {
    let mut out = String::new();
    // Whether the next document needs a `---` before it.
    let mut need_marker = false;
    for piece in pieces {
        match piece {
            Piece::Raw(text) => {
                start_doc(&mut out, need_marker, text);
                out.push_str(text);
                need_marker = !text.trim().is_empty();
            }
            Piece::Plugin {
                id,
                at,
                priority_at,
            } => {
                if dropped.contains(&id) {
                    continue;
                }
                let mut text = arena[at.0..at.1].to_string();
                if let Some(p) = new_priority.get(&id) {
                    text.replace_range(priority_at.0..priority_at.1, &p.to_string());
                }
                start_doc(&mut out, need_marker, &text);
                out.push_str(&text);
                need_marker = true;
            }
            Piece::NotConverted(comment) => {
                if !only_converted {
                    if !out.is_empty() && !out.ends_with('\n') {
                        out.push('\n');
                    }
                    out.push_str(&comment);
                }
            }
            Piece::Tree(tree) => {
                let Tree { value, key, items } = *tree;
                if only_converted {
                    for (id, _) in items {
                        if let Some(p) = plugins.get(&id).filter(|_| !dropped.contains(&id)) {
                            let text = format!("---\n{}", yaml::to_string(p));
                            start_doc(&mut out, need_marker, &text);
                            out.push_str(&text);
                            need_marker = true;
                        }
                    }
                    continue;
                }
                let value = replace_items(value, key, &items, dropped, plugins);
                let text = format!("---\n{}", yaml::to_string(&value));
                start_doc(&mut out, need_marker, &text);
                out.push_str(&text);
                need_marker = true;
            }
        }
    }
    out
}

/// A List with its SME items replaced by their plugins (or removed when
/// they could not be converted).
fn replace_items(
    mut value: Value,
    key: &str,
    items: &[(usize, Option<usize>)],
    dropped: &std::collections::HashSet<usize>,
    plugins: &std::collections::HashMap<usize, Value>,
) -> Value {
    if let Some(Value::Sequence(seq)) = value.get_mut(key) {
        let mut remove = Vec::new();
        for (id, index) in items {
            let Some(i) = index else { continue };
            match plugins.get(id).filter(|_| !dropped.contains(id)) {
                Some(p) => seq[*i] = p.clone(),
                None => remove.push(*i),
            }
        }
        remove.sort_unstable();
        for i in remove.into_iter().rev() {
            seq.remove(i);
        }
    }
    value
}

fn emit_json(
    pieces: Vec<Piece>,
    dropped: &std::collections::HashSet<usize>,
    plugins: &std::collections::HashMap<usize, Value>,
    only_converted: bool,
) -> String {
    let mut objects: Vec<serde_json::Value> = Vec::new();
    for piece in pieces {
        if let Piece::Tree(tree) = piece {
            let Tree { value, key, items } = *tree;
            if value.is_null() || only_converted {
                for (id, _) in &items {
                    if let Some(p) = plugins.get(id).filter(|_| !dropped.contains(id)) {
                        objects.push(yaml::to_json(p));
                    }
                }
                continue;
            }
            objects.push(yaml::to_json(&replace_items(
                value, key, &items, dropped, plugins,
            )));
        }
    }
    let out = if objects.len() == 1 {
        objects.pop().expect("one object")
    } else {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects})
    };
    let mut text = serde_json::to_string_pretty(&out).expect("JSON serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn patched(text: &str, patches: &[(usize, usize, &str)]) -> String {
        let mut out = text.to_string();
        for (start, end, new) in patches.iter().rev() {
            out.replace_range(start..end, new);
        }
        out
    }

    #[test]
    fn an_unreadable_document_before_reordered_smes() {
        let sme = |name: &str| {
            format!("---\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: {name}, namespace: ns}}\nspec: {{image: quay.io/x/y:1, phase: PreAuthN, priority: 0}}\n")
        };
        let text = format!(
            "---\nkind: ServiceMeshExtension\n: bad: [yaml\n{}{}",
            sme("a"),
            sme("b")
        );
        let input = Input {
            name: "in.yaml".into(),
            text: text.into(),
        };
        let outcome = convert_inputs(&[input], &Options::default(), Format::Yaml, false);
        assert_eq!((outcome.converted, outcome.unreadable), (2, 1));
        let changed: Vec<_> = outcome
            .notifications
            .iter()
            .filter(|n| n.message.starts_with("priority changed"))
            .map(|n| (n.object.as_str(), n.source.as_ref().unwrap().line))
            .collect();
        // a runs before b in Maistra (name order): one of them moves, and
        // the note is at its own line.
        assert!(
            changed == vec![("ns/a", 5)] || changed == vec![("ns/b", 10)],
            "{changed:?}"
        );
    }

    /// A stream whose output goes to the spool after every few documents,
    /// with priorities the order moves (patched while it is copied out),
    /// a document passed through and one not converted, gives the very
    /// bytes the in-memory path gives.
    #[test]
    fn a_spooled_output_is_the_output_kept_in_memory() {
        let mut text = String::from("# a head comment\nkind: ConfigMap\nmetadata: {name: c}\n");
        for (i, (phase, priority)) in [
            ("PreAuthN", 0),
            ("PreAuthN", 0),
            ("PostAuthZ", 5),
            ("PreAuthZ", 1000),
            ("PreAuthZ", 0),
            ("PostStats", 7),
            ("PreAuthN", 12),
        ]
        .iter()
        .enumerate()
        {
            text.push_str(&format!("---\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: e{}, namespace: ns}}\nspec: {{image: quay.io/x/y:1, phase: {phase}, priority: {priority}}}\n", 9 - i));
        }
        text.push_str("---\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {name: bad}\nspec: {phase: PreAuthN}\n");
        let input = || Input {
            name: "in.yaml".into(),
            text: text.clone().into(),
        };
        let opts = Options::default();
        let memory = convert_inputs_spooling_at(&[input()], &opts, Format::Yaml, false, usize::MAX);
        assert!(memory.spooled.is_none());
        let moved = memory
            .notifications
            .iter()
            .filter(|n| n.code == Code::PriorityChanged)
            .count();
        assert!(moved >= 1, "the order moves a priority: {moved}");
        for at in [1, 64, 300] {
            let spooled = convert_inputs_spooling_at(&[input()], &opts, Format::Yaml, false, at);
            assert!(spooled.spooled.is_some(), "spooled at {at}");
            assert!(spooled.output.is_empty());
            assert_eq!(spooled.output_text(), memory.output, "spooled at {at}");
            let mut written = Vec::new();
            spooled.write_output(&mut written).unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), memory.output);
            assert_eq!(spooled.notifications.len(), memory.notifications.len());
        }
        // A List with SMEs ends the in-order output: what was spooled is
        // read back and the output put together from the pieces.
        let list = format!("{text}---\nkind: List\nitems:\n- apiVersion: maistra.io/v1\n  kind: ServiceMeshExtension\n  metadata: {{name: l, namespace: ns}}\n  spec: {{image: quay.io/x/y:1, phase: PreAuthN}}\n");
        let input = || Input {
            name: "in.yaml".into(),
            text: list.clone().into(),
        };
        let memory = convert_inputs_spooling_at(&[input()], &opts, Format::Yaml, false, usize::MAX);
        let spooled = convert_inputs_spooling_at(&[input()], &opts, Format::Yaml, false, 64);
        assert!(spooled.spooled.is_none());
        assert_eq!(spooled.output, memory.output);
    }

    proptest! {
        #[test]
        fn patching_in_place_is_replacing(
            text in "[a-z0-9\n]{0,200}",
            cuts in prop::collection::vec((0usize..200, 0usize..6, "[0-9-]{0,12}"), 0..12),
        ) {
            // Non-overlapping ranges in increasing order.
            let mut points: Vec<(usize, usize, &str)> = Vec::new();
            let mut from = 0;
            let mut sorted = cuts;
            sorted.sort_by_key(|c| c.0);
            for (start, len, new) in &sorted {
                let start = (*start).min(text.len()).max(from);
                let end = (start + len).min(text.len());
                points.push((start, end, new.as_str()));
                from = end;
            }
            prop_assert_eq!(patch_in_place(text.clone(), &points), patched(&text, &points));
        }
    }
}
