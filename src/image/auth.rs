//! Credentials from the places users already keep them, in this order:
//! `--username` with `--password-stdin`; `--authfile`; podman's auth.json
//! (REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
//! ~/.config/containers/auth.json); Docker's
//! config.json (DOCKER_CONFIG, else ~/.docker/config.json) with `credHelpers`,
//! `auths` (including Docker Hub's `https://index.docker.io/v1/` key) and
//! `credsStore`, the helpers run as `docker-credential-NAME get`.
//!
//! Secrets never reach output, logs or errors: [`Secret`] prints as
//! `<redacted>`, and errors name the source of a credential, never its value.

use base64::Engine;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A password or token; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A user name and its password (or identity token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: Secret,
    /// Where it came from, for messages: `auths of ~/.docker/config.json`.
    pub source: String,
}

/// Where to look; built once from flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// `--username` with the password read from stdin: for every registry.
    pub explicit: Option<(String, Secret)>,
    pub authfile: Option<PathBuf>,
    /// podman's auth.json, when it exists.
    pub podman: Option<PathBuf>,
    /// Docker's config.json, when it exists.
    pub docker: Option<PathBuf>,
}

impl AuthConfig {
    /// The usual places, read from the environment (not yet opened).
    pub fn from_env(explicit: Option<(String, Secret)>, authfile: Option<PathBuf>) -> AuthConfig {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        // containers-auth.json(5): REGISTRY_AUTH_FILE, else the runtime
        // directory's file, else the one under ~/.config.
        let podman = env("REGISTRY_AUTH_FILE").or_else(|| {
            [
                env("XDG_RUNTIME_DIR").map(|d| d.join("containers").join("auth.json")),
                env("HOME").map(|h| h.join(".config").join("containers").join("auth.json")),
            ]
            .into_iter()
            .flatten()
            .find(|p| p.exists())
        });
        let docker = env("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| env("HOME").map(|h| h.join(".docker").join("config.json")));
        AuthConfig {
            explicit,
            authfile,
            podman: podman.filter(|p| p.exists()),
            docker: docker.filter(|p| p.exists()),
        }
    }

    /// The places tried for `registry`, for a 401 message.
    pub fn describe_sources(&self) -> String {
        let mut s = Vec::new();
        if self.explicit.is_some() {
            s.push("--username/--password-stdin".to_string());
        }
        for p in [&self.authfile, &self.podman, &self.docker]
            .into_iter()
            .flatten()
        {
            s.push(p.display().to_string());
        }
        if s.is_empty() {
            "none found (no --authfile, no podman auth.json, no Docker config.json)".into()
        } else {
            s.join(", ")
        }
    }

    /// The credential for a registry host (`docker.io` for Docker Hub), or
    /// `None` for anonymous access.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, String> {
        if let Some((user, pass)) = &self.explicit {
            return Ok(Some(Credential {
                username: user.clone(),
                password: pass.clone(),
                source: "--username/--password-stdin".into(),
            }));
        }
        for path in [&self.authfile, &self.podman, &self.docker]
            .into_iter()
            .flatten()
        {
            if let Some(c) = lookup_in_file(path, registry)? {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
    #[serde(default)]
    creds_store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The host part of an `auths` key: `https://index.docker.io/v1/` → `docker.io`.
fn key_host(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// The server name Docker gives credential helpers and its login keys.
fn helper_server(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".into()
    } else {
        registry.to_string()
    }
}

fn lookup_in_file(path: &Path, registry: &str) -> Result<Option<Credential>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let file: AuthFile = serde_json::from_slice(&text)
        .map_err(|e| format!("{shown} is not a Docker/podman auth file: {e}"))?;
    if let Some((_, helper)) = file
        .cred_helpers
        .iter()
        .find(|(k, _)| key_host(k) == registry)
    {
        return run_helper(helper, registry, &format!("credHelpers of {shown}"));
    }
    // Exact keys first (podman also allows host/namespace keys: the most
    // specific one that is only the host is what applies to a whole host).
    let mut keys: Vec<&String> = file
        .auths
        .keys()
        .filter(|k| key_host(k) == registry)
        .collect();
    keys.sort_by_key(|k| k.len());
    for k in keys {
        let e = &file.auths[k];
        let source = format!("auths[{k:?}] of {shown}");
        if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("{source}: `auth` is not base64; log in again"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| format!("{source}: `auth` is not UTF-8; log in again"))?;
            let (u, p) = decoded
                .split_once(':')
                .ok_or_else(|| format!("{source}: `auth` is not user:password; log in again"))?;
            return Ok(Some(Credential {
                username: u.to_string(),
                password: Secret::new(p),
                source,
            }));
        }
        if let (Some(u), Some(p)) = (&e.username, &e.password) {
            return Ok(Some(Credential {
                username: u.clone(),
                password: Secret::new(p.clone()),
                source,
            }));
        }
        if let Some(t) = &e.identitytoken {
            return Ok(Some(Credential {
                username: "<token>".into(),
                password: Secret::new(t.clone()),
                source,
            }));
        }
    }
    if let Some(store) = &file.creds_store {
        return run_helper(store, registry, &format!("credsStore of {shown}"));
    }
    Ok(None)
}

/// How long a credential helper may take: 30 s, or `helper=` of
/// `SME2WASM_LIMITS` (an undocumented knob for the test suite).
fn helper_timeout() -> std::time::Duration {
    std::env::var("SME2WASM_LIMITS")
        .ok()
        .and_then(|spec| {
            spec.split(',')
                .find_map(|kv| kv.trim().strip_prefix("helper=").map(str::to_string))
        })
        .and_then(|v| crate::image::registry::parse_duration(&v))
        .unwrap_or(std::time::Duration::from_secs(30))
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `docker-credential-NAME get` with the server on stdin, as Docker runs it.
fn run_helper(name: &str, registry: &str, source: &str) -> Result<Option<Credential>, String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{source} names {program}, which cannot be run: {e}; install it or remove it from the file"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(helper_server(registry).as_bytes());
    }
    // A helper that hangs (a keyring waiting to be unlocked, a prompt no
    // one sees) must not hold the run: it gets HELPER_TIMEOUT.
    let limit = helper_timeout();
    let mut stdout_pipe = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(p) = stdout_pipe.as_mut() {
            let _ = std::io::Read::read_to_end(p, &mut buf);
        }
        buf
    });
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{program} get ({source}) did not answer within {} s and was stopped; check that the helper works on its own (`echo {} | {program} get`), e.g. that its keyring is unlocked, or pass --authfile FILE or --username NAME --password-stdin",
                    limit.as_secs_f64(),
                    helper_server(registry)
                ));
            }
            Err(e) => return Err(format!("{program} failed: {e}")),
        }
    };
    let out = std::process::Output {
        status,
        stdout: reader.join().unwrap_or_default(),
        stderr: Vec::new(),
    };
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout);
        if said.contains("credentials not found") {
            return Ok(None);
        }
        // The helper's own message, never its stdout beyond that line.
        return Err(format!(
            "{program} get ({source}) failed with {}: {}",
            out.status,
            crate::image::redact::redact(said.lines().next().unwrap_or("").trim())
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!("{program} get ({source}) did not answer with the helper protocol's JSON")
    })?;
    Ok(Some(Credential {
        username: answer.username,
        password: Secret::new(answer.secret),
        source: format!("{source} ({program})"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_auths_and_hub_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        std::fs::write(
            &path,
            format!(
                r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}},"r.example:5000":{{"auth":"{}"}}}}}}"#,
                b64("hub:s3cret"),
                b64("u:p:with:colons")
            ),
        )
        .unwrap();
        let cfg = AuthConfig {
            docker: Some(path),
            ..Default::default()
        };
        let hub = cfg.lookup("docker.io").unwrap().unwrap();
        assert_eq!(hub.username, "hub");
        assert_eq!(hub.password.expose(), "s3cret");
        assert!(!format!("{hub:?}").contains("s3cret"));
        let r = cfg.lookup("r.example:5000").unwrap().unwrap();
        assert_eq!(r.password.expose(), "p:with:colons");
        assert!(cfg.lookup("quay.io").unwrap().is_none());
    }

    #[test]
    fn missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credHelpers":{"quay.io":"no-such-helper-xyz"}}"#).unwrap();
        let cfg = AuthConfig {
            docker: Some(path),
            ..Default::default()
        };
        let e = cfg.lookup("quay.io").unwrap_err();
        assert!(e.contains("docker-credential-no-such-helper-xyz"), "{e}");
    }
}
