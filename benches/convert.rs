//! The convert benchmark: `sme2wasm convert` against a bare parse-and-emit
//! of the same stream, measured side by side in one run.
//!
//!     cargo bench --bench convert                      # the table
//!     cargo bench --bench convert -- --docs 10000      # a smaller stream
//!     cargo bench --bench convert -- --write DIR       # only write the streams
//!
//! Two generated streams of 100,000 documents each: every document an SME,
//! and one SME in ten among Deployments, Services and ConfigMaps. Targets:
//! convert at most 1.25x the bare time on the first, faster than bare on
//! the second.

#[path = "gen.rs"]
mod generate;

use sme2wasm::conversion::convert::Options;
use sme2wasm::conversion::stream::{self, Format, Input};
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
    every: usize,
    /// Maximum convert/bare ratio, and whether it must be strictly below.
    target: f64,
    strict: bool,
}

const STREAMS: [Stream; 2] = [
    Stream {
        name: "all SMEs",
        file: "sme.yaml",
        every: 1,
        target: 1.25,
        strict: false,
    },
    Stream {
        name: "1 in 10 SMEs",
        file: "mixed.yaml",
        every: 10,
        target: 1.0,
        strict: true,
    },
];

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
    let docs: usize = value_of("--docs").map_or(100_000, |v| v.parse().expect("--docs N"));
    let runs: usize = value_of("--runs").map_or(3, |v| v.parse().expect("--runs N"));
    let only = value_of("--only");

    if let Some(dir) = value_of("--write") {
        std::fs::create_dir_all(&dir).expect("create the output directory");
        for s in &STREAMS {
            let text = generate::stream(SEED, docs, s.every);
            let path = std::path::Path::new(&dir).join(s.file);
            std::fs::write(&path, &text).expect("write the stream");
            println!("{} {} bytes", path.display(), text.len());
        }
        return;
    }

    let opts = Options::default();
    println!(
        "{docs} documents per stream, best of {runs} runs (bare: split + serde_yaml parse and emit per document)\n"
    );
    println!(
        "{:<14} {:>12} {:>10} {:>10} {:>7} {:>8}  result",
        "stream", "bytes", "bare s", "convert s", "ratio", "target"
    );
    let mut failed = false;
    for s in &STREAMS {
        if only.as_deref().is_some_and(|o| o != s.file) {
            continue;
        }
        let text = generate::stream(SEED, docs, s.every);
        let input = vec![Input {
            name: s.file.to_string(),
            text,
        }];
        // Check once, outside the timing, that convert did the whole job.
        let outcome = convert(&input, &opts);
        let expected = docs.div_ceil(s.every);
        assert_eq!(
            (outcome.converted, outcome.unreadable),
            (expected, 0),
            "every generated SME converts"
        );
        drop(outcome);
        let (mut t_bare, mut t_conv) = (Vec::new(), Vec::new());
        for _ in 0..runs {
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
            "{:<14} {:>12} {:>10.3} {:>10.3} {:>6.2}x {:>7}  {}",
            s.name,
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
