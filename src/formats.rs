//! How notifications are written on stderr (`--format`): plain lines as
//! compilers print them, JSON lines, GitHub Actions workflow commands (an
//! annotation on each line of a pull request), or one SARIF 2.1.0 document
//! for code scanning, built on serde-sarif's types.

use crate::allow::Allowed;
use crate::cli::NoticeFormat;
use crate::notify::{Level, Notification};
use serde_sarif::sarif;
use std::io::Write;

/// A notification's stable code (`W104`).
pub fn code_of(n: &Notification) -> &'static str {
    n.code.as_str()
}

/// What a run prints after its notifications: a one-line summary for
/// people, and the same as JSON for machines.
pub struct Summary {
    pub line: Option<String>,
    pub json: serde_json::Value,
}

/// A run's notifications with their acknowledgements (same length).
pub struct Notes<'a> {
    pub notes: &'a [Notification],
    pub allowed: &'a [Option<Allowed>],
}

impl Notes<'_> {
    fn iter(&self) -> impl Iterator<Item = (&Notification, Option<&Allowed>)> {
        self.notes.iter().zip(
            self.allowed
                .iter()
                .map(Option::as_ref)
                .chain(std::iter::repeat(None)),
        )
    }

    /// WARNs nobody acknowledged: what `--strict` fails on.
    pub fn unacknowledged_warnings(&self) -> usize {
        self.iter()
            .filter(|(n, a)| n.level == Level::Warn && a.is_none())
            .count()
    }

    /// WARNs acknowledged.
    pub fn acknowledged(&self) -> usize {
        self.iter().filter(|(_, a)| a.is_some()).count()
    }
}

/// Write the notifications (INFO only when not `quiet`; everything in
/// SARIF and JSON, which machines filter) and then the summary.
pub fn emit(
    format: NoticeFormat,
    notes: &Notes,
    quiet: bool,
    summary: &Summary,
) -> std::io::Result<()> {
    let stderr = std::io::stderr();
    // Line by line through a buffer: a large run's notifications are never
    // held as one text.
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stderr.lock());
    match render_to(format, notes, quiet, summary, &mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Write the notifications in `format` to `out`.
fn render_to(
    format: NoticeFormat,
    notes: &Notes,
    quiet: bool,
    summary: &Summary,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let shown = |n: &Notification| !(quiet && n.level == Level::Info);
    match format {
        NoticeFormat::Plain => {
            let color = crate::notify::color();
            for (n, a) in notes.iter().filter(|(n, _)| shown(n)) {
                writeln!(out, "{}", plain(n, a, color))?;
            }
            if let Some(line) = &summary.line {
                writeln!(out, "{line}")?;
            }
        }
        NoticeFormat::Github => {
            for (n, a) in notes.iter().filter(|(n, _)| shown(n)) {
                writeln!(out, "{}", github(n, a))?;
            }
            if let Some(line) = &summary.line {
                writeln!(out, "{}", escape_data(line))?;
            }
        }
        NoticeFormat::Json => {
            for (n, a) in notes.iter() {
                let mut line = serde_json::json!({ "type": "notification" });
                if let (Some(o), serde_json::Value::Object(add)) =
                    (line.as_object_mut(), json(n, a))
                {
                    o.extend(add);
                }
                writeln!(out, "{line}")?;
            }
            let mut s = serde_json::json!({ "type": "summary" });
            if let (Some(o), serde_json::Value::Object(add)) = (s.as_object_mut(), &summary.json) {
                o.extend(add.clone());
            }
            writeln!(out, "{s}")?;
        }
        NoticeFormat::Sarif => {
            let doc = sarif(notes, &summary.json);
            serde_json::to_writer_pretty(&mut *out, &doc).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `FILE:LINE: LEVEL[CODE] ns/name: message; advice`, and `(allowed by
/// WHERE: reason)` for an acknowledged one.
pub fn plain(n: &Notification, allowed: Option<&Allowed>, color: bool) -> String {
    let mut line = n.painted_with(color).to_string();
    if let Some(a) = allowed {
        line.push_str(&format!(" (allowed by {}", a.by));
        if !a.justification.is_empty() {
            line.push_str(&format!(": {}", a.justification));
        }
        line.push(')');
    }
    line
}

/// A notification as JSON: the report's fields, its code, and
/// `suppressed` when acknowledged.
pub fn json(n: &Notification, allowed: Option<&Allowed>) -> serde_json::Value {
    let mut v = serde_json::to_value(n).expect("a notification serialises");
    if let Some(o) = v.as_object_mut() {
        o.insert("code".into(), code_of(n).into());
        if let Some(a) = allowed {
            o.insert(
                "suppressed".into(),
                serde_json::to_value(a).expect("serialises"),
            );
        }
    }
    v
}

/// GitHub's escaping of a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `::warning file=F,line=L,col=C,title=CODE::object: message; advice`.
/// ERROR is `::error`, WARN `::warning`, INFO `::notice`; an acknowledged
/// WARN is a `::notice` titled `CODE (allowed)`.
pub fn github(n: &Notification, allowed: Option<&Allowed>) -> String {
    let command = match (n.level, allowed) {
        (Level::Error, _) => "error",
        (Level::Warn, None) => "warning",
        _ => "notice",
    };
    let mut props = Vec::new();
    if let Some(s) = &n.source {
        props.push(format!("file={}", escape_property(&s.file)));
        props.push(format!("line={}", s.line));
        if let Some(c) = s.column {
            props.push(format!("col={c}"));
        }
    }
    let mut title = code_of(n).to_string();
    if allowed.is_some() {
        title.push_str(" (allowed)");
    }
    props.push(format!("title={}", escape_property(&title)));
    let mut message = String::new();
    if !n.object.is_empty() {
        message.push_str(&n.object);
        message.push_str(": ");
    }
    message.push_str(&n.message);
    if !n.advice.is_empty() {
        message.push_str("; ");
        message.push_str(&n.advice);
    }
    if let Some(a) = allowed {
        message.push_str(&format!(" (allowed by {}", a.by));
        if !a.justification.is_empty() {
            message.push_str(&format!(": {}", a.justification));
        }
        message.push(')');
    }
    format!("::{command} {}::{}", props.join(","), escape_data(&message))
}

/// A file name as a relative URI reference (RFC 3986): `/`-separated,
/// everything but unreserved characters and `/` percent-encoded.
pub fn uri_of(file: &str) -> String {
    let mut out = String::new();
    for b in file.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn sarif_level(level: Level) -> sarif::ResultLevel {
    match level {
        Level::Error => sarif::ResultLevel::Error,
        Level::Warn => sarif::ResultLevel::Warning,
        Level::Info => sarif::ResultLevel::Note,
    }
}

/// The rules: every catalogue entry.
fn rules() -> Vec<sarif::ReportingDescriptor> {
    crate::notify::catalogue::RULES
        .iter()
        .map(|e| {
            sarif::ReportingDescriptor::builder()
                .id(e.code.as_str())
                .name(e.name)
                .short_description(
                    sarif::MultiformatMessageString::builder()
                        .text(e.summary)
                        .build(),
                )
                .full_description(
                    sarif::MultiformatMessageString::builder()
                        .text(e.summary)
                        .build(),
                )
                .help(
                    sarif::MultiformatMessageString::builder()
                        .text(e.advice)
                        .build(),
                )
                .default_configuration(
                    sarif::ReportingConfiguration::builder()
                        .level(serde_json::to_value(sarif_level(e.level)).expect("serialises"))
                        .build(),
                )
                .build()
        })
        .collect()
}

/// One SARIF 2.1.0 document: one run; the catalogue as the driver's rules;
/// each notification with a file as a result (rule, level, message,
/// location, suppressions when acknowledged); notifications about no file
/// as the invocation's tool notifications.
pub fn sarif(notes: &Notes, summary: &serde_json::Value) -> sarif::Sarif {
    let rules = rules();
    let index_of = |code: &str| rules.iter().position(|r| r.id == code);
    let mut results = Vec::new();
    let mut tool_notes = Vec::new();
    for (n, a) in notes.iter() {
        let mut text = String::new();
        if !n.object.is_empty() {
            text.push_str(&n.object);
            text.push_str(": ");
        }
        text.push_str(&n.message);
        if !n.advice.is_empty() {
            text.push_str("; ");
            text.push_str(&n.advice);
        }
        let message = sarif::Message::builder().text(text).build();
        let Some(source) = &n.source else {
            let mut tn = sarif::Notification::builder()
                .message(message)
                .level(serde_json::to_value(sarif_level(n.level)).expect("serialises"))
                .build();
            tn.descriptor = Some(
                sarif::ReportingDescriptorReference::builder()
                    .id(code_of(n))
                    .build(),
            );
            tool_notes.push(tn);
            continue;
        };
        let mut region = sarif::Region::builder()
            .start_line(source.line as i64)
            .build();
        region.start_column = source.column.map(|c| c as i64);
        let location = sarif::Location::builder()
            .physical_location(
                sarif::PhysicalLocation::builder()
                    .artifact_location(
                        sarif::ArtifactLocation::builder()
                            .uri(uri_of(&source.file))
                            .uri_base_id("%SRCROOT%")
                            .build(),
                    )
                    .region(region)
                    .build(),
            )
            .build();
        let mut result = sarif::Result::builder()
            .message(message)
            .level(sarif_level(n.level))
            .locations(vec![location])
            .build();
        let code = code_of(n);
        result.rule_id = Some(code.to_string());
        result.rule_index = index_of(code).map(|i| i as i64);
        if let Some(a) = a {
            result.suppressions = Some(vec![sarif::Suppression::builder()
                .kind(serde_json::Value::String(a.kind.to_string()))
                .justification(if a.justification.is_empty() {
                    a.by.clone()
                } else {
                    format!("{} ({})", a.justification, a.by)
                })
                .build()]);
        }
        results.push(result);
    }
    let driver = sarif::ToolComponent::builder()
        .name("sme2wasm")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(rules)
        .build();
    let mut invocation = sarif::Invocation::builder()
        .execution_successful(true)
        .build();
    if !tool_notes.is_empty() {
        invocation.tool_configuration_notifications = Some(tool_notes);
    }
    if let serde_json::Value::Object(o) = summary {
        let mut bag = sarif::PropertyBag::builder().build();
        bag.additional_properties = o.clone().into_iter().collect();
        invocation.properties = Some(bag);
    }
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .column_kind(serde_json::Value::String("unicodeCodePoints".into()))
        .build();
    sarif::Sarif::builder()
        .schema(sarif::SCHEMA_URL)
        .version(serde_json::Value::String("2.1.0".into()))
        .runs(vec![run])
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Source;

    #[test]
    fn github_escapes_data_and_properties() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        let n = Notification::new(crate::notify::Code::ImageNotRepacked, "ns/a", "x\ny")
            .at(Source::new("d,ir/f:1.yaml", 3));
        assert_eq!(
            github(&n, None),
            "::warning file=d%2Cir/f%3A1.yaml,line=3,title=W103::ns/a: x%0Ay"
        );
        let allowed = Allowed {
            kind: "external",
            justification: "ok".into(),
            by: "--allow W103".into(),
        };
        assert_eq!(
            github(&n, Some(&allowed)),
            "::notice file=d%2Cir/f%3A1.yaml,line=3,title=W103 (allowed)::ns/a: x%0Ay (allowed by --allow W103: ok)"
        );
    }

    #[test]
    fn uris_are_percent_encoded() {
        assert_eq!(uri_of("base/a b#c.yaml"), "base/a%20b%23c.yaml");
        assert_eq!(uri_of("é.yaml"), "%C3%A9.yaml");
    }
}
