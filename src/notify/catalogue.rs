//! The notification catalogue: every notification sme2wasm can print, with
//! its stable code, short name, level, what it means and what to do.
//!
//! A code names a rule, not one wording: the message printed with it keeps
//! the details of the case (the field, the value, the image). Codes never
//! change meaning once released: a rule that goes away leaves its number
//! unused, and a new rule takes a new number.
//!
//! Numbers by area: 0xx reading the input, 1xx the field table (SPEC §3),
//! 2xx order and priorities, 3xx OpenShift Templates, 4xx migrate,
//! 5xx repack, 6xx verify, 7xx acknowledged warnings. The letter is the level: E error, W warning,
//! I information.
//!
//! README.md's notification reference is rendered from this table
//! (`markdown`), and a test fails when the two drift.

use super::Level;
use serde::{Serialize, Serializer};
use std::fmt;

/// One rule of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub code: Code,
    /// The number; with the level's letter it is the code (`W104`).
    pub number: u16,
    /// A short kebab-case name (`no-selector-gateway-loses-plugin`).
    pub name: &'static str,
    pub level: Level,
    /// What the notification says (its message gives the case's details).
    pub summary: &'static str,
    /// What to do about it.
    pub advice: &'static str,
}

macro_rules! catalogue {
    ($( $variant:ident = $code:literal $num:literal $level:ident $name:literal
        summary $summary:literal advice $advice:literal; )*) => {
        /// A notification's code: which rule of the catalogue it follows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code { $($variant),* }

        /// Every rule, in the order of the catalogue.
        pub const RULES: &[Rule] = &[$(Rule {
            code: Code::$variant,
            number: $num,
            name: $name,
            level: Level::$level,
            summary: $summary,
            advice: $advice,
        }),*];

        impl Code {
            /// The code's text, such as `W104`.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code),* }
            }
        }
    };
}

impl Code {
    pub fn rule(self) -> &'static Rule {
        // RULES holds the variants in declaration order.
        &RULES[self as usize]
    }
    pub fn level(self) -> Level {
        self.rule().level
    }
    /// Look a rule up by its code (`W104`, `w104`, `104`) or its name.
    pub fn lookup(text: &str) -> Option<&'static Rule> {
        let t = text.trim();
        RULES.iter().find(|r| {
            r.code.as_str().eq_ignore_ascii_case(t)
                || r.name.eq_ignore_ascii_case(t)
                || t.parse::<u16>().is_ok_and(|n| n == r.number)
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Rule {
    /// The text `sme2wasm explain` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} ({})", self.code, self.name, self.level)?;
        writeln!(f)?;
        writeln!(f, "{}", self.summary)?;
        if !self.advice.is_empty() {
            writeln!(f)?;
            writeln!(f, "What to do: {}", self.advice)?;
        }
        Ok(())
    }
}

/// The catalogue as a Markdown table, as README.md shows it.
pub fn markdown() -> String {
    let mut out = String::from("| Code | Name | Meaning | What to do |\n|---|---|---|---|\n");
    for r in RULES {
        let cell = |s: &str| s.replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            r.code,
            r.name,
            cell(r.summary),
            if r.advice.is_empty() {
                "nothing".to_string()
            } else {
                cell(r.advice)
            }
        ));
    }
    out
}

catalogue! {
    // 0xx: reading the input.
    InvalidYaml = "E001" 1 Error "invalid-yaml"
        summary "A document is not valid YAML; the parser's message and position are given."
        advice "fix the document at the line given and run again";
    InvalidSme = "E002" 2 Error "invalid-sme"
        summary "A ServiceMeshExtension cannot be read (a field has the wrong type or shape); it is not converted."
        advice "fix the ServiceMeshExtension; it was not converted";
    UnknownApiGroup = "E003" 3 Error "sme-never-served"
        summary "A ServiceMeshExtension has an apiVersion no released Maistra served, so it never ran; it is not converted, since converting it would switch on an extension that never ran."
        advice "if the extension is meant to run, set apiVersion to maistra.io/v1 (config an object) or maistra.io/v1alpha1 (config a string) and convert again; otherwise delete it";
    SmeInsideWrapper = "E004" 4 Error "sme-inside-other-object"
        summary "An object sme2wasm does not convert (a Helm release, a ConfigMap, a custom resource…) holds a ServiceMeshExtension; it is passed on as it is."
        advice "take the ServiceMeshExtension out (a file of its own), convert it with `sme2wasm convert`, and put the WasmPlugin back";
    ListInList = "E005" 5 Error "sme-in-nested-list"
        summary "A List inside a List holds a ServiceMeshExtension: it is passed on as it is, not converted."
        advice "flatten the List (its items into the outer items) and convert again";
    DuplicateSme = "W006" 6 Warn "duplicate-sme"
        summary "The same ServiceMeshExtension (namespace and name) was read twice, as in a kustomize base and its overlay; both are converted."
        advice "convert base and overlay separately, or render them first (kustomize build), so that one cluster object gives one WasmPlugin";
    InvalidField = "E007" 7 Error "invalid-field"
        summary "A field of the ServiceMeshExtension holds a value Maistra's API would have refused; the SME is not converted."
        advice "fix the field; Maistra's API would have refused it";
    UnknownField = "W008" 8 Warn "unknown-field-dropped"
        summary "A field is not part of the ServiceMeshExtension API and is not carried over to the WasmPlugin."
        advice "if it matters, carry it over by hand";
    NotReady = "W009" 9 Warn "extension-was-not-ready"
        summary "status.deployment.ready is false: Maistra did not apply this extension, but the WasmPlugin will be active."
        advice "make sure the extension should run before applying the WasmPlugin";
    InvalidWasmPlugin = "E010" 10 Error "invalid-wasmplugin"
        summary "The WasmPlugin built from the SME would break the WasmPlugin schema of the target Istio; it is not written."
        advice "fix the SME field it comes from";
    // 1xx: the field table.
    MissingImage = "E101" 101 Error "missing-image"
        summary "spec.image is missing: there is no module to run; not converted."
        advice "set spec.image to the extension's image";
    ImageRepacked = "I102" 102 Info "image-repacked"
        summary "spec.image becomes the repacked image named by --image-map, pinned to its digest."
        advice "";
    ImageNotRepacked = "W103" 103 Warn "image-not-repacked"
        summary "spec.image has not been repacked: unless it already holds /plugin.wasm, Istio's fetcher refuses it."
        advice "run `sme2wasm repack` on it and convert again with --image-map";
    NoSelectorGatewayLosesPlugin = "W104" 104 Warn "no-selector-gateway-loses-plugin"
        summary "No workload selector: match mode SERVER keeps sidecars inbound-only as before, but on Istio 1.16+ a gateway in scope counts as CLIENT and loses the plugin."
        advice "if a gateway must keep it, add a second WasmPlugin that selects the gateway, without match";
    GatewayByLabel = "W105" 105 Warn "gateway-guessed-from-label"
        summary "The selector was taken for a gateway from one of its labels: no match is written, so on a gateway the plugin keeps every listener, but on a sidecar it would now also run on outbound traffic."
        advice "if it selects sidecars, add `match: [{mode: SERVER}]` to the WasmPlugin";
    GatewaySelector = "I106" 106 Info "gateway-keeps-every-listener"
        summary "The selector picks a gateway: no match is written, so the plugin keeps running on every gateway listener as before."
        advice "";
    MatchServer = "I107" 107 Info "match-server-inbound-only"
        summary "match mode SERVER keeps the plugin on inbound traffic only, as before (WasmPlugins otherwise apply to outbound too)."
        advice "";
    NoMatchField = "W108" 108 Warn "istio-has-no-match"
        summary "The target Istio's WasmPlugin has no match field: the plugin also applies to outbound traffic, which the SME never did."
        advice "set APPLY_WASM_PLUGINS_TO_INBOUND_ONLY=true in istiod's environment to keep it inbound-only";
    TooManyLabels = "W109" 109 Warn "selector-too-many-labels"
        summary "The selector has more labels than the WasmPlugin CRD of Istio 1.23 and later allows: the API server will refuse the WasmPlugin after an upgrade."
        advice "select the workloads with fewer labels before upgrading Istio";
    PullPolicyNever = "W110" 110 Warn "pull-policy-never-dropped"
        summary "imagePullPolicy Never has no WasmPlugin equivalent and is dropped; Istio's default applies (Always for a :latest tag, else IfNotPresent)."
        advice "";
    InvalidPullPolicy = "E111" 111 Error "invalid-pull-policy"
        summary "imagePullPolicy is not IfNotPresent, Always or Never; not converted."
        advice "set imagePullPolicy to IfNotPresent or Always (or remove it)";
    ExtraPullSecrets = "W112" 112 Warn "extra-pull-secrets-dropped"
        summary "A WasmPlugin takes one imagePullSecret: the first is kept, the others are dropped."
        advice "make the first secret hold the credentials of every registry the image needs";
    PullSecretKind = "I113" 113 Info "pull-secret-must-be-dockerconfigjson"
        summary "The imagePullSecret must be a kubernetes.io/dockerconfigjson secret in the WasmPlugin's namespace."
        advice "";
    MeshWide = "I114" 114 Info "mesh-wide-root-namespace"
        summary "A mesh-wide SME (in the old control plane's namespace) becomes a WasmPlugin in the new root namespace."
        advice "";
    ConfigNotObject = "E115" 115 Error "config-not-object"
        summary "spec.config is not a JSON object (or a v1alpha1 string holding one), which a WasmPlugin's pluginConfig must be; not converted."
        advice "a WasmPlugin's pluginConfig is a JSON object (a protobuf Struct); change the plugin to read a JSON object, then set spec.config to one";
    ConfigNull = "W116" 116 Warn "config-null-becomes-empty"
        summary "No configuration (spec.config missing, or an empty v1alpha1 string): the plugin used to receive the text `null` and now receives an empty configuration, and may behave differently."
        advice "run `sme2wasm verify` to compare the old and new configuration as the plugin sees them";
    ConfigEmptyObject = "W117" 117 Warn "config-empty-object"
        summary "spec.config is an empty object: the plugin used to receive the text `{}`, but Istio passes no configuration at all for an empty pluginConfig."
        advice "run `sme2wasm verify` to compare the old and new configuration as the plugin sees them";
    ConfigReserialized = "I118" 118 Info "string-config-reserialized"
        summary "The v1alpha1 string config is a JSON object and becomes pluginConfig; the plugin now receives it re-serialized (spacing and number formatting may differ)."
        advice "";
    ConfigRounded = "W119" 119 Warn "config-integer-rounded"
        summary "A config value is an integer beyond 2^53: a Struct stores numbers as doubles, so the plugin receives a rounded value."
        advice "write the value as a string and parse it in the plugin";
    ConfigYaml11 = "W120" 120 Warn "config-yaml11-scalar"
        summary "A plain scalar in spec.config means something else under YAML 1.1 (which kubectl applied) than under YAML 1.2; the WasmPlugin keeps what the cluster held."
        advice "quote the value in the source if the other meaning was intended";
    StatusPhase = "W121" 121 Warn "status-phase-differs"
        summary "status.phase differs from spec.phase; istiod applied the status, so the WasmPlugin keeps it."
        advice "check which phase the extension is meant to run in";
    PhaseFromManifest = "I122" 122 Info "phase-from-manifest"
        summary "spec.phase is not set; the phase Maistra used comes from the image's manifest.yaml."
        advice "";
    PhaseUnknown = "E123" 123 Error "phase-unknown"
        summary "spec.phase is not set and no manifest.yaml says which phase the image declares; not converted."
        advice "pass --manifest with the image's manifest.yaml, or --image-map written by `sme2wasm repack`, or set spec.phase";
    InvalidPhase = "E124" 124 Error "invalid-phase"
        summary "The phase is not one Maistra accepts: Maistra never applied the SME, and converting it would switch it on; not converted."
        advice "correct the phase if the extension is meant to run, or delete it";
    PhaseMapped = "W125" 125 Warn "phase-remapped"
        summary "--phase-map moves the plugin to another phase: it now runs at another place relative to Istio's authentication, authorization and stats filters."
        advice "";
    StatusPriority = "W126" 126 Warn "status-priority-differs"
        summary "status.priority differs from spec.priority; istiod applied the status, so the WasmPlugin keeps it."
        advice "";
    PriorityExplicit = "I127" 127 Info "priority-made-explicit"
        summary "spec.priority is not set; the priority Maistra used is written explicitly, because Istio sorts an unset priority last."
        advice "";
    PriorityRange = "E128" 128 Error "priority-out-of-range"
        summary "The priority does not fit in int32, which WasmPlugin requires; not converted."
        advice "set a priority between -2147483648 and 2147483647";
    MeshWidePullSecret = "W129" 129 Warn "mesh-wide-pull-secret-moves"
        summary "A mesh-wide SME with an imagePullSecret becomes a WasmPlugin in the new root namespace, where the secret must exist too."
        advice "create the pull secret in the new root namespace too";
    // 2xx: order and priorities.
    OrderConflict = "E201" 201 Error "order-cannot-be-kept"
        summary "Maistra's order between extensions cannot be kept by any WasmPlugin priorities; the WasmPlugins involved are not written."
        advice "not written; adjust the priorities and run again";
    PriorityChanged = "W202" 202 Warn "priority-changed"
        summary "A priority was changed so that the plugin still runs before or after another one, as in Maistra."
        advice "";
    PhaseMapReversesOrder = "W203" 203 Warn "phase-map-reverses-order"
        summary "--phase-map puts two phases in the reverse of Maistra's order; no priority can repair that."
        advice "check --phase-map";
    // 3xx: OpenShift Templates.
    TemplateNoDefault = "E301" 301 Error "template-parameter-without-default"
        summary "A field sme2wasm must decide from holds a Template parameter without a default value; not converted."
        advice "give the parameter a value in parameters (the value the Template is processed with), or write the field literally";
    TemplateDefaultUsed = "W302" 302 Warn "template-parameter-default-used"
        summary "A field sme2wasm must decide from holds a Template parameter: the decision is made with its default and written literally; another value at processing time no longer changes it."
        advice "check that the default is the value the Template is processed with";
    TemplateSelectorNotLabels = "E303" 303 Error "template-selector-not-labels"
        summary "spec.workloadSelector.labels is a Template parameter whose default is not a mapping of labels; not converted."
        advice "give the parameter a JSON object of labels as its value";
    TemplateConfigDefault = "W304" 304 Warn "template-config-checked-with-default"
        summary "spec.config is a Template parameter, which must expand to a JSON object; it was checked with its default."
        advice "";
    TemplateConfigUndecidable = "E305" 305 Error "template-config-undecidable"
        summary "spec.config is a Template parameter without a default that is a JSON object: whether pluginConfig can carry it cannot be decided; not converted."
        advice "give the parameter a JSON object as its value in parameters";
    TemplateUnchecked = "W306" 306 Warn "template-parameter-unchecked"
        summary "A field holds a Template parameter that cannot be checked before the Template is processed; the parameter must expand to the kind of value the field takes."
        advice "";
    TemplateSelector = "W307" 307 Warn "template-selector-parameter"
        summary "The selector's labels hold Template parameters: whether it picks a gateway (and so match) was decided with the defaults."
        advice "if the processed labels pick a gateway and the defaults do not (or the other way round), correct match by hand";
    // 4xx: migrate.
    CannotWrite = "E401" 401 Error "cannot-write"
        summary "A rewritten file cannot be written; the file keeps its old content."
        advice "the file keeps its old content";
    SkippedWithSme = "E402" 402 Error "skipped-file-mentions-sme"
        summary "A file mentions ServiceMeshExtension but was skipped (not UTF-8, such as UTF-16, or too large): its SMEs are not converted."
        advice "convert the file to UTF-8 (or split it) and run migrate again, or convert it with `sme2wasm convert`";
    SmeLeft = "E403" 403 Error "sme-left-after-rewrite"
        summary "A file still holds kind: ServiceMeshExtension after the rewrite: sme2wasm did not understand where it sits, and did not convert it."
        advice "convert it by hand (`sme2wasm convert` on the object), or report the case";
    CannotRewrite = "E404" 404 Error "cannot-rewrite"
        summary "A document can neither be edited in place nor rendered cleanly; it is left untouched."
        advice "the document was left untouched; convert it with `sme2wasm convert`";
    CleanRendering = "W405" 405 Warn "written-as-clean-rendering"
        summary "A document could not be edited in place and was written as a clean rendering: its comments and layout were not kept."
        advice "comments and layout inside this document were not kept; review it";
    DocumentsMerge = "E406" 406 Error "rewrite-would-merge-documents"
        summary "The rewritten file would not keep its documents apart (or stop being JSON); it is not written."
        advice "convert this file with `sme2wasm convert` and report the case";
    HelmTemplated = "W407" 407 Warn "helm-templated-field"
        summary "A field of a Helm template is templated, so sme2wasm cannot decide it; the rendered WasmPlugin must be checked."
        advice "render the chart and check this field of the WasmPlugin";
    HelmSelector = "W408" 408 Warn "helm-templated-selector"
        summary "The selector of a Helm template is templated, so whether it picks a gateway is decided when the chart renders: match mode SERVER is rendered only when it picks none."
        advice "render the chart with each values file and check that gateways are recognised";
    HelmMatchAdded = "W409" 409 Warn "helm-match-added"
        summary "match mode SERVER was added to a Helm template whose selector is templated; if the selector picks a gateway, remove it."
        advice "";
    HelmRewritten = "I410" 410 Info "helm-literal-parts-rewritten"
        summary "Helm template: literal parts rewritten; templated values are as they were, and a literal priority is reconciled only with the chart's other templates."
        advice "render the chart (helm template) and review the WasmPlugin";
    KustomizeTwice = "W411" 411 Warn "kustomize-priority-reconciled-once"
        summary "A kustomization produces two SMEs whose priorities could be reconciled for only one of them."
        advice "";
    KustomizePatchOutside = "W412" 412 Warn "kustomize-patch-outside"
        summary "A patch a kustomization names lies outside the migrated directory: not rewritten."
        advice "migrate the directory that holds it too";
    KustomizePatchUnreadable = "W413" 413 Warn "kustomize-patch-unreadable"
        summary "A patch file a kustomization names cannot be read: not rewritten."
        advice "";
    KustomizePatchReview = "W414" 414 Warn "kustomize-patch-review"
        summary "A ServiceMeshExtension patch was rewritten for WasmPlugin with a caveat the message names."
        advice "review the rewritten patch";
    KustomizePatchNotRewritten = "E415" 415 Error "kustomize-patch-not-rewritten"
        summary "A ServiceMeshExtension patch cannot be rewritten for WasmPlugin; it was left as it was."
        advice "rewrite it by hand for WasmPlugin; it was left as it was";
    KustomizeConstruct = "E416" 416 Error "kustomize-construct-not-carried"
        summary "A kustomize construct naming a ServiceMeshExtension cannot be carried over to the WasmPlugin; the file was left as it was."
        advice "rewrite it by hand for WasmPlugin; this file was left as it was";
    KustomizeRenamed = "I417" 417 Info "kustomize-name-transformer"
        summary "Name transformers rename SMEs: a patch sets each WasmPlugin's pluginName to its rendered name + _root (Maistra's root_id)."
        advice "";
    CannotWalk = "E418" 418 Error "cannot-walk"
        summary "A directory cannot be walked."
        advice "check the permissions";
    SymlinkNotFollowed = "I419" 419 Info "symlink-not-followed"
        summary "A symbolic link: not followed."
        advice "";
    RepositoryNotEntered = "I420" 420 Info "nested-repository-not-entered"
        summary "A nested repository (or submodule) is not entered."
        advice "migrate it on its own, or pass --recurse-repositories";
    CannotRead = "E421" 421 Error "cannot-read"
        summary "A file cannot be read; it was left untouched."
        advice "check the permissions; the file was left untouched";
    FileTooLarge = "W422" 422 Warn "file-too-large"
        summary "A file is larger than migrate reads: skipped."
        advice "migrate any ServiceMeshExtension in it with `sme2wasm convert`";
    BinaryFile = "I423" 423 Info "binary-file-skipped"
        summary "A file is not UTF-8 text (a binary file?): skipped."
        advice "";
    // 5xx: repack.
    RepackFailed = "E501" 501 Error "repack-failed"
        summary "An image could not be repacked; the message says why. Nothing was pushed for it."
        advice "fix the cause the message names and run repack again";
    PlatformMismatch = "W502" 502 Warn "platform-mismatch"
        summary "--platform asked for a platform, but the image is a single image of another; it is repacked as it is."
        advice "";
    AlreadyMigrated = "I503" 503 Info "already-migrated"
        summary "The image is already migrated (one gzip layer with /plugin.wasm, as Istio's fetcher wants): it is left as it is, or copied to the destination unchanged (the same digest)."
        advice "";
    ModuleFound = "I504" 504 Info "module-found"
        summary "The Wasm module found in the image: its path, size, proxy-wasm ABI and how many layers were read."
        advice "";
    AlreadyPushed = "I505" 505 Info "already-pushed"
        summary "The destination already holds this image; nothing pushed."
        advice "";
    LayoutNoMapEntry = "W506" 506 Warn "layout-no-map-entry"
        summary "The destination is an image layout: it gets no image map entry, since a WasmPlugin cannot pull from it."
        advice "copy it to a registry and name that reference with --dest-name";
    // 6xx: verify.
    VerifyDiffers = "E601" 601 Error "verify-behaviour-differs"
        summary "verify found that the WasmPlugin does not behave as the SME did (or could not check it); the report on stdout has the details."
        advice "see the report on stdout";
    VerifyNothing = "W602" 602 Warn "verify-nothing-found"
        summary "No ServiceMeshExtension found in the input; nothing was verified."
        advice "";
    VerifyRefusedWrite = "E603" 603 Error "verify-refused-write"
        summary "migrate --verify: the new WasmPlugin refuses what the old SME accepted; it is not written and its ServiceMeshExtension stays."
        advice "run `sme2wasm verify` on it for the details (or pass --force to write it anyway)";
    VerifyWarning = "W604" 604 Warn "verify-differs"
        summary "migrate --verify: the new WasmPlugin does not behave exactly as the SME did."
        advice "run `sme2wasm verify` on it for the details";

    // 7xx: acknowledged warnings.
    AllowMatchesNothing = "W701" 701 Warn "allow-matches-nothing"
        summary "An allow (--allow, an entry of .sme2wasm.yaml, or a `# sme2wasm: allow` comment) matches no warning of the run: it is stale, or its code is wrong."
        advice "remove the allow: the warning it acknowledged is gone (or the code is wrong)";
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_numbers_and_names_are_unique_and_well_formed() {
        let mut numbers = HashSet::new();
        let mut names = HashSet::new();
        for (i, r) in RULES.iter().enumerate() {
            assert_eq!(r.code as usize, i, "{} out of order", r.code);
            assert!(numbers.insert(r.number), "number {} twice", r.number);
            assert!(names.insert(r.name), "name {} twice", r.name);
            let letter = match r.level {
                Level::Error => 'E',
                Level::Warn => 'W',
                Level::Info => 'I',
            };
            assert_eq!(
                r.code.as_str(),
                format!("{letter}{:03}", r.number),
                "{}",
                r.name
            );
            assert!(
                r.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                r.name
            );
            assert!(!r.summary.is_empty());
        }
    }

    #[test]
    fn lookup_finds_by_code_number_and_name() {
        let r = Code::NoSelectorGatewayLosesPlugin.rule();
        assert_eq!(r.code.as_str(), "W104");
        assert_eq!(Code::lookup("w104"), Some(r));
        assert_eq!(Code::lookup("104"), Some(r));
        assert_eq!(Code::lookup("no-selector-gateway-loses-plugin"), Some(r));
        assert_eq!(Code::lookup("X999"), None);
    }
}

#[cfg(test)]
mod readme {
    /// README.md's notification reference is `markdown()`, between these
    /// marks; `SME2WASM_BLESS=1` rewrites it.
    const BEGIN: &str = "<!-- notification codes: generated from src/notify/catalogue.rs -->\n";
    const END: &str = "<!-- end of notification codes -->\n";

    #[test]
    fn readme_lists_every_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let text = std::fs::read_to_string(&path).unwrap();
        let start = text
            .find(BEGIN)
            .expect("README.md lacks the codes' begin mark")
            + BEGIN.len();
        let end = start
            + text[start..]
                .find(END)
                .expect("README.md lacks the codes' end mark");
        let want = super::markdown();
        if std::env::var_os("SME2WASM_BLESS").is_some_and(|v| v == "1") {
            let new = format!("{}{want}{}", &text[..start], &text[end..]);
            std::fs::write(&path, new).unwrap();
            return;
        }
        assert!(
            text[start..end] == want,
            "README.md's notification codes differ from the catalogue; run `SME2WASM_BLESS=1 cargo test --lib readme_lists_every_code`"
        );
    }
}
