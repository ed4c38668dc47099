//! Secrets out of messages. Registries, proxies and credential helpers may
//! echo what they were sent: an `Authorization` header, a bearer token, a
//! URL with `user:password@`, a token service's JSON. Every message taken
//! from a server or a helper passes through [`redact`] before it is printed
//! anywhere (stderr, `-o json`, reports).
//!
//! Two layers: the credentials this run handed out are remembered
//! ([`remember`]) and replaced wherever they appear, in any encoding this
//! program sent them in (plain, `base64(user:password)`); and the shapes
//! secrets take on the wire are recognised whatever their value.

use base64::Engine;
use std::sync::Mutex;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// The secrets this process holds (passwords, tokens, their base64 forms).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remember a credential so that it is redacted wherever it shows up.
pub fn remember(username: &str, password: &str) {
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    let b64 = base64::engine::general_purpose::STANDARD;
    let pair = format!("{username}:{password}");
    for s in [
        password.to_string(),
        b64.encode(&pair),
        b64.encode(password),
        pair,
    ] {
        // Very short values would redact ordinary words.
        if s.len() >= 4 && !known.contains(&s) {
            known.push(s);
        }
    }
    // Longest first, so a value that contains another goes whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Keys whose values are secrets, in JSON, headers and query strings.
const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "access_token",
    "refresh_token",
    "id_token",
    "identitytoken",
    "registrytoken",
    "client_secret",
    "password",
    "passwd",
    "secret",
    "token",
    "auth",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "signature",
];

/// The message with every secret it holds replaced by `<redacted>`.
pub fn redact(message: &str) -> String {
    let mut s = message.to_string();
    {
        let known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
        for k in known.iter() {
            if s.contains(k.as_str()) {
                s = s.replace(k.as_str(), REDACTED);
            }
        }
    }
    let s = userinfo(&s);
    let s = schemes(&s);
    let s = keyed_values(&s);
    jwts(&s)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_' | '.' | '~' | '%')
}

/// `scheme://user:password@host` → `scheme://<redacted>@host`.
fn userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "\"'<>".contains(c)
            })
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            out.push_str(REDACTED);
            rest = &rest[at..];
        }
    }
    out.push_str(rest);
    out
}

/// `Basic …`, `Bearer …` (any case) → the scheme and `<redacted>`.
fn schemes(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hit = ["basic ", "bearer "]
            .iter()
            .find(|k| lower[i..].starts_with(*k) && word_start(s, i));
        if let Some(k) = hit {
            let start = i + k.len();
            let token_len = s[start..]
                .find(|c: char| !is_token_char(c))
                .unwrap_or(s.len() - start);
            let token = &s[start..start + token_len];
            // `Bearer realm="…"` (a challenge, not a credential) and
            // ordinary words ("basic authentication") stay.
            let secret = if k.starts_with('b') && k.len() == 6 {
                base64::engine::general_purpose::STANDARD
                    .decode(token.trim_end_matches(['.', ',']))
                    .is_ok_and(|d| d.contains(&b':'))
            } else {
                token_len >= 8 && !token.to_ascii_lowercase().starts_with("realm")
            };
            if secret {
                out.push_str(&s[i..start]);
                out.push_str(REDACTED);
                i = start + token_len;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn word_start(s: &str, i: usize) -> bool {
    i == 0
        || !s[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `"token": "…"`, `password=…`, `Authorization: …` → the key and `<redacted>`.
fn keyed_values(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'outer: while i < s.len() {
        if word_start(s, i) {
            for k in SECRET_KEYS {
                if !lower[i..].starts_with(k) {
                    continue;
                }
                let mut j = i + k.len();
                let b = s.as_bytes();
                // A quoted key (JSON), `key=` (query strings, forms), or a
                // header name; not a word that merely starts like one
                // (`sme/auth:1` is a tag).
                let quoted = i > 0 && matches!(b[i - 1], b'"' | b'\'');
                if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
                    if !quoted {
                        continue;
                    }
                    j += 1;
                } else if quoted {
                    continue;
                }
                while j < b.len() && b[j] == b' ' {
                    j += 1;
                }
                if j >= b.len() || !(b[j] == b':' || b[j] == b'=') {
                    continue;
                }
                let header = k.ends_with("authorization");
                if !(quoted || b[j] == b'=' || header) {
                    continue;
                }
                j += 1;
                while j < b.len() && matches!(b[j], b' ' | b'"' | b'\'' | b'[' | b'\\') {
                    j += 1;
                }
                // The value: up to a quote, a separator or the end of the line.
                let end = s[j..]
                    .find(|c: char| {
                        matches!(
                            c,
                            '"' | '\'' | '\\' | ',' | ';' | '&' | '}' | ']' | '\n' | '\r'
                        )
                    })
                    .map(|e| j + e)
                    .unwrap_or(s.len());
                if end > j {
                    out.push_str(&s[i..j]);
                    out.push_str(REDACTED);
                    i = end;
                    continue 'outer;
                }
            }
        }
        let c = s[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// JSON Web Tokens (`eyJ….eyJ….…`) wherever they stand.
fn jwts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("eyJ") {
        out.push_str(&rest[..i]);
        let t = &rest[i..];
        let len = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(t.len());
        if t[..len].matches('.').count() >= 1 && len >= 16 {
            out.push_str(REDACTED);
        } else {
            out.push_str(&t[..len.max(3)]);
        }
        rest = &t[len.max(3)..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_secrets_are_redacted() {
        let cases = [
            (
                "denied: Authorization: Basic dGVzdGVyOnBhNTU= was sent",
                "dGVzdGVyOnBhNTU",
            ),
            (
                r#"{"detail":{"Authorization":["Bearer abc.def.ghi"]}}"#,
                "abc.def",
            ),
            (
                r#"{"token":"s3cr3t-t0ken","access_token":"xyz123456"}"#,
                "s3cr3t",
            ),
            ("GET https://user:hunter22@r.example/v2/", "hunter22"),
            ("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "eyJzdWIi"),
            (
                "https://s3.example/blob?X-Amz-Signature=deadbeef&x=1",
                "deadbeef",
            ),
            ("authorization=bearer%20abcdefgh", "abcdefgh"),
        ];
        for (input, secret) in cases {
            let r = redact(input);
            assert!(!r.contains(secret), "{input} -> {r}");
            assert!(r.contains(REDACTED), "{input} -> {r}");
        }
    }

    #[test]
    fn ordinary_text_stays() {
        for s in [
            "the registry answered HTTP 500: internal error",
            r#"Bearer realm="https://auth.example/token",service="r""#,
            "authentication required; the token service refused the credentials",
            "blob sha256:0123 failed verification",
            "127.0.0.1:5000/sme/auth:1: fetching the manifest: token: none",
        ] {
            assert_eq!(redact(s), s);
        }
    }

    #[test]
    fn remembered_credentials_go_in_every_encoding() {
        remember("alice", "correct-horse-battery");
        let b64 = base64::engine::general_purpose::STANDARD.encode("alice:correct-horse-battery");
        let r = redact(&format!("echo {b64} and correct-horse-battery"));
        assert!(!r.contains(&b64) && !r.contains("correct-horse"), "{r}");
    }
}
