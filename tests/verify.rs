//! `sme2wasm verify` with real modules: the Rust and AssemblyScript
//! proxy-wasm fixtures of testdata/wasm, and WAT modules built here for
//! each load error, a local reply, metrics, an HTTP call, an endless loop
//! and a memory bomb. Every difference and refusal is asserted from the
//! effects the host recorded, and every "same" case asserts the effects
//! both runs had, so that a host that ran nothing could not pass.

mod common;

use common::images;
use common::registry::{Flavour, Registry};
use common::sme2wasm;
use serde_json::Value;
use sme2wasm::image::registry::{RegistryClient, RegistryOptions, RegistryStore};
use sme2wasm::image::source::{Selector, Store};
use sme2wasm::image::{ImageRef, RegistryRef};
use std::path::{Path, PathBuf};

fn wasm_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/wasm")
            .join(name),
    )
    .unwrap()
}

/// The AssemblyScript fixture with its root id `as_hello` (UTF-16 in the
/// data section) changed to `abc_root`, the root_id Maistra gave an SME
/// named `abc`: same length, nothing else moves.
fn as_module_for_abc() -> Vec<u8> {
    let mut bytes = wasm_fixture("as_hello.wasm");
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    let (from, to) = (utf16("as_hello"), utf16("abc_root"));
    let at: Vec<usize> = (0..bytes.len() - from.len())
        .filter(|&i| bytes[i..i + from.len()] == from[..])
        .collect();
    assert_eq!(at.len(), 1, "the root id appears once");
    bytes[at[0]..at[0] + to.len()].copy_from_slice(&to);
    bytes
}

fn sme(name: &str, config: &str) -> String {
    format!(
        "apiVersion: maistra.io/v1\nkind: ServiceMeshExtension\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  image: quay.io/acme/filter:1.0\n  phase: PostAuthZ\n  priority: 10\n  workloadSelector: {{labels: {{app: cart}}}}\n{config}"
    )
}

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// `verify -o json --module M SMES EXTRA…`: (exit code, report, stderr).
    fn verify(&self, module: &[u8], smes: &str, extra: &[&str]) -> (i32, Value, String) {
        let m = self.file("module.wasm", module);
        let s = self.file("smes.yaml", smes.as_bytes());
        let out = sme2wasm(self.dir.path())
            .arg("verify")
            .arg(&s)
            .arg("--module")
            .arg(&m)
            .args(["-o", "json"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
        (
            out.status.code().unwrap(),
            report,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn plugin(report: &Value, i: usize) -> &Value {
    &report["plugins"][i]
}

/// The effects of one run as `at: what` lines.
fn effects(p: &Value, side: &str) -> Vec<String> {
    p[side]["effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["at"].as_str().unwrap(),
                e["what"].as_str().unwrap()
            )
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

// ---- the Rust proxy-wasm SDK fixture -------------------------------------

#[test]
fn rust_filter_that_rejected_null_now_runs_with_no_configuration() {
    let c = Case::new();
    let (code, r, stderr) = c.verify(&wasm_fixture("header_append.wasm"), &sme("ha", ""), &[]);
    assert_eq!(code, 1, "{stderr}");
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "different");
    assert_eq!(p["old"]["given"]["configuration"], "null");
    assert_eq!(p["new"]["given"]["configuration"], "");
    assert_eq!(p["old"]["refused"]["at"], "proxy_on_configure");
    assert!(p["new"]["refused"].is_null());
    assert_eq!(
        strings(&p["diff"]),
        vec![
            "- proxy_on_configure: log error: header-append: invalid configuration: expected a JSON object of header name -> value".to_string(),
            "- refused at proxy_on_configure: it returned false: the plugin rejects this configuration (Envoy: Failed to configure base Wasm plugin; the listener is not updated)".to_string(),
        ]
    );
    assert_eq!(
        strings(&p["causes"]),
        vec!["the configuration: Maistra sent `null`, Istio sends nothing (0 bytes) (the WasmPlugin has no pluginConfig)"]
    );
    assert!(
        stderr.contains("ERROR[E601] shop/ha: verify: Maistra's configuration was refused"),
        "{stderr}"
    );
}

#[test]
fn rust_filter_with_the_same_object_behaves_the_same() {
    let c = Case::new();
    let config = "  config:\n    x-powered-by: sme2wasm\n    via: \"<edge&>\"\n";
    let (code, r, stderr) = c.verify(&wasm_fixture("header_append.wasm"), &sme("ha", config), &[]);
    assert_eq!(code, 0, "{stderr}");
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "same");
    // Go's layout on both sides: keys sorted, HTML characters escaped.
    let bytes = r#"{"via":"\u003cedge\u0026\u003e","x-powered-by":"sme2wasm"}"#;
    assert_eq!(p["old"]["given"]["configuration"], bytes);
    assert_eq!(p["new"]["given"]["configuration"], bytes);
    let want = vec![
        "request 1 proxy_on_response_headers: response header added: via: <edge&>".to_string(),
        "request 1 proxy_on_response_headers: response header added: x-powered-by: sme2wasm"
            .to_string(),
    ];
    assert_eq!(effects(p, "old"), want);
    assert_eq!(effects(p, "new"), want);
    assert!(p["diff"].is_null());
    assert_eq!(r["summary"]["same"], 1);
}

#[test]
fn readable_report_and_exit_codes() {
    let c = Case::new();
    let m = c.file("m.wasm", &wasm_fixture("header_append.wasm"));
    let s = c.file(
        "smes.yaml",
        format!("{}---\n{}", sme("ha", ""), sme("hb", "  config: {k: v}\n")).as_bytes(),
    );
    let out = sme2wasm(c.dir.path())
        .arg("verify")
        .arg(&s)
        .arg("--module")
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("shop/ha ("), "{text}");
    assert!(text.contains(": DIFFERENT: "), "{text}");
    assert!(
        text.contains("  cause: the configuration: Maistra sent `null`"),
        "{text}"
    );
    assert!(
        text.contains("    - proxy_on_configure: log error"),
        "{text}"
    );
    assert!(text.contains("shop/hb ("), "{text}");
    assert!(text.contains(": SAME: "), "{text}");
    assert!(
        text.ends_with("2 plugin(s): 1 same, 1 different, 0 refused, 0 not checked\n"),
        "{text}"
    );
    // Unreadable input: 2.
    let bad = c.file("bad.yaml", b"kind: ServiceMeshExtension\n: [x\n");
    let out = sme2wasm(c.dir.path())
        .arg("verify")
        .arg(&bad)
        .arg("--module")
        .arg(&m)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A scenario that is not one: 2, naming the file.
    let sc = c.file("sc.yaml", b"requests: []\n");
    let out = sme2wasm(c.dir.path())
        .arg("verify")
        .arg(&s)
        .arg("--module")
        .arg(&m)
        .arg("--request")
        .arg(&sc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sc.yaml: `requests` is empty"));
}

// ---- the AssemblyScript proxy-runtime fixture ----------------------------

#[test]
fn assemblyscript_filter_that_ran_with_null_traps_with_no_configuration() {
    let c = Case::new();
    let (code, r, stderr) = c.verify(&as_module_for_abc(), &sme("abc", ""), &[]);
    assert_eq!(code, 1, "{stderr}");
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "refused");
    assert!(p["old"]["refused"].is_null());
    assert!(effects(p, "old").contains(
        &"request 1 proxy_on_response_headers: response header added: hello: null".to_string()
    ));
    assert_eq!(p["new"]["refused"]["at"], "proxy_on_configure");
    assert_eq!(
        p["new"]["refused"]["reason"],
        "trapped: out of bounds memory access"
    );
    assert!(p["summary"]
        .as_str()
        .unwrap()
        .ends_with("while it ran under Maistra's"));
    assert!(p["advice"].as_str().unwrap().contains("pluginConfig"));
}

#[test]
fn assemblyscript_filter_with_an_object_behaves_the_same() {
    let c = Case::new();
    let (code, r, stderr) = c.verify(
        &as_module_for_abc(),
        &sme("abc", "  config: {k: 1.50}\n"),
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "same");
    let added = "request 1 proxy_on_response_headers: response header added: hello: {\"k\":1.5}";
    assert!(effects(p, "old").contains(&added.to_string()), "{p}");
    assert_eq!(effects(p, "old"), effects(p, "new"));
}

#[test]
fn a_root_id_that_no_longer_matches_is_named() {
    let c = Case::new();
    let (code, r, _) = c.verify(
        &as_module_for_abc(),
        &sme("abc", "  config: {k: v}\n"),
        &["--no-plugin-name"],
    );
    assert_eq!(code, 1);
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "refused");
    assert_eq!(p["new"]["refused"]["reason"], "exited with proc_exit(255)");
    assert!(effects(p, "new")
        .iter()
        .any(|e| e.contains("Missing root context factory for root id: ")));
    assert_eq!(
        strings(&p["causes"]),
        vec!["the root_id: Maistra used `abc_root`, Istio uses `` (pluginName)"]
    );
}

// ---- WAT modules ---------------------------------------------------------

/// A proxy-wasm module (ABI 0.2.1) whose configure keeps the configuration
/// size in $cfg, with `imports`, `data` and the body of
/// proxy_on_request_headers (which returns 0 after it).
fn module(imports: &str, data: &str, on_request_headers: &str, extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $cfg (mut i32) (i32.const 0))
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "malloc") (param i32) (result i32) (i32.const 4096))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (global.set $cfg (local.get 1)) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    {on_request_headers} (i32.const 0))
  {extra}
  {data})"#
    ))
    .unwrap()
}

const LOCAL_RESPONSE: &str = r#"(import "env" "proxy_send_local_response" (func $reply (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#;

#[test]
fn a_local_reply_that_depends_on_the_configuration_size() {
    // Denies the request when it received no configuration at all.
    let m = module(
        LOCAL_RESPONSE,
        r#"(data (i32.const 16) "denied") (data (i32.const 32) "\01\00\00\00\01\00\00\00\01\00\00\00x\00y\00")"#,
        "(if (i32.eqz (global.get $cfg)) (then (drop (call $reply (i32.const 403) (i32.const 0) (i32.const 0) (i32.const 16) (i32.const 6) (i32.const 32) (i32.const 16) (i32.const -1)))))",
        "",
    );
    let c = Case::new();
    let (code, r, _) = c.verify(&m, &sme("deny", "  config: {}\n"), &[]);
    assert_eq!(code, 1);
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "different");
    assert_eq!(
        strings(&p["diff"]),
        vec!["+ request 1 proxy_on_request_headers: local reply 403 (details \"\") headers [x: y] body \"denied\""]
    );
    assert_eq!(
        strings(&p["causes"]),
        vec!["the configuration: Maistra sent `{}`, Istio sends nothing (0 bytes) (Istio drops an empty pluginConfig)"]
    );
    // After a local reply the upstream's response never reaches the plugin.
    assert!(!effects(p, "new")
        .iter()
        .any(|e| e.contains("proxy_on_response")));
    // The same reply on both sides is the same.
    let (code, r, _) = c.verify(&m, &sme("deny", "  config: {a: 1}\n"), &[]);
    assert_eq!(code, 0);
    assert_eq!(plugin(&r, 0)["verdict"], "same");
}

#[test]
fn metrics_defined_and_changed() {
    let m = module(
        r#"(import "env" "proxy_define_metric" (func $define (param i32 i32 i32 i32) (result i32)))
           (import "env" "proxy_increment_metric" (func $inc (param i32 i64) (result i32)))"#,
        r#"(data (i32.const 16) "requests_total")"#,
        "(drop (call $define (i32.const 0) (i32.const 16) (i32.const 14) (i32.const 64)))
         (drop (call $inc (i32.load (i32.const 64)) (i64.extend_i32_u (global.get $cfg))))",
        "",
    );
    let c = Case::new();
    let (code, r, _) = c.verify(&m, &sme("count", "  config: {a: b}\n"), &[]);
    assert_eq!(code, 0);
    let p = plugin(&r, 0);
    assert_eq!(
        effects(p, "new"),
        vec![
            "request 1 proxy_on_request_headers: metric defined: counter requests_total",
            "request 1 proxy_on_request_headers: metric requests_total += 9 (now 9)",
        ]
    );
    assert_eq!(effects(p, "old"), effects(p, "new"));
    let (code, r, _) = c.verify(&m, &sme("count", ""), &[]);
    assert_eq!(code, 1);
    assert_eq!(
        strings(&plugin(&r, 0)["diff"]),
        vec![
            "- request 1 proxy_on_request_headers: metric requests_total += 4 (now 4)",
            "+ request 1 proxy_on_request_headers: metric requests_total += 0 (now 0)",
        ]
    );
}

#[test]
fn http_calls_are_recorded_and_a_call_envoy_refuses_is_named() {
    let headers = |with_authority: bool| {
        let pairs: &[(&str, &str)] = if with_authority {
            &[
                (":path", "/check"),
                (":method", "GET"),
                (":authority", "authz"),
            ]
        } else {
            &[(":path", "/check"), (":method", "GET")]
        };
        let mut b = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            b.extend((k.len() as u32).to_le_bytes());
            b.extend((v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            b.extend(k.as_bytes());
            b.push(0);
            b.extend(v.as_bytes());
            b.push(0);
        }
        b.iter().map(|x| format!("\\{x:02x}")).collect::<String>()
    };
    let (good, bad) = (headers(true), headers(false));
    let m = module(
        r#"(import "env" "proxy_http_call" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
        &format!(
            r#"(data (i32.const 16) "outbound|80||authz") (data (i32.const 64) "{good}") (data (i32.const 512) "{bad}")"#
        ),
        &format!(
            "(drop (call $call (i32.const 16) (i32.const 18) (i32.const 64) (i32.const {}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 1000)))
             (drop (call $call (i32.const 16) (i32.const 18) (i32.const 512) (i32.const {}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 5000) (i32.const 1000)))",
            good.len() / 3,
            bad.len() / 3
        ),
        "",
    );
    let c = Case::new();
    let (code, r, _) = c.verify(&m, &sme("authz", "  config: {a: b}\n"), &[]);
    assert_eq!(code, 0);
    assert_eq!(
        effects(plugin(&r, 0), "new"),
        vec![
            "request 1 proxy_on_request_headers: HTTP call to outbound|80||authz: headers [:path: /check, :method: GET, :authority: authz] body \"\" timeout 5000 ms",
            "request 1 proxy_on_request_headers: HTTP call to outbound|80||authz refused (BadArgument): no :authority header",
        ]
    );
}

#[test]
fn an_endless_loop_ends_with_a_clear_error() {
    let m = wat::parse_str(
        r#"(module (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "proxy_on_configure") (param i32 i32) (result i32)
            (loop $l (br $l)) (i32.const 1)))"#,
    )
    .unwrap();
    let c = Case::new();
    let (code, r, _) = c.verify(
        &m,
        &sme("spin", "  config: {a: b}\n"),
        &["--fuel", "2000000"],
    );
    assert_eq!(code, 1);
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "refused");
    assert_eq!(p["new"]["refused"]["at"], "proxy_on_configure");
    assert_eq!(
        p["new"]["refused"]["reason"],
        "ran out of fuel: it did not finish within the fuel limit (an endless loop?)"
    );
    assert!(p["summary"].as_str().unwrap().ends_with("as under Maistra"));
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let m = wat::parse_str(
        r#"(module (memory (export "memory") 1)
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "proxy_on_configure") (param i32 i32) (result i32)
            (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            (i32.const 1)))"#,
    )
    .unwrap();
    let c = Case::new();
    let (code, r, _) = c.verify(
        &m,
        &sme("bomb", "  config: {a: b}\n"),
        &["--memory-limit", "8"],
    );
    assert_eq!(code, 1);
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "refused");
    assert_eq!(
        p["new"]["refused"]["reason"],
        "memory limit reached: it tried to grow its memory beyond 8 MiB"
    );
}

#[test]
fn each_load_error_is_refused_with_envoys_reason() {
    let tail = r#"(memory (export "memory") 1) (func (export "malloc") (param i32) (result i32) (i32.const 0))"#;
    let cases = [
        (
            format!(r#"(module {tail})"#),
            "Missing or unknown Proxy-Wasm ABI version",
        ),
        (
            format!(
                r#"(module (import "env" "proxy_get_configuration" (func (param i32 i32) (result i32))) (func (export "proxy_abi_version_0_2_1")) {tail})"#
            ),
            "missing import: env.proxy_get_configuration (Envoy does not provide it under ABI 0.2.1)",
        ),
        (
            format!(
                r#"(module (import "env" "proxy_log" (func (param i32 i32) (result i32))) (func (export "proxy_abi_version_0_2_1")) {tail})"#
            ),
            "import type mismatch: env.proxy_log: the module declares (i32, i32) -> i32, Envoy provides (i32, i32, i32) -> i32",
        ),
        (
            format!(
                r#"(module (import "env" "g" (global i32)) (func (export "proxy_abi_version_0_2_1")) {tail})"#
            ),
            "missing import: env.g (a global",
        ),
        (
            r#"(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))"#
                .to_string(),
            "missing malloc function",
        ),
        (
            format!(
                r#"(module (func (export "proxy_abi_version_0_2_1")) (func (export "proxy_on_configure") (param i32) (result i32) (i32.const 1)) {tail})"#
            ),
            "Bad function signature for: proxy_on_configure",
        ),
    ];
    let c = Case::new();
    for (wat, want) in cases {
        let (code, r, stderr) = c.verify(
            &wat::parse_str(&wat).unwrap(),
            &sme("x", "  config: {a: b}\n"),
            &[],
        );
        assert_eq!(code, 1, "{wat}");
        let p = plugin(&r, 0);
        assert_eq!(p["verdict"], "refused", "{wat}");
        assert!(p["summary"].as_str().unwrap().contains(want), "{wat}: {p}");
        assert!(stderr.contains(want), "{stderr}");
    }
}

#[test]
fn only_logging_and_wasi_while_starting() {
    let m = wat::parse_str(
        r#"(module
          (import "env" "proxy_get_property" (func $get (param i32 i32 i32 i32) (result i32)))
          (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "plugin_name")
          (func (export "proxy_abi_version_0_2_1"))
          (func (export "malloc") (param i32) (result i32) (i32.const 4096))
          (func (export "_start")
            (drop (call $log (i32.const 2) (i32.const 16) (i32.const 6)))
            (drop (call $get (i32.const 16) (i32.const 11) (i32.const 64) (i32.const 68)))))"#,
    )
    .unwrap();
    let c = Case::new();
    let (code, r, _) = c.verify(&m, &sme("early", "  config: {a: b}\n"), &[]);
    assert_eq!(code, 1);
    let p = plugin(&r, 0);
    assert_eq!(effects(p, "new"), vec!["start: log info: plugin"]);
    assert_eq!(
        p["new"]["refused"]["reason"],
        "called env.proxy_get_property while starting; Envoy allows only logging and WASI calls then (the VM fails)"
    );
}

#[test]
fn a_scenario_with_a_body_and_several_requests() {
    // Logs the request body it is given.
    let m = module(
        r#"(import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
           (import "env" "proxy_get_buffer_bytes" (func $buf (param i32 i32 i32 i32 i32) (result i32)))"#,
        "",
        "",
        r#"(func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
             (drop (call $buf (i32.const 0) (i32.const 0) (local.get 1) (i32.const 64) (i32.const 68)))
             (drop (call $log (i32.const 2) (i32.load (i32.const 64)) (i32.load (i32.const 68))))
             (i32.const 0))"#,
    );
    let c = Case::new();
    let sc = c.file(
        "sc.yaml",
        b"requests:\n- request: {headers: {':method': POST}, body: first}\n- request: {body: second}\n  response: {headers: {':status': 503}}\n",
    );
    let (code, r, _) = c.verify(
        &m,
        &sme("body", "  config: {a: b}\n"),
        &["--request", sc.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert_eq!(
        effects(plugin(&r, 0), "new"),
        vec![
            "request 1 proxy_on_request_body: log info: first",
            "request 2 proxy_on_request_body: log info: second",
        ]
    );
}

// ---- images ---------------------------------------------------------------

fn options(reg: &Registry) -> RegistryOptions {
    RegistryOptions {
        plain_http: vec![reg.host.clone()],
        ..Default::default()
    }
}

fn push_module(reg: &Registry, repo_tag: &str, module: &[u8]) -> String {
    let client = RegistryClient::new(options(reg)).unwrap();
    let reference = match ImageRef::parse(&reg.reference(repo_tag)).unwrap() {
        ImageRef::Registry(r) => r,
        other => panic!("{other:?}"),
    };
    let tag = reference.tag.clone().unwrap();
    let built = sme2wasm::image::build::build(&sme2wasm::image::build::ImageSpec {
        module,
        sme_manifest: None,
        format: sme2wasm::image::media::Format::Oci,
        platform: None,
    })
    .unwrap();
    let store = RegistryStore::new(client, reference);
    store.put_blob(&built.layer).unwrap();
    store.put_blob(&built.config).unwrap();
    store
        .put_manifest(&built.manifest, &Selector::Tag(tag))
        .unwrap();
    built.digest().to_string()
}

fn push_fixture(reg: &Registry, name: &str, repo_tag: &str) {
    let client = RegistryClient::new(options(reg)).unwrap();
    let reference: RegistryRef = match ImageRef::parse(&reg.reference(repo_tag)).unwrap() {
        ImageRef::Registry(r) => r,
        other => panic!("{other:?}"),
    };
    let tag = reference.tag.clone().unwrap();
    images::build(name).store(&RegistryStore::new(client, reference), &tag);
}

#[test]
fn modules_from_the_sme_image_and_the_repacked_image() {
    let reg = Registry::start(Flavour::Anonymous);
    let home = tempfile::tempdir().unwrap();
    push_fixture(&reg, "header-append-sme", "sme/ha:1.0");
    let sme_image = reg.reference("sme/ha:1.0");
    let text = sme("ha", "  config: {x: z}\n").replace("quay.io/acme/filter:1.0", &sme_image);
    let smes = home.path().join("smes.yaml");
    std::fs::write(&smes, &text).unwrap();
    let verify = |extra: &[&str]| {
        let out = sme2wasm(home.path())
            .arg("verify")
            .arg(&smes)
            .args(["-o", "json", "--plain-http", &reg.host])
            .args(extra)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code().unwrap(), report)
    };
    // The SME's own image, read as repack reads it.
    let (code, r) = verify(&[]);
    assert_eq!(code, 0, "{r}");
    let p = plugin(&r, 0);
    let sha = common::sha256(&wasm_fixture("header_append.wasm"));
    assert_eq!(p["module"], format!("{sha} from {sme_image}"));
    assert_eq!(
        effects(p, "new"),
        vec!["request 1 proxy_on_response_headers: response header added: x: z"]
    );
    // Repacked by sme2wasm: the image map's image holds the same bytes.
    let map = home.path().join("images.yaml");
    let dst = reg.reference("wasm/ha:1.0");
    sme2wasm(home.path())
        .args([
            "repack",
            &sme_image,
            "--to",
            &dst,
            "--plain-http",
            &reg.host,
        ])
        .arg("--image-map")
        .arg(&map)
        .assert()
        .success();
    let (code, r) = verify(&["--image-map", map.to_str().unwrap()]);
    assert_eq!(code, 0, "{r}");
    assert!(
        plugin(&r, 0)["module"]
            .as_str()
            .unwrap()
            .ends_with(&format!("the same bytes in {dst}@sha256:{}", {
                let m = std::fs::read_to_string(&map).unwrap();
                m.split("sha256:").nth(1).unwrap()[..64].to_string()
            })),
        "{r}"
    );
    // An image map whose image holds another module.
    let other = module("", "", "", "");
    let digest = push_module(&reg, "wasm/other:1.0", &other);
    let bad_map = home.path().join("bad.yaml");
    std::fs::write(
        &bad_map,
        format!(
            "apiVersion: sme2wasm.io/v1\nkind: ImageMap\nimages:\n- from: {sme_image}\n  to: {}\n  digest: {digest}\n",
            reg.reference("wasm/other:1.0")
        ),
    )
    .unwrap();
    let (code, r) = verify(&["--image-map", bad_map.to_str().unwrap()]);
    assert_eq!(code, 1, "{r}");
    let p = plugin(&r, 0);
    assert_eq!(p["verdict"], "not-checked");
    assert!(
        p["summary"]
            .as_str()
            .unwrap()
            .contains("they must be byte-identical"),
        "{p}"
    );
    // An image that is not there: not checked, named.
    let missing = home.path().join("missing.yaml");
    std::fs::write(
        &missing,
        text.replace(&sme_image, &reg.reference("sme/nothing:1.0")),
    )
    .unwrap();
    let out = sme2wasm(home.path())
        .arg("verify")
        .arg(&missing)
        .args(["--plain-http", &reg.host])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT CHECKED: no module to run: "), "{text}");
    assert!(text.contains("sme/nothing:1.0"), "{text}");
}

/// An SME image (manifest.yaml naming filter.wasm, one gzip layer) in an
/// OCI layout directory.
fn sme_layout(dir: &Path, module: &[u8]) -> String {
    use sme2wasm::image::build::Blob;
    use sme2wasm::image::media::Format;
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in [
        (
            "manifest.yaml",
            &b"schemaVersion: 1\nname: f\nphase: PostAuthZ\npriority: 1\nmodule: filter.wasm\n"[..],
        ),
        ("filter.wasm", module),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    let layer = Blob::new(Format::Oci.layer_type(), gz.finish().unwrap());
    let config = Blob::new(
        Format::Oci.config_type(),
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": Format::Oci.manifest_type(),
        "config": {"mediaType": config.media_type, "digest": config.digest, "size": config.data.len()},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.data.len()}],
    });
    let manifest = Blob::new(
        Format::Oci.manifest_type(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    let reference = format!("oci:{}:1", dir.display());
    let ImageRef::Layout(l) = ImageRef::parse(&reference).unwrap() else {
        panic!("a layout reference")
    };
    let store = sme2wasm::image::layout::LayoutStore::new(l);
    store.put_blob(&layer).unwrap();
    store.put_blob(&config).unwrap();
    store
        .put_manifest(&manifest, &Selector::Tag("1".into()))
        .unwrap();
    reference
}

#[test]
fn repack_refuses_a_module_envoy_would_not_load() {
    let home = tempfile::tempdir().unwrap();
    let bad = wat::parse_str(
        r#"(module (import "env" "abort" (func (param i32 i32 i32 i32)))
             (memory (export "memory") 1)
             (func (export "proxy_abi_version_0_2_0"))
             (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    let src = sme_layout(&home.path().join("bad"), &bad);
    let dst = format!("oci:{}:1", home.path().join("out").display());
    let out = sme2wasm(home.path())
        .args(["repack", &src, "--to", &dst])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("module /filter.wasm: Envoy would refuse to load it: Failed to load Wasm module due to a missing import: env.abort; nothing was pushed"),
        "{err}"
    );
    assert!(!home.path().join("out").exists(), "nothing was written");
    // The same image with a module Envoy loads is repacked.
    let good = sme_layout(
        &home.path().join("good"),
        &wasm_fixture("header_append.wasm"),
    );
    sme2wasm(home.path())
        .args(["repack", &good, "--to", &dst])
        .assert()
        .success();
}

#[test]
fn migrate_verify_keeps_an_sme_whose_plugin_envoy_would_refuse() {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let module = home.path().join("abc.wasm");
    std::fs::write(&module, as_module_for_abc()).unwrap();
    let refused = sme("abc", "");
    let fine = sme("abc", "  config: {k: v}\n").replace("namespace: shop", "namespace: web");
    std::fs::write(repo.join("refused.yaml"), &refused).unwrap();
    std::fs::write(repo.join("fine.yaml"), &fine).unwrap();
    let migrate = |extra: &[&str]| {
        sme2wasm(home.path())
            .arg("migrate")
            .arg(&repo)
            // a scratch directory; the safety rules have tests of their own
            .arg("--allow-no-vcs")
            .arg("--verify")
            .arg("--verify-module")
            .arg(&module)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = migrate(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refused.yaml:1: ERROR[E603] shop/abc: verify: Envoy would refuse it under Istio's configuration (proxy_on_configure: trapped: out of bounds memory access), while it ran under Maistra's; not written, its ServiceMeshExtension stays"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("refused.yaml")).unwrap(),
        refused
    );
    let written = std::fs::read_to_string(repo.join("fine.yaml")).unwrap();
    assert!(written.contains("kind: WasmPlugin"), "{written}");
    // --force writes it, with a WARN.
    let out = migrate(&["--force"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("WARN[W604] shop/abc: verify: Envoy would refuse it"),
        "{err}"
    );
    let written = std::fs::read_to_string(repo.join("refused.yaml")).unwrap();
    assert!(written.contains("kind: WasmPlugin"), "{written}");
}
