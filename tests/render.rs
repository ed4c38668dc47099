//! Rendered equals converted: for a fixture repository, every kustomization
//! that is not only a base and every Helm chart (with its values.yaml, and
//! with each values file beside it) is rendered with the real tools BEFORE
//! the migration, and `sme2wasm convert` runs on each rendering; then
//! `sme2wasm migrate` rewrites a copy of the repository, every target is
//! rendered AFTER, and the two must be the same objects.
//!
//! Compared as Kubernetes compares them once applied: documents are matched
//! by apiVersion, kind, namespace and name; a field whose value is null is
//! absent (the API server prunes it for a structural schema), and so is
//! `phase: UNSPECIFIED_PHASE` (the enum's default). Priorities may differ
//! only where migrate's order reconciliation changed one (its WARN says
//! "priority changed"), and then every two WasmPlugins of one phase that
//! can meet keep their order.
//!
//! The tools are real: kubectl 1.35 (`kubectl kustomize`, kustomize 5.7)
//! and helm 4.1, unpacked by `.ci/tools.sh` into target/tools/bin (or named
//! by SME2WASM_KUBECTL / SME2WASM_HELM). A missing tool fails the test.
//! Nothing reaches the network: local directories and charts only, and
//! Helm's cache, config and data directories are empty temporary ones.

use serde_yaml::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A tool from SME2WASM_<NAME> or target/tools/bin/<name>.
fn tool(name: &str) -> PathBuf {
    let var = format!("SME2WASM_{}", name.to_uppercase());
    let path = std::env::var_os(&var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/tools/bin").join(name));
    assert!(
        path.is_file(),
        "{} not found: run `bash .ci/tools.sh` (it unpacks kubectl and helm into target/tools/bin), or set {var}",
        path.display()
    );
    path
}

#[derive(Debug, Clone)]
enum Target {
    /// A kustomization directory, relative to the repository.
    Kustomize(String),
    /// A chart directory and an extra values file beside values.yaml.
    Helm(String, Option<String>),
}

impl Target {
    fn label(&self) -> String {
        match self {
            Target::Kustomize(d) => format!("kustomize {d}"),
            Target::Helm(c, None) => format!("helm {c}"),
            Target::Helm(c, Some(v)) => format!("helm {c} -f {v}"),
        }
    }
}

const KUSTOMIZATION_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rel(repo: &Path, p: &Path) -> String {
    p.strip_prefix(repo).unwrap().to_string_lossy().into_owned()
}

/// `a/b/../c` → `a/c`.
fn normal(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Every kustomization no other one uses (as a resource, base or
/// component), and every chart with each of its values files.
fn targets(repo: &Path) -> Vec<Target> {
    let mut kustomizations = Vec::new();
    let mut used = std::collections::HashSet::new();
    let mut charts = Vec::new();
    for f in files_below(repo) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let dir = f.parent().unwrap().to_path_buf();
        if name == "Chart.yaml" {
            charts.push(dir);
        } else if KUSTOMIZATION_NAMES.contains(&name.as_str()) {
            let k: Value = serde_yaml::from_str(&std::fs::read_to_string(&f).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            for key in ["resources", "bases", "components"] {
                for r in k[key].as_sequence().into_iter().flatten() {
                    if let Some(r) = r.as_str() {
                        let p = normal(&dir.join(r));
                        if p.is_dir() {
                            used.insert(p);
                        }
                    }
                }
            }
            if k["kind"].as_str() != Some("Component") {
                kustomizations.push(dir);
            }
        }
    }
    let mut out = Vec::new();
    for k in kustomizations {
        if !used.contains(&normal(&k)) {
            out.push(Target::Kustomize(rel(repo, &k)));
        }
    }
    for c in charts {
        out.push(Target::Helm(rel(repo, &c), None));
        let mut values: Vec<String> = std::fs::read_dir(&c)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                (n.ends_with(".yaml") || n.ends_with(".yml"))
                    && n != "Chart.yaml"
                    && n != "values.yaml"
            })
            .collect();
        values.sort();
        for v in values {
            out.push(Target::Helm(rel(repo, &c), Some(v)));
        }
    }
    out
}

/// The rendering of a target, or the tool's error.
fn render(repo: &Path, target: &Target) -> Result<String, String> {
    render_with(repo, target, &[])
}

/// `render` with extra arguments for the tool.
fn render_with(repo: &Path, target: &Target, extra: &[&str]) -> Result<String, String> {
    let out = match target {
        Target::Kustomize(dir) => Command::new(tool("kubectl"))
            .arg("kustomize")
            .arg(repo.join(dir))
            .args(extra)
            .env("KUBECONFIG", "/dev/null")
            .output()
            .unwrap(),
        Target::Helm(chart, values) => {
            let home = tempfile::tempdir().unwrap();
            let mut cmd = Command::new(tool("helm"));
            cmd.args(["template", "rel"])
                .arg(repo.join(chart))
                .args(["--namespace", "apps"])
                .env("HELM_CACHE_HOME", home.path().join("cache"))
                .env("HELM_CONFIG_HOME", home.path().join("config"))
                .env("HELM_DATA_HOME", home.path().join("data"))
                .env("KUBECONFIG", "/dev/null");
            if let Some(v) = values {
                cmd.arg("-f").arg(repo.join(chart).join(v));
            }
            cmd.args(extra);
            cmd.output().unwrap()
        }
    };
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn sme2wasm() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("sme2wasm"))
}

/// `convert` of a rendering, with the case's arguments.
fn convert(text: &str, args: &[&str], label: &str) -> String {
    use std::io::Write;
    let mut child = sme2wasm()
        .arg("convert")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{label}: convert of the rendering failed ({}):\n{}\n--- rendering:\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Null-valued entries and `phase: UNSPECIFIED_PHASE` removed.
fn normalise(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            for (_, v) in m.iter_mut() {
                normalise(v);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(normalise),
        _ => {}
    }
    if v["kind"].as_str() == Some("WasmPlugin") {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_mapping_mut) {
            if spec.get("phase").and_then(Value::as_str) == Some("UNSPECIFIED_PHASE") {
                spec.remove("phase");
            }
        }
    }
}

type Key = (String, String, String, String);

fn objects(text: &str) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let mut v = Value::deserialize(doc).unwrap();
        if v.is_null() {
            continue;
        }
        normalise(&mut v);
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let key = (
            s(&v["apiVersion"]),
            s(&v["kind"]),
            s(&v["metadata"]["namespace"]),
            s(&v["metadata"]["name"]),
        );
        assert!(
            out.insert(key.clone(), v).is_none(),
            "{key:?} twice in one rendering"
        );
    }
    out
}

use serde::Deserialize;

/// Whether two WasmPlugins can reach one workload: the same namespace (or
/// one in the root namespace), and no label both select with different
/// values.
fn can_meet(a: &Value, b: &Value) -> bool {
    let ns = |v: &Value| {
        v["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let root = "istio-system";
    if ns(a) != ns(b) && ns(a) != root && ns(b) != root {
        return false;
    }
    let labels = |v: &Value| v["spec"]["selector"]["matchLabels"].as_mapping().cloned();
    match (labels(a), labels(b)) {
        (Some(la), Some(lb)) => la.iter().all(|(k, v)| lb.get(k).is_none_or(|w| w == v)),
        _ => true,
    }
}

fn priority(v: &Value) -> i64 {
    v["spec"]["priority"].as_i64().unwrap_or(i64::MIN)
}

/// The rendering after migrate against convert of the rendering before.
fn compare(label: &str, converted: &str, after: &str, migrate_stderr: &str) -> Result<(), String> {
    let want = objects(converted);
    let got = objects(after);
    let names = |m: &BTreeMap<Key, Value>| m.keys().cloned().collect::<Vec<_>>();
    if names(&want) != names(&got) {
        return Err(format!(
            "{label}: other objects.\nconverted: {:?}\nrendered after: {:?}\n--- converted:\n{converted}\n--- rendered after:\n{after}",
            names(&want),
            names(&got)
        ));
    }
    let mut moved = Vec::new();
    for (k, w) in &want {
        let g = &got[k];
        if w == g {
            continue;
        }
        let mut w2 = w.clone();
        let mut g2 = g.clone();
        for v in [&mut w2, &mut g2] {
            if let Some(spec) = v.get_mut("spec").and_then(Value::as_mapping_mut) {
                spec.remove("priority");
            }
        }
        if w2 != g2 || k.1 != "WasmPlugin" {
            return Err(format!(
                "{label}: {k:?} differs.\n--- convert of the rendering before:\n{}\n--- rendering after migrate:\n{}",
                serde_yaml::to_string(w).unwrap(),
                serde_yaml::to_string(g).unwrap()
            ));
        }
        moved.push(k.clone());
    }
    if moved.is_empty() {
        return Ok(());
    }
    if !migrate_stderr.contains("priority changed") {
        return Err(format!(
            "{label}: priorities of {moved:?} differ, but migrate changed none"
        ));
    }
    // Every two WasmPlugins of one phase that can meet keep their order.
    let plugins: Vec<&Key> = want.keys().filter(|k| k.1 == "WasmPlugin").collect();
    for a in &plugins {
        for b in &plugins {
            let (wa, wb, ga, gb) = (&want[*a], &want[*b], &got[*a], &got[*b]);
            if wa["spec"]["phase"] != wb["spec"]["phase"] || !can_meet(wa, wb) {
                continue;
            }
            if priority(wa).cmp(&priority(wb)) != priority(ga).cmp(&priority(gb)) {
                return Err(format!(
                    "{label}: {a:?} and {b:?} are ordered differently after migrate"
                ));
            }
        }
    }
    Ok(())
}

/// One fixture repository.
struct RenderCase<'a> {
    repo: PathBuf,
    /// Extra arguments for both migrate and convert.
    args: &'a [&'a str],
    /// Targets migrate refuses: each `(target label, file migrate names in
    /// an ERROR)`; that file must be left unchanged and the rendering after
    /// is not compared.
    refused: &'a [(&'a str, &'a str)],
    /// Lines (substrings) migrate's stderr must hold.
    stderr_has: &'a [&'a str],
}

impl<'a> RenderCase<'a> {
    fn new(repo: &str) -> RenderCase<'a> {
        RenderCase {
            repo: root().join(repo),
            args: &[],
            refused: &[],
            stderr_has: &[],
        }
    }

    fn args(mut self, args: &'a [&'a str]) -> Self {
        self.args = args;
        self
    }

    fn refused(mut self, refused: &'a [(&'a str, &'a str)]) -> Self {
        self.refused = refused;
        self
    }

    fn stderr_has(mut self, lines: &'a [&'a str]) -> Self {
        self.stderr_has = lines;
        self
    }

    /// Render, convert, migrate, render again, compare. Returns migrate's
    /// stderr and the migrated copy.
    fn run(self) -> (String, tempfile::TempDir) {
        let targets = targets(&self.repo);
        assert!(!targets.is_empty(), "no target in {}", self.repo.display());
        let mut converted = Vec::new();
        for t in &targets {
            let text = render(&self.repo, t)
                .unwrap_or_else(|e| panic!("{}: does not render before migrate:\n{e}", t.label()));
            converted.push(convert(&text, self.args, &t.label()));
        }
        let work = tempfile::tempdir().unwrap();
        copy_dir(&self.repo, work.path());
        let out = sme2wasm()
            .arg("migrate")
            // a scratch copy; the safety rules have tests of their own
            .arg("--allow-no-vcs")
            .args(self.args)
            .arg(work.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let refused_any = !self.refused.is_empty();
        let want_code = if refused_any { 1 } else { 0 };
        assert_eq!(
            out.status.code(),
            Some(want_code),
            "migrate's exit status:\n{stderr}"
        );
        for line in self.stderr_has {
            assert!(
                stderr.contains(line),
                "migrate did not say {line:?}:\n{stderr}"
            );
        }
        let mut failures = Vec::new();
        for (t, converted) in targets.iter().zip(&converted) {
            let label = t.label();
            if let Some((_, file)) = self.refused.iter().find(|(l, _)| *l == label) {
                assert!(
                    stderr
                        .lines()
                        .any(|l| l.starts_with(&format!("{file}:")) && l.contains(" ERROR")),
                    "{label}: no ERROR names {file}:\n{stderr}"
                );
                assert_eq!(
                    std::fs::read(work.path().join(file)).unwrap(),
                    std::fs::read(self.repo.join(file)).unwrap(),
                    "{label}: {file} was changed although migrate refused it"
                );
                continue;
            }
            match render(work.path(), t) {
                Ok(after) => {
                    if let Err(e) = compare(&label, converted, &after, &stderr) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!("{label}: does not render after migrate:\n{e}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{}\n--- migrate's stderr:\n{stderr}",
            failures.join("\n\n")
        );
        // A second run changes nothing.
        let snapshot = |d: &Path| -> Vec<(PathBuf, Vec<u8>)> {
            files_below(d)
                .into_iter()
                .map(|f| (f.clone(), std::fs::read(&f).unwrap()))
                .collect()
        };
        let before = snapshot(work.path());
        let again = sme2wasm()
            .arg("migrate")
            // a scratch copy; the safety rules have tests of their own
            .arg("--allow-no-vcs")
            .args(self.args)
            .arg(work.path())
            .output()
            .unwrap();
        assert!(
            snapshot(work.path()) == before,
            "a second run changed files:\n{}",
            String::from_utf8_lossy(&again.stderr)
        );
        (stderr, work)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for f in files_below(from) {
        let p = to.join(f.strip_prefix(from).unwrap());
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(&f, &p).unwrap();
    }
}

// The directory fixtures of tests/migrate.rs, rendered.

#[test]
fn kustomize_fixture_of_the_migrate_tests() {
    RenderCase::new("testdata/migrate/kustomize/in")
        .refused(&[(
            "kustomize overlays/broken",
            "overlays/broken/kustomization.yaml",
        )])
        .run();
}

#[test]
fn helm_fixture_of_the_migrate_tests() {
    let (_, work) = RenderCase::new("testdata/migrate/helm/in")
        .stderr_has(&[
            // toYaml selector labels: the gateway question is named.
            "chart/templates/extensions.yaml:40: WARN[W408]: Helm template: the selector is templated, so whether it picks a gateway is decided when the chart renders",
            "chart/templates/extensions.yaml:50: WARN[W407]: Helm template: the selector's labels are templated",
        ])
        .run();
    // A phase that is none of the six fails the rendering, as Maistra
    // never applied such an SME; before migrate it rendered.
    let chart = Target::Helm("chart".into(), None);
    let bad = ["--set", "stats.phase=Late"];
    let before = render_with(&root().join("testdata/migrate/helm/in"), &chart, &bad);
    assert!(before.is_ok(), "{before:?}");
    let after = render_with(work.path(), &chart, &bad).unwrap_err();
    assert!(
        after.contains("spec.phase must render one of PreAuthN, PostAuthN, PreAuthZ, PostAuthZ, PreStats, PostStats"),
        "{after}"
    );
    let ok = render_with(work.path(), &chart, &["--set", "stats.phase=PostAuthZ"]).unwrap();
    assert!(ok.contains("phase: STATS"), "{ok}");
}

#[test]
fn the_bundled_gitops_example() {
    RenderCase::new("examples/gitops").run();
}

#[test]
fn the_harness_sees_a_difference() {
    // A rendering that differs from the conversion is caught: the harness
    // can fail.
    let converted = "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: a\nspec:\n  pluginName: prod-a_root\n  priority: 1\n";
    let after = converted.replace("prod-a_root", "a_root");
    assert!(compare("t", converted, &after, "").is_err());
    assert!(compare("t", converted, converted, "").is_ok());
    // A priority may move only with migrate's WARN, keeping the order.
    let two = |p: i64, q: i64| {
        format!("apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: a\nspec:\n  priority: {p}\n---\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata:\n  name: b\nspec:\n  priority: {q}\n")
    };
    assert!(compare("t", &two(1, 2), &two(1, 3), "").is_err());
    assert!(compare("t", &two(1, 2), &two(1, 3), "priority changed").is_ok());
    assert!(compare("t", &two(1, 2), &two(3, 2), "priority changed").is_err());
    // Two that can never meet (labels that differ) may swap.
    let apart = |p: i64, q: i64| {
        two(p, q)
            .replacen(
                "  priority:",
                "  selector:\n    matchLabels: {app: x}\n  priority:",
                1,
            )
            .replace(
                &format!("  priority: {q}\n"),
                &format!("  selector:\n    matchLabels: {{app: y}}\n  priority: {q}\n"),
            )
    };
    assert!(compare("t", &apart(1, 2), &apart(3, 2), "priority changed").is_ok());
    // Null fields and UNSPECIFIED_PHASE are what the API server stores as absent.
    let with_null = converted.replace(
        "  priority: 1\n",
        "  priority: 1\n  phase: UNSPECIFIED_PHASE\n  pluginConfig: null\n",
    );
    assert!(compare("t", converted, &with_null, "").is_ok());
}

// Kustomize constructs.

#[test]
fn name_transformers_keep_the_root_id() {
    // Four overlays share one base: prefixes, a suffix with a namespace,
    // a component's suffix, and a prefixed overlay of a prefixed overlay.
    let (stderr, work) = RenderCase::new("testdata/render/name-transformers")
        .stderr_has(&[
            "overlays/prod/kustomization.yaml:4: INFO[I417]: name transformers rename 2 ServiceMeshExtensions",
            "overlays/canary/kustomization.yaml:5: INFO[I417]: name transformers rename 2",
        ])
        .run();
    // A second run finds nothing left to do.
    let again = sme2wasm()
        .args(["migrate", "--allow-no-vcs"])
        .arg(work.path())
        .output()
        .unwrap();
    let again = String::from_utf8_lossy(&again.stderr);
    assert!(
        again.contains("nothing to change"),
        "{again}\n--- first run:\n{stderr}"
    );
}

#[test]
fn without_plugin_names_no_patch_is_added() {
    let (stderr, work) = RenderCase::new("testdata/render/name-transformers")
        .args(&["--no-plugin-name"])
        .run();
    assert!(!stderr.contains("name transformers"), "{stderr}");
    let k = std::fs::read_to_string(work.path().join("overlays/eu/kustomization.yaml")).unwrap();
    assert!(!k.contains("pluginName"), "{k}");
}

#[test]
fn replacements_follow_the_fields_to_the_wasmplugin() {
    // Inline and in a file; into spec.image (oci:// kept through the
    // delimiter and index options, also for a tag-only replacement),
    // spec.config, a selector label, with a reject, and from spec.image.
    let (_, work) = RenderCase::new("testdata/render/replacements").run();
    let tag = std::fs::read_to_string(work.path().join("overlays/tag/tag.yaml")).unwrap();
    assert!(
        tag.contains("    - spec.url\n    options:\n      delimiter: ':'\n      index: 2\n"),
        "{tag}"
    );
}

#[test]
fn vars_and_field_specs_follow_the_fields_to_the_wasmplugin() {
    RenderCase::new("testdata/render/vars").run();
}

#[test]
fn what_cannot_keep_its_meaning_is_refused_and_left_alone() {
    RenderCase::new("testdata/render/refused")
        .refused(&[
            // A replacement into spec.phase: an SME phase name is no WasmPlugin phase.
            ("kustomize overlays/phase", "overlays/phase/kustomization.yaml"),
            // A var of spec.image would carry oci:// into the Deployment.
            ("kustomize overlays/var-image", "overlays/var-image/kustomization.yaml"),
            // One patch of two cannot be carried over: none is.
            ("kustomize overlays/mixed", "overlays/mixed/kustomization.yaml"),
            // OpenAPI definitions of SME fields.
            ("kustomize overlays/crds", "overlays/crds/crds.json"),
        ])
        .stderr_has(&[
            "overlays/phase/kustomization.yaml:6: ERROR[E416]: replacements naming a ServiceMeshExtension cannot be carried over to the WasmPlugin: target 1 fieldPath spec.phase",
            "overlays/var-image/kustomization.yaml:5: ERROR[E416]: vars naming a ServiceMeshExtension",
            "overlays/crds/crds.json:2: ERROR[E416]: crds naming a ServiceMeshExtension",
            "overlays/mixed/kustomization.yaml:12: ERROR[E415]: the ServiceMeshExtension patch cannot be rewritten: operation 1 (/spec/foo)",
        ])
        .run();
}

#[test]
fn the_namespace_transformer_decides_which_smes_meet_for_the_order() {
    // In their files the two SMEs lie in different namespaces; the overlay
    // puts both in one, where PostAuthN must stay before PreAuthZ.
    let (stderr, work) = RenderCase::new("testdata/render/namespaces").run();
    assert!(
        stderr.contains("WARN[W202] shared/authn-extra: priority changed from 1 to 11"),
        "{stderr}"
    );
    let a = std::fs::read_to_string(work.path().join("team-a/sme.yaml")).unwrap();
    assert!(
        a.contains("  namespace: team-a\n") && a.contains("  priority: 11\n"),
        "{a}"
    );
}

#[test]
fn literal_priorities_of_a_chart_keep_maistras_order() {
    // PostAuthN 1 and PreAuthZ 10 both become AUTHZ: the chart's literal
    // priorities are reconciled; a template without priority gets one.
    let (stderr, work) = RenderCase::new("testdata/render/helm-order").run();
    assert!(stderr.contains("priority changed from 1 to 11"), "{stderr}");
    let t = std::fs::read_to_string(work.path().join("chart/templates/extensions.yaml")).unwrap();
    assert!(
        t.contains("  priority: 11\n") && t.contains("  priority: 0\n"),
        "{t}"
    );
    // A templated priority is kept above the literal one it must precede.
    assert!(
        t.contains("  priority: {{ .Values.audit.priority | int | max 1 }}\n"),
        "{t}"
    );
    assert!(
        stderr.contains("WARN[W407]: Helm template: priority changed: the templated priority is kept at 1 or more so that it still runs before …-stats as in Maistra"),
        "{stderr}"
    );
}
