//! SPEC §3–§4 as data: the phases of both APIs, the table that maps one to
//! the other, and where each phase sits relative to Istio's own filters.
//! Read this file beside SPEC.md: every row here is a row there.

use std::fmt;
use std::str::FromStr;

/// A ServiceMeshExtension phase, in the order Maistra's filter chain ran them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SmePhase {
    PreAuthN,
    PostAuthN,
    PreAuthZ,
    PostAuthZ,
    PreStats,
    PostStats,
}

impl SmePhase {
    pub const ALL: [SmePhase; 6] = [
        SmePhase::PreAuthN,
        SmePhase::PostAuthN,
        SmePhase::PreAuthZ,
        SmePhase::PostAuthZ,
        SmePhase::PreStats,
        SmePhase::PostStats,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SmePhase::PreAuthN => "PreAuthN",
            SmePhase::PostAuthN => "PostAuthN",
            SmePhase::PreAuthZ => "PreAuthZ",
            SmePhase::PostAuthZ => "PostAuthZ",
            SmePhase::PreStats => "PreStats",
            SmePhase::PostStats => "PostStats",
        }
    }

    /// Maistra's band: every extension of a lower band ran before every
    /// extension of a higher one, whatever their priorities.
    pub fn band(self) -> u8 {
        self as u8
    }

    /// Which of Istio's filters the phase ran between (SPEC §4):
    /// 0 before authentication, 1 between authentication and authorization,
    /// 2 between authorization and stats.
    pub fn slot(self) -> u8 {
        match self {
            SmePhase::PreAuthN => 0,
            SmePhase::PostAuthN | SmePhase::PreAuthZ => 1,
            SmePhase::PostAuthZ | SmePhase::PreStats | SmePhase::PostStats => 2,
        }
    }

    /// The exact, case-sensitive name, or an error that names the six
    /// phases and the closest one.
    pub fn parse_exact(s: &str) -> Result<SmePhase, String> {
        if let Some(p) = SmePhase::ALL.iter().find(|p| p.as_str() == s) {
            return Ok(*p);
        }
        let names: Vec<&str> = SmePhase::ALL.iter().map(|p| p.as_str()).collect();
        let closest = SmePhase::ALL
            .iter()
            .map(|p| {
                let d = strsim::levenshtein(&p.as_str().to_lowercase(), &s.to_lowercase());
                (d, p.as_str())
            })
            .min()
            .map(|(_, n)| n)
            .unwrap_or("PreAuthN");
        Err(format!(
            "phase {s:?} is not one of {} (closest: {closest}); phases are case-sensitive",
            names.join(", ")
        ))
    }
}

impl fmt::Display for SmePhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A WasmPlugin phase, in the order Istio's filter chain runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PluginPhase {
    Authn,
    Authz,
    Stats,
    /// No phase: still before the native stats filter, after every STATS
    /// plugin (SPEC §4).
    Unspecified,
}

impl PluginPhase {
    pub const ALL: [PluginPhase; 4] = [
        PluginPhase::Authn,
        PluginPhase::Authz,
        PluginPhase::Stats,
        PluginPhase::Unspecified,
    ];

    /// The value written to `spec.phase`; `None` for no phase at all.
    pub fn field_value(self) -> Option<&'static str> {
        match self {
            PluginPhase::Authn => Some("AUTHN"),
            PluginPhase::Authz => Some("AUTHZ"),
            PluginPhase::Stats => Some("STATS"),
            PluginPhase::Unspecified => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.field_value().unwrap_or("UNSPECIFIED_PHASE")
    }

    /// Same meaning as `SmePhase::slot`.
    pub fn slot(self) -> u8 {
        match self {
            PluginPhase::Authn => 0,
            PluginPhase::Authz => 1,
            PluginPhase::Stats | PluginPhase::Unspecified => 2,
        }
    }
}

impl fmt::Display for PluginPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PluginPhase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "AUTHN" => Ok(PluginPhase::Authn),
            "AUTHZ" => Ok(PluginPhase::Authz),
            "STATS" => Ok(PluginPhase::Stats),
            "UNSPECIFIED_PHASE" | "UNSPECIFIED" | "NONE" | "" => Ok(PluginPhase::Unspecified),
            _ => Err(format!(
                "{s:?} is not a WasmPlugin phase (AUTHN, AUTHZ, STATS, UNSPECIFIED_PHASE)"
            )),
        }
    }
}

/// SPEC §4's table: where each SME phase goes. PostAuthN folds into AUTHZ
/// above every former PreAuthZ; PostAuthZ into STATS above every former
/// PreStats (Red Hat's own example); PostStats takes no phase.
pub const DEFAULT_PHASE_TABLE: [(SmePhase, PluginPhase); 6] = [
    (SmePhase::PreAuthN, PluginPhase::Authn),
    (SmePhase::PostAuthN, PluginPhase::Authz),
    (SmePhase::PreAuthZ, PluginPhase::Authz),
    (SmePhase::PostAuthZ, PluginPhase::Stats),
    (SmePhase::PreStats, PluginPhase::Stats),
    (SmePhase::PostStats, PluginPhase::Unspecified),
];

/// The phase table in force: the default with the user's `--phase-map`
/// overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseMap {
    table: [(SmePhase, PluginPhase); 6],
}

impl Default for PhaseMap {
    fn default() -> Self {
        PhaseMap {
            table: DEFAULT_PHASE_TABLE,
        }
    }
}

impl PhaseMap {
    /// Apply `FROM=TO` overrides such as `PostAuthZ=AUTHZ`.
    pub fn with_overrides(overrides: &[String]) -> Result<PhaseMap, String> {
        let mut map = PhaseMap::default();
        for o in overrides {
            let (from, to) = o.split_once('=').ok_or_else(|| {
                format!("--phase-map {o:?}: expected FROM=TO, e.g. PostAuthZ=AUTHZ")
            })?;
            let from = SmePhase::parse_exact(from.trim())
                .map_err(|e| format!("--phase-map {o:?}: {e}"))?;
            let to: PluginPhase = to
                .trim()
                .parse()
                .map_err(|e| format!("--phase-map {o:?}: {e}"))?;
            for row in map.table.iter_mut() {
                if row.0 == from {
                    row.1 = to;
                }
            }
        }
        Ok(map)
    }

    pub fn get(&self, phase: SmePhase) -> PluginPhase {
        self.table
            .iter()
            .find(|(p, _)| *p == phase)
            .map(|(_, t)| *t)
            .expect("the table has a row for every phase")
    }

    /// Rows whose target runs at another place relative to Istio's filters
    /// than the SME phase did.
    pub fn moved_rows(&self) -> Vec<(SmePhase, PluginPhase)> {
        self.table
            .iter()
            .copied()
            .filter(|(s, p)| s.slot() != p.slot())
            .collect()
    }

    /// Pairs of SME phases whose order the table inverts: no priority can
    /// repair those.
    pub fn inversions(&self) -> Vec<(SmePhase, SmePhase)> {
        let mut out = Vec::new();
        for (a, pa) in self.table {
            for (b, pb) in self.table {
                if a < b && pa > pb {
                    out.push((a, b));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_table_keeps_every_phase_in_its_slot_and_order() {
        let m = PhaseMap::default();
        assert!(m.moved_rows().is_empty());
        assert!(m.inversions().is_empty());
        assert_eq!(m.get(SmePhase::PostAuthZ), PluginPhase::Stats);
        assert_eq!(m.get(SmePhase::PostStats), PluginPhase::Unspecified);
    }

    #[test]
    fn override_postauthz_to_authz_moves_it_before_authorization() {
        let m = PhaseMap::with_overrides(&["PostAuthZ=AUTHZ".into()]).unwrap();
        assert_eq!(m.get(SmePhase::PostAuthZ), PluginPhase::Authz);
        assert_eq!(
            m.moved_rows(),
            vec![(SmePhase::PostAuthZ, PluginPhase::Authz)]
        );
    }

    #[test]
    fn bad_override_names_the_problem() {
        let e = PhaseMap::with_overrides(&["postauthz=AUTHZ".into()]).unwrap_err();
        assert!(e.contains("closest: PostAuthZ"), "{e}");
        assert!(PhaseMap::with_overrides(&["PostAuthZ".into()]).is_err());
        assert!(PhaseMap::with_overrides(&["PostAuthZ=LATE".into()]).is_err());
    }

    #[test]
    fn unknown_phase_names_the_closest() {
        let e = SmePhase::parse_exact("PreAuthn").unwrap_err();
        assert!(e.contains("closest: PreAuthN"), "{e}");
        assert!(e.contains("PostStats"));
    }
}
