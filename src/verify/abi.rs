//! What Envoy's proxy-wasm host (proxy-wasm-cpp-host) registers and
//! requires, and the load check it applies before a plugin runs
//! (VERIFY.md §1): the ABI version from the exports, every function import
//! known with the exact signature for that ABI, no global imports, an
//! allocator, and the exports it calls with the signatures it calls them
//! with. Signatures follow include/proxy-wasm/exports.h: `Word` is i32,
//! `int64_t`/`uint64_t` are i64.

use serde::Serialize;
use std::fmt;

/// A proxy-wasm ABI version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Abi {
    #[serde(rename = "0.1.0")]
    V010,
    #[serde(rename = "0.2.0")]
    V020,
    #[serde(rename = "0.2.1")]
    V021,
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Abi::V010 => "0.1.0",
            Abi::V020 => "0.2.0",
            Abi::V021 => "0.2.1",
        })
    }
}

/// A value type of a host function signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    I32,
    I64,
}

const W: Ty = Ty::I32;
const L: Ty = Ty::I64;

/// One host function: where the module imports it from and its signature.
#[derive(Debug, Clone, Copy)]
pub struct HostFn {
    pub module: &'static str,
    pub name: &'static str,
    pub params: &'static [Ty],
    /// `true`: returns one i32 (a `Word`); `false`: returns nothing.
    pub returns: bool,
}

pub const WASI_MODULES: [&str; 2] = ["wasi_unstable", "wasi_snapshot_preview1"];

/// `proxy_*` host functions every ABI version registers (FOR_ALL_HOST_FUNCTIONS).
const PROXY_COMMON: &[(&str, &[Ty])] = &[
    ("proxy_log", &[W, W, W]),
    ("proxy_get_status", &[W, W, W]),
    ("proxy_set_property", &[W, W, W, W]),
    ("proxy_get_property", &[W, W, W, W]),
    ("proxy_send_local_response", &[W, W, W, W, W, W, W, W]),
    ("proxy_get_shared_data", &[W, W, W, W, W]),
    ("proxy_set_shared_data", &[W, W, W, W, W]),
    ("proxy_register_shared_queue", &[W, W, W]),
    ("proxy_resolve_shared_queue", &[W, W, W, W, W]),
    ("proxy_dequeue_shared_queue", &[W, W, W]),
    ("proxy_enqueue_shared_queue", &[W, W, W]),
    ("proxy_get_header_map_value", &[W, W, W, W, W]),
    ("proxy_add_header_map_value", &[W, W, W, W, W]),
    ("proxy_replace_header_map_value", &[W, W, W, W, W]),
    ("proxy_remove_header_map_value", &[W, W, W]),
    ("proxy_get_header_map_pairs", &[W, W, W]),
    ("proxy_set_header_map_pairs", &[W, W, W]),
    ("proxy_get_header_map_size", &[W, W]),
    ("proxy_get_buffer_status", &[W, W, W]),
    ("proxy_get_buffer_bytes", &[W, W, W, W, W]),
    ("proxy_set_buffer_bytes", &[W, W, W, W, W]),
    ("proxy_http_call", &[W, W, W, W, W, W, W, W, W, W]),
    ("proxy_grpc_call", &[W, W, W, W, W, W, W, W, W, W, W, W]),
    ("proxy_grpc_stream", &[W, W, W, W, W, W, W, W, W]),
    ("proxy_grpc_close", &[W]),
    ("proxy_grpc_cancel", &[W]),
    ("proxy_grpc_send", &[W, W, W, W]),
    ("proxy_set_tick_period_milliseconds", &[W]),
    ("proxy_get_current_time_nanoseconds", &[W]),
    ("proxy_define_metric", &[W, W, W, W]),
    ("proxy_increment_metric", &[W, L]),
    ("proxy_record_metric", &[W, L]),
    ("proxy_get_metric", &[W, W]),
    ("proxy_set_effective_context", &[W]),
    ("proxy_done", &[]),
    ("proxy_call_foreign_function", &[W, W, W, W, W, W]),
];

/// Per-ABI extras (WasmBase::registerCallbacks).
const PROXY_V010: &[(&str, &[Ty])] = &[
    ("proxy_get_configuration", &[W, W]),
    ("proxy_continue_request", &[]),
    ("proxy_continue_response", &[]),
    ("proxy_clear_route_cache", &[]),
];
const PROXY_V020: &[(&str, &[Ty])] = &[
    ("proxy_continue_stream", &[W]),
    ("proxy_close_stream", &[W]),
];
const PROXY_V021: &[(&str, &[Ty])] = &[("proxy_get_log_level", &[W])];

/// The WASI functions registered under both WASI module names
/// (FOR_ALL_WASI_FUNCTIONS); `proc_exit` returns nothing.
pub const WASI: &[(&str, &[Ty])] = &[
    ("fd_write", &[W, W, W, W]),
    ("fd_read", &[W, W, W, W]),
    ("fd_seek", &[W, L, W, W]),
    ("fd_close", &[W]),
    ("fd_fdstat_get", &[W, W]),
    ("fd_fdstat_set_flags", &[W, W]),
    ("fd_fdstat_set_rights", &[W, L, L]),
    ("environ_get", &[W, W]),
    ("environ_sizes_get", &[W, W]),
    ("args_get", &[W, W]),
    ("args_sizes_get", &[W, W]),
    ("clock_time_get", &[W, L, W]),
    ("clock_res_get", &[W, W]),
    ("fd_advise", &[W, L, L, W]),
    ("fd_allocate", &[W, L, L]),
    ("fd_datasync", &[W]),
    ("fd_filestat_set_size", &[W, L]),
    ("fd_filestat_set_times", &[W, L, L, W]),
    ("fd_pread", &[W, W, W, L, W]),
    ("fd_pwrite", &[W, W, W, L, W]),
    ("fd_readdir", &[W, W, W, L, W]),
    ("fd_renumber", &[W, W]),
    ("fd_sync", &[W]),
    ("fd_tell", &[W, W]),
    ("path_create_directory", &[W, W, W]),
    ("path_filestat_set_times", &[W, W, W, W, L, L, W]),
    ("path_link", &[W, W, W, W, W, W, W]),
    ("path_readlink", &[W, W, W, W, W, W]),
    ("path_remove_directory", &[W, W, W]),
    ("path_rename", &[W, W, W, W, W, W]),
    ("path_symlink", &[W, W, W, W, W]),
    ("path_unlink_file", &[W, W, W]),
    ("sock_accept", &[W, W, W]),
    ("sock_recv", &[W, W, W, W, W, W]),
    ("sock_send", &[W, W, W, W, W]),
    ("sock_shutdown", &[W, W]),
    ("random_get", &[W, W]),
    ("sched_yield", &[]),
    ("poll_oneoff", &[W, W, W, W]),
    ("proc_exit", &[W]),
    ("path_open", &[W, W, W, W, W, L, L, W, W]),
    ("fd_prestat_get", &[W, W]),
    ("fd_prestat_dir_name", &[W, W, W]),
    ("path_filestat_get", &[W, W, W, W, W]),
    ("fd_filestat_get", &[W, W]),
];

/// WASI calls Envoy does not allow while the module starts (WasmBase::startVm
/// allows logging, args, environment, clocks, random and the file stubs).
pub const WASI_NOT_AT_START: [&str; 6] = [
    "fd_read",
    "fd_seek",
    "fd_close",
    "sched_yield",
    "proc_exit",
    "path_open",
];

/// Every host function Envoy registers for `abi`.
pub fn host_functions(abi: Abi) -> Vec<HostFn> {
    let mut out = Vec::with_capacity(140);
    out.push(HostFn {
        module: "env",
        name: "pthread_equal",
        params: &[W, W],
        returns: true,
    });
    out.push(HostFn {
        module: "env",
        name: "emscripten_notify_memory_growth",
        params: &[W],
        returns: false,
    });
    for module in WASI_MODULES {
        for (name, params) in WASI {
            out.push(HostFn {
                module,
                name,
                params,
                returns: *name != "proc_exit",
            });
        }
    }
    let extras: Vec<&[(&str, &[Ty])]> = match abi {
        Abi::V010 => vec![PROXY_V010],
        Abi::V020 => vec![PROXY_V020],
        Abi::V021 => vec![PROXY_V020, PROXY_V021],
    };
    for table in std::iter::once(PROXY_COMMON).chain(extras) {
        for (name, params) in table {
            out.push(HostFn {
                module: "env",
                name,
                params,
                returns: true,
            });
        }
    }
    out
}

/// Whether Envoy allows this host function while the module starts.
pub fn allowed_at_start(module: &str, name: &str) -> bool {
    match module {
        "env" => matches!(name, "proxy_log" | "emscripten_notify_memory_growth"),
        m if WASI_MODULES.contains(&m) => !WASI_NOT_AT_START.contains(&name),
        _ => false,
    }
}

/// The signatures Envoy calls module exports with (WasmBase::getFunctions,
/// include/proxy-wasm/wasm.h): (name, params, returns an i32).
pub fn export_signature(abi: Abi, name: &str) -> Option<(usize, bool)> {
    let headers = if abi == Abi::V010 { 2 } else { 3 };
    Some(match name {
        "_initialize" | "_start" => (0, false),
        "main" => (2, true),
        "__main_void" => (0, true),
        "malloc" | "proxy_on_memory_allocate" => (1, true),
        "proxy_validate_configuration" | "proxy_on_vm_start" | "proxy_on_configure" => (2, true),
        "proxy_on_tick" | "proxy_on_log" | "proxy_on_delete" => (1, false),
        "proxy_on_context_create" => (2, false),
        "proxy_on_new_connection" | "proxy_on_done" => (1, true),
        "proxy_on_downstream_data" | "proxy_on_upstream_data" => (3, true),
        "proxy_on_downstream_connection_close" | "proxy_on_upstream_connection_close" => (2, false),
        "proxy_on_request_headers" | "proxy_on_response_headers" => (headers, true),
        "proxy_on_request_body" | "proxy_on_response_body" => (3, true),
        "proxy_on_request_trailers"
        | "proxy_on_response_trailers"
        | "proxy_on_request_metadata"
        | "proxy_on_response_metadata" => (2, true),
        "proxy_on_http_call_response" => (5, false),
        "proxy_on_grpc_receive"
        | "proxy_on_grpc_close"
        | "proxy_on_grpc_create_initial_metadata"
        | "proxy_on_grpc_receive_initial_metadata"
        | "proxy_on_grpc_receive_trailing_metadata" => (3, false),
        "proxy_on_queue_ready" => (2, false),
        "proxy_on_foreign_function" if abi != Abi::V010 => (3, false),
        _ => return None,
    })
}

/// Why Envoy would refuse to load a module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadError {
    /// What Envoy logs (the cpp-host message), then the detail.
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn refuse(message: impl Into<String>) -> LoadError {
    LoadError {
        message: message.into(),
    }
}

/// What the load check found in an accepted module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadInfo {
    pub abi: Abi,
    /// `malloc` or `proxy_on_memory_allocate`.
    pub allocator: String,
    /// The function imports, `module.name`, in import order.
    pub imports: Vec<String>,
}

fn sig_text(params: &[Ty], returns: bool) -> String {
    let p: Vec<&str> = params
        .iter()
        .map(|t| match t {
            Ty::I32 => "i32",
            Ty::I64 => "i64",
        })
        .collect();
    format!(
        "({}) -> {}",
        p.join(", "),
        if returns { "i32" } else { "()" }
    )
}

fn wasm_sig_text(ty: &wasmparser::FuncType) -> String {
    let p: Vec<String> = ty.params().iter().map(|t| t.to_string()).collect();
    let r: Vec<String> = ty.results().iter().map(|t| t.to_string()).collect();
    let r = match r.len() {
        0 => "()".to_string(),
        1 => r[0].clone(),
        _ => format!("({})", r.join(", ")),
    };
    format!("({}) -> {r}", p.join(", "))
}

fn matches(ty: &wasmparser::FuncType, params: &[Ty], returns: bool) -> bool {
    let want = |t: &Ty| match t {
        Ty::I32 => wasmparser::ValType::I32,
        Ty::I64 => wasmparser::ValType::I64,
    };
    ty.params().len() == params.len()
        && ty.params().iter().zip(params).all(|(a, b)| *a == want(b))
        && ty.results()
            == if returns {
                &[wasmparser::ValType::I32][..]
            } else {
                &[][..]
            }
}

/// Check a module as Envoy loads it. The module must already be a valid
/// Wasm binary (`image::wasm::check`).
pub fn load_check(bytes: &[u8]) -> Result<LoadInfo, LoadError> {
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    let mut func_types: Vec<u32> = Vec::new();
    let mut imports: Vec<(String, String, u32)> = Vec::new();
    let mut exports: Vec<(String, u32)> = Vec::new();
    let mut abi = None;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| refuse(format!("not a valid Wasm module: {e}")))?;
        match payload {
            wasmparser::Payload::TypeSection(reader) => {
                for group in reader {
                    let group =
                        group.map_err(|e| refuse(format!("not a valid Wasm module: {e}")))?;
                    for sub in group.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import =
                        import.map_err(|e| refuse(format!("not a valid Wasm module: {e}")))?;
                    match import.ty {
                        wasmparser::TypeRef::Func(t) | wasmparser::TypeRef::FuncExact(t) => {
                            imports.push((import.module.to_string(), import.name.to_string(), t));
                            func_types.push(t);
                        }
                        wasmparser::TypeRef::Global(_) => {
                            return Err(refuse(format!(
                                "Failed to load Wasm module due to a missing import: {}.{} (a global; Envoy provides no globals)",
                                import.module, import.name
                            )))
                        }
                        // Envoy creates imported memories and tables.
                        _ => {}
                    }
                }
            }
            wasmparser::Payload::FunctionSection(reader) => {
                for t in reader {
                    func_types
                        .push(t.map_err(|e| refuse(format!("not a valid Wasm module: {e}")))?);
                }
            }
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader {
                    let export =
                        export.map_err(|e| refuse(format!("not a valid Wasm module: {e}")))?;
                    if export.kind == wasmparser::ExternalKind::Func {
                        exports.push((export.name.to_string(), export.index));
                        if abi.is_none() {
                            abi = match export.name {
                                "proxy_abi_version_0_1_0" => Some(Abi::V010),
                                "proxy_abi_version_0_2_0" => Some(Abi::V020),
                                "proxy_abi_version_0_2_1" => Some(Abi::V021),
                                _ => None,
                            };
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let Some(abi) = abi else {
        return Err(refuse(
            "Missing or unknown Proxy-Wasm ABI version: the module exports none of proxy_abi_version_0_1_0, proxy_abi_version_0_2_0, proxy_abi_version_0_2_1",
        ));
    };
    let func_type = |type_index: u32| types.get(type_index as usize).and_then(|t| t.as_ref());
    let known = host_functions(abi);
    let mut names = Vec::with_capacity(imports.len());
    for (module, name, t) in &imports {
        let Some(host) = known.iter().find(|h| h.module == module && h.name == name) else {
            let hint = if module == "env" && name.starts_with("proxy_") {
                format!(" (Envoy does not provide it under ABI {abi})")
            } else {
                String::new()
            };
            return Err(refuse(format!(
                "Failed to load Wasm module due to a missing import: {module}.{name}{hint}"
            )));
        };
        let Some(ty) = func_type(*t) else {
            return Err(refuse(format!(
                "{module}.{name}: its type is not a function type"
            )));
        };
        if !matches(ty, host.params, host.returns) {
            return Err(refuse(format!(
                "Failed to load Wasm module due to an import type mismatch: {module}.{name}: the module declares {}, Envoy provides {}",
                wasm_sig_text(ty),
                sig_text(host.params, host.returns)
            )));
        }
        names.push(format!("{module}.{name}"));
    }
    let export_type = |name: &str| {
        exports
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, i)| func_types.get(*i as usize))
            .and_then(|t| func_type(*t))
    };
    let allocator = ["malloc", "proxy_on_memory_allocate"]
        .into_iter()
        .find(|n| export_type(n).is_some())
        .ok_or_else(|| {
            refuse("Wasm module is missing malloc function: it exports neither malloc nor proxy_on_memory_allocate, so the host cannot hand it any value")
        })?;
    // Exports Envoy calls, with the signature it calls them with.
    for (name, _) in &exports {
        let Some((params, returns)) = export_signature(abi, name) else {
            continue;
        };
        // Envoy looks up `main` and `__main_void` only beside `_initialize`.
        let ty = export_type(name).expect("an exported function has a type");
        let want = vec![Ty::I32; params];
        if !matches(ty, &want, returns) {
            return Err(refuse(format!(
                "Bad function signature for: {name}: the module exports {}, Envoy calls {}",
                wasm_sig_text(ty),
                sig_text(&want, returns)
            )));
        }
    }
    Ok(LoadInfo {
        abi,
        allocator: allocator.to_string(),
        imports: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<LoadInfo, LoadError> {
        load_check(&wat::parse_str(wat).unwrap())
    }

    const OK_TAIL: &str = r#"(memory (export "memory") 1)
        (func (export "malloc") (param i32) (result i32) i32.const 0)"#;

    #[test]
    fn abi_version_is_the_first_function_export_of_the_three() {
        let info = check(&format!(
            r#"(module (global (export "proxy_abi_version_0_1_0") i32 (i32.const 0))
                (func (export "other")) (func (export "proxy_abi_version_0_2_0")) (func (export "proxy_abi_version_0_2_1")) {OK_TAIL})"#
        ))
        .unwrap();
        assert_eq!(info.abi, Abi::V020);
        let e = check(&format!("(module {OK_TAIL})")).unwrap_err();
        assert!(
            e.message
                .starts_with("Missing or unknown Proxy-Wasm ABI version"),
            "{e}"
        );
    }

    #[test]
    fn imports_are_checked_per_abi() {
        let module = |abi: &str, import: &str| {
            format!(r#"(module {import} (func (export "proxy_abi_version_{abi}")) {OK_TAIL})"#)
        };
        let log_level = r#"(import "env" "proxy_get_log_level" (func (param i32) (result i32)))"#;
        assert!(check(&module("0_2_1", log_level)).is_ok());
        let e = check(&module("0_2_0", log_level)).unwrap_err();
        assert!(
            e.message.contains("missing import: env.proxy_get_log_level (Envoy does not provide it under ABI 0.2.0)"),
            "{e}"
        );
        let get_config =
            r#"(import "env" "proxy_get_configuration" (func (param i32 i32) (result i32)))"#;
        assert!(check(&module("0_1_0", get_config)).is_ok());
        assert!(check(&module("0_2_1", get_config)).is_err());
        let wrong =
            r#"(import "env" "proxy_increment_metric" (func (param i32 i32) (result i32)))"#;
        let e = check(&module("0_2_1", wrong)).unwrap_err();
        assert!(
            e.message.contains("import type mismatch: env.proxy_increment_metric: the module declares (i32, i32) -> i32, Envoy provides (i32, i64) -> i32"),
            "{e}"
        );
        let wasi = r#"(import "wasi_snapshot_preview1" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))"#;
        assert!(check(&module("0_2_1", wasi)).is_ok());
        let unknown = r#"(import "env" "abort" (func (param i32 i32 i32 i32)))"#;
        assert!(check(&module("0_2_1", unknown))
            .unwrap_err()
            .message
            .contains("missing import: env.abort"));
        let global = r#"(import "env" "g" (global i32))"#;
        assert!(check(&module("0_2_1", global)).is_err());
        let memory = r#"(import "env" "memory" (memory 1))"#;
        let with_memory = format!(
            r#"(module {memory} (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) i32.const 0))"#
        );
        assert!(check(&with_memory).is_ok());
    }

    #[test]
    fn allocator_and_export_signatures() {
        let e = check(r#"(module (func (export "proxy_abi_version_0_2_1")))"#).unwrap_err();
        assert!(e.message.contains("missing malloc"), "{e}");
        let info = check(
            r#"(module (func (export "proxy_abi_version_0_2_1")) (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0))"#,
        )
        .unwrap();
        assert_eq!(info.allocator, "proxy_on_memory_allocate");
        let e = check(&format!(
            r#"(module (func (export "proxy_abi_version_0_2_1")) (func (export "proxy_on_request_headers") (param i32 i32) (result i32) i32.const 0) {OK_TAIL})"#
        ))
        .unwrap_err();
        assert!(
            e.message
                .starts_with("Bad function signature for: proxy_on_request_headers"),
            "{e}"
        );
        // ABI 0.1.0 calls it with two parameters.
        assert!(check(&format!(
            r#"(module (func (export "proxy_abi_version_0_1_0")) (func (export "proxy_on_request_headers") (param i32 i32) (result i32) i32.const 0) {OK_TAIL})"#
        ))
        .is_ok());
    }

    #[test]
    fn the_fixtures_load() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/wasm");
        let rust = load_check(&std::fs::read(dir.join("header_append.wasm")).unwrap()).unwrap();
        assert_eq!(rust.abi, Abi::V021);
        let asc = load_check(&std::fs::read(dir.join("as_hello.wasm")).unwrap()).unwrap();
        assert_eq!(asc.abi, Abi::V020);
    }
}
