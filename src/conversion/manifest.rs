//! manifest.yaml, as ServiceMeshExtension images carry it at the root of
//! their merged file system (SPEC §2), validated with file:line errors.

use crate::conversion::mapping::SmePhase;
use crate::yaml::{self, Value};
use std::fmt;

/// A validated manifest.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub schema_version: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub phase: SmePhase,
    /// `None` when the manifest gives none: Maistra then used 0.
    pub priority: Option<i64>,
    /// The module path as written (a leading `/` is harmless).
    pub module: String,
}

/// Why a manifest.yaml was refused: the file, the line, what and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ManifestError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl Manifest {
    /// Parse and validate the text of a manifest.yaml; `file` names it in
    /// errors (a path, or `IMAGE:/manifest.yaml`).
    pub fn parse(text: &str, file: &str) -> Result<Manifest, ManifestError> {
        let doc = yaml::split_documents(text)[0];
        let err = |line: usize, message: String| ManifestError {
            file: file.to_string(),
            line,
            message,
        };
        let value = yaml::parse(text).map_err(|e| {
            err(
                e.line.unwrap_or(1),
                format!("not valid YAML: {e}; fix the file or rebuild the image"),
            )
        })?;
        let map = match value {
            Value::Mapping(m) => m,
            _ => return Err(err(
                doc.content_line(),
                "manifest.yaml must be a mapping with schemaVersion, phase, priority and module"
                    .into(),
            )),
        };
        let line = |key: &str| doc.line_of(&[key]);
        let scalar = |key: &str| -> Result<Option<String>, ManifestError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(err(line(key), format!("{key} must be a scalar"))),
            }
        };
        let schema_version = scalar("schemaVersion")?.ok_or_else(|| {
            err(
                doc.content_line(),
                "schemaVersion is missing; a ServiceMeshExtension manifest says schemaVersion: 1"
                    .into(),
            )
        })?;
        if schema_version != "1" {
            return Err(err(
                line("schemaVersion"),
                format!("schemaVersion {schema_version:?} is not supported; only 1 exists"),
            ));
        }
        let phase_text = scalar("phase")?.ok_or_else(|| {
            err(
                doc.content_line(),
                "phase is missing; Maistra requires it (PreAuthN, PostAuthN, PreAuthZ, PostAuthZ, PreStats, PostStats)"
                    .into(),
            )
        })?;
        let phase = SmePhase::parse_exact(&phase_text).map_err(|e| err(line("phase"), e))?;
        let priority = match map.get("priority") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().ok_or_else(|| {
                err(
                    line("priority"),
                    format!("priority {n} is not a whole number"),
                )
            })?),
            Some(other) => {
                return Err(err(
                    line("priority"),
                    format!(
                        "priority must be a whole number, not {}",
                        yaml::to_string(other).trim()
                    ),
                ))
            }
        };
        let module = scalar("module")?
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| {
                err(
                    doc.content_line(),
                    "module is missing; it names the .wasm file relative to the image root".into(),
                )
            })?;
        Ok(Manifest {
            schema_version,
            name: scalar("name")?,
            description: scalar("description")?,
            version: scalar("version")?,
            phase,
            priority,
            module,
        })
    }

    /// Read and parse a manifest.yaml from disk.
    pub fn read(path: &std::path::Path) -> Result<Manifest, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: file.clone(),
            line: 0,
            message: format!("cannot read: {e}"),
        })?;
        Manifest::parse(&text, &file)
    }

    /// The manifest the repacked image carries: the same, with
    /// `module: plugin.wasm`, so that the image still serves SMEs.
    pub fn render_for_plugin_wasm(&self) -> String {
        let mut out = String::new();
        out.push_str("schemaVersion: 1\n");
        for (k, v) in [
            ("name", &self.name),
            ("description", &self.description),
            ("version", &self.version),
        ] {
            if let Some(v) = v {
                out.push_str(&format!("{k}: {}", yaml::to_string(v)));
            }
        }
        out.push_str(&format!("phase: {}\n", self.phase));
        out.push_str(&format!("priority: {}\n", self.priority.unwrap_or(0)));
        out.push_str("module: plugin.wasm\n");
        out
    }
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "phase {} priority {} module {}",
            self.phase,
            self.priority.unwrap_or(0),
            self.module
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let m = Manifest::parse(
            "schemaVersion: 1\n\nname: x\ndescription: d\nversion: 1.0.0\nphase: PreAuthZ\npriority: 100\nmodule: extension.wasm\n",
            "manifest.yaml",
        )
        .unwrap();
        assert_eq!(m.phase, SmePhase::PreAuthZ);
        assert_eq!(m.priority, Some(100));
        assert_eq!(m.module, "extension.wasm");
        let again = Manifest::parse(&m.render_for_plugin_wasm(), "x").unwrap();
        assert_eq!(again.module, "plugin.wasm");
        assert_eq!(again.name.as_deref(), Some("x"));
        assert_eq!(again.version.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Manifest::parse(
            "schemaVersion: 1\nphase: preauthz\nmodule: a.wasm\n",
            "m.yaml",
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("m.yaml:2: "), "{e}");
        let e = Manifest::parse("schemaVersion: 2\nphase: PreAuthZ\nmodule: a\n", "m").unwrap_err();
        assert_eq!(e.line, 1);
        let e = Manifest::parse("schemaVersion: 1\nphase: PreAuthZ\n", "m").unwrap_err();
        assert!(e.message.contains("module is missing"));
        let e = Manifest::parse(
            "schemaVersion: 1\nphase: PreAuthZ\nmodule: a\npriority: high\n",
            "m",
        )
        .unwrap_err();
        assert_eq!(e.line, 4);
        let e = Manifest::parse("a: [\n", "m").unwrap_err();
        assert!(e.message.contains("not valid YAML"));
    }
}
