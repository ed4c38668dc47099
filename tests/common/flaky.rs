//! A fault-injecting HTTP proxy on loopback in front of a real registry.
//! Each request is matched by a rule that decides its fate: forwarded,
//! answered with an error status (with headers and a body that may echo the
//! request's Authorization header), reset, cut short mid-body, delayed, or
//! trickled a few bytes at a time. Every connection carries one request
//! (`Connection: close` is forced), so every request meets the rule.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happens to one request.
#[derive(Debug, Clone)]
pub enum Fault {
    Forward,
    /// Answer with this status, these headers and this body; `{auth}` in
    /// the body becomes the request's Authorization header value.
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection with the request half read (the kernel sends RST).
    Reset,
    /// Forward, but close the connection after this many bytes of the answer.
    CutAfter(usize),
    /// Wait, then forward.
    Delay(Duration),
    /// Forward the answer `bytes` at a time, waiting `every` in between.
    Trickle {
        bytes: usize,
        every: Duration,
    },
}

/// The request as the rule sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

type Rule = dyn Fn(&Request, usize) -> Fault + Send + Sync;

pub struct FaultProxy {
    pub host: String,
    /// `METHOD PATH -> fault` for every request seen.
    pub seen: Arc<Mutex<Vec<String>>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Forward the answer, `limit` bytes at most, in chunks with a pause.
fn pipe_shaped(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: usize,
    chunk: usize,
    every: Duration,
) {
    let mut buf = vec![0u8; chunk.max(1)];
    let mut sent = 0usize;
    while sent < limit {
        let want = buf.len().min(limit - sent);
        match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent += n;
                if !every.is_zero() {
                    std::thread::sleep(every);
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

fn read_line(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    Some(line)
}

/// The rest of the request head after the first line, with `Connection: close`.
fn read_rest_of_head(s: &mut TcpStream) -> Option<(Vec<u8>, Option<String>)> {
    let mut head = Vec::new();
    let mut auth = None;
    loop {
        let line = read_line(s)?;
        if line == b"\r\n" {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if lower.starts_with("authorization:") {
            auth = Some(text["authorization:".len()..].trim().to_string());
        }
        head.extend_from_slice(&line);
    }
    head.extend_from_slice(b"Connection: close\r\n\r\n");
    Some((head, auth))
}

fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

impl FaultProxy {
    /// Start a proxy in front of `upstream`; `rule(request, n)` decides the
    /// fate of the request, `n` counting the requests before it (from 0).
    pub fn start(
        upstream: &str,
        rule: impl Fn(&Request, usize) -> Fault + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        let rule: Arc<Rule> = Arc::new(rule);
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let (rule, count, upstream, log) =
                    (rule.clone(), count.clone(), upstream.clone(), log.clone());
                std::thread::spawn(move || serve(client, &upstream, &*rule, &count, &log));
            }
        });
        FaultProxy { host, seen }
    }

    /// How many requests met a fault other than Forward.
    pub fn faults(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.ends_with("Forward"))
            .count()
    }
}

fn serve(
    mut client: TcpStream,
    upstream: &str,
    rule: &Rule,
    count: &AtomicUsize,
    log: &Mutex<Vec<String>>,
) {
    let Some(first) = read_line(&mut client) else {
        return;
    };
    let text = String::from_utf8_lossy(&first).into_owned();
    let mut parts = text.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    // The rule sees the Authorization header, so the head is read first,
    // except for a reset, which must leave part of it unread.
    let peek = Request {
        method: method.clone(),
        path: path.clone(),
        authorization: None,
    };
    let n = count.fetch_add(1, Ordering::SeqCst);
    let fault = rule(&peek, n);
    if let Fault::Reset = fault {
        log.lock()
            .unwrap()
            .push(format!("{method} {path} -> Reset"));
        drop(client);
        return;
    }
    let Some((rest, authorization)) = read_rest_of_head(&mut client) else {
        return;
    };
    let fault = match fault {
        Fault::Status {
            code,
            headers,
            body,
        } => Fault::Status {
            code,
            headers,
            body: body.replace("{auth}", authorization.as_deref().unwrap_or("")),
        },
        f => f,
    };
    let name = match &fault {
        Fault::Forward => "Forward".to_string(),
        other => format!("{other:?}")
            .split([' ', '(', '{'])
            .next()
            .unwrap_or("")
            .to_string(),
    };
    log.lock()
        .unwrap()
        .push(format!("{method} {path} -> {name}"));
    let forward = |client: TcpStream, limit: usize, chunk: usize, every: Duration| {
        let Ok(mut up) = TcpStream::connect(upstream) else {
            return;
        };
        if up.write_all(&first).is_err() || up.write_all(&rest).is_err() {
            return;
        }
        let (c2, u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
        let t = std::thread::spawn(move || pipe(c2, u2));
        if limit == usize::MAX && every.is_zero() {
            pipe(up, client);
        } else {
            pipe_shaped(up, client, limit, chunk, every);
        }
        let _ = t.join();
    };
    match fault {
        Fault::Forward => forward(client, usize::MAX, 64 * 1024, Duration::ZERO),
        Fault::Delay(d) => {
            std::thread::sleep(d);
            forward(client, usize::MAX, 64 * 1024, Duration::ZERO)
        }
        Fault::CutAfter(n) => forward(client, n, 64 * 1024, Duration::ZERO),
        Fault::Trickle { bytes, every } => forward(client, usize::MAX, bytes, every),
        Fault::Status {
            code,
            headers,
            body,
        } => {
            let mut answer = format!(
                "HTTP/1.1 {code} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                reason(code),
                body.len()
            );
            for (k, v) in headers {
                answer.push_str(&format!("{k}: {v}\r\n"));
            }
            answer.push_str("\r\n");
            answer.push_str(&body);
            let _ = client.write_all(answer.as_bytes());
        }
        Fault::Reset => unreachable!("handled above"),
    }
}

/// A proxy that answers the first `failures` requests with `status` and
/// forwards everything after.
pub struct FlakyProxy {
    pub host: String,
    /// How many error answers were given.
    pub errors_served: Arc<AtomicUsize>,
    _proxy: FaultProxy,
}

impl FlakyProxy {
    pub fn start(upstream: &str, failures: usize, status: u16) -> FlakyProxy {
        let served = Arc::new(AtomicUsize::new(0));
        let counter = served.clone();
        let proxy = FaultProxy::start(upstream, move |_, n| {
            if n < failures {
                counter.fetch_add(1, Ordering::SeqCst);
                Fault::Status {
                    code: status,
                    headers: Vec::new(),
                    body: String::new(),
                }
            } else {
                Fault::Forward
            }
        });
        FlakyProxy {
            host: proxy.host.clone(),
            errors_served: served,
            _proxy: proxy,
        }
    }
}
