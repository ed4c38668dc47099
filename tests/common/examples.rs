//! A scratch copy of the bundled GitOps example, for the tests that run the
//! binary on it. Included by path (`#[path = "common/examples.rs"]`).

use std::path::Path;

/// A copy of examples/gitops: two SMEs (one document, one kustomize
/// patch), one WARN (the image is not repacked) and one INFO.
pub fn gitops() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops"),
        dir.path(),
    );
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
