//! A small proxy-wasm host on the wasmi interpreter: it loads a plugin as
//! Envoy does (VERIFY.md §1), runs the canary and synthetic HTTP streams,
//! and records every effect the plugin has. Deterministic: a fixed clock,
//! fixed random bytes, fixed addresses; bounded: a fuel limit per callback
//! and a memory limit, since plugin code is untrusted.

use super::abi::{self, Abi, HostFn, LoadError, LoadInfo, Ty};
use super::scenario::Exchange;
use serde::Serialize;
use wasmi::{
    Caller, Engine, Func, FuncType, Linker, Memory, Module, Store, StoreLimits, Val, ValType,
};

/// proxy-wasm result codes (WasmResult).
const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const INVALID_MEMORY_ACCESS: i32 = 6;
const UNIMPLEMENTED: i32 = 12;
/// WASI errno ENOSYS.
const ENOSYS: i32 = 52;

/// The fixed clock: 2024-01-01T00:00:00Z, in nanoseconds.
pub const CLOCK_NANOS: u64 = 1_704_067_200_000_000_000;
/// Where the synthetic stream comes from and goes to.
pub const SOURCE_ADDRESS: &str = "10.0.0.2:50000";
pub const DESTINATION_ADDRESS: &str = "10.0.0.1:8080";
pub const NODE_ID: &str = "sidecar~10.0.0.1~app-0.default~default.svc.cluster.local";

/// Limits for one run of untrusted code.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Fuel (about one unit per instruction) for each callback.
    pub fuel: u64,
    /// The most linear memory the module may have, in bytes.
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: crate::cli::verify::DEFAULT_FUEL,
            memory: crate::cli::verify::DEFAULT_MEMORY_MIB << 20,
        }
    }
}

/// A module checked and compiled once, run any number of times.
pub struct Prepared {
    engine: Engine,
    module: Module,
    linker: Linker<State>,
    pub load: LoadInfo,
}

impl Prepared {
    /// Run the load check and compile the module.
    pub fn new(bytes: &[u8]) -> Result<Prepared, LoadError> {
        let load = abi::load_check(bytes)?;
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        config.compilation_mode(wasmi::CompilationMode::Eager);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, bytes).map_err(|e| LoadError {
            message: format!("the module does not compile: {e}"),
        })?;
        let mut linker = Linker::new(&engine);
        for f in abi::host_functions(load.abi) {
            let ty = FuncType::new(
                f.params.iter().map(|t| match t {
                    Ty::I32 => ValType::I32,
                    Ty::I64 => ValType::I64,
                }),
                if f.returns {
                    &[ValType::I32][..]
                } else {
                    &[][..]
                }
                .iter()
                .copied(),
            );
            linker
                .func_new(f.module, f.name, ty, move |mut caller, params, results| {
                    let r = dispatch(&mut caller, &f, params)?;
                    if let Some(slot) = results.first_mut() {
                        *slot = Val::I32(r);
                    }
                    Ok(())
                })
                .expect("each host function is defined once");
        }
        Ok(Prepared {
            engine,
            module,
            linker,
            load,
        })
    }
}

/// What the plugin is told about itself, and its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub root_id: String,
    /// The `plugin_name` property.
    pub plugin_name: String,
    pub vm_id: String,
    pub configuration: Vec<u8>,
}

/// One thing the plugin did, and in which callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub at: String,
    pub what: String,
}

/// Why the host, as Envoy, stopped a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The callback: start, proxy_on_configure, request 1 proxy_on_request_headers, ...
    pub at: String,
    pub reason: String,
}

/// A whole run: what happened, and whether the plugin was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub effects: Vec<Effect>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<Refusal>,
}

#[derive(Default)]
struct Stream {
    request_headers: Vec<(String, String)>,
    request_body: Vec<u8>,
    request_trailers: Vec<(String, String)>,
    response_headers: Vec<(String, String)>,
    response_body: Vec<u8>,
    response_trailers: Vec<(String, String)>,
    local_reply: bool,
}

struct State {
    abi: Abi,
    setup: Setup,
    limits: StoreLimits,
    memory_limit: usize,
    effects: Vec<Effect>,
    at: String,
    starting: bool,
    memory: Option<Memory>,
    malloc: Option<Func>,
    stream: Stream,
    metrics: Vec<(i32, String, i64)>,
    shared: std::collections::BTreeMap<String, (Vec<u8>, u32)>,
    queues: Vec<String>,
    next_token: u32,
    /// A failure the host decided (a call Envoy does not allow).
    fatal: Option<String>,
}

impl State {
    fn effect(&mut self, what: String) {
        self.effects.push(Effect {
            at: self.at.clone(),
            what,
        });
    }
}

/// Run the canary and then each exchange (request and response), as Envoy
/// does for a new plugin and its streams.
pub fn run(prepared: &Prepared, setup: &Setup, exchanges: &[Exchange], limits: Limits) -> Run {
    let state = State {
        abi: prepared.load.abi,
        setup: setup.clone(),
        limits: wasmi::StoreLimitsBuilder::new()
            .memory_size(limits.memory)
            .trap_on_grow_failure(true)
            .build(),
        memory_limit: limits.memory,
        effects: Vec::new(),
        at: "start".into(),
        starting: true,
        memory: None,
        malloc: None,
        stream: Stream::default(),
        metrics: Vec::new(),
        shared: Default::default(),
        queues: Vec::new(),
        next_token: 1,
        fatal: None,
    };
    let mut store = Store::new(&prepared.engine, state);
    store.limiter(|s| &mut s.limits);
    let mut vm = Vm {
        store,
        instance: None,
        fuel: limits.fuel,
    };
    let refused = vm.lifecycle(prepared, exchanges).err();
    Run {
        effects: std::mem::take(&mut vm.store.data_mut().effects),
        refused,
    }
}

struct Vm {
    store: Store<State>,
    instance: Option<wasmi::Instance>,
    fuel: u64,
}

impl Vm {
    fn lifecycle(&mut self, prepared: &Prepared, exchanges: &[Exchange]) -> Result<(), Refusal> {
        self.store.set_fuel(self.fuel).expect("fuel is enabled");
        let instance = prepared
            .linker
            .instantiate_and_start(&mut self.store, &prepared.module)
            .map_err(|e| self.refusal("start", e))?;
        self.instance = Some(instance);
        let memory = instance.get_memory(&self.store, "memory");
        let malloc = instance
            .get_func(&self.store, "malloc")
            .or_else(|| instance.get_func(&self.store, "proxy_on_memory_allocate"));
        {
            let s = self.store.data_mut();
            s.memory = memory;
            s.malloc = malloc;
        }
        // WasmBase::startVm: a reactor's _initialize then main(0,0) or
        // __main_void; else a command's _start. Only logging and WASI.
        if self.has("_initialize") {
            self.call("_initialize", &[])?;
            if self.has("main") {
                self.call("main", &[0, 0])?;
            } else if self.has("__main_void") {
                self.call("__main_void", &[])?;
            }
        } else if self.has("_start") {
            self.call("_start", &[])?;
        }
        self.store.data_mut().starting = false;
        // The canary (WasmHandleBase::canary): root context 1.
        let vm_config_len = 0;
        let config_len = self.store.data().setup.configuration.len() as i32;
        self.call("proxy_on_context_create", &[1, 0])?;
        if self.call("proxy_on_vm_start", &[1, vm_config_len])? == Some(0) {
            return Err(Refusal {
                at: "proxy_on_vm_start".into(),
                reason: "it returned false (Envoy: Failed to start base Wasm)".into(),
            });
        }
        if self.call("proxy_on_configure", &[1, config_len])? == Some(0) {
            return Err(Refusal {
                at: "proxy_on_configure".into(),
                reason: "it returned false: the plugin rejects this configuration (Envoy: Failed to configure base Wasm plugin; the listener is not updated)".into(),
            });
        }
        for (i, ex) in exchanges.iter().enumerate() {
            self.exchange(i, ex)?;
        }
        Ok(())
    }

    fn exchange(&mut self, i: usize, ex: &Exchange) -> Result<(), Refusal> {
        let ctx = 2 + i as i32;
        let prefix = format!("request {}", i + 1);
        self.store.data_mut().stream = Stream {
            request_headers: ex.request_headers.clone(),
            request_body: ex.request_body.clone(),
            ..Stream::default()
        };
        let v010 = self.store.data().abi == Abi::V010;
        let action = |r: Option<i32>| match r {
            Some(0) | None => None,
            Some(1) => Some("StopIteration".to_string()),
            Some(n) => Some(format!("action {n}")),
        };
        self.call_in(&prefix, "proxy_on_context_create", &[ctx, 1])?;
        let n = ex.request_headers.len() as i32;
        let eos = ex.request_body.is_empty() as i32;
        let args: Vec<i32> = if v010 {
            vec![ctx, n]
        } else {
            vec![ctx, n, eos]
        };
        let r = self.call_in(&prefix, "proxy_on_request_headers", &args)?;
        self.note_action(&prefix, "proxy_on_request_headers", action(r));
        if !self.store.data().stream.local_reply && !ex.request_body.is_empty() {
            let len = ex.request_body.len() as i32;
            let r = self.call_in(&prefix, "proxy_on_request_body", &[ctx, len, 1])?;
            self.note_action(&prefix, "proxy_on_request_body", action(r));
        }
        if !self.store.data().stream.local_reply {
            {
                let s = &mut self.store.data_mut().stream;
                s.response_headers = ex.response_headers.clone();
                s.response_body = ex.response_body.clone();
            }
            let n = ex.response_headers.len() as i32;
            let eos = ex.response_body.is_empty() as i32;
            let args: Vec<i32> = if v010 {
                vec![ctx, n]
            } else {
                vec![ctx, n, eos]
            };
            let r = self.call_in(&prefix, "proxy_on_response_headers", &args)?;
            self.note_action(&prefix, "proxy_on_response_headers", action(r));
            if !self.store.data().stream.local_reply && !ex.response_body.is_empty() {
                let len = ex.response_body.len() as i32;
                let r = self.call_in(&prefix, "proxy_on_response_body", &[ctx, len, 1])?;
                self.note_action(&prefix, "proxy_on_response_body", action(r));
            }
        }
        self.call_in(&prefix, "proxy_on_done", &[ctx])?;
        self.call_in(&prefix, "proxy_on_log", &[ctx])?;
        self.call_in(&prefix, "proxy_on_delete", &[ctx])?;
        Ok(())
    }

    fn note_action(&mut self, prefix: &str, callback: &str, action: Option<String>) {
        if let Some(a) = action {
            let s = self.store.data_mut();
            s.at = format!("{prefix} {callback}");
            s.effect(format!("returned {a}"));
        }
    }

    fn has(&self, name: &str) -> bool {
        self.instance
            .and_then(|i| i.get_func(&self.store, name))
            .is_some()
    }

    fn call_in(&mut self, prefix: &str, name: &str, args: &[i32]) -> Result<Option<i32>, Refusal> {
        self.call_at(format!("{prefix} {name}"), name, args)
    }

    fn call(&mut self, name: &str, args: &[i32]) -> Result<Option<i32>, Refusal> {
        let at = if self.store.data().starting {
            "start".to_string()
        } else {
            name.to_string()
        };
        self.call_at(at, name, args)
    }

    /// Call an export (absent: nothing happens, as in Envoy); `Some(result)`
    /// for a function with a result.
    fn call_at(&mut self, at: String, name: &str, args: &[i32]) -> Result<Option<i32>, Refusal> {
        let Some(func) = self.instance.and_then(|i| i.get_func(&self.store, name)) else {
            return Ok(None);
        };
        self.store.data_mut().at = at.clone();
        self.store.set_fuel(self.fuel).expect("fuel is enabled");
        let inputs: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let n = func.ty(&self.store).results().len();
        let mut out = vec![Val::I32(0); n];
        func.call(&mut self.store, &inputs, &mut out)
            .map_err(|e| self.refusal(&at, e))?;
        Ok(match out.first() {
            Some(Val::I32(r)) => Some(*r),
            _ => None,
        })
    }

    fn refusal(&mut self, at: &str, e: wasmi::Error) -> Refusal {
        let s = self.store.data_mut();
        let reason = if let Some(fatal) = s.fatal.take() {
            fatal
        } else if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) {
            "ran out of fuel: it did not finish within the fuel limit (an endless loop?)".into()
        } else if e.as_trap_code() == Some(wasmi::TrapCode::GrowthOperationLimited)
            || e.to_string().contains("ResourceLimiterDeniedAllocation")
            || e.to_string().to_lowercase().contains("limiter")
        {
            format!(
                "memory limit reached: it tried to grow its memory beyond {} MiB",
                s.memory_limit >> 20
            )
        } else if let Some(code) = e.i32_exit_status() {
            format!("exited with proc_exit({code})")
        } else if let Some(code) = e.as_trap_code() {
            format!("trapped: {code}")
        } else {
            format!("failed: {e}")
        };
        Refusal {
            at: at.to_string(),
            reason,
        }
    }
}

// ---- memory helpers -------------------------------------------------------

fn mem(caller: &Caller<'_, State>) -> Option<Memory> {
    caller.data().memory
}

fn read(caller: &Caller<'_, State>, ptr: i32, len: i32) -> Result<Vec<u8>, i32> {
    let m = mem(caller).ok_or(INVALID_MEMORY_ACCESS)?;
    let data = m.data(caller);
    let (p, l) = (ptr as u32 as usize, len as u32 as usize);
    data.get(p..p.checked_add(l).ok_or(INVALID_MEMORY_ACCESS)?)
        .map(|s| s.to_vec())
        .ok_or(INVALID_MEMORY_ACCESS)
}

fn read_str(caller: &Caller<'_, State>, ptr: i32, len: i32) -> Result<String, i32> {
    read(caller, ptr, len).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn write(caller: &mut Caller<'_, State>, ptr: i32, bytes: &[u8]) -> Result<(), i32> {
    let m = mem(caller).ok_or(INVALID_MEMORY_ACCESS)?;
    let data = m.data_mut(caller);
    let p = ptr as u32 as usize;
    data.get_mut(p..p.checked_add(bytes.len()).ok_or(INVALID_MEMORY_ACCESS)?)
        .ok_or(INVALID_MEMORY_ACCESS)?
        .copy_from_slice(bytes);
    Ok(())
}

fn write_u32(caller: &mut Caller<'_, State>, ptr: i32, v: u32) -> Result<(), i32> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Hand the module a value: memory from its allocator, the pointer and the
/// size stored where it asked. An empty value is pointer 0, size 0.
fn hand_over(
    caller: &mut Caller<'_, State>,
    bytes: &[u8],
    ptr_ptr: i32,
    size_ptr: i32,
) -> Result<Result<(), i32>, wasmi::Error> {
    if bytes.is_empty() {
        return Ok(write_u32(caller, ptr_ptr, 0).and_then(|_| write_u32(caller, size_ptr, 0)));
    }
    let Some(malloc) = caller.data().malloc else {
        return Ok(Err(INVALID_MEMORY_ACCESS));
    };
    let mut out = [Val::I32(0)];
    malloc.call(&mut *caller, &[Val::I32(bytes.len() as i32)], &mut out)?;
    let Val::I32(p) = out[0] else {
        return Ok(Err(INVALID_MEMORY_ACCESS));
    };
    if p == 0 {
        return Ok(Err(INVALID_MEMORY_ACCESS));
    }
    Ok(write(caller, p, bytes)
        .and_then(|_| write_u32(caller, ptr_ptr, p as u32))
        .and_then(|_| write_u32(caller, size_ptr, bytes.len() as u32)))
}

/// Header pairs as proxy-wasm serialises them: count, (key size, value
/// size) each, then each key and value followed by a NUL.
fn marshal_pairs(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in pairs {
        out.extend((k.len() as u32).to_le_bytes());
        out.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend(k.as_bytes());
        out.push(0);
        out.extend(v.as_bytes());
        out.push(0);
    }
    out
}

fn unmarshal_pairs(b: &[u8]) -> Option<Vec<(String, String)>> {
    if b.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let n = u32_at(0)?;
    let mut sizes = Vec::new();
    for i in 0..n {
        sizes.push((u32_at(4 + i * 8)?, u32_at(8 + i * 8)?));
    }
    let mut at = 4 + n * 8;
    let mut out = Vec::new();
    for (k, v) in sizes {
        let key = b.get(at..at + k)?;
        at += k + 1;
        let value = b.get(at..at + v)?;
        at += v + 1;
        out.push((
            String::from_utf8_lossy(key).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    Some(out)
}

fn show_pairs(pairs: &[(String, String)]) -> String {
    let items: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("[{}]", items.join(", "))
}

fn show_bytes(b: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(&b[..b.len().min(MAX)]).into_owned();
    let text = format!("{text:?}");
    if b.len() > MAX {
        format!("{text}... ({} bytes)", b.len())
    } else {
        text
    }
}

const MAP_NAMES: [&str; 8] = [
    "request header",
    "request trailer",
    "response header",
    "response trailer",
    "gRPC initial metadata",
    "gRPC trailing metadata",
    "HTTP call response header",
    "HTTP call response trailer",
];

fn header_map(s: &mut Stream, t: i32) -> Option<&mut Vec<(String, String)>> {
    match t {
        0 => Some(&mut s.request_headers),
        1 => Some(&mut s.request_trailers),
        2 => Some(&mut s.response_headers),
        3 => Some(&mut s.response_trailers),
        _ => None,
    }
}

const BUFFER_NAMES: [&str; 9] = [
    "request body",
    "response body",
    "downstream data",
    "upstream data",
    "HTTP call response body",
    "gRPC receive buffer",
    "VM configuration",
    "plugin configuration",
    "call data",
];

fn buffer(s: &State, t: i32) -> Option<Vec<u8>> {
    match t {
        0 => Some(s.stream.request_body.clone()),
        1 => Some(s.stream.response_body.clone()),
        6 => Some(Vec::new()),
        7 => Some(s.setup.configuration.clone()),
        _ => None,
    }
}

fn property(s: &State, path: &[String]) -> Option<Vec<u8>> {
    let header = |name: &str| {
        s.stream
            .request_headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone().into_bytes())
    };
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["plugin_root_id"] => s.setup.root_id.clone().into_bytes(),
        ["plugin_name"] => s.setup.plugin_name.clone().into_bytes(),
        ["plugin_vm_id"] => s.setup.vm_id.clone().into_bytes(),
        ["node", "id"] => NODE_ID.as_bytes().to_vec(),
        ["source", "address"] => SOURCE_ADDRESS.as_bytes().to_vec(),
        ["destination", "address"] => DESTINATION_ADDRESS.as_bytes().to_vec(),
        ["request", "path"] => header(":path")?,
        ["request", "method"] => header(":method")?,
        ["request", "host"] => header(":authority")?,
        ["request", "scheme"] => header(":scheme")?,
        ["request", "id"] => header("x-request-id")?,
        ["request", "protocol"] => b"HTTP/1.1".to_vec(),
        _ => return None,
    })
}

fn level_name(level: i32) -> &'static str {
    match level {
        0 => "trace",
        1 => "debug",
        2 => "info",
        3 => "warn",
        4 => "error",
        5 => "critical",
        _ => "log",
    }
}

/// Every host function: the result code (or 0 for those without a result),
/// or an error that stops the module (a trap).
fn dispatch(caller: &mut Caller<'_, State>, f: &HostFn, args: &[Val]) -> Result<i32, wasmi::Error> {
    let a = |i: usize| match args.get(i) {
        Some(Val::I32(v)) => *v,
        Some(Val::I64(v)) => *v as i32,
        _ => 0,
    };
    let a64 = |i: usize| match args.get(i) {
        Some(Val::I64(v)) => *v,
        Some(Val::I32(v)) => *v as i64,
        _ => 0,
    };
    if caller.data().starting && !abi::allowed_at_start(f.module, f.name) {
        let message = format!(
            "called {}.{} while starting; Envoy allows only logging and WASI calls then (the VM fails)",
            f.module, f.name
        );
        caller.data_mut().fatal = Some(message.clone());
        return Err(wasmi::Error::new(message));
    }
    let code = |r: Result<(), i32>| r.err().unwrap_or(OK);
    if abi::WASI_MODULES.contains(&f.module) {
        return wasi(caller, f.name, &a, &a64);
    }
    Ok(match f.name {
        "pthread_equal" => (a(0) == a(1)) as i32,
        "emscripten_notify_memory_growth" => 0,
        "proxy_log" => match read_str(caller, a(1), a(2)) {
            Ok(msg) => {
                let level = level_name(a(0));
                caller.data_mut().effect(format!("log {level}: {msg}"));
                OK
            }
            Err(c) => c,
        },
        "proxy_get_log_level" => code(write_u32(caller, a(0), 2)),
        "proxy_get_status" => code(
            write_u32(caller, a(0), 0)
                .and_then(|_| write_u32(caller, a(1), 0))
                .and_then(|_| write_u32(caller, a(2), 0)),
        ),
        "proxy_get_property" => {
            let path = match read(caller, a(0), a(1)) {
                Ok(p) => p,
                Err(c) => return Ok(c),
            };
            let parts: Vec<String> = path
                .split(|b| *b == 0)
                .filter(|p| !p.is_empty())
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            let value = property(caller.data(), &parts);
            let shown = parts.join(".");
            match value {
                Some(v) => {
                    caller
                        .data_mut()
                        .effect(format!("property read: {shown} = {}", show_bytes(&v)));
                    code(hand_over(caller, &v, a(2), a(3))?)
                }
                None => {
                    caller
                        .data_mut()
                        .effect(format!("property read: {shown} (not found)"));
                    NOT_FOUND
                }
            }
        }
        "proxy_set_property" => {
            let (k, v) = match (read_str(caller, a(0), a(1)), read(caller, a(2), a(3))) {
                (Ok(k), Ok(v)) => (k, v),
                _ => return Ok(INVALID_MEMORY_ACCESS),
            };
            caller
                .data_mut()
                .effect(format!("property set: {k} = {}", show_bytes(&v)));
            OK
        }
        "proxy_send_local_response" => {
            let details = read_str(caller, a(1), a(2));
            let body = read(caller, a(3), a(4));
            let headers = read(caller, a(5), a(6));
            let (Ok(details), Ok(body), Ok(headers)) = (details, body, headers) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let Some(headers) = unmarshal_pairs(&headers) else {
                return Ok(BAD_ARGUMENT);
            };
            let s = caller.data_mut();
            s.stream.local_reply = true;
            let grpc = if a(7) == -1 {
                String::new()
            } else {
                format!(", gRPC status {}", a(7))
            };
            s.effect(format!(
                "local reply {} (details {details:?}{grpc}) headers {} body {}",
                a(0),
                show_pairs(&headers),
                show_bytes(&body)
            ));
            OK
        }
        "proxy_get_shared_data" => {
            let Ok(key) = read_str(caller, a(0), a(1)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            match caller.data().shared.get(&key).cloned() {
                Some((v, cas)) => {
                    let r = hand_over(caller, &v, a(2), a(3))?;
                    code(r.and_then(|_| write_u32(caller, a(4), cas)))
                }
                None => NOT_FOUND,
            }
        }
        "proxy_set_shared_data" => {
            let (Ok(key), Ok(value)) = (read_str(caller, a(0), a(1)), read(caller, a(2), a(3)))
            else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let s = caller.data_mut();
            let cas = s.shared.get(&key).map(|e| e.1).unwrap_or(0) + 1;
            s.effect(format!("shared data set: {key} = {}", show_bytes(&value)));
            s.shared.insert(key, (value, cas));
            OK
        }
        "proxy_register_shared_queue" | "proxy_resolve_shared_queue" => {
            let (p, l, t) = if f.name == "proxy_register_shared_queue" {
                (a(0), a(1), a(2))
            } else {
                (a(2), a(3), a(4))
            };
            let Ok(name) = read_str(caller, p, l) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let s = caller.data_mut();
            let token = match s.queues.iter().position(|q| *q == name) {
                Some(i) => i as u32 + 1,
                None if f.name == "proxy_register_shared_queue" => {
                    s.queues.push(name.clone());
                    s.effect(format!("shared queue registered: {name}"));
                    s.queues.len() as u32
                }
                None => return Ok(NOT_FOUND),
            };
            code(write_u32(caller, t, token))
        }
        "proxy_dequeue_shared_queue" => 7, // Empty
        "proxy_enqueue_shared_queue" => {
            let Ok(data) = read(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            caller.data_mut().effect(format!(
                "shared queue {} enqueued {}",
                a(0),
                show_bytes(&data)
            ));
            OK
        }
        "proxy_get_header_map_value" => {
            let Ok(key) = read_str(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let key = key.to_ascii_lowercase();
            let t = a(0);
            let value = header_map(&mut caller.data_mut().stream, t)
                .and_then(|m| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
            match value {
                Some(v) => code(hand_over(caller, v.as_bytes(), a(3), a(4))?),
                None => NOT_FOUND,
            }
        }
        "proxy_add_header_map_value"
        | "proxy_replace_header_map_value"
        | "proxy_remove_header_map_value" => {
            let Ok(key) = read_str(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let key = key.to_ascii_lowercase();
            let value = if f.name == "proxy_remove_header_map_value" {
                String::new()
            } else {
                match read_str(caller, a(3), a(4)) {
                    Ok(v) => v,
                    Err(c) => return Ok(c),
                }
            };
            let t = a(0);
            let s = caller.data_mut();
            let Some(map) = header_map(&mut s.stream, t) else {
                return Ok(BAD_ARGUMENT);
            };
            let what = match f.name {
                "proxy_add_header_map_value" => {
                    map.push((key.clone(), value.clone()));
                    format!("added: {key}: {value}")
                }
                "proxy_replace_header_map_value" => {
                    map.retain(|(k, _)| *k != key);
                    map.push((key.clone(), value.clone()));
                    format!("set: {key}: {value}")
                }
                _ => {
                    map.retain(|(k, _)| *k != key);
                    format!("removed: {key}")
                }
            };
            let name = MAP_NAMES[t as usize];
            s.effect(format!("{name} {what}"));
            OK
        }
        "proxy_get_header_map_pairs" => {
            let t = a(0);
            let Some(pairs) = header_map(&mut caller.data_mut().stream, t).map(|m| m.clone())
            else {
                return Ok(BAD_ARGUMENT);
            };
            code(hand_over(caller, &marshal_pairs(&pairs), a(1), a(2))?)
        }
        "proxy_set_header_map_pairs" => {
            let Ok(bytes) = read(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let Some(pairs) = unmarshal_pairs(&bytes) else {
                return Ok(BAD_ARGUMENT);
            };
            let t = a(0);
            let s = caller.data_mut();
            let Some(map) = header_map(&mut s.stream, t) else {
                return Ok(BAD_ARGUMENT);
            };
            *map = pairs.clone();
            s.effect(format!(
                "{}s replaced: {}",
                MAP_NAMES[t as usize],
                show_pairs(&pairs)
            ));
            OK
        }
        "proxy_get_header_map_size" => {
            let t = a(0);
            let Some(size) =
                header_map(&mut caller.data_mut().stream, t).map(|m| marshal_pairs(m).len())
            else {
                return Ok(BAD_ARGUMENT);
            };
            code(write_u32(caller, a(1), size as u32))
        }
        "proxy_get_buffer_status" => match buffer(caller.data(), a(0)) {
            Some(b) => code(
                write_u32(caller, a(1), b.len() as u32).and_then(|_| write_u32(caller, a(2), 0)),
            ),
            None => NOT_FOUND,
        },
        "proxy_get_buffer_bytes" | "proxy_get_configuration" => {
            let (t, start, length, pp, sp) = if f.name == "proxy_get_configuration" {
                (7, 0u64, u32::MAX as u64, a(0), a(1))
            } else {
                (a(0), a(1) as u32 as u64, a(2) as u32 as u64, a(3), a(4))
            };
            let Some(b) = buffer(caller.data(), t) else {
                return Ok(NOT_FOUND);
            };
            // Clamp start and length (cpp-host getBuffer/copyTo).
            let size = b.len() as u64;
            let start = start.min(size);
            let end = start.saturating_add(length).min(size);
            code(hand_over(caller, &b[start as usize..end as usize], pp, sp)?)
        }
        "proxy_set_buffer_bytes" => {
            let Ok(data) = read(caller, a(3), a(4)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let t = a(0);
            let (start, length) = (a(1) as u32 as usize, a(2) as u32 as usize);
            let s = caller.data_mut();
            let body = match t {
                0 => &mut s.stream.request_body,
                1 => &mut s.stream.response_body,
                _ => return Ok(BAD_ARGUMENT),
            };
            let start = start.min(body.len());
            let end = start.saturating_add(length).min(body.len());
            body.splice(start..end, data);
            let now = body.clone();
            s.effect(format!(
                "{} is now {}",
                BUFFER_NAMES[t as usize],
                show_bytes(&now)
            ));
            OK
        }
        "proxy_http_call" => {
            let upstream = read_str(caller, a(0), a(1));
            let headers = read(caller, a(2), a(3));
            let body = read(caller, a(4), a(5));
            let (Ok(upstream), Ok(headers), Ok(body)) = (upstream, headers, body) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let Some(headers) = unmarshal_pairs(&headers) else {
                return Ok(BAD_ARGUMENT);
            };
            let missing: Vec<&str> = [":path", ":method", ":authority"]
                .into_iter()
                .filter(|h| !headers.iter().any(|(k, _)| k == h))
                .collect();
            if !missing.is_empty() {
                caller.data_mut().effect(format!(
                    "HTTP call to {upstream} refused (BadArgument): no {} header",
                    missing.join(", ")
                ));
                return Ok(BAD_ARGUMENT);
            }
            let s = caller.data_mut();
            let token = s.next_token;
            s.next_token += 1;
            s.effect(format!(
                "HTTP call to {upstream}: headers {} body {} timeout {} ms",
                show_pairs(&headers),
                show_bytes(&body),
                a(8) as u32
            ));
            code(write_u32(caller, a(9), token))
        }
        "proxy_grpc_call" | "proxy_grpc_stream" => {
            let service = read(caller, a(0), a(1));
            let name = read_str(caller, a(2), a(3));
            let method = read_str(caller, a(4), a(5));
            let (Ok(service), Ok(name), Ok(method)) = (service, name, method) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let (kind, token_ptr, message) = if f.name == "proxy_grpc_call" {
                let Ok(m) = read(caller, a(8), a(9)) else {
                    return Ok(INVALID_MEMORY_ACCESS);
                };
                ("gRPC call", a(11), format!(" message {}", show_bytes(&m)))
            } else {
                ("gRPC stream", a(8), String::new())
            };
            let s = caller.data_mut();
            let token = s.next_token;
            s.next_token += 1;
            s.effect(format!(
                "{kind} to {} {name}/{method}{message}",
                show_bytes(&service)
            ));
            code(write_u32(caller, token_ptr, token))
        }
        "proxy_grpc_send" => {
            let Ok(m) = read(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            caller
                .data_mut()
                .effect(format!("gRPC send on {}: {}", a(0), show_bytes(&m)));
            OK
        }
        "proxy_grpc_close" | "proxy_grpc_cancel" => {
            caller
                .data_mut()
                .effect(format!("{} {}", &f.name[6..], a(0)));
            OK
        }
        "proxy_set_tick_period_milliseconds" => {
            caller
                .data_mut()
                .effect(format!("tick period set to {} ms", a(0) as u32));
            OK
        }
        "proxy_get_current_time_nanoseconds" => {
            code(write(caller, a(0), &CLOCK_NANOS.to_le_bytes()))
        }
        "proxy_define_metric" => {
            let Ok(name) = read_str(caller, a(1), a(2)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let kind = match a(0) {
                0 => "counter",
                1 => "gauge",
                2 => "histogram",
                _ => return Ok(BAD_ARGUMENT),
            };
            let s = caller.data_mut();
            let id = match s.metrics.iter().position(|m| m.1 == name) {
                Some(i) => i,
                None => {
                    s.metrics.push((a(0), name.clone(), 0));
                    s.effect(format!("metric defined: {kind} {name}"));
                    s.metrics.len() - 1
                }
            };
            code(write_u32(caller, a(3), id as u32))
        }
        "proxy_increment_metric" | "proxy_record_metric" => {
            let s = caller.data_mut();
            let Some(m) = s.metrics.get_mut(a(0) as u32 as usize) else {
                return Ok(NOT_FOUND);
            };
            let what = if f.name == "proxy_increment_metric" {
                m.2 = m.2.wrapping_add(a64(1));
                format!("metric {} += {} (now {})", m.1, a64(1), m.2)
            } else {
                m.2 = a64(1);
                format!("metric {} = {}", m.1, a64(1) as u64)
            };
            s.effect(what);
            OK
        }
        "proxy_get_metric" => match caller.data().metrics.get(a(0) as u32 as usize) {
            Some(m) => {
                let v = m.2;
                code(write(caller, a(1), &v.to_le_bytes()))
            }
            None => NOT_FOUND,
        },
        "proxy_set_effective_context" | "proxy_done" => OK,
        "proxy_call_foreign_function" => {
            let name = read_str(caller, a(0), a(1)).unwrap_or_default();
            caller.data_mut().effect(format!(
                "foreign function {name} called (not available here)"
            ));
            NOT_FOUND
        }
        "proxy_continue_request"
        | "proxy_continue_response"
        | "proxy_continue_stream"
        | "proxy_close_stream"
        | "proxy_clear_route_cache" => {
            let what = match f.name {
                "proxy_continue_stream" | "proxy_close_stream" => {
                    format!(
                        "{} {}",
                        &f.name[6..],
                        if a(0) == 0 { "request" } else { "response" }
                    )
                }
                n => n[6..].to_string(),
            };
            caller.data_mut().effect(what.replace('_', " "));
            OK
        }
        _ => UNIMPLEMENTED,
    })
}

/// The WASI functions: stdout and stderr are recorded, clocks and random
/// bytes are fixed, no files, no environment, no arguments.
fn wasi(
    caller: &mut Caller<'_, State>,
    name: &str,
    a: &dyn Fn(usize) -> i32,
    a64: &dyn Fn(usize) -> i64,
) -> Result<i32, wasmi::Error> {
    let errno = |r: Result<(), i32>| if r.is_ok() { 0 } else { 21 }; // EFAULT
    Ok(match name {
        "fd_write" => {
            let (fd, iovs, n, nwritten) = (a(0), a(1), a(2), a(3));
            if !(1..=2).contains(&fd) {
                return Ok(8); // EBADF
            }
            let mut text = Vec::new();
            for i in 0..n.max(0) {
                let Ok(iov) = read(caller, iovs.wrapping_add(i * 8), 8) else {
                    return Ok(21);
                };
                let p = i32::from_le_bytes(iov[0..4].try_into().expect("4 bytes"));
                let l = i32::from_le_bytes(iov[4..8].try_into().expect("4 bytes"));
                match read(caller, p, l) {
                    Ok(b) => text.extend(b),
                    Err(_) => return Ok(21),
                }
            }
            let stream = if fd == 1 { "stdout" } else { "stderr" };
            caller
                .data_mut()
                .effect(format!("{stream}: {}", show_bytes(&text)));
            errno(write_u32(caller, nwritten, text.len() as u32))
        }
        "environ_sizes_get" | "args_sizes_get" => {
            errno(write_u32(caller, a(0), 0).and_then(|_| write_u32(caller, a(1), 0)))
        }
        "environ_get" | "args_get" | "sched_yield" | "fd_fdstat_set_flags" => 0,
        "clock_time_get" => {
            let _ = a64(1);
            errno(write(caller, a(2), &CLOCK_NANOS.to_le_bytes()))
        }
        "clock_res_get" => errno(write(caller, a(1), &1u64.to_le_bytes())),
        "random_get" => {
            let n = a(1) as u32 as usize;
            if n > caller.data().memory_limit {
                return Ok(28); // EINVAL
            }
            let bytes: Vec<u8> = (0..n)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
                .collect();
            errno(write(caller, a(0), &bytes))
        }
        "fd_fdstat_get" => {
            // A character device for stdin/out/err, nothing else.
            if !(0..=2).contains(&a(0)) {
                return Ok(8);
            }
            let mut stat = [0u8; 24];
            stat[0] = 2;
            errno(write(caller, a(1), &stat))
        }
        "proc_exit" => {
            let code = a(0);
            caller.data_mut().effect(format!("proc_exit({code})"));
            return Err(wasmi::Error::i32_exit(code));
        }
        "fd_prestat_get" => 8,
        _ => ENOSYS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip() {
        let pairs = vec![
            (":path".to_string(), "/".to_string()),
            ("x".to_string(), String::new()),
        ];
        assert_eq!(unmarshal_pairs(&marshal_pairs(&pairs)).unwrap(), pairs);
        assert!(unmarshal_pairs(&[5, 0, 0, 0]).is_none());
    }
}
