//! A loopback proxy in front of a registry that answers the first N requests
//! with an error status (503, 429) and then forwards everything, for the
//! retry tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct FlakyProxy {
    pub host: String,
    /// How many error answers were given.
    pub errors_served: Arc<AtomicUsize>,
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

/// Read up to the end of the request head.
fn read_head(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

impl FlakyProxy {
    pub fn start(upstream: &str, failures: usize, status: u16) -> FlakyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let remaining = Arc::new(AtomicUsize::new(failures));
        let errors_served = Arc::new(AtomicUsize::new(0));
        let upstream = upstream.to_string();
        let served = errors_served.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let (remaining, served, upstream) =
                    (remaining.clone(), served.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let Some(head) = read_head(&mut client) else {
                        return;
                    };
                    let fail = remaining
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if fail {
                        served.fetch_add(1, Ordering::SeqCst);
                        let _ = client.write_all(
                            format!("HTTP/1.1 {status} Try Later\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                        );
                        return;
                    }
                    let Ok(mut up) = TcpStream::connect(&upstream) else {
                        return;
                    };
                    if up.write_all(&head).is_err() {
                        return;
                    }
                    let (c2, u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
                    let t = std::thread::spawn(move || pipe(c2, u2));
                    pipe(up, client);
                    let _ = t.join();
                });
            }
        });
        FlakyProxy {
            host,
            errors_served,
        }
    }
}
