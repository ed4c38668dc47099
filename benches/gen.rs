//! Deterministic generator of the benchmark streams: realistic
//! ServiceMeshExtensions (maistra.io/v1) and the Deployments, Services and
//! ConfigMaps they live among. Seeded, no dependencies: the same seed always
//! gives the same bytes.

use std::fmt::Write;

/// SplitMix64: tiny, fast and good enough to vary test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.next_u64() % 100 < pct
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "catalog",
    "inventory",
    "shipping",
    "identity",
    "search",
    "reviews",
    "ratings",
    "billing",
    "notifications",
    "ledger",
    "fraud",
    "loyalty",
    "pricing",
    "orders",
];
const ENVS: &[&str] = &["prod", "staging", "dev", "qa", "perf"];
const SERVICES: &[&str] = &[
    "api",
    "gateway",
    "worker",
    "frontend",
    "backend",
    "web",
    "grpc",
    "sync",
    "indexer",
    "scheduler",
];
const PLUGINS: &[&str] = &[
    "header-append",
    "jwt-claims",
    "rate-limit",
    "request-id",
    "cors",
    "geo-block",
    "canary-router",
    "auth-bridge",
    "metrics-tagger",
    "body-size-guard",
    "ip-allowlist",
    "tenant-router",
];
const REGISTRIES: &[&str] = &[
    "quay.io/acme-mesh",
    "registry.redhat.io/openshift-service-mesh",
    "image-registry.openshift-image-registry.svc:5000/mesh-ext",
    "ghcr.io/acme-platform",
];
const PHASES: &[&str] = &[
    "PreAuthN",
    "PostAuthN",
    "PreAuthZ",
    "PostAuthZ",
    "PreStats",
    "PostStats",
];
const WORDS: &[&str] = &[
    "timeout",
    "header",
    "tenant",
    "region",
    "upstream",
    "cache",
    "policy",
    "claim",
    "issuer",
    "audience",
    "limit",
    "window",
    "bucket",
    "route",
    "prefix",
    "suffix",
    "enabled",
    "mode",
    "level",
    "threshold",
    "retries",
    "backoff",
    "origin",
    "method",
    "status",
    "secret",
    "token",
    "cookie",
    "path",
    "weight",
];
const HEADERS: &[&str] = &[
    "x-request-id",
    "x-b3-traceid",
    "x-tenant",
    "x-forwarded-for",
    "x-envoy-original-path",
    "authorization",
    "x-api-key",
    "x-canary",
];
const SENTENCES: &[&str] = &[
    "Adds the tenant header before the request reaches the service.",
    "Rejects requests whose token was issued by an unknown issuer.",
    "Owned by the platform team; page #mesh-oncall before changing it.",
    "Counts requests per route and tags them with the caller's region.",
    "Blocks traffic from regions the contract does not cover.",
    "Temporary: remove after the Q3 migration of the checkout flow.",
];

fn word(r: &mut Rng) -> String {
    let a = r.pick(WORDS);
    if r.chance(40) {
        let b = r.pick(WORDS);
        format!("{a}_{b}")
    } else {
        a.to_string()
    }
}

fn scalar(r: &mut Rng) -> String {
    match r.range(0, 11) {
        0 => r.range(0, 100_000).to_string(),
        1 => format!("{}ms", r.range(5, 30_000)),
        2 => (if r.chance(50) { "true" } else { "false" }).to_string(),
        3 => format!("\"{}\"", r.pick(SENTENCES)),
        4 => format!(
            "https://{}.{}.svc.cluster.local:{}/v1/{}",
            r.pick(SERVICES),
            r.pick(TEAMS),
            r.range(8000, 9999),
            r.pick(WORDS)
        ),
        5 => r.pick(HEADERS).to_string(),
        6 => format!("'^/api/v{}/{}/.*$'", r.range(1, 3), r.pick(WORDS)),
        7 => format!("{}.{}", r.range(0, 99), r.range(0, 99)),
        8 => format!(
            "{}-{}-{:08x}",
            r.pick(TEAMS),
            r.pick(ENVS),
            r.next_u64() as u32
        ),
        _ => word(r),
    }
}

/// A config value at `indent`, written after `key:`.
fn config_value(r: &mut Rng, out: &mut String, indent: usize, depth: usize) {
    let pad = " ".repeat(indent);
    let kind = if depth >= 2 { 0 } else { r.range(0, 9) };
    match kind {
        // nested map
        7 | 8 => {
            out.push('\n');
            for k in 0..r.range(2, 5) {
                let _ = write!(out, "{pad}{}_{k}:", word(r));
                config_value(r, out, indent + 2, depth + 1);
            }
        }
        // list of scalars
        5 => {
            out.push('\n');
            for _ in 0..r.range(1, 5) {
                let _ = writeln!(out, "{pad}- {}", scalar(r));
            }
        }
        // list of maps
        6 => {
            out.push('\n');
            for _ in 0..r.range(1, 3) {
                let n = r.range(2, 3);
                for j in 0..n {
                    let lead = if j == 0 { "- " } else { "  " };
                    let _ = writeln!(out, "{pad}{lead}{}_{j}: {}", word(r), scalar(r));
                }
            }
        }
        _ => {
            let _ = writeln!(out, " {}", scalar(r));
        }
    }
}

/// One ServiceMeshExtension, `i` keeping names unique.
pub fn sme(r: &mut Rng, i: usize, out: &mut String) {
    let team = r.pick(TEAMS);
    let env = r.pick(ENVS);
    let plugin = r.pick(PLUGINS);
    let svc = r.pick(SERVICES);
    let root = r.chance(3);
    let ns = if root {
        "istio-system".to_string()
    } else {
        format!("{team}-{env}")
    };
    out.push_str("---\n");
    if r.chance(30) {
        let _ = writeln!(out, "# {}", r.pick(SENTENCES));
    }
    out.push_str("apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata:\n");
    let _ = writeln!(out, "  name: {plugin}-{svc}-{i:06}\n  namespace: {ns}");
    if r.chance(60) {
        let _ = writeln!(
            out,
            "  labels:\n    app.kubernetes.io/part-of: {team}\n    app.kubernetes.io/managed-by: {}",
            r.pick(&["argocd", "helm", "kustomize"])
        );
    }
    if r.chance(25) {
        let _ = writeln!(
            out,
            "  annotations:\n    owner: {team}@example.com\n    description: \"{}\"",
            r.pick(SENTENCES)
        );
    }
    out.push_str("spec:\n");
    let _ = writeln!(
        out,
        "  image: {}/{plugin}:{}.{}.{}",
        r.pick(REGISTRIES),
        r.range(0, 3),
        r.range(0, 20),
        r.range(0, 9)
    );
    if r.chance(40) {
        let _ = writeln!(
            out,
            "  imagePullPolicy: {}",
            r.pick(&["IfNotPresent", "Always"])
        );
    }
    if r.chance(20) {
        let _ = writeln!(out, "  imagePullSecrets:\n  - name: {team}-pull-secret");
    }
    match r.range(0, 9) {
        0 => {} // every workload of the namespace
        1 if root => {
            out.push_str("  workloadSelector:\n    labels:\n      istio: ingressgateway\n")
        }
        2..=4 => {
            let _ = writeln!(
                out,
                "  workloadSelector:\n    labels:\n      app: {team}-{svc}\n      version: v{}",
                r.range(1, 3)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  workloadSelector:\n    labels:\n      app: {team}-{svc}"
            );
        }
    }
    let _ = writeln!(out, "  phase: {}", r.pick(PHASES));
    if r.chance(90) {
        let _ = writeln!(out, "  priority: {}", r.range(0, 50) * 10);
    }
    out.push_str("  config:\n");
    for k in 0..r.range(3, 30) {
        let _ = write!(out, "    {}_{k}:", word(r));
        config_value(r, out, 6, 0);
    }
}

fn deployment(r: &mut Rng, i: usize, out: &mut String) {
    let team = r.pick(TEAMS);
    let env = r.pick(ENVS);
    let svc = r.pick(SERVICES);
    let _ = writeln!(
        out,
        "---\n# {team}-{svc}: {}\n# Managed by the {team} team; edit through the GitOps repository.",
        r.pick(SENTENCES)
    );
    let _ = writeln!(
        out,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {team}-{svc}-{i:06}\n  namespace: {team}-{env}\n  labels:\n    app: {team}-{svc}\n    version: v{}\nspec:\n  replicas: {} # scaled by the HPA in prod\n  selector:\n    matchLabels:\n      app: {team}-{svc}\n  template:\n    metadata:\n      labels:\n        app: {team}-{svc}\n      annotations:\n        sidecar.istio.io/inject: \"true\"\n    spec:\n      containers:\n      - name: {svc}\n        image: {}/{team}-{svc}:{}.{}.{}\n        ports:\n        - containerPort: {}\n          name: http",
        r.range(1, 3),
        r.range(1, 12),
        r.pick(REGISTRIES),
        r.range(0, 5),
        r.range(0, 30),
        r.range(0, 9),
        r.range(8000, 9000)
    );
    out.push_str("        env:\n");
    for _ in 0..r.range(2, 8) {
        let _ = writeln!(
            out,
            "        - name: {}\n          value: {}",
            word(r).to_ascii_uppercase(),
            scalar(r)
        );
    }
    let _ = writeln!(
        out,
        "        resources:\n          requests: {{cpu: {}m, memory: {}Mi}}\n          limits:\n            memory: {}Mi\n        readinessProbe:\n          httpGet: {{path: /healthz, port: http}}\n          periodSeconds: 10",
        r.range(50, 500),
        r.range(64, 512),
        r.range(512, 2048)
    );
}

fn service(r: &mut Rng, i: usize, out: &mut String) {
    let team = r.pick(TEAMS);
    let env = r.pick(ENVS);
    let svc = r.pick(SERVICES);
    let _ = writeln!(
        out,
        "---\n# Service for {team}-{svc}\napiVersion: v1\nkind: Service\nmetadata:\n  name: {team}-{svc}-{i:06}\n  namespace: {team}-{env}\n  labels:\n    app: {team}-{svc}\nspec:\n  selector:\n    app: {team}-{svc}  # must match the Deployment\n  ports:\n  - name: http\n    port: 80\n    targetPort: {}\n  - name: grpc\n    port: 9090\n    targetPort: 9090",
        r.range(8000, 9000)
    );
}

fn configmap(r: &mut Rng, i: usize, out: &mut String) {
    let team = r.pick(TEAMS);
    let env = r.pick(ENVS);
    let _ = writeln!(
        out,
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {team}-settings-{i:06}\n  namespace: {team}-{env}\n  # keep in sync with the Helm values\ndata:"
    );
    for k in 0..r.range(3, 12) {
        let _ = writeln!(out, "  {}.{k}: {}", word(r), scalar(r));
    }
    let _ = writeln!(
        out,
        "  application.properties: |\n    # {}\n    server.port={}\n    {}.{}={}",
        r.pick(SENTENCES),
        r.range(8000, 9000),
        r.pick(WORDS),
        r.pick(WORDS),
        r.range(1, 1000)
    );
}

/// `n` documents, one in `every` of them an SME (every = 1: all SMEs).
pub fn stream(seed: u64, n: usize, every: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(n * 1200);
    for i in 0..n {
        if i % every == 0 {
            sme(&mut r, i, &mut out);
        } else {
            match r.range(0, 2) {
                0 => deployment(&mut r, i, &mut out),
                1 => service(&mut r, i, &mut out),
                _ => configmap(&mut r, i, &mut out),
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The export-shaped stream: SMEs as users feed convert. About 30% as
// `oc get servicemeshextension NAME -o yaml` prints them (sorted keys,
// last-applied-configuration, managedFields, status), about 10% in flow
// style, the rest hand-written block style with comments.

/// A config value, kept as a tree so that one SME can be written as block
/// YAML, flow YAML and the JSON of last-applied-configuration alike.
#[derive(Clone)]
enum Cfg {
    Str(String),
    Int(i64),
    Float(u64, u64),
    Bool(bool),
    Map(Vec<(String, Cfg)>),
    List(Vec<Cfg>),
}

const PEM_LINES: usize = 6;

fn cfg_string(r: &mut Rng) -> Cfg {
    let s = match r.range(0, 9) {
        0 => r.pick(SENTENCES).to_string(),
        1 => format!(
            "https://{}.{}.svc.cluster.local:{}/v1/{}",
            r.pick(SERVICES),
            r.pick(TEAMS),
            r.range(8000, 9999),
            r.pick(WORDS)
        ),
        2 => r.pick(HEADERS).to_string(),
        3 => format!("^/api/v{}/{}/\\d+$", r.range(1, 3), r.pick(WORDS)),
        4 => format!("{}ms", r.range(5, 30_000)),
        5 => format!(
            "{}-{}-{:08x}",
            r.pick(TEAMS),
            r.pick(ENVS),
            r.next_u64() as u32
        ),
        6 => r.range(1000, 65_000).to_string(), // a number kept as a string
        // a multi-line text: a policy or a certificate
        7 => {
            let mut t = String::from("-----BEGIN CERTIFICATE-----\n");
            for _ in 0..r.range(2, PEM_LINES as u64) {
                for _ in 0..8 {
                    let _ = write!(t, "{:08x}", r.next_u64() as u32);
                }
                t.push('\n');
            }
            t.push_str("-----END CERTIFICATE-----\n");
            t
        }
        8 => {
            let mut t = String::new();
            for _ in 0..r.range(2, 5) {
                let _ = writeln!(
                    t,
                    "allow {} {} /{}/{}",
                    r.pick(&["GET", "POST", "PUT", "DELETE"]),
                    r.pick(TEAMS),
                    r.pick(WORDS),
                    r.pick(WORDS)
                );
            }
            if r.chance(50) {
                t.pop(); // `|-`: no final newline
            }
            t
        }
        _ => word(r),
    };
    Cfg::Str(s)
}

fn cfg_scalar(r: &mut Rng) -> Cfg {
    match r.range(0, 5) {
        0 => Cfg::Int(r.range(0, 100_000) as i64),
        1 => Cfg::Bool(r.chance(50)),
        2 => Cfg::Float(r.range(0, 99), r.range(1, 99)),
        _ => cfg_string(r),
    }
}

fn cfg_value(r: &mut Rng, depth: usize) -> Cfg {
    match if depth >= 3 { 0 } else { r.range(0, 9) } {
        7 | 8 => cfg_map(r, 2, 4, depth + 1),
        5 => Cfg::List((0..r.range(1, 5)).map(|_| cfg_scalar(r)).collect()),
        6 => Cfg::List(
            (0..r.range(1, 3))
                .map(|_| {
                    let n = r.range(2, 3);
                    Cfg::Map(
                        (0..n)
                            .map(|j| (format!("{}_{j}", word(r)), cfg_scalar(r)))
                            .collect(),
                    )
                })
                .collect(),
        ),
        _ => cfg_scalar(r),
    }
}

fn cfg_map(r: &mut Rng, lo: u64, hi: u64, depth: usize) -> Cfg {
    Cfg::Map(
        (0..r.range(lo, hi))
            .map(|k| (format!("{}_{k}", word(r)), cfg_value(r, depth)))
            .collect(),
    )
}

/// A whole spec.config: mostly small, some medium, a few large.
fn cfg_config(r: &mut Rng) -> Cfg {
    match r.range(0, 9) {
        0..=5 => cfg_map(r, 1, 4, 0),
        6..=8 => cfg_map(r, 3, 7, 0),
        _ => cfg_map(r, 8, 16, 0),
    }
}

fn sorted(c: &Cfg) -> Cfg {
    match c {
        Cfg::Map(m) => {
            let mut m: Vec<(String, Cfg)> = m.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Cfg::Map(m)
        }
        Cfg::List(l) => Cfg::List(l.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json(c: &Cfg, out: &mut String) {
    match c {
        Cfg::Str(s) => json_str(s, out),
        Cfg::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Cfg::Float(a, b) => {
            let _ = write!(out, "{a}.{b}");
        }
        Cfg::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Cfg::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(k, out);
                out.push(':');
                json(v, out);
            }
            out.push('}');
        }
        Cfg::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(v, out);
            }
            out.push(']');
        }
    }
}

/// True when `s` reads back as the same string written plain.
fn plain_ok(s: &str, flow: bool) -> bool {
    let first = s.chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/') || (!flow && c == ':')
        })
        && !s.ends_with(':')
        && !s.contains(": ")
}

fn scalar_text(c: &Cfg, flow: bool, hand: bool, r: &mut Rng, out: &mut String) {
    match c {
        Cfg::Str(s) if plain_ok(s, flow) => out.push_str(s),
        Cfg::Str(s) if hand && !flow && !s.contains('\n') && r.chance(50) => {
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        other => json(other, out),
    }
}

fn flow(c: &Cfg, r: &mut Rng, out: &mut String) {
    match c {
        Cfg::Map(m) => {
            out.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                flow(v, r, out);
            }
            out.push('}');
        }
        Cfg::List(l) => {
            out.push('[');
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                flow(v, r, out);
            }
            out.push(']');
        }
        other => scalar_text(other, true, false, r, out),
    }
}

/// `c` written after `key:` (the key already out) at `indent`. `hand`: as
/// people write it (lists indented, some single quotes and trailing
/// comments); otherwise as kubectl prints it (lists at the key's column,
/// double quotes).
fn block(c: &Cfg, indent: usize, hand: bool, r: &mut Rng, out: &mut String) {
    let pad = " ".repeat(indent);
    match c {
        Cfg::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Cfg::List(l) if l.is_empty() => out.push_str(" []\n"),
        Cfg::Map(m) => {
            out.push('\n');
            for (k, v) in m {
                let _ = write!(out, "{pad}{k}:");
                block(v, indent + 2, hand, r, out);
            }
        }
        Cfg::List(l) => {
            out.push('\n');
            let indent = if hand || indent < 2 {
                indent
            } else {
                indent - 2
            };
            let pad = " ".repeat(indent);
            for v in l {
                match v {
                    Cfg::Map(m) if !m.is_empty() => {
                        for (j, (k, v)) in m.iter().enumerate() {
                            let lead = if j == 0 { "- " } else { "  " };
                            let _ = write!(out, "{pad}{lead}{k}:");
                            block(v, indent + 4, hand, r, out);
                        }
                    }
                    Cfg::List(_) | Cfg::Map(_) => {
                        let _ = write!(out, "{pad}- ");
                        flow(v, r, out);
                        out.push('\n');
                    }
                    _ => {
                        let _ = write!(out, "{pad}-");
                        block(v, indent + 2, hand, r, out);
                    }
                }
            }
        }
        Cfg::Str(s) if s.contains('\n') => {
            let chomp = if s.ends_with('\n') { "" } else { "-" };
            let _ = writeln!(out, " |{chomp}");
            for line in s.lines() {
                let _ = writeln!(out, "{pad}{line}");
            }
        }
        other => {
            out.push(' ');
            scalar_text(other, false, hand, r, out);
            if hand && r.chance(4) {
                let _ = write!(out, "  # {}", r.pick(SENTENCES));
            }
            out.push('\n');
        }
    }
}

/// The `f:` tree of managedFields for a value: maps by key, lists atomic.
fn fields_v1(c: &Cfg, indent: usize, out: &mut String) {
    match c {
        Cfg::Map(m) if !m.is_empty() => {
            let pad = " ".repeat(indent);
            let _ = writeln!(out, "\n{pad}.: {{}}");
            for (k, v) in m {
                let _ = write!(out, "{pad}f:{k}:");
                fields_v1(v, indent + 2, out);
            }
        }
        _ => out.push_str(" {}\n"),
    }
}

/// What one SME says, before it is written in one of the shapes.
struct Facts {
    alpha: bool,
    name: String,
    ns: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    image: String,
    pull_policy: Option<&'static str>,
    pull_secret: Option<String>,
    selector: Vec<(String, String)>,
    phase: Option<&'static str>,
    /// The phase and priority Maistra resolved (status), for exports.
    status_phase: &'static str,
    priority: Option<i64>,
    status_priority: i64,
    config: Cfg,
}

fn facts(r: &mut Rng, i: usize, export: bool) -> Facts {
    let team = r.pick(TEAMS);
    let env = r.pick(ENVS);
    let plugin = r.pick(PLUGINS);
    let svc = r.pick(SERVICES);
    let root = r.chance(3);
    let ns = if root {
        "istio-system".to_string()
    } else {
        format!("{team}-{env}")
    };
    let mut labels = Vec::new();
    if r.chance(70) {
        labels.push(("app.kubernetes.io/part-of".to_string(), team.to_string()));
        labels.push((
            "app.kubernetes.io/managed-by".to_string(),
            r.pick(&["argocd", "helm", "kustomize", "Helm"]).to_string(),
        ));
    }
    if r.chance(30) {
        labels.push((
            "mesh.example.com/tier".to_string(),
            r.pick(&["edge", "core", "batch"]).to_string(),
        ));
    }
    let mut annotations = Vec::new();
    if r.chance(30) {
        annotations.push(("owner".to_string(), format!("{team}@example.com")));
        annotations.push(("description".to_string(), r.pick(SENTENCES).to_string()));
    }
    let selector = match r.range(0, 9) {
        0 => Vec::new(),
        1 if root => vec![("istio".to_string(), "ingressgateway".to_string())],
        2..=4 => vec![
            ("app".to_string(), format!("{team}-{svc}")),
            ("version".to_string(), format!("v{}", r.range(1, 3))),
        ],
        _ => vec![("app".to_string(), format!("{team}-{svc}"))],
    };
    let status_phase = r.pick(PHASES);
    // Without spec.phase only in exports, whose status says what Maistra used.
    let phase = if export && r.chance(15) {
        None
    } else {
        Some(status_phase)
    };
    let status_priority = r.range(0, 50) as i64 * 10;
    let priority = if r.chance(20) {
        None
    } else {
        Some(status_priority)
    };
    Facts {
        alpha: r.chance(6),
        name: format!("{plugin}-{svc}-{i:06}"),
        ns,
        labels,
        annotations,
        image: format!(
            "{}/{plugin}:{}.{}.{}",
            r.pick(REGISTRIES),
            r.range(0, 3),
            r.range(0, 20),
            r.range(0, 9)
        ),
        pull_policy: if r.chance(40) {
            Some(r.pick(&["IfNotPresent", "Always"]))
        } else {
            None
        },
        pull_secret: if r.chance(20) {
            Some(format!("{team}-pull-secret"))
        } else {
            None
        },
        selector,
        phase,
        status_phase,
        priority,
        status_priority,
        config: cfg_config(r),
    }
}

impl Facts {
    fn api_version(&self) -> &'static str {
        if self.alpha {
            "maistra.io/v1alpha1"
        } else {
            "maistra.io/v1"
        }
    }

    fn metadata_labels(&self) -> Cfg {
        Cfg::Map(
            self.labels
                .iter()
                .map(|(k, v)| (k.clone(), Cfg::Str(v.clone())))
                .collect(),
        )
    }

    /// The spec as a tree of (key, value) in `sorted` or written order.
    fn spec(&self, sort: bool) -> Cfg {
        let config = if sort {
            sorted(&self.config)
        } else {
            self.config.clone()
        };
        // v1alpha1 carries its config as a string holding JSON.
        let config = if self.alpha {
            let mut text = String::new();
            json(&config, &mut text);
            Cfg::Str(text)
        } else {
            config
        };
        let mut spec = vec![("image".to_string(), Cfg::Str(self.image.clone()))];
        if let Some(p) = self.pull_policy {
            spec.push(("imagePullPolicy".to_string(), Cfg::Str(p.to_string())));
        }
        if let Some(s) = &self.pull_secret {
            spec.push((
                "imagePullSecrets".to_string(),
                Cfg::List(vec![Cfg::Map(vec![(
                    "name".to_string(),
                    Cfg::Str(s.clone()),
                )])]),
            ));
        }
        if !self.selector.is_empty() {
            let labels = self
                .selector
                .iter()
                .map(|(k, v)| (k.clone(), Cfg::Str(v.clone())))
                .collect();
            spec.push((
                "workloadSelector".to_string(),
                Cfg::Map(vec![("labels".to_string(), Cfg::Map(labels))]),
            ));
        }
        if let Some(p) = self.phase {
            spec.push(("phase".to_string(), Cfg::Str(p.to_string())));
        }
        if let Some(p) = self.priority {
            spec.push(("priority".to_string(), Cfg::Int(p)));
        }
        spec.push(("config".to_string(), config));
        let spec = Cfg::Map(spec);
        if sort {
            sorted(&spec)
        } else {
            spec
        }
    }

    fn metadata(&self) -> Cfg {
        let mut m = vec![
            ("name".to_string(), Cfg::Str(self.name.clone())),
            ("namespace".to_string(), Cfg::Str(self.ns.clone())),
        ];
        let strings = |v: &[(String, String)]| {
            Cfg::Map(
                v.iter()
                    .map(|(k, v)| (k.clone(), Cfg::Str(v.clone())))
                    .collect(),
            )
        };
        if !self.labels.is_empty() {
            m.push(("labels".to_string(), strings(&self.labels)));
        }
        if !self.annotations.is_empty() {
            m.push(("annotations".to_string(), strings(&self.annotations)));
        }
        Cfg::Map(m)
    }
}

fn timestamp(r: &mut Rng) -> String {
    format!(
        "20{}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        r.range(21, 24),
        r.range(1, 12),
        r.range(1, 28),
        r.range(0, 23),
        r.range(0, 59),
        r.range(0, 59)
    )
}

fn hex(r: &mut Rng, n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        let _ = write!(s, "{:016x}", r.next_u64());
    }
    s.truncate(n);
    s
}

/// `oc get servicemeshextension NAME -o yaml`: keys sorted, server-set
/// metadata, the last-applied configuration, managedFields and status.
fn export_sme(r: &mut Rng, f: &Facts, out: &mut String) {
    let spec = f.spec(true);
    let created = timestamp(r);
    let generation = r.range(1, 9);
    // last-applied: the object as applied, user annotations included.
    let mut applied = String::new();
    let mut user_annotations = f.annotations.clone();
    user_annotations.sort();
    let _ = write!(
        applied,
        "{{\"apiVersion\":\"{}\",\"kind\":\"ServiceMeshExtension\",\"metadata\":{{\"annotations\":{{",
        f.api_version()
    );
    for (i, (k, v)) in user_annotations.iter().enumerate() {
        if i > 0 {
            applied.push(',');
        }
        json_str(k, &mut applied);
        applied.push(':');
        json_str(v, &mut applied);
    }
    applied.push('}');
    if !f.labels.is_empty() {
        applied.push_str(",\"labels\":");
        json(&sorted(&f.metadata_labels()), &mut applied);
    }
    let _ = write!(
        applied,
        ",\"name\":\"{}\",\"namespace\":\"{}\"}},\"spec\":",
        f.name, f.ns
    );
    json(&spec, &mut applied);
    applied.push('}');

    let _ = writeln!(
        out,
        "---\napiVersion: {}\nkind: ServiceMeshExtension\nmetadata:\n  annotations:",
        f.api_version()
    );
    let mut ann: Vec<(String, String)> = f.annotations.clone();
    ann.push((
        "kubectl.kubernetes.io/last-applied-configuration".to_string(),
        String::new(),
    ));
    ann.sort();
    for (k, v) in &ann {
        if v.is_empty() {
            let _ = writeln!(out, "    {k}: |\n      {applied}");
        } else {
            let _ = write!(out, "    {k}:");
            block(&Cfg::Str(v.clone()), 6, false, r, out);
        }
    }
    let _ = writeln!(
        out,
        "  creationTimestamp: \"{created}\"\n  generation: {generation}"
    );
    if !f.labels.is_empty() {
        out.push_str("  labels:");
        block(&sorted(&f.metadata_labels()), 4, false, r, out);
    }
    // managedFields: the client-side apply, then the operator's status.
    out.push_str("  managedFields:\n  - apiVersion: ");
    out.push_str(f.api_version());
    out.push_str("\n    fieldsType: FieldsV1\n    fieldsV1:\n      f:metadata:\n        f:annotations:\n          .: {}\n");
    for (k, _) in &ann {
        let _ = writeln!(out, "          f:{k}: {{}}");
    }
    if !f.labels.is_empty() {
        out.push_str("        f:labels:");
        fields_v1(&sorted(&f.metadata_labels()), 10, out);
    }
    out.push_str("      f:spec:");
    fields_v1(&spec, 8, out);
    let _ = writeln!(
        out,
        "    manager: kubectl-client-side-apply\n    operation: Update\n    time: \"{created}\""
    );
    let url = format!("oci://{}", f.image);
    let status = Cfg::Map(vec![
        (
            "deployment".to_string(),
            Cfg::Map(vec![
                ("containerSha256".to_string(), Cfg::Str(hex(r, 64))),
                ("ready".to_string(), Cfg::Bool(!r.chance(2))),
                ("sha256".to_string(), Cfg::Str(hex(r, 64))),
                ("url".to_string(), Cfg::Str(url)),
            ]),
        ),
        (
            "observedGeneration".to_string(),
            Cfg::Int(generation as i64),
        ),
        ("phase".to_string(), Cfg::Str(f.status_phase.to_string())),
        ("priority".to_string(), Cfg::Int(f.status_priority)),
    ]);
    let _ = write!(
        out,
        "  - apiVersion: {}\n    fieldsType: FieldsV1\n    fieldsV1:\n      f:status:",
        f.api_version()
    );
    fields_v1(&status, 8, out);
    let _ = writeln!(
        out,
        "    manager: {}\n    operation: Update\n    subresource: status\n    time: \"{}\"",
        r.pick(&["istio-operator", "maistra-operator"]),
        timestamp(r)
    );
    let _ = writeln!(
        out,
        "  name: {}\n  namespace: {}\n  resourceVersion: \"{}\"\n  uid: {}-{}-{}-{}-{}",
        f.name,
        f.ns,
        r.range(100_000, 99_999_999),
        hex(r, 8),
        hex(r, 4),
        hex(r, 4),
        hex(r, 4),
        hex(r, 12)
    );
    out.push_str("spec:");
    block(&spec, 2, false, r, out);
    out.push_str("status:");
    block(&status, 2, false, r, out);
}

/// Flow style: the whole document on a few lines, or a block document
/// whose spec or config is written in flow style.
fn flow_sme(r: &mut Rng, f: &Facts, out: &mut String) {
    let _ = writeln!(out, "---");
    if r.chance(50) {
        let _ = write!(
            out,
            "{{apiVersion: {}, kind: ServiceMeshExtension,\n  metadata: ",
            f.api_version()
        );
        flow(&f.metadata(), r, out);
        out.push_str(",\n  spec: ");
        flow(&f.spec(false), r, out);
        out.push_str("}\n");
    } else {
        let _ = write!(
            out,
            "apiVersion: {}\nkind: ServiceMeshExtension\nmetadata:",
            f.api_version()
        );
        block(&f.metadata(), 2, false, r, out);
        if r.chance(50) {
            out.push_str("spec: ");
            flow(&f.spec(false), r, out);
            out.push('\n');
        } else {
            let Cfg::Map(mut spec) = f.spec(false) else {
                unreachable!("a spec is a map")
            };
            let (_, config) = spec.pop().expect("config is last");
            out.push_str("spec:");
            block(&Cfg::Map(spec), 2, false, r, out);
            out.push_str("  config: ");
            flow(&config, r, out);
            out.push('\n');
        }
    }
}

/// Hand-written block style with comments.
fn hand_sme(r: &mut Rng, f: &Facts, out: &mut String) {
    out.push_str("---\n");
    if r.chance(40) {
        let _ = writeln!(out, "# {}", r.pick(SENTENCES));
    }
    let _ = write!(
        out,
        "apiVersion: {}\nkind: ServiceMeshExtension\nmetadata:",
        f.api_version()
    );
    block(&f.metadata(), 2, true, r, out);
    let Cfg::Map(spec) = f.spec(false) else {
        unreachable!("a spec is a map")
    };
    out.push_str("spec:\n");
    for (k, v) in &spec {
        if k == "config" {
            if r.chance(30) {
                let _ = writeln!(out, "  # {}", r.pick(SENTENCES));
            }
            if f.alpha {
                // v1alpha1: the JSON string as a literal block
                let Cfg::Str(s) = v else {
                    unreachable!("v1alpha1 config is a string")
                };
                let _ = writeln!(out, "  config: |\n    {s}");
                continue;
            }
        }
        let _ = write!(out, "  {k}:");
        block(v, 4, true, r, out);
    }
}

/// `n` SMEs shaped like the streams users convert: about 30% exports,
/// 10% flow style, the rest hand-written.
pub fn export_stream(seed: u64, n: usize) -> String {
    let mut r = Rng::new(seed);
    let mut out = String::with_capacity(n * 2100);
    for i in 0..n {
        let shape = r.range(0, 99);
        let f = facts(&mut r, i, shape < 30);
        match shape {
            0..=29 => export_sme(&mut r, &f, &mut out),
            30..=39 => flow_sme(&mut r, &f, &mut out),
            _ => hand_sme(&mut r, &f, &mut out),
        }
    }
    out
}
