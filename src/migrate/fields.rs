//! SPEC §3's renamed fields, as data: where a WasmPlugin field was in the
//! ServiceMeshExtension. The in-place rewrite and the kustomize patch
//! rewrite both read this table, so a rename is stated once.

/// (WasmPlugin path, ServiceMeshExtension path), dotted.
pub const RENAMED: [(&str, &str); 5] = [
    ("spec.url", "spec.image"),
    ("spec.pluginConfig", "spec.config"),
    ("spec.selector", "spec.workloadSelector"),
    ("spec.selector.matchLabels", "spec.workloadSelector.labels"),
    ("spec.imagePullSecret", "spec.imagePullSecrets"),
];

/// The SME key a WasmPlugin key at `parent` (a dotted path) was renamed
/// from, for `rewrite::Renames`.
pub fn sme_key(parent: &str, key: &str) -> Option<&'static str> {
    RENAMED.iter().find_map(|(to, from)| {
        let (p, k) = to.rsplit_once('.')?;
        (p == parent && k == key).then(|| from.rsplit_once('.').map_or(*from, |(_, f)| f))
    })
}

/// The WasmPlugin path of an SME path, segment by segment
/// (`spec.workloadSelector.labels.app` → `spec.selector.matchLabels.app`).
pub fn plugin_path(sme_path: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, seg) in sme_path.iter().enumerate() {
        let sme_prefix = sme_path[..=i].join(".");
        let renamed = RENAMED
            .iter()
            .find(|(_, from)| *from == sme_prefix)
            .map(|(to, _)| to.rsplit('.').next().unwrap_or(to).to_string());
        out.push(renamed.unwrap_or_else(|| seg.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_both_ways() {
        assert_eq!(sme_key("spec", "url"), Some("image"));
        assert_eq!(sme_key("spec.selector", "matchLabels"), Some("labels"));
        assert_eq!(sme_key("spec", "phase"), None);
        assert_eq!(
            plugin_path(&["spec", "workloadSelector", "labels", "app"]),
            vec!["spec", "selector", "matchLabels", "app"]
        );
        assert_eq!(
            plugin_path(&["spec", "config", "x"]),
            vec!["spec", "pluginConfig", "x"]
        );
    }
}
