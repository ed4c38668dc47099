//! The convert benchmark: `sme2wasm convert` against a bare parse-and-emit
//! of the same stream, measured side by side in one run.
//!
//!     cargo bench --bench convert                      # the table
//!     cargo bench --bench convert -- --docs 10000      # smaller streams
//!     cargo bench --bench convert -- --only export.yaml
//!     cargo bench --bench convert -- --write DIR       # only write the streams
//!     cargo bench --bench convert -- --bare FILE       # only the bare pass over FILE
//!
//! Three generated streams. `sme.yaml`: 100,000 SMEs; `mixed.yaml`: 100,000
//! documents, one SME in ten among Deployments, Services and ConfigMaps;
//! `export.yaml`: 10,000 SMEs shaped as users feed convert (about 30% as
//! `oc get -o yaml` prints them, with managedFields, the last-applied
//! configuration and status; 10% in flow style; the rest hand-written with
//! comments; about 20% without spec.priority). `--docs N` scales them all:
//! N documents in the first two, N/10 in the third. Targets, convert time
//! over bare time: at most 1.25x on sme.yaml, below 0.5x on mixed.yaml, at
//! most 1.0x on export.yaml.
//!
//! `--bare FILE` runs the bare parse-and-emit over FILE once and nothing
//! else, so that benches/convert.sh can measure the baseline's peak RSS.

#[path = "gen.rs"]
mod generate;

use sme2wasm::conversion::convert::Options;
use sme2wasm::conversion::stream::{self, Format, Input};
use sme2wasm::notify::Level;
use sme2wasm::yaml;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SEED: u64 = 0x5eed_2024;

/// Parse every document and emit it again: what any tool that reads the
/// stream with serde_yaml and writes it back does at the least.
fn bare(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for doc in yaml::split_documents(text) {
        let value = yaml::backend_parse(doc.text).expect("the generated stream is valid YAML");
        out.push_str("---\n");
        out.push_str(&yaml::backend_to_string(&value));
    }
    out
}

fn convert(input: &[Input], opts: &Options) -> stream::Outcome {
    stream::convert_inputs(input, opts, Format::Yaml, false)
}

struct Stream {
    name: &'static str,
    file: &'static str,
    /// Documents at the default size (`--docs` scales them).
    docs: usize,
    /// The stream of `n` documents from a seed.
    generate: fn(u64, usize) -> String,
    /// How many of `n` documents are SMEs.
    smes: fn(usize) -> usize,
    /// Maximum convert/bare ratio, and whether it must be strictly below.
    target: f64,
    strict: bool,
    /// Timed runs by default (`--runs N` sets all): more for the small
    /// stream, whose best times a busy machine disturbs the most.
    runs: usize,
}

/// The default of the largest stream: `--docs N` scales every stream by
/// N over this.
const DEFAULT_DOCS: usize = 100_000;

const STREAMS: [Stream; 3] = [
    Stream {
        name: "all SMEs",
        file: "sme.yaml",
        docs: 100_000,
        generate: |seed, n| generate::stream(seed, n, 1),
        smes: |n| n,
        target: 1.25,
        strict: false,
        runs: 3,
    },
    Stream {
        name: "1 in 10 SMEs",
        file: "mixed.yaml",
        docs: 100_000,
        generate: |seed, n| generate::stream(seed, n, 10),
        smes: |n| n.div_ceil(10),
        target: 0.5,
        strict: true,
        runs: 3,
    },
    Stream {
        name: "export-shaped",
        file: "export.yaml",
        docs: 10_000,
        generate: generate::export_stream,
        smes: |n| n,
        target: 1.0,
        strict: false,
        runs: 7,
    },
];

impl Stream {
    fn docs(&self, scale: usize) -> usize {
        (self.docs * scale / DEFAULT_DOCS).max(1)
    }
}

fn best(runs: &[Duration]) -> f64 {
    runs.iter().min().expect("at least one run").as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let scale: usize = value_of("--docs").map_or(DEFAULT_DOCS, |v| v.parse().expect("--docs N"));
    let runs: Option<usize> = value_of("--runs").map(|v| v.parse().expect("--runs N"));
    let only = value_of("--only");

    if let Some(file) = value_of("--bare") {
        let text = std::fs::read_to_string(&file).expect("read the --bare FILE");
        let out = bare(black_box(&text));
        println!("{file}: {} bytes in, {} bytes out", text.len(), out.len());
        return;
    }

    if let Some(dir) = value_of("--write") {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        for s in &STREAMS {
            let text = (s.generate)(SEED, s.docs(scale));
            let path = std::path::Path::new(&dir).join(s.file);
            std::fs::write(&path, &text).expect("write the stream");
            println!("{} {} bytes", path.display(), text.len());
        }
        return;
    }

    let opts = Options::default();
    println!("best of N runs, bare and convert alternating (bare: split + serde_yaml parse and emit per document)\n");
    println!(
        "{:<14} {:>8} {:>4} {:>12} {:>10} {:>10} {:>7} {:>8}  result",
        "stream", "docs", "N", "bytes", "bare s", "convert s", "ratio", "target"
    );
    let mut failed = false;
    for s in &STREAMS {
        if only.as_deref().is_some_and(|o| o != s.file) {
            continue;
        }
        let docs = s.docs(scale);
        let text = (s.generate)(SEED, docs);
        let input = vec![Input {
            name: s.file.to_string(),
            text: text.into(),
        }];
        // Check once, outside the timing, that convert did the whole job.
        let outcome = convert(&input, &opts);
        let errors: Vec<_> = outcome
            .notifications
            .iter()
            .filter(|n| n.level == Level::Error)
            .take(3)
            .map(|n| format!("{} {}: {}", n.code, n.object, n.message))
            .collect();
        assert_eq!(
            (outcome.converted, outcome.unreadable, errors),
            ((s.smes)(docs), 0, Vec::<String>::new()),
            "every generated SME of {} converts without an error",
            s.file
        );
        drop(outcome);
        let (mut t_bare, mut t_conv) = (Vec::new(), Vec::new());
        for _ in 0..runs.unwrap_or(s.runs) {
            let t = Instant::now();
            black_box(bare(black_box(&input[0].text)));
            t_bare.push(t.elapsed());
            let t = Instant::now();
            black_box(convert(black_box(&input), &opts));
            t_conv.push(t.elapsed());
        }
        let (b, c) = (best(&t_bare), best(&t_conv));
        let ratio = c / b;
        let pass = if s.strict {
            ratio < s.target
        } else {
            ratio <= s.target
        };
        failed |= !pass;
        println!(
            "{:<14} {:>8} {:>4} {:>12} {:>10.3} {:>10.3} {:>6.2}x {:>7}  {}",
            s.name,
            docs,
            t_bare.len(),
            input[0].text.len(),
            b,
            c,
            ratio,
            format!("{}{:.2}x", if s.strict { "<" } else { "<=" }, s.target),
            if pass { "PASS" } else { "FAIL" }
        );
    }
    if failed {
        std::process::exit(1);
    }
}
