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
