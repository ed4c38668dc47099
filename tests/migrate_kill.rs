//! A kill at any moment leaves every file either old or new: migrate is
//! killed (SIGKILL) while it rewrites a large tree, at several delays, and
//! every file must then be byte-equal to its old version or to the version
//! a complete run writes. Only migrate's own temporary files may be left.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const APPS: usize = 40;
const PER_APP: usize = 60;

fn generate(root: &Path) {
    for a in 0..APPS {
        let dir = root.join(format!("app{a:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..PER_APP {
            let text = format!(
                "# extension {f} of app {a}\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n  name: ext{f}\n  namespace: team{a}\nspec:\n  image: quay.io/acme/ext{f}:1.0   # image\n  phase: PreAuthZ\n  priority: {f}\n  workloadSelector:\n    labels:\n      app: web{f}\n  config:\n    header: x-{f}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s{f}\n"
            );
            let p = dir.join(format!("f{f:02}.yaml"));
            std::fs::write(&p, text).unwrap();
            if f % 7 == 0 {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
            }
        }
    }
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for a in std::fs::read_dir(root).unwrap() {
        let a = a.unwrap().path();
        for f in std::fs::read_dir(&a).unwrap() {
            let p = f.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
    out
}

fn copy(from: &Path, to: &Path) {
    for (rel, bytes) in files(from) {
        let p = to.join(&rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        let mode = std::fs::metadata(from.join(&rel)).unwrap().permissions();
        std::fs::set_permissions(&p, mode).unwrap();
    }
}

fn migrate(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("sme2wasm"));
    // A generated tree, not a repository: nothing to undo with git.
    cmd.arg("migrate")
        .arg("--quiet")
        .arg("--allow-no-vcs")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

#[test]
fn a_kill_leaves_every_file_old_or_new() {
    let base = tempfile::tempdir().unwrap();
    let old_dir = base.path().join("old");
    generate(&old_dir);
    let old = files(&old_dir);

    let new_dir = base.path().join("new");
    copy(&old_dir, &new_dir);
    let status = migrate(&new_dir).status().unwrap();
    assert_eq!(status.code(), Some(0));
    let new = files(&new_dir);
    assert_eq!(old.len(), new.len());
    assert!(old.iter().all(|(k, v)| new[k] != *v), "every file changes");

    // How long a whole run takes, so that the kills land inside it.
    let timing = base.path().join("timing");
    copy(&old_dir, &timing);
    let started = std::time::Instant::now();
    migrate(&timing).status().unwrap();
    let whole = started.elapsed();

    // The writes come last: most kills aim at the end of the run.
    let mut mixed = 0;
    for (step, percent) in [30u32, 60, 75, 85, 92, 97].into_iter().enumerate() {
        let delay = whole * percent / 100;
        let work = base.path().join(format!("kill{step}"));
        copy(&old_dir, &work);
        let mut child = migrate(&work).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let mut n_old = 0;
        let mut n_new = 0;
        for a in std::fs::read_dir(&work).unwrap() {
            for f in std::fs::read_dir(a.unwrap().path()).unwrap() {
                let p = f.unwrap().path();
                let rel = p
                    .strip_prefix(&work)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with(".sme2wasm-") && name.ends_with(".tmp") {
                    continue; // a temporary file the kill left behind
                }
                let bytes = std::fs::read(&p).unwrap();
                let Some(o) = old.get(&rel) else {
                    panic!("kill after {delay:?}: unexpected file {rel}");
                };
                if bytes == *o {
                    n_old += 1;
                } else if bytes == new[&rel] {
                    n_new += 1;
                    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                    let want = std::fs::metadata(old_dir.join(&rel))
                        .unwrap()
                        .permissions()
                        .mode()
                        & 0o777;
                    assert_eq!(mode, want, "{rel}: the mode is kept");
                } else {
                    panic!("kill after {delay:?}: {rel} is neither the old nor the new version");
                }
            }
        }
        assert_eq!(
            n_old + n_new,
            old.len(),
            "kill after {delay:?}: a file is missing"
        );
        if n_old > 0 && n_new > 0 {
            mixed += 1;
        }
        eprintln!("kill after {delay:?}: {n_old} old, {n_new} new");
    }
    eprintln!("{mixed} of 6 kills landed while files were being written");
}
