//! `sme2wasm repack` against a real registry started by the tests, with
//! every result read back the way Istio's fetcher reads it (SPEC §7).

mod common;

use common::images::{self, TestImage};
use common::registry::{Flavour, Registry, PASSWORD, USER};
use common::{fetch_like_istio, fixture_module, sme2wasm, tag_exists};
use serde_json::Value;
use sme2wasm::image::auth::{AuthConfig, Secret};
use sme2wasm::image::layout::LayoutStore;
use sme2wasm::image::registry::{RegistryClient, RegistryOptions, RegistryStore};
use sme2wasm::image::{ImageRef, LayoutRef, RegistryRef};
use std::path::Path;

struct Env {
    reg: Registry,
    home: tempfile::TempDir,
}

fn env(flavour: Flavour) -> Env {
    Env {
        reg: Registry::start(flavour),
        home: tempfile::tempdir().unwrap(),
    }
}

fn reg_ref(s: &str) -> RegistryRef {
    match ImageRef::parse(s).unwrap() {
        ImageRef::Registry(r) => r,
        other => panic!("{other:?}"),
    }
}

impl Env {
    /// Store fixture `name` as `repo:tag`; returns the built image.
    fn push(&self, name: &str, repo_tag: &str) -> TestImage {
        let reg = &self.reg;
        let options = RegistryOptions {
            plain_http: (reg.flavour != Flavour::Tls)
                .then(|| reg.host.clone())
                .into_iter()
                .collect(),
            ca_files: reg.ca_file.iter().cloned().collect(),
            auth: AuthConfig {
                explicit: matches!(reg.flavour, Flavour::Htpasswd | Flavour::Token)
                    .then(|| (USER.to_string(), Secret::new(PASSWORD))),
                ..Default::default()
            },
            retry: Default::default(),
        };
        let client = RegistryClient::new(options).unwrap();
        let reference = reg_ref(&reg.reference(repo_tag));
        let tag = reference.tag.clone().unwrap();
        let image = images::build(name);
        image.store(&RegistryStore::new(client, reference), &tag);
        image
    }

    fn r(&self, repo_tag: &str) -> String {
        self.reg.reference(repo_tag)
    }

    /// `sme2wasm repack ARGS` with the flags this registry needs.
    fn repack(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        let mut cmd = sme2wasm(self.home.path());
        cmd.arg("repack").args(args).args(self.reg.flags());
        let needs_login = matches!(self.reg.flavour, Flavour::Htpasswd | Flavour::Token);
        if needs_login && !args.contains(&"--username") {
            cmd.arg("--username")
                .arg(USER)
                .arg("--password-stdin")
                .write_stdin(format!("{PASSWORD}\n"));
        }
        cmd.assert()
    }
}

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}
fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// The digest from `SRC -> DST@sha256:…`.
fn digest_of(line: &str) -> String {
    line.trim().rsplit_once('@').unwrap().1.to_string()
}

/// Repack one fixture and check the result as Istio's fetcher reads it.
fn repack_and_check(e: &Env, fixture: &str, extra: &[&str]) -> (String, common::FetchedImage) {
    let src = e.r(&format!("sme/{fixture}:1.0"));
    let dst = e.r(&format!("wasm/{fixture}:1.0"));
    e.push(fixture, &format!("sme/{fixture}:1.0"));
    let mut args = vec![src.as_str(), "--to", dst.as_str()];
    args.extend_from_slice(extra);
    let a = e.repack(&args).success();
    let out = stdout(&a);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.starts_with(&format!("{src} -> {}/wasm/{fixture}@sha256:", e.reg.host)),
        "{out}"
    );
    let fetched = fetch_like_istio(&e.reg, &dst);
    assert_eq!(fetched.manifest_digest, digest_of(&out));
    assert_eq!(
        fetched.entries[0].2,
        fixture_module(),
        "plugin.wasm is the source module"
    );
    (digest_of(&out), fetched)
}

#[test]
fn docker_v2s2_source_becomes_an_oci_image_with_manifest_yaml() {
    let e = env(Flavour::Anonymous);
    let (_, img) = repack_and_check(&e, "docker-v2s2", &[]);
    assert_eq!(
        img.manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        img.manifest["annotations"]["module.wasm.image/variant"],
        "compat"
    );
    assert_eq!(img.config["os"], "linux");
    assert_eq!(img.config["architecture"], "amd64");
    let names: Vec<&str> = img.entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["plugin.wasm", "manifest.yaml"]);
    let manifest = String::from_utf8(img.entries[1].2.clone()).unwrap();
    assert!(manifest.contains("module: plugin.wasm"), "{manifest}");
    assert!(
        manifest.contains("phase: PostAuthZ") && manifest.contains("priority: 100"),
        "{manifest}"
    );
}

#[test]
fn nested_module_in_docker_format_and_without_sme_manifest() {
    let e = env(Flavour::Anonymous);
    let (_, img) = repack_and_check(
        &e,
        "oci-nested",
        &["--format", "docker", "--no-sme-manifest"],
    );
    assert_eq!(
        img.manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        img.config["config"]["Labels"]["module.wasm.image/variant"],
        "compat"
    );
    assert_eq!(img.entries.len(), 1, "only plugin.wasm");
}

#[test]
fn manifest_without_media_type_is_read() {
    let e = env(Flavour::Anonymous);
    repack_and_check(&e, "oci-no-media-type", &[]);
}

#[test]
fn later_layers_win_over_earlier_ones() {
    let e = env(Flavour::Anonymous);
    let src = e.r("sme/layers-overwrite:1.0");
    e.push("layers-overwrite", "sme/layers-overwrite:1.0");
    let a = e
        .repack(&[&src, "--to", &e.r("wasm/over:1"), "-o", "json"])
        .success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v[0]["status"], "pushed");
    assert_eq!(
        v[0]["module"]["abi_versions"][0], "0.2.1",
        "the middle layer's module, not the base's"
    );
    assert_eq!(v[0]["layers_read"], 3, "manifest.yaml is in the base layer");
    let img = fetch_like_istio(&e.reg, &e.r("wasm/over:1"));
    assert_eq!(img.entries[0].2, fixture_module());
}

#[test]
fn whiteouts_and_opaque_directories_delete_the_module() {
    let e = env(Flavour::Anonymous);
    for fixture in ["layers-whiteout", "layers-opaque"] {
        let src = e.r(&format!("sme/{fixture}:1"));
        e.push(fixture, &format!("sme/{fixture}:1"));
        let dst = e.r(&format!("wasm/{fixture}:1"));
        let a = e.repack(&[&src, "--to", &dst]).code(1);
        let err = stderr(&a);
        assert!(
            err.contains(&src) && err.contains("no such file"),
            "{fixture}: {err}"
        );
        assert!(!tag_exists(&e.reg, &dst), "nothing pushed for {fixture}");
    }
}

#[test]
fn lower_layers_that_cannot_matter_are_not_downloaded() {
    let e = env(Flavour::Anonymous);
    let src = e.r("sme/top:1");
    let image = e.push("top-layer-complete", "sme/top:1");
    let a = e
        .repack(&[&src, "--to", &e.r("wasm/top:1"), "-o", "json"])
        .success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v[0]["layers_read"], 1);
    assert_eq!(v[0]["layers_total"], 2);
    assert_eq!(v[0]["phase"], "PostStats");
    assert_eq!(v[0]["priority"], 7);
    assert!(
        e.reg.blob_was_fetched(&image.layer_digests[1]),
        "the top layer was read"
    );
    assert!(
        !e.reg.blob_was_fetched(&image.layer_digests[0]),
        "the base layer was not"
    );
    fetch_like_istio(&e.reg, &e.r("wasm/top:1"));
}

#[test]
fn an_index_resolves_to_amd64_or_the_platform_asked_for() {
    let e = env(Flavour::Anonymous);
    let src = e.r("sme/multi:1");
    e.push("index-amd64-arm64", "sme/multi:1");
    let a = e
        .repack(&[&src, "--to", &e.r("wasm/multi:amd64"), "-o", "json"])
        .success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(
        v[0]["module"]["path"], "usr/local/lib/wasm/ext/filter.wasm",
        "the amd64 child"
    );
    let a = e
        .repack(&[
            &src,
            "--to",
            &e.r("wasm/multi:arm64"),
            "--platform",
            "linux/arm64",
            "-o",
            "json",
        ])
        .success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v[0]["module"]["path"], "filter.wasm", "the arm64 child");
    let img = fetch_like_istio(&e.reg, &e.r("wasm/multi:arm64"));
    assert_eq!(
        img.config["architecture"], "arm64",
        "os/architecture from the source"
    );
    let a = e
        .repack(&[
            &src,
            "--to",
            &e.r("wasm/multi:s390x"),
            "--platform",
            "linux/s390x",
        ])
        .code(1);
    assert!(stderr(&a).contains("--platform"), "{}", stderr(&a));
}

#[test]
fn bad_images_fail_clearly_and_push_nothing() {
    let e = env(Flavour::Anonymous);
    let cases = [
        ("no-manifest", "no /manifest.yaml"),
        ("malformed-manifest", "manifest.yaml:2: "),
        ("module-missing", "no such file"),
        ("escape-dotdot", "outside the image root"),
        ("escape-absolute", "outside the image root"),
        ("escape-symlink", "outside the image root"),
        ("not-wasm", "does not start with the Wasm magic"),
    ];
    for (fixture, _) in &cases {
        e.push(fixture, &format!("sme/{fixture}:1"));
    }
    // All at once, two at a time: each failure is reported, the run goes on.
    let mut args: Vec<String> = cases
        .iter()
        .map(|(f, _)| e.r(&format!("sme/{f}:1")))
        .collect();
    args.push(e.r("sme/symlink-ok:1"));
    e.push("symlink-inside", "sme/symlink-ok:1");
    args.extend([
        "--tag-suffix".into(),
        "-wasm".into(),
        "-j".into(),
        "2".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = e.repack(&args).code(1);
    let err = stderr(&a);
    for (fixture, expected) in &cases {
        let src = e.r(&format!("sme/{fixture}:1"));
        let line = err
            .lines()
            .find(|l| l.contains(&src))
            .unwrap_or_else(|| panic!("no error for {fixture}: {err}"));
        assert!(line.starts_with("ERROR"), "{line}");
        assert!(line.contains(expected), "{fixture}: {line}");
        assert!(
            !tag_exists(&e.reg, &format!("{src}-wasm")),
            "{fixture} pushed"
        );
    }
    let out = stdout(&a);
    assert_eq!(
        out.lines().count(),
        1,
        "only the good image has a result: {out}"
    );
    assert!(out.contains("sme/symlink-ok:1 -> "), "{out}");
    fetch_like_istio(&e.reg, &e.r("sme/symlink-ok:1-wasm"));
}

/// An image that already is one gzip layer with /plugin.wasm goes to the
/// destination unchanged (same manifest digest), in this registry or another.
#[test]
fn already_migrated_images_are_copied_unchanged_to_the_destination() {
    let e = env(Flavour::Anonymous);
    let other = Registry::start(Flavour::Anonymous);
    let src = e.r("wasm/done:1");
    let image = e.push("already-migrated", "wasm/done:1");
    let digest = image.manifest.digest.clone();
    // Another registry, with the image map and JSON.
    let map = e.home.path().join("images.yaml");
    let dst = other.reference("mirror/done:1");
    let a = e
        .repack(&[
            &src,
            "--to",
            &dst,
            "--plain-http",
            &other.host,
            "-o",
            "json",
            "--image-map",
            map.to_str().unwrap(),
        ])
        .success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v[0]["status"], "already-migrated");
    assert_eq!(v[0]["digest"], digest.as_str());
    assert_eq!(
        v[0]["destination"],
        format!("{}/mirror/done@{digest}", other.host)
    );
    assert!(stderr(&a).contains("copied to"), "{}", stderr(&a));
    let fetched = fetch_like_istio(&other, &dst);
    assert_eq!(fetched.manifest_digest, digest, "the same manifest");
    let entry = sme2wasm::conversion::imagemap::ImageMap::read(&map)
        .unwrap()
        .lookup(&src)
        .unwrap()
        .clone();
    assert_eq!(entry.to, dst);
    assert_eq!(entry.digest, digest);
    // Next to itself with --tag-suffix: the line names the new tag's repository.
    let a = e.repack(&[&src, "--tag-suffix", "-wasm"]).success();
    assert_eq!(
        stdout(&a).trim(),
        format!("{src} -> {}/wasm/done@{digest}", e.reg.host)
    );
    assert!(tag_exists(&e.reg, &e.r("wasm/done:1-wasm")));
    // Again: nothing to copy.
    let a = e
        .repack(&[&src, "--to", &dst, "--plain-http", &other.host])
        .success();
    assert!(stderr(&a).contains("already holds it"), "{}", stderr(&a));
    // The source itself: a no-op here, an error for an image to repack.
    let a = e.repack(&[&src, "--to", &src]).success();
    assert_eq!(
        stdout(&a).trim(),
        format!("{src} -> {}/wasm/done@{digest}", e.reg.host)
    );
    assert!(stderr(&a).contains("left as it is"), "{}", stderr(&a));
    e.push("docker-v2s2", "sme/self:1");
    let a = e
        .repack(&[&e.r("sme/self:1"), "--to", &e.r("sme/self:1")])
        .code(1);
    assert!(
        stderr(&a).contains("the destination is the source itself"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn reproducible_idempotent_and_careful_with_existing_tags() {
    let e = env(Flavour::Anonymous);
    let (first, _) = repack_and_check(&e, "docker-v2s2", &[]);
    let src = e.r("sme/docker-v2s2:1.0");
    let dst = e.r("wasm/docker-v2s2:1.0");
    // Same input, same digest: a no-op.
    let a = e.repack(&[&src, "--to", &dst, "-o", "json"]).success();
    let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v[0]["status"], "unchanged");
    assert_eq!(v[0]["digest"], first.as_str());
    // Different content under the same tag: refused without --overwrite.
    let a = e
        .repack(&[&src, "--to", &dst, "--format", "docker"])
        .code(1);
    assert!(stderr(&a).contains("--overwrite"), "{}", stderr(&a));
    assert_eq!(fetch_like_istio(&e.reg, &dst).manifest_digest, first);
    let a = e
        .repack(&[&src, "--to", &dst, "--format", "docker", "--overwrite"])
        .success();
    assert_ne!(digest_of(&stdout(&a)), first);
    // Another repository, same module, the source named by digest: the same digest.
    let source_digest = images::build("docker-v2s2").manifest.digest;
    let by_digest = format!("{}/sme/docker-v2s2@{source_digest}", e.reg.host);
    let a = e
        .repack(&[&by_digest, "--to", &e.r("other/place:x")])
        .success();
    assert_eq!(digest_of(&stdout(&a)), first);
}

#[test]
fn image_map_is_written_and_merged() {
    let e = env(Flavour::Anonymous);
    e.push("docker-v2s2", "sme/a:1");
    e.push("oci-nested", "sme/b:1");
    let map = e.home.path().join("images.yaml");
    std::fs::write(
        &map,
        format!("apiVersion: sme2wasm.io/v1\nkind: ImageMap\nimages:\n- from: quay.io/keep/me:1\n  to: r.example/keep:1\n  digest: sha256:{}\n", "0".repeat(64)),
    )
    .unwrap();
    let (a, b) = (e.r("sme/a:1"), e.r("sme/b:1"));
    let out = e
        .repack(&[
            &a,
            &b,
            "--registry",
            &format!("{}/wasm", e.reg.host),
            "--image-map",
            map.to_str().unwrap(),
        ])
        .success();
    let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2);
    let parsed = sme2wasm::conversion::imagemap::ImageMap::read(&map).unwrap();
    assert_eq!(parsed.images.len(), 3);
    let ea = parsed.lookup(&a).unwrap();
    assert_eq!(ea.to, e.r("wasm/sme/a:1"));
    assert_eq!(ea.digest, digest_of(&lines[0]));
    assert_eq!(ea.phase.as_deref(), Some("PostAuthZ"));
    assert_eq!(ea.priority, Some(100));
    assert!(
        parsed.lookup("quay.io/keep/me:1").is_some(),
        "existing entries are kept"
    );
    fetch_like_istio(&e.reg, &e.r("wasm/sme/b:1"));
}

#[test]
fn basic_auth_credentials_from_flags_and_docker_config() {
    let e = env(Flavour::Htpasswd);
    e.push("docker-v2s2", "sme/auth:1");
    let src = e.r("sme/auth:1");
    // Anonymous: 401, and the message says which credential sources were tried.
    let a = sme2wasm(e.home.path())
        .args(["repack", &src, "--to", &e.r("wasm/auth:1")])
        .args(e.reg.flags())
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("401") && err.contains("credentials tried: anonymous"),
        "{err}"
    );
    // --username/--password-stdin.
    let a = e.repack(&[&src, "--to", &e.r("wasm/auth:1")]).success();
    assert!(!stdout(&a).contains(PASSWORD) && !stderr(&a).contains(PASSWORD));
    fetch_like_istio(&e.reg, &e.r("wasm/auth:1"));
    // DOCKER_CONFIG with an `auths` entry.
    let cfg = tempfile::tempdir().unwrap();
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, e.reg.host),
    )
    .unwrap();
    sme2wasm(e.home.path())
        .env("DOCKER_CONFIG", cfg.path())
        .args(["repack", &src, "--to", &e.r("wasm/auth:2")])
        .args(e.reg.flags())
        .assert()
        .success();
    // A wrong password: 401, naming the source, never the password.
    let wrong = tempfile::tempdir().unwrap();
    let file = wrong.path().join("auth.json");
    let bad =
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:not-the-{PASSWORD}"));
    std::fs::write(
        &file,
        format!(r#"{{"auths":{{"{}":{{"auth":"{bad}"}}}}}}"#, e.reg.host),
    )
    .unwrap();
    let a = sme2wasm(e.home.path())
        .args([
            "repack",
            &src,
            "--to",
            &e.r("wasm/auth:3"),
            "--authfile",
            file.to_str().unwrap(),
        ])
        .args(e.reg.flags())
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(err.contains("401") && err.contains("auth.json"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[test]
fn tls_with_a_private_ca() {
    let e = env(Flavour::Tls);
    e.push("oci-nested", "sme/tls:1");
    let src = e.r("sme/tls:1");
    let a = sme2wasm(e.home.path())
        .args(["repack", &src, "--to", &e.r("wasm/tls:1")])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("--ca-file"), "{}", stderr(&a));
    repack_and_check(&e, "docker-v2s2", &[]);
}

#[test]
fn plain_http_only_for_named_hosts() {
    let e = env(Flavour::Anonymous);
    e.push("docker-v2s2", "sme/p:1");
    let a = sme2wasm(e.home.path())
        .args(["repack", &e.r("sme/p:1"), "--to", &e.r("wasm/p:1")])
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains(&format!("--plain-http {}", e.reg.host)),
        "{err}"
    );
}

fn layout_with(fixtures: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = LayoutStore::new(LayoutRef {
        path: dir.path().to_path_buf(),
        tag: None,
    });
    for (fixture, tag) in fixtures {
        images::build(fixture).store(&store, tag);
    }
    dir
}

#[test]
fn oci_layouts_in_and_out_and_refusals_read_from_them() {
    let home = tempfile::tempdir().unwrap();
    let src = layout_with(&[
        ("oci-nested", "1.0"),
        ("schema1", "s1"),
        ("zstd-layer", "z"),
    ]);
    let out = tempfile::tempdir().unwrap();
    let s = format!("oci:{}:1.0", src.path().display());
    let d = format!("oci:{}:1.0", out.path().display());
    let a = sme2wasm(home.path())
        .args(["repack", &s, "--to", &d])
        .assert()
        .success();
    let line = stdout(&a);
    let img = common::fetch_layout_like_istio(out.path(), "1.0");
    assert_eq!(img.manifest_digest, digest_of(&line));
    assert_eq!(img.entries[0].2, fixture_module());
    let s1 = format!("oci:{}:s1", src.path().display());
    let a = sme2wasm(home.path())
        .args(["repack", &s1, "--to", &d])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("schema 1"), "{}", stderr(&a));
    let z = format!("oci:{}:z", src.path().display());
    let a = sme2wasm(home.path())
        .args([
            "repack",
            &z,
            "--to",
            &format!("oci:{}:z", out.path().display()),
        ])
        .assert()
        .code(1);
    assert!(stderr(&a).contains("zstd"), "{}", stderr(&a));
}

#[test]
fn the_readme_example_repacks_the_bundled_layout() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/header-append-sme");
    let a = sme2wasm(home.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["repack", "oci:examples/header-append-sme:2.2"])
        .arg("--to")
        .arg(format!("oci:{}:2.2", out.path().display()))
        .assert()
        .success();
    assert!(
        stdout(&a).starts_with("oci:examples/header-append-sme:2.2 -> oci:"),
        "{}",
        stdout(&a)
    );
    assert!(bundled.join("index.json").exists());
    common::fetch_layout_like_istio(out.path(), "2.2");
}

#[test]
fn usage_errors_exit_2() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["repack", "a:1"],
        vec!["repack", "a:1", "b:1", "--to", "c:1"],
        vec!["repack", "Bad/Name", "--to", "c:1"],
        vec!["repack", "a@sha256:12", "--tag-suffix", "-x"],
        vec!["repack", "a:1", "--to", "c:1", "--platform", "linux"],
        vec!["repack", "a:1", "--to", "c:1", "--timeout", "soon"],
        vec!["repack", "a:1", "--to", "c:1", "--timeout", "0s"],
    ] {
        let a = sme2wasm(home.path()).args(&args).assert().code(2);
        assert!(!stderr(&a).is_empty(), "{args:?}");
    }
    let help = sme2wasm(home.path())
        .args(["repack", "--help"])
        .assert()
        .success();
    let text = stdout(&help);
    assert!(
        text.contains("Exit status") && text.contains("Examples"),
        "{text}"
    );
}

/// examples/header-append-sme is the fixture of the same name as an OCI
/// layout; SME2WASM_BLESS=1 rewrites it after the fixture (or module) changes.
#[test]
fn bundled_example_matches_its_fixture() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/header-append-sme");
    let fresh = layout_with(&[("header-append-sme", "2.2")]);
    if std::env::var_os("SME2WASM_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&bundled);
        let status = std::process::Command::new("cp")
            .arg("-r")
            .arg(fresh.path())
            .arg(&bundled)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let list = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = walkdir(d)
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(d).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(
        list(&bundled) == list(fresh.path()),
        "examples/header-append-sme is stale; run SME2WASM_BLESS=1 cargo test --test repack bundled_example"
    );
}

fn walkdir(d: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn transient_registry_errors_are_retried_then_reported() {
    use common::flaky::FlakyProxy;
    use std::sync::atomic::Ordering;
    let e = env(Flavour::Anonymous);
    e.push("docker-v2s2", "sme/flaky:1");
    // Two 503s, then the registry: the run succeeds.
    let proxy = FlakyProxy::start(&e.reg.host, 2, 503);
    let src = format!("{}/sme/flaky:1", proxy.host);
    sme2wasm(e.home.path())
        .env("SME2WASM_LIMITS", FAST_LIMITS)
        .args([
            "repack",
            &src,
            "--to",
            &e.r("wasm/flaky:1"),
            "--plain-http",
            &proxy.host,
        ])
        .args(e.reg.flags())
        .assert()
        .success();
    assert_eq!(proxy.errors_served.load(Ordering::SeqCst), 2);
    fetch_like_istio(&e.reg, &e.r("wasm/flaky:1"));
    // 429 for ever: bounded retries, then an error that says what happened.
    let proxy = FlakyProxy::start(&e.reg.host, usize::MAX, 429);
    let src = format!("{}/sme/flaky:1", proxy.host);
    let started = std::time::Instant::now();
    let a = sme2wasm(e.home.path())
        .env("SME2WASM_LIMITS", FAST_LIMITS)
        .args([
            "repack",
            &src,
            "--to",
            &e.r("wasm/flaky:2"),
            "--plain-http",
            &proxy.host,
        ])
        .args(e.reg.flags())
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("HTTP 429") && err.contains("try later"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let served = proxy.errors_served.load(Ordering::SeqCst);
    assert!((3..=10).contains(&served), "bounded retries: {served}");
}

#[test]
fn credential_helpers_and_podman_auth_files() {
    let e = env(Flavour::Htpasswd);
    e.push("docker-v2s2", "sme/helper:1");
    let src = e.r("sme/helper:1");
    // A docker-credential-* helper that records the server it was asked for.
    let bin = tempfile::tempdir().unwrap();
    let asked = bin.path().join("asked");
    let helper = bin.path().join("docker-credential-fake");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\ncat > {asked}\nprintf '{{\"ServerURL\":\"x\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n",
            asked = asked.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, config) in [
        format!(r#"{{"credHelpers":{{"{}":"fake"}}}}"#, e.reg.host),
        r#"{"credsStore":"fake"}"#.to_string(),
    ]
    .iter()
    .enumerate()
    {
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(cfg.path().join("config.json"), config).unwrap();
        let a = sme2wasm(e.home.path())
            .env("PATH", &path)
            .env("DOCKER_CONFIG", cfg.path())
            .args(["repack", &src, "--to", &e.r(&format!("wasm/helper:{i}"))])
            .args(e.reg.flags())
            .assert()
            .success();
        assert!(!stderr(&a).contains(PASSWORD));
        assert_eq!(std::fs::read_to_string(&asked).unwrap(), e.reg.host);
    }
    // podman's auth.json through REGISTRY_AUTH_FILE.
    let podman = tempfile::tempdir().unwrap();
    let file = podman.path().join("auth.json");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    std::fs::write(
        &file,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, e.reg.host),
    )
    .unwrap();
    sme2wasm(e.home.path())
        .env("REGISTRY_AUTH_FILE", &file)
        .args(["repack", &src, "--to", &e.r("wasm/helper:podman")])
        .args(e.reg.flags())
        .assert()
        .success();
    fetch_like_istio(&e.reg, &e.r("wasm/helper:podman"));
}

#[test]
fn blobs_already_in_the_registry_are_mounted_not_uploaded() {
    let e = env(Flavour::Anonymous);
    // The same module and manifest.yaml under two names: the same new layer.
    e.push("docker-v2s2", "sme/one:1");
    e.push("docker-v2s2", "sme/two:1");
    let target = format!("{}/wasm", e.reg.host);
    let a = e
        .repack(&[&e.r("sme/one:1"), &e.r("sme/two:1"), "--registry", &target])
        .success();
    let out = stdout(&a);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(digest_of(lines[0]), digest_of(lines[1]));
    let log = e.reg.log();
    assert!(
        log.lines()
            .any(|l| l.contains("POST /v2/wasm/sme/two/blobs/uploads/") && l.contains("mount=")),
        "a cross-repository mount was asked for:\n{log}"
    );
    fetch_like_istio(&e.reg, &e.r("wasm/sme/two:1"));
}

#[test]
fn a_corrupted_blob_is_refused_and_nothing_is_written() {
    let home = tempfile::tempdir().unwrap();
    let src = layout_with(&[("oci-nested", "1")]);
    let image = images::build("oci-nested");
    let top = image.layer_digests.last().unwrap();
    let path = src
        .path()
        .join("blobs/sha256")
        .join(top.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = tempfile::tempdir().unwrap();
    let a = sme2wasm(home.path())
        .args(["repack", &format!("oci:{}:1", src.path().display())])
        .arg("--to")
        .arg(format!("oci:{}:1", out.path().display()))
        .assert()
        .code(1);
    assert!(stderr(&a).contains("failed verification"), "{}", stderr(&a));
    assert!(!out.path().join("index.json").exists());
}

#[test]
fn token_auth_like_hosted_registries() {
    let e = env(Flavour::Token);
    e.push("oci-nested", "sme/tok:1");
    let issued = e.reg.token_server.as_ref().unwrap().issued.clone();
    let before = issued.load(std::sync::atomic::Ordering::SeqCst);
    repack_and_check(&e, "docker-v2s2", &[]);
    assert!(
        issued.load(std::sync::atomic::Ordering::SeqCst) > before,
        "tokens were used"
    );
    // Without credentials the token server refuses: a clear 401-style error.
    let a = sme2wasm(e.home.path())
        .args(["repack", &e.r("sme/tok:1"), "--to", &e.r("wasm/tok:2")])
        .args(e.reg.flags())
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(err.contains("credentials tried: anonymous"), "{err}");
}

/// The step `migrate --repack` takes: repack the images SMEs name and get
/// their image map back, without printing results.
#[test]
fn image_map_of_repacks_images_for_migrate() {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: sme2wasm::repack::RepackArgs,
    }
    let src = layout_with(&[("oci-nested", "1"), ("docker-v2s2", "2"), ("not-wasm", "3")]);
    let dir = src.path().display().to_string();
    let w = Wrapper::try_parse_from(["repack", "unused:1", "--tag-suffix", "-wasm"]).unwrap();
    let config = sme2wasm::repack::RepackConfig::from_args(&w.args, &mut std::io::empty()).unwrap();
    let images = [format!("oci:{dir}:1"), format!("oci:{dir}:2")];
    let map = sme2wasm::repack::image_map_of(&config, &images).unwrap();
    // Both were repacked, but a layout is no place a WasmPlugin pulls
    // from: no map entries (the registry case is the end-to-end test below).
    assert!(map.images.is_empty(), "{map:?}");
    for tag in ["1-wasm", "2-wasm"] {
        let img = common::fetch_layout_like_istio(src.path(), tag);
        assert_eq!(img.entries[0].2, fixture_module());
    }
    let e = sme2wasm::repack::image_map_of(&config, &[format!("oci:{dir}:3")]).unwrap_err();
    assert!(e.contains("1 of 1 images"), "{e}");
}

/// `migrate --repack` end to end: the images the repository's SMEs name are
/// repacked into the registry (each once), and the rewritten WasmPlugins
/// point at them with the pushed digest pinned.
#[test]
fn migrate_repack_rewrites_urls_to_the_pushed_images() {
    let e = env(Flavour::Htpasswd);
    e.push("docker-v2s2", "sme/filter:1.0");
    let src = e.r("sme/filter:1.0");
    let repo = tempfile::tempdir().unwrap();
    let sme = |name: &str| {
        format!(
            "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  workloadSelector:\n    labels:\n      app: {name}\n  image: {src}  # the filter\n  phase: PreAuthN\n  priority: 1\n  config:\n    k: v\n"
        )
    };
    std::fs::write(repo.path().join("a.yaml"), sme("a")).unwrap();
    std::fs::write(repo.path().join("b.yaml"), sme("b")).unwrap();
    let mut cmd = sme2wasm(e.home.path());
    cmd.arg("migrate")
        .arg(repo.path())
        .arg("--allow-no-vcs")
        .args(["--repack", "--tag-suffix", "-wasm"])
        .args(e.reg.flags())
        .args(["--username", USER, "--password-stdin"])
        .write_stdin(format!("{PASSWORD}\n"));
    let a = cmd.assert().success();
    let dst = e.r("sme/filter:1.0-wasm");
    let fetched = fetch_like_istio(&e.reg, &dst);
    assert_eq!(fetched.entries[0].2, fixture_module());
    let hex = fetched
        .manifest_digest
        .trim_start_matches("sha256:")
        .to_string();
    for name in ["a", "b"] {
        let text = std::fs::read_to_string(repo.path().join(format!("{name}.yaml"))).unwrap();
        assert!(text.contains("kind: WasmPlugin"), "{text}");
        assert!(
            text.contains(&format!("url: oci://{dst}  # the filter")),
            "{text}"
        );
        assert!(
            text.contains(&format!("sha256: {hex}")) || text.contains(&format!("sha256: '{hex}'")),
            "{text}"
        );
    }
    // Each image once: one push of the new manifest.
    let pushes = e
        .reg
        .log()
        .lines()
        .filter(|l| l.contains("\"PUT /v2/sme/filter/manifests/1.0-wasm "))
        .count();
    assert_eq!(pushes, 1, "{}\n{}", stderr(&a), e.reg.log());
}

/// Air-gapped: a layout in, a layout out, and the image map still names the
/// references the SMEs and the WasmPlugins use.
#[test]
fn layout_names_for_the_image_map() {
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/header-append-sme");
    let src = format!("oci:{}:2.2", example.display());
    let dst = format!("oci:{}:2.2", out.path().join("wasm").display());
    let map = out.path().join("images.yaml");
    let a = sme2wasm(home.path())
        .args(["repack", &src, "--to", &dst, "--image-map"])
        .arg(&map)
        .args([
            "--source-name",
            "quay.io/maistra-dev/header-append-filter:2.2",
            "--dest-name",
            "registry.example.com/wasm/header-append-filter:2.2",
        ])
        .assert()
        .success();
    let digest = digest_of(&stdout(&a));
    let parsed = sme2wasm::conversion::imagemap::ImageMap::read(&map).unwrap();
    let entry = parsed
        .lookup("quay.io/maistra-dev/header-append-filter:2.2")
        .expect("the SMEs' name is the key");
    assert_eq!(
        entry.to,
        "registry.example.com/wasm/header-append-filter:2.2"
    );
    assert_eq!(entry.digest, digest);
    assert_eq!(entry.phase.as_deref(), Some("PostAuthZ"));

    // Without --dest-name a layout gets no entry, and a WARN says why.
    let map2 = out.path().join("images2.yaml");
    let a = sme2wasm(home.path())
        .args(["repack", &src, "--to", &dst, "--image-map"])
        .arg(&map2)
        .assert()
        .success();
    assert!(stderr(&a).contains("--dest-name"), "{}", stderr(&a));
    assert!(sme2wasm::conversion::imagemap::ImageMap::read(&map2)
        .unwrap()
        .images
        .is_empty());

    // Both names take one SRC only.
    sme2wasm(home.path())
        .args(["repack", &src, &src, "--tag-suffix", "-x", "--image-map"])
        .arg(&map2)
        .args(["--source-name", "quay.io/a/b:1"])
        .assert()
        .code(2);
}

/// A registry or proxy that echoes the Authorization header in its error
/// bodies: the credentials are printed nowhere (stderr, -o json, migrate).
#[test]
fn secrets_echoed_by_a_server_are_never_printed() {
    use base64::Engine;
    use common::flaky::{Fault, FaultProxy};
    let e = env(Flavour::Htpasswd);
    e.push("docker-v2s2", "sme/echo:1");
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    let bodies = [
        (
            400,
            r#"{"errors":[{"code":"BAD_REQUEST","message":"bad header Authorization: {auth}","detail":{"Authorization":"{auth}"}}]}"#,
        ),
        (403, "forbidden for Authorization: {auth}\n"),
        (
            500,
            r#"{"error":"oops","request":{"headers":{"Authorization":["{auth}"]}},"token":"tok-3cr3t-value"}"#,
        ),
    ];
    for (code, body) in bodies {
        let proxy = FaultProxy::start(&e.reg.host, move |r, _| {
            if r.method == "GET" && r.path.contains("/manifests/") {
                Fault::Status {
                    code,
                    headers: vec![("Content-Type".into(), "application/json".into())],
                    body: body.to_string(),
                }
            } else {
                Fault::Forward
            }
        });
        let src = format!("{}/sme/echo:1", proxy.host);
        let dst = e.r(&format!("wasm/echo:{code}"));
        let report = e.home.path().join("report.json");
        let runs = [
            vec!["repack", &src, "--to", &dst],
            vec!["repack", &src, "--to", &dst, "-o", "json"],
        ];
        for args in runs {
            let a = sme2wasm(e.home.path())
                .env("SME2WASM_LIMITS", FAST_LIMITS)
                .args(&args)
                .args(["--plain-http", &proxy.host])
                .args(e.reg.flags())
                .args(["--username", USER, "--password-stdin"])
                .write_stdin(format!("{PASSWORD}\n"))
                .assert()
                .code(1);
            let all = format!("{}{}", stdout(&a), stderr(&a));
            assert!(all.contains("fetching the manifest"), "{all}");
            assert!(
                all.contains("<redacted>"),
                "the echo is there, redacted: {all}"
            );
            for secret in [basic.as_str(), PASSWORD, "tok-3cr3t-value"] {
                assert!(!all.contains(secret), "{code}: {secret} printed: {all}");
            }
        }
        // migrate --repack, with a report.
        let repo = tempfile::tempdir().unwrap();
        std::fs::write(
            repo.path().join("a.yaml"),
            format!("apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: a\n  namespace: shop\nspec:\n  image: {src}\n  phase: PreAuthN\n"),
        )
        .unwrap();
        let a = sme2wasm(e.home.path())
            .env("SME2WASM_LIMITS", FAST_LIMITS)
            .arg("migrate")
            .arg(repo.path())
            // a scratch directory; the safety rules have tests of their own
            .arg("--allow-no-vcs")
            .args(["--repack", "--tag-suffix", "-wasm", "--report"])
            .arg(&report)
            .args(["--plain-http", &proxy.host])
            .args(e.reg.flags())
            .args(["--username", USER, "--password-stdin"])
            .write_stdin(format!("{PASSWORD}\n"))
            .assert()
            .failure();
        let all = format!(
            "{}{}{}",
            stdout(&a),
            stderr(&a),
            std::fs::read_to_string(&report).unwrap_or_default()
        );
        assert!(all.contains("<redacted>"), "{all}");
        for secret in [basic.as_str(), PASSWORD, "tok-3cr3t-value"] {
            assert!(
                !all.contains(secret),
                "migrate {code}: {secret} printed: {all}"
            );
        }
    }
}

#[test]
fn credentials_in_a_reference_are_refused_and_never_echoed() {
    let home = tempfile::tempdir().unwrap();
    for reference in [
        "user:hunter2-secret@registry.example.com/a:1",
        "oci://user:hunter2-secret@registry.example.com/a:1",
        "docker://user:hunter2-secret@registry.example.com/a:1",
    ] {
        let a = sme2wasm(home.path())
            .args(["repack", reference, "--to", "registry.example.com/b:1"])
            .assert()
            .code(2);
        let err = stderr(&a);
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            err.contains("<redacted>@registry.example.com/a:1") && err.contains("--password-stdin"),
            "{err}"
        );
        let a = sme2wasm(home.path())
            .args(["repack", "registry.example.com/a:1", "--to", reference])
            .assert()
            .code(2);
        assert!(!stderr(&a).contains("hunter2"), "{}", stderr(&a));
    }
}

/// Repack `layers` (raw tar streams, gzipped here) from a layout; the assert.
fn repack_hostile(layers: &[Vec<u8>]) -> assert_cmd::assert::Assert {
    use common::hostile;
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let gz: Vec<Vec<u8>> = layers.iter().map(|l| hostile::gzip(l)).collect();
    hostile::layout_image(src.path(), "1", &gz);
    let a = sme2wasm(home.path())
        .args(["repack", &format!("oci:{}:1", src.path().display())])
        .arg("--to")
        .arg(format!("oci:{}:1", out.path().display()))
        .assert();
    // Nothing is written when the source is refused.
    if a.get_output().status.code() != Some(0) {
        assert!(!out.path().join("index.json").exists());
    }
    a
}

/// Tar metadata that claims more than any reader needs is refused before it
/// is held: GNU long names and links, PAX headers, GNU sparse maps, paths
/// longer than PATH_MAX.
#[test]
fn tar_metadata_bombs_are_refused_without_being_read() {
    use common::hostile::{self, end, file, header, pad};
    let module = fixture_module();
    let good = [
        file(
            "manifest.yaml",
            hostile::manifest_yaml("plugin/filter.wasm").as_bytes(),
        ),
        file("plugin/filter.wasm", &module),
    ]
    .concat();
    let big = 2 * 1024 * 1024;
    let meta = |flag: u8, data: Vec<u8>| {
        let mut t = header("././@LongLink", flag, data.len() as u64).to_vec();
        let n = data.len();
        t.extend(data);
        t.extend(pad(n));
        t
    };
    let long_name = meta(b'L', vec![b'a'; big]);
    let long_link = meta(b'K', vec![b'b'; big]);
    let mut pax = Vec::new();
    while pax.len() < big {
        pax.extend_from_slice(b"30 comment=aaaaaaaaaaaaaaaaaa\n");
    }
    let pax_bomb = meta(b'x', pax);
    let long_path = {
        let name = "d/".repeat(2600);
        let rec = format!("path={name}\n");
        let len = rec.len() + 5;
        meta(b'x', format!("{len} {rec}").into_bytes())
    };
    // GNU sparse: a header whose map goes on for 1.5 MiB of extension blocks.
    let sparse = {
        let mut h = header("sparse.bin", b'S', 0);
        h[482] = 1;
        hostile::checksum(&mut h);
        let mut t = h.to_vec();
        for _ in 0..3000 {
            let mut ext = [0u8; 512];
            ext[504] = 1;
            t.extend_from_slice(&ext);
        }
        t.extend_from_slice(&[0u8; 512]);
        t
    };
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "long name",
            [long_name, file("x", b"x")].concat(),
            "GNU long name at byte 0 claims 2097152 bytes",
        ),
        (
            "long link",
            [long_link, header("l", b'2', 0).to_vec()].concat(),
            "GNU long link name",
        ),
        (
            "PAX",
            [pax_bomb, file("x", b"x")].concat(),
            "PAX header at byte 0 claims",
        ),
        (
            "path",
            [long_path, file("x", b"x")].concat(),
            "more than PATH_MAX (4096)",
        ),
        ("sparse", sparse, "GNU sparse map"),
    ];
    for (what, bomb, expected) in cases {
        let layer = [bomb, good.clone(), end()].concat();
        let a = repack_hostile(&[layer]).code(1);
        let err = stderr(&a);
        assert!(err.contains(expected), "{what}: {err}");
        assert!(
            err.contains("layer sha256:"),
            "{what}: names the layer: {err}"
        );
    }
}

/// A layer that stops after the last entry's data (no padding, no end
/// blocks) reads as Go's archive/tar reads it; data cut short stays an error.
#[test]
fn tar_streams_without_their_end_are_read_as_go_reads_them() {
    use common::hostile::{self, end, file, header, pad};
    let module = fixture_module();
    let manifest = file(
        "manifest.yaml",
        hostile::manifest_yaml("plugin/filter.wasm").as_bytes(),
    );
    let module_entry = |cut: usize| {
        let mut t = header("plugin/filter.wasm", b'0', module.len() as u64).to_vec();
        t.extend_from_slice(&module[..module.len() - cut]);
        t
    };
    assert_ne!(
        module.len() % 512,
        0,
        "the module needs padding for this test"
    );
    for (what, layer) in [
        (
            "no end blocks",
            [manifest.clone(), module_entry(0), pad(module.len())].concat(),
        ),
        ("no padding", [manifest.clone(), module_entry(0)].concat()),
        (
            "half the padding",
            [
                manifest.clone(),
                module_entry(0),
                pad(module.len())[..10].to_vec(),
            ]
            .concat(),
        ),
        (
            "one end block",
            [
                manifest.clone(),
                module_entry(0),
                pad(module.len()),
                vec![0; 512],
            ]
            .concat(),
        ),
    ] {
        let a = repack_hostile(&[layer]);
        let a = a.success();
        assert!(stdout(&a).contains(" -> oci:"), "{what}: {}", stderr(&a));
    }
    let a = repack_hostile(&[[manifest.clone(), module_entry(7)].concat()]).code(1);
    assert!(
        stderr(&a).contains("ends inside the data of plugin/filter.wasm"),
        "{}",
        stderr(&a)
    );
    let a =
        repack_hostile(&[[manifest, header("x", b'0', 1)[..300].to_vec(), end()].concat()]).code(1);
    assert!(
        stderr(&a).contains("ends inside a tar header"),
        "{}",
        stderr(&a)
    );
}

/// A manifest.yaml nested past the limit: refused before parsing, with its line.
#[test]
fn deep_nesting_in_manifest_yaml_is_refused_with_its_line() {
    use common::hostile::{end, file};
    let text = format!(
        "schemaVersion: 1\nname: x\nmodule: m/filter.wasm\nx: {}\n",
        "[".repeat(200_000)
    );
    let layer = [
        file("manifest.yaml", text.as_bytes()),
        file("m/filter.wasm", &fixture_module()),
        end(),
    ]
    .concat();
    let a = repack_hostile(&[layer]).code(1);
    let err = stderr(&a);
    assert!(err.contains("/manifest.yaml:4"), "{err}");
    assert!(err.contains("more than 10000 levels deep"), "{err}");
}

/// Short limits for the fault tests, so that the suite stays fast.
const FAST_LIMITS: &str =
    "read=400ms,connect=1s,first_delay=50ms,max_delay=200ms,retry_after_cap=1500ms,speed_time=600ms,min_speed=2000";

/// A rule that applies `fault` to the first `times` requests matching `hit`.
fn first_of(
    hit: impl Fn(&common::flaky::Request) -> bool + Send + Sync + 'static,
    times: usize,
    fault: common::flaky::Fault,
) -> impl Fn(&common::flaky::Request, usize) -> common::flaky::Fault + Send + Sync + 'static {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let seen = AtomicUsize::new(0);
    move |r, _| {
        if hit(r) && seen.fetch_add(1, Ordering::SeqCst) < times {
            fault.clone()
        } else {
            common::flaky::Fault::Forward
        }
    }
}

fn through(
    e: &Env,
    proxy: &common::flaky::FaultProxy,
    dst_tag: &str,
    extra: &[&str],
) -> assert_cmd::assert::Assert {
    let src = format!("{}/sme/faults:1", proxy.host);
    let dst = format!("{}/wasm/faults{dst_tag}:{dst_tag}", proxy.host);
    sme2wasm(e.home.path())
        .env("SME2WASM_LIMITS", FAST_LIMITS)
        .args(["repack", &src, "--to", &dst, "--plain-http", &proxy.host])
        .args(extra)
        .args(e.reg.flags())
        .assert()
}

/// Resets, answers cut short, slow answers, 429/503/5xx with and without
/// Retry-After and with any error code: each is retried and the run ends well.
#[test]
fn every_transient_failure_is_retried() {
    use common::flaky::{Fault, FaultProxy};
    use std::time::{Duration, Instant};
    let e = env(Flavour::Anonymous);
    e.push("docker-v2s2", "sme/faults:1");
    let manifest_get =
        |r: &common::flaky::Request| r.method == "GET" && r.path.contains("/sme/faults/manifests/");
    let blob_get =
        |r: &common::flaky::Request| r.method == "GET" && r.path.contains("/blobs/sha256:");
    let upload = |r: &common::flaky::Request| r.path.contains("/blobs/uploads/");
    let status = |code: u16, retry_after: Option<&str>, body: &str| Fault::Status {
        code,
        headers: retry_after
            .map(|v| vec![("Retry-After".to_string(), v.to_string())])
            .unwrap_or_default(),
        body: body.to_string(),
    };
    type Hit = fn(&common::flaky::Request) -> bool;
    let cases: Vec<(&str, Hit, usize, Fault)> = vec![
        ("reset on the manifest GET", manifest_get, 1, Fault::Reset),
        (
            "reset on the config and a layer GET",
            blob_get,
            2,
            Fault::Reset,
        ),
        ("a blob cut off mid-body", blob_get, 2, Fault::CutAfter(300)),
        ("reset on a blob upload", upload, 1, Fault::Reset),
        (
            "an answer slower than the read limit",
            manifest_get,
            1,
            Fault::Delay(Duration::from_millis(1500)),
        ),
        (
            "429 with another error code",
            manifest_get,
            2,
            status(
                429,
                None,
                r#"{"errors":[{"code":"DENIED","message":"slow down"}]}"#,
            ),
        ),
        (
            "503 with UNAVAILABLE",
            blob_get,
            2,
            status(
                503,
                None,
                r#"{"errors":[{"code":"UNAVAILABLE","message":"later"}]}"#,
            ),
        ),
        (
            "502 from a proxy",
            manifest_get,
            1,
            status(502, None, "<html>bad gateway</html>"),
        ),
        (
            "429 on an upload",
            upload,
            2,
            status(
                429,
                None,
                r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"x"}]}"#,
            ),
        ),
    ];
    for (i, (what, hit, times, fault)) in cases.into_iter().enumerate() {
        let proxy = FaultProxy::start(&e.reg.host, first_of(hit, times, fault));
        let a = through(&e, &proxy, &format!("{i}"), &[]);
        let err = stderr(&a);
        a.success();
        assert!(
            proxy.faults() >= 1,
            "{what}: the fault was served: {:?}",
            proxy.seen.lock().unwrap()
        );
        fetch_like_istio(&e.reg, &e.r(&format!("wasm/faults{i}:{i}")));
        assert!(!err.contains("ERROR"), "{what}: {err}");
    }
    // Retry-After is honoured (1 s, where the backoff would wait 50 ms)…
    let proxy = FaultProxy::start(
        &e.reg.host,
        first_of(manifest_get, 1, status(429, Some("1"), "")),
    );
    let t = Instant::now();
    through(&e, &proxy, "ra", &[]).success();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    // …up to its cap (1.5 s here): a day is not waited for.
    let proxy = FaultProxy::start(
        &e.reg.host,
        first_of(manifest_get, 1, status(503, Some("86400"), "")),
    );
    let t = Instant::now();
    through(&e, &proxy, "cap", &[]).success();
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    // Failures that are not transient are reported at once.
    let proxy = FaultProxy::start(
        &e.reg.host,
        first_of(manifest_get, 100, status(400, None, "no")),
    );
    let a = through(&e, &proxy, "bad", &[]).code(1);
    assert!(stderr(&a).contains("HTTP 400"), "{}", stderr(&a));
    assert_eq!(proxy.faults(), 1, "not retried");
}

/// A registry that trickles: the transfer is aborted below the throughput
/// floor and tried again; one that always trickles fails naming the blob;
/// `--timeout` bounds the whole image.
#[test]
fn stalled_transfers_are_aborted_retried_and_named() {
    use common::flaky::{Fault, FaultProxy};
    use std::time::{Duration, Instant};
    let e = env(Flavour::Anonymous);
    let image = e.push("docker-v2s2", "sme/faults:1");
    let layer = image.layer_digests.last().unwrap().clone();
    // The answer's head in the first piece, then about 1,700 bytes/s,
    // below the floor of 2,000 the test sets.
    let trickle = Fault::Trickle {
        bytes: 512,
        every: Duration::from_millis(300),
    };
    let l = layer.clone();
    let proxy = FaultProxy::start(
        &e.reg.host,
        first_of(
            move |r| r.method == "GET" && r.path.ends_with(&l),
            1,
            trickle.clone(),
        ),
    );
    let a = through(&e, &proxy, "1", &[]);
    let log = proxy.seen.lock().unwrap().clone();
    assert_eq!(
        a.get_output().status.code(),
        Some(0),
        "{}\n{log:?}",
        stderr(&a)
    );
    assert_eq!(proxy.faults(), 1);
    // For ever: bounded tries, and the error names the blob.
    let l = layer.clone();
    let proxy = FaultProxy::start(
        &e.reg.host,
        first_of(
            move |r| r.method == "GET" && r.path.ends_with(&l),
            usize::MAX,
            trickle,
        ),
    );
    let t = Instant::now();
    let a = through(&e, &proxy, "2", &[]).code(1);
    let err = stderr(&a);
    assert!(err.contains(&format!("blob {layer} stalled")), "{err}");
    assert!(err.contains("bytes/s"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    // A registry that answers every request after 2 s (past the read
    // limit), with tries enough to go on for ever: --timeout gives up on
    // the image and says so.
    let proxy = FaultProxy::start(&e.reg.host, |_, _| Fault::Delay(Duration::from_secs(2)));
    let t = Instant::now();
    let a = sme2wasm(e.home.path())
        .env("SME2WASM_LIMITS", format!("{FAST_LIMITS},attempts=1000"))
        .args(["repack", &format!("{}/sme/faults:1", proxy.host)])
        .args(["--to", &format!("{}/wasm/faults:3", proxy.host)])
        .args(["--plain-http", &proxy.host, "--timeout", "3s"])
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(err.contains("--timeout 3s"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

/// A multi-platform image in a layout (`skopeo copy --all … oci:DIR:TAG`):
/// the children are blobs, not index.json entries.
#[test]
fn a_multi_platform_layout_is_repacked() {
    let home = tempfile::tempdir().unwrap();
    let src = layout_with(&[("index-amd64-arm64", "multi")]);
    let index: Value =
        serde_json::from_slice(&std::fs::read(src.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"].as_array().unwrap().len(),
        1,
        "only the index is named: {index}"
    );
    let out = tempfile::tempdir().unwrap();
    let s = format!("oci:{}:multi", src.path().display());
    for (platform, tag, path) in [
        (None, "amd64", "usr/local/lib/wasm/ext/filter.wasm"),
        (Some("linux/arm64"), "arm64", "filter.wasm"),
    ] {
        let mut cmd = sme2wasm(home.path());
        cmd.args([
            "repack",
            &s,
            "--to",
            &format!("oci:{}:{tag}", out.path().display()),
            "-o",
            "json",
        ]);
        if let Some(p) = platform {
            cmd.args(["--platform", p]);
        }
        let a = cmd.assert().success();
        let v: Value = serde_json::from_str(&stdout(&a)).unwrap();
        assert_eq!(v[0]["module"]["path"], path);
        common::fetch_layout_like_istio(out.path(), tag);
    }
    // A child missing from blobs/: the message speaks of the layout.
    for child in images::build("index-amd64-arm64").children {
        let hex = child.digest.trim_start_matches("sha256:").to_string();
        std::fs::remove_file(src.path().join("blobs/sha256").join(hex)).unwrap();
    }
    let a = sme2wasm(home.path())
        .args([
            "repack",
            &s,
            "--to",
            &format!("oci:{}:x", out.path().display()),
        ])
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("the layout has no such blob") && !err.contains("registry"),
        "{err}"
    );
}

/// A credential helper that hangs is stopped after its time limit, with an
/// error that says what to check.
#[test]
fn a_hanging_credential_helper_is_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-stuck");
    std::fs::write(&helper, "#!/bin/sh\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        r#"{"credHelpers":{"127.0.0.1:9":"stuck"}}"#,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let a = sme2wasm(home.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.path().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("DOCKER_CONFIG", cfg.path())
        .env("SME2WASM_LIMITS", "helper=1s")
        .args([
            "repack",
            "127.0.0.1:9/sme/a:1",
            "--plain-http",
            "127.0.0.1:9",
        ])
        .arg("--to")
        .arg(format!("oci:{}:1", out.path().display()))
        .assert()
        .code(1);
    let err = stderr(&a);
    assert!(
        err.contains("docker-credential-stuck get") && err.contains("did not answer within 1 s"),
        "{err}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}
