//! Registries over the distribution protocol, through oci-client: token and
//! basic auth, chunked (or monolithic) uploads, cross-repository mounts,
//! HTTPS with the system roots plus `--ca-file`, plain HTTP only for hosts
//! named with `--plain-http`, and bounded retries with backoff on 429, 5xx
//! and timeouts. Every other failure becomes a [`StoreError`] that names the
//! reference, the registry's answer and what to do.
//!
//! oci-client is async; [`RegistryClient`] owns a small runtime and blocks
//! on it, so the work code above stays synchronous.

use crate::image::auth::AuthConfig;
use crate::image::build::Blob;
use crate::image::media::{self, Descriptor};
use crate::image::source::{
    verify_manifest, Fetched, Selector, Store, StoreError, VerifyingReader,
};
use crate::image::RegistryRef;
use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often and how long to try again after a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_delay: Duration::from_millis(500),
            max_total: Duration::from_secs(60),
        }
    }
}

/// Connection settings shared by every registry of a run.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Hosts (`host[:port]`) spoken to over plain HTTP.
    pub plain_http: Vec<String>,
    /// PEM files of CAs to trust besides the system roots.
    pub ca_files: Vec<PathBuf>,
    pub auth: AuthConfig,
    pub retry: RetryPolicy,
}

/// The oci-client client, its runtime, and what this run learnt about
/// credentials and blob locations.
pub struct RegistryClient {
    runtime: tokio::runtime::Runtime,
    client: oci_client::Client,
    options: RegistryOptions,
    /// Registry host → the credential source used (for messages).
    auth_sources: Mutex<HashMap<String, String>>,
    /// (registry, digest) → a repository of that registry holding the blob.
    known_blobs: Mutex<HashMap<(String, String), String>>,
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> Result<Arc<RegistryClient>, String> {
        let mut extra = Vec::new();
        for f in &options.ca_files {
            let data = std::fs::read(f)
                .map_err(|e| format!("--ca-file {}: cannot read: {e}", f.display()))?;
            if !data
                .windows(27)
                .any(|w| w == b"-----BEGIN CERTIFICATE-----")
            {
                return Err(format!(
                    "--ca-file {}: no PEM certificate in it (expected -----BEGIN CERTIFICATE-----)",
                    f.display()
                ));
            }
            extra.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.plain_http.clone()),
            extra_root_certificates: extra,
            read_timeout: Some(Duration::from_secs(60)),
            connect_timeout: Some(Duration::from_secs(15)),
            user_agent: concat!("sme2wasm/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config)
            .map_err(|e| format!("cannot set up the registry client: {}", chain(&e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
        Ok(Arc::new(RegistryClient {
            runtime,
            client,
            options,
            auth_sources: Mutex::new(HashMap::new()),
            known_blobs: Mutex::new(HashMap::new()),
        }))
    }

    /// Look up and hand oci-client the credential for a registry, once.
    fn ensure_auth(&self, r: &RegistryRef) -> Result<String, StoreError> {
        let mut sources = self.auth_sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = sources.get(&r.registry) {
            return Ok(s.clone());
        }
        let cred =
            self.options.auth.lookup(&r.registry).map_err(|m| {
                StoreError::new(format!("{r}: credentials for {}: {m}", r.registry))
            })?;
        let (auth, source) = match cred {
            Some(c) => (
                {
                    crate::image::redact::remember(&c.username, c.password.expose());
                    RegistryAuth::Basic(c.username.clone(), c.password.expose().to_string())
                },
                c.source,
            ),
            None => (
                RegistryAuth::Anonymous,
                format!(
                    "anonymous (no credential for {} in: {})",
                    r.registry,
                    self.options.auth.describe_sources()
                ),
            ),
        };
        let oci = r.to_oci();
        self.runtime.block_on(
            self.client
                .store_auth_if_needed(oci.resolve_registry(), &auth),
        );
        sources.insert(r.registry.clone(), source.clone());
        Ok(source)
    }

    /// Run an operation, trying again on transient failures with backoff.
    fn retry<T, F, Fut>(&self, op: F) -> Result<T, OciDistributionError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let policy = self.options.retry;
        self.runtime.block_on(async {
            let start = Instant::now();
            let mut delay = policy.first_delay;
            let mut attempt = 1;
            loop {
                match op().await {
                    Ok(v) => return Ok(v),
                    Err(e)
                        if is_transient(&e)
                            && attempt < policy.attempts
                            && start.elapsed() + delay < policy.max_total =>
                    {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }
}

/// An error and its causes, one line (reqwest hides TLS details in sources).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| e.code == OciErrorCode::Toomanyrequests),
        OciDistributionError::RequestError(r) => r.is_timeout() || r.is_connect() && !is_tls(r),
        OciDistributionError::IoError(io) => matches!(
            io.kind(),
            io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    }
}

fn is_tls(r: &reqwest::Error) -> bool {
    let s = chain(r).to_lowercase();
    // "corrupt message": rustls met a plain-HTTP answer.
    [
        "certificate",
        "tls",
        "handshake",
        "corrupt message",
        "invalidcontenttype",
    ]
    .iter()
    .any(|k| s.contains(k))
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound
            )
        }),
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        _ => false,
    }
}

/// One repository of a registry.
pub struct RegistryStore {
    pub client: Arc<RegistryClient>,
    pub reference: RegistryRef,
}

impl RegistryStore {
    pub fn new(client: Arc<RegistryClient>, reference: RegistryRef) -> RegistryStore {
        RegistryStore { client, reference }
    }

    fn oci_ref(&self, sel: &Selector) -> oci_client::Reference {
        let r = &self.reference;
        match sel {
            Selector::Digest(d) => r.at_digest(d).to_oci(),
            Selector::Tag(t) => RegistryRef {
                tag: Some(t.clone()),
                digest: None,
                ..r.clone()
            }
            .to_oci(),
            Selector::Only => r.to_oci(),
        }
    }

    /// The error message: what failed, the registry's answer, what to do.
    fn explain(&self, what: &str, e: OciDistributionError, auth_source: &str) -> StoreError {
        let r = &self.reference;
        let host = &r.registry;
        let transient = is_transient(&e);
        let message = match &e {
            OciDistributionError::UnauthorizedError { .. } => format!(
                "{r}: {what}: the registry answered 401 Unauthorized; credentials tried: {auth_source}; log in with `docker login {host}` or `podman login {host}`, or pass --authfile FILE, or --username NAME --password-stdin"
            ),
            OciDistributionError::AuthenticationFailure(reason) => format!(
                "{r}: {what}: the registry's token service refused the credentials ({}); credentials tried: {auth_source}; log in again",
                reason.trim()
            ),
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|e| e.code == OciErrorCode::Denied) =>
            {
                format!("{r}: {what}: the registry denied access ({}); credentials tried: {auth_source}; check that this account may push/pull {}", envelope_text(envelope), r.name())
            }
            OciDistributionError::RegistryError { envelope, .. } => {
                format!("{r}: {what}: the registry answered: {}", envelope_text(envelope))
            }
            OciDistributionError::ServerError { code, message, .. } => format!(
                "{r}: {what}: the registry answered HTTP {code}{}{}",
                if message.trim().is_empty() { String::new() } else { format!(": {}", crate::image::redact::redact(message.trim()).chars().take(300).collect::<String>()) },
                if transient { "; tried again until the retry limit; try later" } else { "" }
            ),
            OciDistributionError::RequestError(req) => {
                let detail = chain(req);
                let plain = self.client.options.plain_http.iter().any(|h| h == host);
                let advice = if plain {
                    format!("check that {host} is up and reachable over plain HTTP")
                } else if is_tls(req) || req.is_connect() {
                    format!("if {host} speaks plain HTTP, pass --plain-http {host}; if it uses a private CA, pass --ca-file CA.pem; otherwise check that it is reachable")
                } else if detail.contains("http://") || detail.contains("connect") {
                    format!("check that {host} is reachable; a plain-HTTP registry must be named with --plain-http {host}")
                } else {
                    "try again; if it persists, check the network path to the registry".into()
                };
                format!("{r}: {what}: {detail}; {advice}")
            }
            OciDistributionError::DigestError(d) => format!(
                "{r}: {what}: content failed digest verification ({d}); the registry or a proxy altered it; nothing was used"
            ),
            other => format!("{r}: {what}: {}", chain(other)),
        };
        // Registries and proxies echo what they were sent.
        let message = crate::image::redact::redact(&message);
        StoreError { message, transient }
    }
}

/// The registry's error envelope as one line: `CODE: message`.
fn envelope_text(envelope: &oci_client::errors::OciEnvelope) -> String {
    envelope
        .errors
        .iter()
        .map(|e| {
            let code = match serde_json::to_value(&e.code) {
                Ok(serde_json::Value::String(c)) => c,
                _ => format!("{:?}", e.code),
            };
            format!("{code}: {}", e.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads a blob stream by blocking on the runtime, one chunk at a time.
struct BlobStream<'a> {
    runtime: &'a tokio::runtime::Runtime,
    stream: oci_client::client::SizedStream,
    chunk: bytes::Bytes,
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

fn oci_desc(desc: &Descriptor) -> oci_client::manifest::OciDescriptor {
    oci_client::manifest::OciDescriptor {
        media_type: desc.media_type.clone(),
        digest: desc.digest.clone(),
        size: desc.size as i64,
        ..Default::default()
    }
}

impl Store for RegistryStore {
    fn fetch_manifest(&self, sel: &Selector) -> Result<Option<Fetched>, StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let oci = self.oci_ref(sel);
        let c = &self.client.client;
        let got = self
            .client
            .retry(|| c.pull_manifest_raw(&oci, &RegistryAuth::Anonymous, media::ACCEPTED));
        match got {
            Ok((body, _)) => verify_manifest(body.to_vec(), sel)
                .map(Some)
                .map_err(|m| StoreError::new(format!("{}: {m}", self.reference))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.explain("fetching the manifest", e, &auth)),
        }
    }

    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>, StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let oci = self.reference.to_oci();
        let d = oci_desc(desc);
        let c = &self.client.client;
        let stream = self
            .client
            .retry(|| c.pull_blob_stream(&oci, &d))
            .map_err(|e| self.explain(&format!("fetching blob {}", desc.digest), e, &auth))?;
        Ok(Box::new(VerifyingReader::new(
            BlobStream {
                runtime: &self.client.runtime,
                stream,
                chunk: bytes::Bytes::new(),
            },
            desc,
        )))
    }

    fn has_blob(&self, desc: &Descriptor) -> Result<bool, StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let oci = self.reference.to_oci();
        let c = &self.client.client;
        match self.client.retry(|| c.blob_exists(&oci, &desc.digest)) {
            Ok(b) => Ok(b),
            // Some registries answer 401/403 to HEAD where a push would work.
            Err(OciDistributionError::RequestError(r)) if r.status().is_some() => Ok(false),
            Err(e) => Err(self.explain(&format!("checking blob {}", desc.digest), e, &auth)),
        }
    }

    fn put_blob(&self, blob: &Blob) -> Result<(), StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let r = &self.reference;
        let key = (r.registry.clone(), blob.digest.clone());
        if self.has_blob(&blob.descriptor())? {
            return Ok(());
        }
        let oci = r.to_oci();
        let c = &self.client.client;
        let from = self
            .client
            .known_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(repo) = from.filter(|repo| *repo != r.repository) {
            let source = RegistryRef {
                repository: repo,
                ..r.clone()
            }
            .to_oci();
            // A mount the registry refuses is not an error: upload instead.
            let mounted = self
                .client
                .retry(|| c.mount_blob(&oci, &source, &blob.digest))
                .is_ok();
            if mounted && self.has_blob(&blob.descriptor())? {
                return Ok(());
            }
        }
        let data = bytes::Bytes::from(blob.data.clone());
        self.client
            .retry(|| c.push_blob(&oci, data.clone(), &blob.digest))
            .map_err(|e| self.explain(&format!("uploading blob {}", blob.digest), e, &auth))?;
        self.client
            .known_blobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, r.repository.clone());
        Ok(())
    }

    fn put_manifest(&self, manifest: &Blob, sel: &Selector) -> Result<(), StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let oci = self.oci_ref(sel);
        let c = &self.client.client;
        let content_type = reqwest_header(&manifest.media_type)?;
        let body = bytes::Bytes::from(manifest.data.clone());
        self.client
            .retry(|| c.push_manifest_raw(&oci, body.clone(), content_type.clone()))
            .map_err(|e| self.explain("pushing the manifest", e, &auth))?;
        Ok(())
    }
}

fn reqwest_header(v: &str) -> Result<http::HeaderValue, StoreError> {
    http::HeaderValue::from_str(v).map_err(|e| StoreError::new(format!("media type {v:?}: {e}")))
}
