//! Comparing the two runs of a plugin and saying what it means: the same,
//! different (the diff, and the cause when it is known), refused, or not
//! checked; readable text for a terminal, JSON for machines.

use super::host::{Refusal, Run, Setup};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Both runs did the same.
    Same,
    /// The runs differ (and Istio's run was not refused).
    Different,
    /// Envoy would refuse the plugin under its new configuration.
    Refused,
    /// It could not be checked (not converted, no module, ...).
    NotChecked,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Same => "SAME",
            Verdict::Different => "DIFFERENT",
            Verdict::Refused => "REFUSED",
            Verdict::NotChecked => "NOT CHECKED",
        }
    }
}

/// What was given to one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Given {
    pub root_id: String,
    pub plugin_name: String,
    /// The configuration bytes, as text (lossy for non-UTF-8).
    pub configuration: String,
}

impl Given {
    pub fn of(s: &Setup) -> Given {
        Given {
            root_id: s.root_id.clone(),
            plugin_name: s.plugin_name.clone(),
            configuration: String::from_utf8_lossy(&s.configuration).into_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub given: Given,
    #[serde(flatten)]
    pub run: Run,
}

/// The report of one plugin.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginReport {
    /// `namespace/name` of the SME.
    pub object: String,
    /// `file:line` where it was read.
    pub source: String,
    pub verdict: Verdict,
    /// One line: what happened.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<String>,
    /// Effects only the old run had (`- `) or only the new one (`+ `).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Side>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Side>,
}

impl PluginReport {
    pub fn not_checked(object: String, source: String, why: String) -> PluginReport {
        PluginReport {
            object,
            source,
            verdict: Verdict::NotChecked,
            summary: why,
            module: None,
            causes: Vec::new(),
            diff: Vec::new(),
            advice: None,
            old: None,
            new: None,
        }
    }
}

fn lines(run: &Run) -> Vec<String> {
    let mut out: Vec<String> = run
        .effects
        .iter()
        .map(|e| format!("{}: {}", e.at, e.what))
        .collect();
    if let Some(r) = &run.refused {
        out.push(refusal_line(r));
    }
    out
}

fn refusal_line(r: &Refusal) -> String {
    format!("refused at {}: {}", r.at, r.reason)
}

fn describe(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "nothing (0 bytes)".to_string()
    } else {
        format!("`{}`", String::from_utf8_lossy(bytes))
    }
}

/// Compare the runs: the verdict, the diff, and the known causes.
pub fn compare(
    object: String,
    source: String,
    module: String,
    old: (Setup, Run),
    new: (Setup, Run),
) -> PluginReport {
    let (old_lines, new_lines) = (lines(&old.1), lines(&new.1));
    let mut diff = Vec::new();
    if old_lines != new_lines {
        let a: Vec<&str> = old_lines.iter().map(String::as_str).collect();
        let b: Vec<&str> = new_lines.iter().map(String::as_str).collect();
        let d = similar::TextDiff::configure().diff_slices(&a, &b);
        for change in d.iter_all_changes() {
            match change.tag() {
                similar::ChangeTag::Delete => diff.push(format!("- {}", change.value())),
                similar::ChangeTag::Insert => diff.push(format!("+ {}", change.value())),
                similar::ChangeTag::Equal => {}
            }
        }
    }
    let mut causes = Vec::new();
    let mut advice = None;
    let (so, sn) = (&old.0, &new.0);
    let newly_refused = new.1.refused.is_some() && old.1.refused.is_none();
    if !diff.is_empty() || newly_refused {
        if so.configuration != sn.configuration {
            let why = match (so.configuration.as_slice(), sn.configuration.is_empty()) {
                (b"{}", true) => " (Istio drops an empty pluginConfig)",
                (_, true) => " (the WasmPlugin has no pluginConfig)",
                _ => "",
            };
            causes.push(format!(
                "the configuration: Maistra sent {}, Istio sends {}{why}",
                describe(&so.configuration),
                describe(&sn.configuration)
            ));
            if sn.configuration.is_empty() {
                advice = Some("give the WasmPlugin a pluginConfig with at least one field the plugin accepts, or change the plugin to accept an empty configuration".to_string());
            }
        }
        if so.root_id != sn.root_id {
            causes.push(format!(
                "the root_id: Maistra used `{}`, Istio uses `{}` (pluginName)",
                so.root_id, sn.root_id
            ));
            advice.get_or_insert_with(|| {
                format!(
                    "set pluginName: {} (do not pass --no-plugin-name)",
                    so.root_id
                )
            });
        }
        let reads_name = |r: &Run| {
            r.effects
                .iter()
                .any(|e| e.what.starts_with("property read: plugin_name "))
        };
        if so.plugin_name != sn.plugin_name && (reads_name(&old.1) || reads_name(&new.1)) {
            causes.push(format!(
                "the plugin reads its plugin_name: `{}` under Maistra, `{}` under Istio",
                so.plugin_name, sn.plugin_name
            ));
        }
    }
    let n = new.1.effects.len();
    let (verdict, summary) = match (&old.1.refused, &new.1.refused) {
        (_, Some(r)) => (
            Verdict::Refused,
            match &old.1.refused {
                None => format!(
                    "Envoy would refuse it under Istio's configuration ({}: {}), while it ran under Maistra's",
                    r.at, r.reason
                ),
                Some(_) => format!(
                    "Envoy would refuse it ({}: {}), as under Maistra",
                    r.at, r.reason
                ),
            },
        ),
        (Some(r), None) if !diff.is_empty() => (
            Verdict::Different,
            format!(
                "Maistra's configuration was refused ({}: {}), Istio's is accepted: the plugin now runs",
                r.at, r.reason
            ),
        ),
        _ if !diff.is_empty() => (
            Verdict::Different,
            format!("it behaves differently: {} effect(s) differ", diff.len()),
        ),
        _ => (
            Verdict::Same,
            format!("loads, configures and handles the request(s) the same ({n} effect(s))"),
        ),
    };
    PluginReport {
        object,
        source,
        verdict,
        summary,
        module: Some(module),
        causes,
        diff,
        advice: if verdict == Verdict::Same {
            None
        } else {
            advice
        },
        old: Some(Side {
            given: Given::of(so),
            run: old.1,
        }),
        new: Some(Side {
            given: Given::of(sn),
            run: new.1,
        }),
    }
}

/// The readable report of a run.
pub fn text(reports: &[PluginReport]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!(
            "{} ({}): {}: {}\n",
            r.object,
            r.source,
            r.verdict.word(),
            r.summary
        ));
        if let Some(m) = &r.module {
            out.push_str(&format!("  module: {m}\n"));
        }
        for c in &r.causes {
            out.push_str(&format!("  cause: {c}\n"));
        }
        if !r.diff.is_empty() {
            out.push_str("  diff (- Maistra, + Istio):\n");
            for d in &r.diff {
                out.push_str(&format!("    {d}\n"));
            }
        }
        if let Some(a) = &r.advice {
            out.push_str(&format!("  advice: {a}\n"));
        }
    }
    let count = |v: Verdict| reports.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "{} plugin(s): {} same, {} different, {} refused, {} not checked\n",
        reports.len(),
        count(Verdict::Same),
        count(Verdict::Different),
        count(Verdict::Refused),
        count(Verdict::NotChecked)
    ));
    out
}
