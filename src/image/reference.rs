//! Image references as users write them: registry references (tag and/or
//! digest; Docker Hub short names normalised as Docker does) and OCI
//! image-layout directories in skopeo's syntax, `oci:PATH[:TAG]`.

use std::fmt;
use std::path::PathBuf;

/// Docker Hub's canonical host name, as `docker pull` normalises it.
pub const DOCKER_HUB: &str = "docker.io";

/// Where an image lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    Registry(RegistryRef),
    Layout(LayoutRef),
}

/// `host[:port]/repository[:tag][@sha256:…]`, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegistryRef {
    /// `docker.io` for Docker Hub (never `index.docker.io`).
    pub registry: String,
    /// `library/nginx` for Docker Hub official images.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:` and 64 lowercase hex.
    pub digest: Option<String>,
}

/// `oci:PATH[:TAG]`: an OCI image-layout directory and the value of the
/// `org.opencontainers.image.ref.name` annotation that selects the image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayoutRef {
    pub path: PathBuf,
    pub tag: Option<String>,
}

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reference:?} is not an image reference: {reason}")]
pub struct ReferenceError {
    pub reference: String,
    pub reason: String,
}

impl ImageRef {
    /// Parse what a user wrote on the command line.
    pub fn parse(text: &str) -> Result<ImageRef, ReferenceError> {
        if let Some(shown) = without_userinfo(text) {
            return Err(ReferenceError {
                reference: shown,
                reason: "it holds credentials (user:password@ before the host), which sme2wasm never reads from a reference and never prints; log in with `podman login HOST` or `docker login HOST`, or pass --authfile FILE, or --username NAME --password-stdin".into(),
            });
        }
        // `oci://` is how WasmPlugin URLs write a registry reference.
        if let Some(rest) = text.strip_prefix("oci://") {
            return RegistryRef::parse(rest).map(ImageRef::Registry);
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            // skopeo's syntax: the path ends at the first ':' (containers/image
            // splits the same way), so a path cannot itself contain ':'.
            let (path, tag) = match rest.split_once(':') {
                Some((p, t)) => (p, Some(t)),
                None => (rest, None),
            };
            let fail = |reason: &str| ReferenceError {
                reference: text.to_string(),
                reason: reason.to_string(),
            };
            if path.is_empty() {
                return Err(fail("oci: needs a directory, as in oci:DIR or oci:DIR:TAG"));
            }
            if let Some(t) = tag {
                if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c == '/') {
                    return Err(fail("the tag after the directory must be a non-empty name"));
                }
            }
            return Ok(ImageRef::Layout(LayoutRef {
                path: PathBuf::from(path),
                tag: tag.map(str::to_string),
            }));
        }
        RegistryRef::parse(text).map(ImageRef::Registry)
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Registry(r) => r.tag.as_deref(),
            ImageRef::Layout(l) => l.tag.as_deref(),
        }
    }

    /// The same location with another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        match self {
            ImageRef::Registry(r) => ImageRef::Registry(RegistryRef {
                tag: Some(tag.to_string()),
                digest: None,
                ..r.clone()
            }),
            ImageRef::Layout(l) => ImageRef::Layout(LayoutRef {
                path: l.path.clone(),
                tag: Some(tag.to_string()),
            }),
        }
    }

    /// `SRC -> DST@sha256:…`: the location without tag or digest, then the digest.
    pub fn pinned(&self, digest: &str) -> String {
        match self {
            ImageRef::Registry(r) => format!("{}@{digest}", r.name()),
            ImageRef::Layout(l) => match &l.tag {
                Some(t) => format!("oci:{}:{t}@{digest}", l.path.display()),
                None => format!("oci:{}@{digest}", l.path.display()),
            },
        }
    }
}

/// When `text` is a registry reference with `user[:password]@` before its
/// host, the reference with that part replaced by `<redacted>`.
fn without_userinfo(text: &str) -> Option<String> {
    let t = text.trim();
    // A layout path (`oci:DIR`) may hold '@'; `oci://` is a registry.
    if t.starts_with("oci:") && !t.starts_with("oci://") {
        return None;
    }
    let (scheme, rest) = match t.find("://") {
        Some(i) => (&t[..i + 3], &t[i + 3..]),
        None => ("", t),
    };
    let at = rest.find('@')?;
    // Credentials stand before the host, so before the first '/'.
    if rest[..at].contains('/') {
        return None;
    }
    let after = &rest[at + 1..];
    // `name@sha256:…` is a digest, not credentials.
    if after.starts_with("sha256:") || after.starts_with("sha512:") {
        return None;
    }
    // The host comes after the credentials: the text after '@' goes on.
    if after.is_empty() {
        return None;
    }
    Some(format!(
        "{scheme}{}@{after}",
        crate::image::redact::REDACTED
    ))
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => r.fmt(f),
            ImageRef::Layout(l) => l.fmt(f),
        }
    }
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci:{}", self.path.display())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn is_path_component(c: &str) -> bool {
    // [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, the distribution grammar.
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    b.iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(d: &str) -> bool {
    digest_hex(d).is_some()
}

impl RegistryRef {
    /// Parse and normalise as Docker does: a first component without `.` or
    /// `:` (and not `localhost`) is a Docker Hub repository.
    pub fn parse(text: &str) -> Result<RegistryRef, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            reference: text.to_string(),
            reason,
        };
        let r = text.trim();
        if r.is_empty() {
            return Err(fail("it is empty".into()));
        }
        if r.contains("://") {
            return Err(fail(
                "write it without a scheme (oci://, docker://, https://)".into(),
            ));
        }
        let (name, digest) = match r.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (r, None),
        };
        if let Some(d) = digest {
            if !is_sha256_digest(d) {
                return Err(fail(format!(
                    "digest {d:?} is not sha256: followed by 64 lowercase hex digits"
                )));
            }
        }
        let slash = name.rfind('/').map(|i| i + 1).unwrap_or(0);
        let (repo, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
            None => (name, None),
        };
        if let Some(t) = tag {
            if !is_tag(t) {
                return Err(fail(format!(
                    "tag {t:?} must be 1-128 letters, digits, '_', '.' or '-'"
                )));
            }
        }
        let first = repo.split('/').next().unwrap_or("");
        let has_host = repo.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let (registry, path) = if has_host {
            let (host, rest) = repo.split_once('/').unwrap_or((repo, ""));
            let host = match host {
                "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
                h => h,
            };
            (host.to_string(), rest.to_string())
        } else {
            (DOCKER_HUB.to_string(), repo.to_string())
        };
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if let Some(bad) = path.split('/').find(|c| !is_path_component(c)) {
            return Err(fail(format!(
                "repository component {bad:?} must be lowercase letters, digits and separators (. _ -)"
            )));
        }
        Ok(RegistryRef {
            registry,
            repository: path,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag to fetch: the tag, else `latest` when there is no digest either.
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// The same repository, selecting a digest (the tag is dropped).
    pub fn at_digest(&self, digest: &str) -> RegistryRef {
        RegistryRef {
            tag: None,
            digest: Some(digest.to_string()),
            ..self.clone()
        }
    }

    /// The reference in oci-client's model.
    pub fn to_oci(&self) -> oci_client::Reference {
        match (&self.digest, self.effective_tag()) {
            (Some(d), Some(t)) if self.tag.is_some() => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                t.to_string(),
                d.clone(),
            ),
            (Some(d), _) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.clone(),
            ),
            (None, t) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.unwrap_or("latest").to_string(),
            ),
        }
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = self.effective_tag() {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// The hex part of a `sha256:<64 hex>` digest, if it is one.
pub fn digest_hex(digest: &str) -> Option<&str> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))).then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> RegistryRef {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_hub_short_names() {
        assert_eq!(reg("nginx").to_string(), "docker.io/library/nginx:latest");
        assert_eq!(reg("user/app:1").to_string(), "docker.io/user/app:1");
        assert_eq!(
            reg("index.docker.io/nginx:1").to_string(),
            "docker.io/library/nginx:1"
        );
        assert_eq!(reg("localhost/a").registry, "localhost");
        let r = reg("127.0.0.1:5000/a/b:2");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "a/b")
        );
    }

    #[test]
    fn digests_and_errors() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = reg(&format!("quay.io/x/y@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.to_string(), format!("quay.io/x/y@{d}"));
        let r = reg(&format!("quay.io/x/y:1@{d}"));
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert_eq!(reg("oci://quay.io/x:1").to_string(), "quay.io/x:1");
        for bad in [
            "",
            "Quay.io/X",
            "quay.io/x@sha256:12",
            "docker://quay.io/x",
            "x:-bad",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layouts() {
        assert_eq!(
            ImageRef::parse("oci:/tmp/dir:v1").unwrap(),
            ImageRef::Layout(LayoutRef {
                path: "/tmp/dir".into(),
                tag: Some("v1".into())
            })
        );
        let l = ImageRef::parse("oci:rel/dir").unwrap();
        assert_eq!(l.to_string(), "oci:rel/dir");
        assert_eq!(l.with_tag("x").to_string(), "oci:rel/dir:x");
        assert!(ImageRef::parse("oci:").is_err());
        assert!(ImageRef::parse("oci:dir:").is_err());
    }
}
