//! A token server for the registry's `auth: token` mode (the Docker token
//! protocol that Docker Hub, quay.io and most hosted registries use): it
//! checks HTTP basic credentials and answers with a JWT, signed ES256 with a
//! key whose self-signed certificate the registry trusts (`x5c` header).

use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub const ISSUER: &str = "sme2wasm-test-issuer";
pub const SERVICE: &str = "sme2wasm-test-registry";

pub struct TokenServer {
    pub realm: String,
    /// Tokens issued.
    pub issued: Arc<AtomicUsize>,
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ECDSA DER signature → the fixed 64-byte r||s of JOSE.
fn der_to_jose(der: &[u8]) -> Vec<u8> {
    // SEQUENCE { INTEGER r, INTEGER s }, short lengths for P-256.
    let mut i = 2;
    let mut parts = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[i], 0x02);
        let len = der[i + 1] as usize;
        let mut v = der[i + 2..i + 2 + len].to_vec();
        while v.len() > 32 && v[0] == 0 {
            v.remove(0);
        }
        let mut padded = vec![0u8; 32 - v.len()];
        padded.extend(v);
        parts.extend(padded);
        i += 2 + len;
    }
    parts
}

impl TokenServer {
    /// Start; writes the certificate the registry must trust to `cert_path`.
    pub fn start(cert_path: &Path, user: &str, password: &str) -> TokenServer {
        use rcgen::{CertificateParams, KeyPair, SigningKey};
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sme2wasm token signer");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(cert_path, cert.pem()).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(cert.der());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let issued = Arc::new(AtomicUsize::new(0));
        let counter = issued.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let authorized = head.lines().any(|l| {
                    l.to_ascii_lowercase().starts_with("authorization:")
                        && l[14..].trim() == expected
                });
                if !authorized {
                    let body = r#"{"details":"wrong or missing credentials"}"#;
                    let _ = write!(conn, "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
                    continue;
                }
                let target = head.split_whitespace().nth(1).unwrap_or("");
                let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
                let mut access = Vec::new();
                for pair in query.split('&') {
                    if let Some(scope) = pair.strip_prefix("scope=") {
                        let scope = percent_decode(scope);
                        let parts: Vec<&str> = scope.split(':').collect();
                        if let [kind, name, actions] = parts.as_slice() {
                            access.push(serde_json::json!({
                                "type": kind, "name": name,
                                "actions": actions.split(',').collect::<Vec<_>>(),
                            }));
                        }
                    }
                }
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [x5c]});
                let claims = serde_json::json!({
                    "iss": ISSUER, "sub": "tester", "aud": SERVICE,
                    "exp": now + 600, "nbf": now - 60, "iat": now - 60,
                    "jti": format!("t{}", counter.fetch_add(1, Ordering::SeqCst)),
                    "access": access,
                });
                let signing_input = format!(
                    "{}.{}",
                    b64url(header.to_string().as_bytes()),
                    b64url(claims.to_string().as_bytes())
                );
                let sig = der_to_jose(&key.sign(signing_input.as_bytes()).unwrap());
                let token = format!("{signing_input}.{}", b64url(&sig));
                let body =
                    serde_json::json!({"token": token, "access_token": token, "expires_in": 600})
                        .to_string();
                let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        TokenServer { realm, issued }
    }
}
