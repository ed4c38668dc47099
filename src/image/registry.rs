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
use oci_client::RegistryOperation;
use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often and how long to try again after a transient failure, and the
/// limits that make a slow or stalled registry a transient failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries of one request (the first included).
    pub attempts: u32,
    /// The wait before the second try; it doubles up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// A Retry-After longer than this is cut to it.
    pub retry_after_cap: Duration,
    /// Connecting (TCP and TLS) may take this long.
    pub connect: Duration,
    /// No byte for this long fails the try (and it is tried again).
    pub read: Duration,
    /// A transfer slower than `min_speed` bytes/s for `speed_time` is
    /// aborted as stalled and tried again (curl's --speed-limit/--speed-time).
    pub min_speed: u64,
    pub speed_time: Duration,
    /// Everything for one image (`--timeout`).
    pub image_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            retry_after_cap: Duration::from_secs(60),
            connect: Duration::from_secs(15),
            read: Duration::from_secs(30),
            min_speed: 1024,
            speed_time: Duration::from_secs(30),
            image_timeout: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The defaults, with `SME2WASM_LIMITS` (`read=300ms,speed_time=1s,…`,
    /// an undocumented knob for the test suite) applied.
    pub fn from_env() -> RetryPolicy {
        let mut p = RetryPolicy::default();
        let Ok(spec) = std::env::var("SME2WASM_LIMITS") else {
            return p;
        };
        for kv in spec.split(',') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let d = parse_duration(v);
            match (k.trim(), d) {
                ("attempts", _) => p.attempts = v.parse().unwrap_or(p.attempts),
                ("min_speed", _) => p.min_speed = v.parse().unwrap_or(p.min_speed),
                ("first_delay", Some(d)) => p.first_delay = d,
                ("max_delay", Some(d)) => p.max_delay = d,
                ("retry_after_cap", Some(d)) => p.retry_after_cap = d,
                ("connect", Some(d)) => p.connect = d,
                ("read", Some(d)) => p.read = d,
                ("speed_time", Some(d)) => p.speed_time = d,
                _ => {}
            }
        }
        p
    }
}

/// `300ms`, `5s`, `2m`, `1h`.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

thread_local! {
    /// When the image this thread works on must be done (`--timeout`).
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// Set (or clear) the deadline of the image the current thread works on.
pub fn set_deadline(d: Option<Instant>) {
    DEADLINE.with(|c| c.set(d));
}

fn deadline() -> Option<Instant> {
    DEADLINE.with(|c| c.get())
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
    /// For GETs of manifests and blobs.
    http: reqwest::Client,
    /// Registry host → the credential found for it.
    credentials: Mutex<HashMap<String, Option<(String, String)>>>,
    /// (registry, repository) → what to send on GETs.
    get_auth: Mutex<HashMap<(String, String), GetAuth>>,
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
            read_timeout: Some(options.retry.read),
            connect_timeout: Some(options.retry.connect),
            user_agent: concat!("sme2wasm/", env!("CARGO_PKG_VERSION")),
            platform_resolver: None,
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config)
            .map_err(|e| format!("cannot set up the registry client: {}", chain(&e)))?;
        // Manifests and blobs are fetched with a client of our own, so that
        // status codes, Retry-After and stalls are seen as they happen.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.retry.connect)
            .read_timeout(options.retry.read)
            .user_agent(concat!("sme2wasm/", env!("CARGO_PKG_VERSION")));
        let mut certs = Vec::new();
        for f in &options.ca_files {
            let data = std::fs::read(f)
                .map_err(|e| format!("--ca-file {}: cannot read: {e}", f.display()))?;
            certs.extend(
                reqwest::Certificate::from_pem_bundle(&data)
                    .map_err(|e| format!("--ca-file {}: {e}", f.display()))?,
            );
        }
        if !certs.is_empty() {
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the registry client: {}", chain(&e)))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
        Ok(Arc::new(RegistryClient {
            runtime,
            client,
            http,
            credentials: Mutex::new(HashMap::new()),
            get_auth: Mutex::new(HashMap::new()),
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
        self.credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                r.registry.clone(),
                cred.as_ref()
                    .map(|c| (c.username.clone(), c.password.expose().to_string())),
            );
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

    /// Run an operation, trying again on transient failures with backoff,
    /// within the attempts and the image's deadline.
    fn retry<T, F, Fut>(&self, op: F) -> Result<T, OciDistributionError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let policy = self.options.retry;
        let deadline = deadline();
        self.runtime.block_on(async {
            let mut delay = policy.first_delay;
            let mut attempt = 1;
            loop {
                match op().await {
                    Ok(v) => return Ok(v),
                    Err(e)
                        if is_transient(&e)
                            && attempt < policy.attempts
                            && deadline.is_none_or(|d| Instant::now() + delay < d) =>
                    {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(policy.max_delay);
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
        })
    }

    /// What to send on a GET in this repository: a bearer token from the
    /// registry's token service, basic credentials, or nothing.
    async fn auth_for_get(&self, r: &RegistryRef, fresh: bool) -> Result<GetAuth, GetError> {
        let key = (r.registry.clone(), r.repository.clone());
        if !fresh {
            if let Some(a) = self
                .get_auth
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
            {
                return Ok(a.clone());
            }
        }
        let cred = self
            .credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&r.registry)
            .cloned()
            .flatten();
        let auth = match &cred {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        };
        let oci = r.to_oci();
        let got = match self.client.auth(&oci, &auth, RegistryOperation::Pull).await {
            Ok(Some(token)) => GetAuth::Bearer(token),
            Ok(None) => match cred {
                Some((u, p)) => GetAuth::Basic(u, p),
                None => GetAuth::None,
            },
            Err(e) => {
                return Err(GetError {
                    status: None,
                    transient: is_transient(&e),
                    retry_after: None,
                    message: chain(&e),
                    auth: matches!(e, OciDistributionError::AuthenticationFailure(_)),
                })
            }
        };
        self.get_auth
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, got.clone());
        Ok(got)
    }

    /// GET `path` (below /v2/REPOSITORY/) of a repository, tried again on
    /// every transient failure (Retry-After honoured up to its cap) within
    /// the attempts and the image's deadline. Returns the 200 answer, or
    /// `None` for 404.
    async fn get(
        &self,
        r: &RegistryRef,
        path: &str,
        accept: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Option<reqwest::Response>, GetError> {
        let policy = self.options.retry;
        let host = r.to_oci().resolve_registry().to_string();
        let scheme = if self
            .options
            .plain_http
            .iter()
            .any(|h| *h == r.registry || *h == host)
        {
            "http"
        } else {
            "https"
        };
        let url = format!("{scheme}://{host}/v2/{}/{path}", r.repository);
        let mut delay = policy.first_delay;
        let mut attempt = 1;
        let mut reauthed = false;
        loop {
            let result = async {
                let auth = self.auth_for_get(r, false).await?;
                let mut req = self.http.get(&url);
                if let Some(a) = accept {
                    req = req.header(http::header::ACCEPT, a);
                }
                req = match auth {
                    GetAuth::Bearer(t) => req.bearer_auth(t),
                    GetAuth::Basic(u, p) => req.basic_auth(u, Some(p)),
                    GetAuth::None => req,
                };
                let resp = req.send().await.map_err(|e| GetError::request(&e))?;
                GetError::check(resp).await
            }
            .await;
            let e = match result {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            // A token that expired: fetch another once.
            if e.status == Some(401) && !reauthed {
                reauthed = true;
                self.auth_for_get(r, true).await?;
                continue;
            }
            if !e.transient || attempt >= policy.attempts {
                return Err(e.tried(attempt));
            }
            let wait = e
                .retry_after
                .map(|ra| ra.min(policy.retry_after_cap))
                .unwrap_or(delay);
            if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                return Err(e.tried(attempt).timed_out(policy.image_timeout));
            }
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(policy.max_delay);
            attempt += 1;
        }
    }
}

/// What our own GETs send.
#[derive(Debug, Clone)]
enum GetAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

/// A failed GET.
#[derive(Debug)]
struct GetError {
    status: Option<u16>,
    transient: bool,
    retry_after: Option<Duration>,
    message: String,
    /// The token service refused the credentials.
    auth: bool,
}

impl GetError {
    fn request(e: &reqwest::Error) -> GetError {
        GetError {
            status: None,
            transient: !is_tls(e) && !e.is_builder() && !e.is_redirect(),
            retry_after: None,
            message: if e.is_timeout() {
                format!("stalled: no answer within the read limit: {}", chain(e))
            } else {
                chain(e)
            },
            auth: false,
        }
    }

    /// The answer, if it is 200; `None` for 404; the error otherwise.
    async fn check(resp: reqwest::Response) -> Result<Option<reqwest::Response>, GetError> {
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(Some(resp));
        }
        if status == 404 {
            return Ok(None);
        }
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // The body says why; a few KiB of it are enough.
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(Ok(chunk)) = stream.next().await {
            body.extend_from_slice(&chunk);
            if body.len() > 4096 {
                break;
            }
        }
        let text = String::from_utf8_lossy(&body);
        let text = match serde_json::from_slice::<oci_client::errors::OciEnvelope>(&body) {
            Ok(env) => envelope_text(&env),
            Err(_) => text.trim().chars().take(300).collect(),
        };
        Err(GetError {
            status: Some(status),
            transient: matches!(status, 408 | 425 | 429)
                || status >= 500 && status != 501 && status != 505,
            retry_after,
            message: text,
            auth: false,
        })
    }

    fn tried(mut self, attempts: u32) -> GetError {
        if self.transient && attempts > 1 {
            self.message = format!("{} (tried {attempts} times)", self.message);
        }
        self
    }

    fn timed_out(mut self, limit: Duration) -> GetError {
        self.message = format!(
            "{}; gave up at the image's time limit (--timeout {})",
            self.message,
            show_duration(limit)
        );
        self
    }
}

fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 || s == 0 {
        format!("{}ms", d.as_millis())
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
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
        OciDistributionError::ServerError { code, .. } => {
            matches!(*code, 408 | 425 | 429) || *code >= 500 && *code != 501 && *code != 505
        }
        // oci-client keeps no status for a 4xx answer with an error body:
        // the codes registries send with 429 and 503 are what is left.
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| match &e.code {
                OciErrorCode::Toomanyrequests => true,
                OciErrorCode::Other(c) => {
                    let c = c.to_ascii_uppercase();
                    [
                        "TOO_MANY",
                        "TOOMANY",
                        "RATE",
                        "UNAVAILABLE",
                        "THROTTL",
                        "BUSY",
                        "TIMEOUT",
                    ]
                    .iter()
                    .any(|k| c.contains(k))
                }
                _ => false,
            })
        }
        // Resets, refused connections, answers cut short, timeouts: every
        // failure of the request itself except TLS and a malformed request.
        OciDistributionError::RequestError(r) => {
            r.status().is_none() && !is_tls(r) && !r.is_builder() && !r.is_redirect()
        }
        OciDistributionError::IoError(io) => matches!(
            io.kind(),
            io::ErrorKind::TimedOut
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
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

/// Reads a blob by blocking on the runtime, one chunk at a time, and
/// aborts a transfer that stalls: no byte for the read limit, or fewer than
/// `min_speed` bytes/s over `speed_time`, or past the image's deadline.
struct BlobStream<'a> {
    runtime: &'a tokio::runtime::Runtime,
    stream: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
    what: String,
    policy: RetryPolicy,
    deadline: Option<Instant>,
    window_start: Instant,
    window_bytes: u64,
    total: u64,
}

impl<'a> BlobStream<'a> {
    fn new(
        runtime: &'a tokio::runtime::Runtime,
        resp: reqwest::Response,
        what: String,
        policy: RetryPolicy,
        deadline: Option<Instant>,
    ) -> BlobStream<'a> {
        BlobStream {
            runtime,
            stream: resp.bytes_stream().boxed(),
            chunk: bytes::Bytes::new(),
            what,
            policy,
            deadline,
            window_start: Instant::now(),
            window_bytes: 0,
            total: 0,
        }
    }

    fn stalled(&self, why: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{} stalled: {why} ({} bytes received)",
                self.what, self.total
            ),
        )
    }
}

impl Read for BlobStream<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let now = Instant::now();
            // Wake up at the end of the speed window to judge it, at the
            // read limit, or at the deadline, whichever comes first.
            let mut wait = self.policy.read.min(
                self.policy
                    .speed_time
                    .saturating_sub(now - self.window_start),
            );
            if let Some(d) = self.deadline {
                wait = wait.min(d.saturating_duration_since(now));
            }
            let next = self.runtime.block_on(async {
                tokio::time::timeout(wait.max(Duration::from_millis(1)), self.stream.next()).await
            });
            match next {
                Ok(None) => return Ok(0),
                Ok(Some(Ok(b))) => {
                    self.window_bytes += b.len() as u64;
                    self.total += b.len() as u64;
                    self.chunk = b;
                }
                Ok(Some(Err(e))) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!(
                            "{}: the transfer broke off after {} bytes: {}",
                            self.what,
                            self.total,
                            chain(&e)
                        ),
                    ))
                }
                Err(_) => {}
            }
            let now = Instant::now();
            if self.deadline.is_some_and(|d| now >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{}: the image's time limit (--timeout {}) passed after {} bytes",
                        self.what,
                        show_duration(self.policy.image_timeout),
                        self.total
                    ),
                ));
            }
            let elapsed = now - self.window_start;
            if self.chunk.is_empty() && elapsed >= self.policy.read && self.window_bytes == 0 {
                return Err(
                    self.stalled(format!("no data for {}", show_duration(self.policy.read)))
                );
            }
            if elapsed >= self.policy.speed_time {
                let rate = self.window_bytes as f64 / elapsed.as_secs_f64();
                if rate < self.policy.min_speed as f64 {
                    return Err(self.stalled(format!(
                        "{:.0} bytes/s over {}, below the {} bytes/s floor",
                        rate,
                        show_duration(self.policy.speed_time),
                        self.policy.min_speed
                    )));
                }
                self.window_start = now;
                self.window_bytes = 0;
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

impl RegistryStore {
    /// A failed GET as the user reads it.
    fn explain_get(&self, what: &str, e: GetError, auth_source: &str) -> StoreError {
        let r = &self.reference;
        let host = &r.registry;
        let message = match e.status {
            Some(401) => format!(
                "{r}: {what}: the registry answered 401 Unauthorized; credentials tried: {auth_source}; log in with `docker login {host}` or `podman login {host}`, or pass --authfile FILE, or --username NAME --password-stdin"
            ),
            Some(403) => format!(
                "{r}: {what}: the registry answered 403 Forbidden ({}); credentials tried: {auth_source}; check that this account may pull {}",
                e.message,
                r.name()
            ),
            Some(code) => format!(
                "{r}: {what}: the registry answered HTTP {code}{}{}",
                if e.message.is_empty() { String::new() } else { format!(": {}", e.message) },
                if e.transient { "; try later" } else { "" }
            ),
            None if e.auth => format!(
                "{r}: {what}: the registry's token service refused the credentials ({}); credentials tried: {auth_source}; log in again",
                e.message.trim()
            ),
            None => {
                let plain = self.client.options.plain_http.iter().any(|h| h == host);
                let advice = if plain {
                    format!("check that {host} is up and reachable over plain HTTP")
                } else if e.message.to_lowercase().contains("certificate") || e.message.to_lowercase().contains("tls") {
                    format!("if {host} speaks plain HTTP, pass --plain-http {host}; if it uses a private CA, pass --ca-file CA.pem")
                } else {
                    format!("check that {host} is reachable (a plain-HTTP registry must be named with --plain-http {host})")
                };
                format!("{r}: {what}: {}; {advice}", e.message)
            }
        };
        StoreError {
            message: crate::image::redact::redact(&message),
            transient: e.transient,
        }
    }

    fn selector_path(&self, sel: &Selector) -> String {
        match sel {
            Selector::Digest(d) => format!("manifests/{d}"),
            Selector::Tag(t) => format!("manifests/{t}"),
            Selector::Only => format!(
                "manifests/{}",
                self.reference
                    .digest
                    .clone()
                    .or_else(|| self.reference.tag.clone())
                    .unwrap_or_else(|| "latest".into())
            ),
        }
    }
}

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

impl Store for RegistryStore {
    fn fetch_manifest(&self, sel: &Selector) -> Result<Option<Fetched>, StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let c = &self.client;
        let path = self.selector_path(sel);
        let accept = media::ACCEPTED.join(", ");
        let deadline = deadline();
        let what = "fetching the manifest";
        // The body is read within the same tries: a manifest cut short is
        // fetched again.
        let mut attempt = 1;
        loop {
            let resp = c
                .runtime
                .block_on(c.get(&self.reference, &path, Some(&accept), deadline))
                .map_err(|e| self.explain_get(what, e, &auth))?;
            let Some(resp) = resp else {
                return Ok(None);
            };
            let mut body = Vec::new();
            let read = BlobStream::new(
                &c.runtime,
                resp,
                format!("the manifest of {}", self.reference),
                c.options.retry,
                deadline,
            )
            .take(MAX_MANIFEST_BYTES + 1)
            .read_to_end(&mut body);
            match read {
                Ok(_) if body.len() as u64 > MAX_MANIFEST_BYTES => {
                    return Err(StoreError::new(format!(
                        "{}: the manifest is larger than {MAX_MANIFEST_BYTES} bytes; that is not an image manifest",
                        self.reference
                    )))
                }
                Ok(_) => {
                    return verify_manifest(body, sel)
                        .map(Some)
                        .map_err(|m| StoreError::new(format!("{}: {m}", self.reference)))
                }
                Err(e) if attempt < c.options.retry.attempts && deadline.is_none_or(|d| Instant::now() < d) => {
                    let _ = e;
                    attempt += 1;
                    std::thread::sleep(c.options.retry.first_delay);
                }
                Err(e) => {
                    return Err(StoreError {
                        message: crate::image::redact::redact(&format!("{}: {what}: {e}", self.reference)),
                        transient: true,
                    })
                }
            }
        }
    }

    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>, StoreError> {
        let auth = self.client.ensure_auth(&self.reference)?;
        let c = &self.client;
        let deadline = deadline();
        let what = format!("fetching blob {}", desc.digest);
        let resp = c
            .runtime
            .block_on(c.get(
                &self.reference,
                &format!("blobs/{}", desc.digest),
                None,
                deadline,
            ))
            .map_err(|e| self.explain_get(&what, e, &auth))?
            .ok_or_else(|| {
                StoreError::new(format!(
                    "{}: {what}: the registry does not have it (404); the image is incomplete",
                    self.reference
                ))
            })?;
        Ok(Box::new(VerifyingReader::new(
            BlobStream::new(
                &c.runtime,
                resp,
                format!("blob {}", desc.digest),
                c.options.retry,
                deadline,
            ),
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
