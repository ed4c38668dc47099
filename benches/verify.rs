//! The verify benchmark: `sme2wasm verify`'s work over 1,000 SMEs that
//! share 10 modules, each module prepared (load check and compilation)
//! once, each SME run twice (Maistra's configuration, Istio's) through the
//! canary and one GET answered 200.
//!
//!     cargo bench --bench verify                  # 1,000 SMEs, 10 modules
//!     cargo bench --bench verify -- --smes 200    # fewer
//!
//! Modules: the Rust proxy-wasm fixture and the AssemblyScript fixture of
//! testdata/wasm, five distinct copies of each (a custom section tells them
//! apart, as builds of different filters would be). Half the SMEs carry an
//! object configuration, half none, so both "same" and "different" reports
//! are produced.

use sme2wasm::conversion::convert::Options;
use sme2wasm::conversion::stream::Input;
use sme2wasm::verify::{self, host::Prepared, Settings};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/wasm")
            .join(name),
    )
    .expect("the committed fixture")
}

/// A copy of `module` with a custom section naming it: other bytes, same code.
fn variant(module: &[u8], n: usize) -> Vec<u8> {
    let name = b"sme2wasm-bench";
    let payload = format!("variant {n}");
    let mut section = vec![name.len() as u8];
    section.extend(name);
    section.extend(payload.as_bytes());
    let mut out = module.to_vec();
    out.push(0); // custom section id
    out.push(section.len() as u8);
    out.extend(section);
    out
}

/// The AssemblyScript fixture registers its root context as `as_hello`;
/// SMEs named `abc` get root_id `abc_root` (same length).
fn as_for_abc() -> Vec<u8> {
    let mut bytes = fixture("as_hello.wasm");
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let (from, to) = (utf16("as_hello"), utf16("abc_root"));
    let at = (0..bytes.len() - from.len())
        .find(|&i| bytes[i..i + from.len()] == from[..])
        .expect("the root id is in the module");
    bytes[at..at + to.len()].copy_from_slice(&to);
    bytes
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smes: usize = args
        .iter()
        .position(|a| a == "--smes")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--smes N"))
        .unwrap_or(1000);
    let modules: Vec<Vec<u8>> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                variant(&fixture("header_append.wasm"), i)
            } else {
                variant(&as_for_abc(), i)
            }
        })
        .collect();

    let mut text = String::new();
    for i in 0..smes {
        let name = if (i % 10) % 2 == 0 { "ha" } else { "abc" };
        let config = if i % 4 < 2 {
            "  config:\n    x-request-source: bench\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "---\napiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: {name}, namespace: ns-{i}}}\nspec:\n  image: quay.io/acme/filter-{}:1.0\n  phase: PostAuthZ\n  priority: 10\n  workloadSelector: {{labels: {{app: a}}}}\n{config}",
            i % 10
        ));
    }
    let opts = Options::default();
    let inputs = [Input {
        name: "bench.yaml".into(),
        text: text.into(),
    }];
    let t = Instant::now();
    let read = verify::read_and_convert(&inputs, &opts);
    let convert_time = t.elapsed();
    assert_eq!(read.pairs.len(), smes, "every SME converts");

    let t = Instant::now();
    let prepared: Vec<Prepared> = modules
        .iter()
        .map(|m| Prepared::new(m).expect("the fixtures load"))
        .collect();
    let prepare_time = t.elapsed();

    let settings = Settings::new(&opts);
    let mut per_plugin: Vec<Duration> = Vec::with_capacity(smes);
    let mut verdicts = std::collections::BTreeMap::new();
    let t = Instant::now();
    for (i, pair) in read.pairs.iter().enumerate() {
        let one = Instant::now();
        let r = verify::verify_prepared(
            pair,
            &settings,
            &prepared[i % 10],
            format!("module {}", i % 10),
        );
        per_plugin.push(one.elapsed());
        *verdicts.entry(format!("{:?}", r.verdict)).or_insert(0usize) += 1;
    }
    let run_time = t.elapsed();
    per_plugin.sort();
    let pct = |p: f64| per_plugin[((per_plugin.len() - 1) as f64 * p) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("verify: {smes} SMEs sharing 10 modules (release build)");
    println!("  read and convert            {:>9.1} ms", ms(convert_time));
    println!(
        "  prepare 10 modules (once)   {:>9.1} ms ({:.2} ms each)",
        ms(prepare_time),
        ms(prepare_time) / 10.0
    );
    println!(
        "  verify every plugin         {:>9.1} ms ({:.3} ms per plugin: two runs, canary and one request each)",
        ms(run_time),
        ms(run_time) / smes as f64
    );
    println!(
        "  per plugin: median {:.3} ms, p90 {:.3} ms, max {:.3} ms",
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(1.0))
    );
    println!(
        "  whole run                   {:>9.1} ms",
        ms(convert_time + prepare_time + run_time)
    );
    println!("  verdicts: {verdicts:?}");
}
