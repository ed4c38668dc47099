//! A real registry for the tests: Debian's `docker-registry` (CNCF
//! distribution) on 127.0.0.1 with an ephemeral port and a temporary storage
//! directory, anonymous over plain HTTP, with htpasswd basic auth, or over
//! TLS with a CA the test generates. Killed on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = "/usr/bin/docker-registry";
pub const USER: &str = "tester";
pub const PASSWORD: &str = "pa55-w0rd-never-printed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Anonymous,
    Htpasswd,
    Tls,
    /// The Docker token protocol, with a token server in the test.
    Token,
}

pub struct Registry {
    pub flavour: Flavour,
    /// `127.0.0.1:PORT`
    pub host: String,
    pub dir: tempfile::TempDir,
    /// PEM of the CA that signed the server certificate (TLS only).
    pub ca_file: Option<PathBuf>,
    pub token_server: Option<super::token::TokenServer>,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

fn tls_material(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sme2wasm test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let (ca, crt, k) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&ca, ca_cert.pem()).unwrap();
    std::fs::write(&crt, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (ca, crt, k)
}

impl Registry {
    pub fn start(flavour: Flavour) -> Registry {
        assert!(
            Path::new(BINARY).exists(),
            "{BINARY} is missing: the registry tests need CNCF distribution; run `apt-get install docker-registry` (tests never skip)"
        );
        let mut last_err = String::new();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port();
            let host = format!("127.0.0.1:{port}");
            let mut config = format!(
                "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
                dir.path().join("storage").display()
            );
            let mut ca_file = None;
            if flavour == Flavour::Tls {
                let (ca, crt, key) = tls_material(dir.path());
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    crt.display(),
                    key.display()
                ));
                ca_file = Some(ca);
            }
            if flavour == Flavour::Htpasswd {
                let hash = bcrypt::hash(PASSWORD, 4).unwrap();
                let path = dir.path().join("htpasswd");
                std::fs::write(&path, format!("{USER}:{hash}\n")).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: sme2wasm-test\n    path: {}\n",
                    path.display()
                ));
            }
            let mut token_server = None;
            if flavour == Flavour::Token {
                let cert = dir.path().join("token-signer.pem");
                let server = super::token::TokenServer::start(&cert, USER, PASSWORD);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    server.realm,
                    super::token::SERVICE,
                    super::token::ISSUER,
                    cert.display()
                ));
                token_server = Some(server);
            }
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let child = Command::new(BINARY)
                .arg("serve")
                .arg(&config_path)
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
            let mut reg = Registry {
                flavour,
                host,
                dir,
                ca_file,
                token_server,
                child,
            };
            match reg.wait_ready() {
                Ok(()) => return reg,
                // Most likely the port was taken between probe and start.
                Err(e) => last_err = e,
            }
        }
        panic!("{BINARY} did not start: {last_err}");
    }

    /// GET /v2/ until it answers (200, or 401 when auth is on).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if let Ok(mut s) = TcpStream::connect(&self.host) {
                if self.flavour == Flavour::Tls {
                    // The port accepts: the TLS listener is up (a client
                    // handshake is what the tests themselves do).
                    return Ok(());
                }
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!(
                    "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                    self.host
                );
                if s.write_all(req.as_bytes()).is_ok() {
                    let mut buf = String::new();
                    let _ = s.read_to_string(&mut buf);
                    if buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.1 401") {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not ready after 20s: {}", self.log()))
    }

    /// What the registry logged (its access log included).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Did anyone GET this blob?
    pub fn blob_was_fetched(&self, digest: &str) -> bool {
        self.log()
            .lines()
            .any(|l| l.contains("GET /v2/") && l.contains(&format!("/blobs/{digest}")))
    }

    /// Flags that let sme2wasm talk to this registry.
    pub fn flags(&self) -> Vec<String> {
        match self.flavour {
            Flavour::Tls => vec![
                "--ca-file".into(),
                self.ca_file.as_ref().unwrap().display().to_string(),
            ],
            _ => vec!["--plain-http".into(), self.host.clone()],
        }
    }

    /// skopeo flags for the same registry.
    pub fn skopeo_flags(&self, src: bool) -> Vec<String> {
        let p = if src { "src" } else { "dest" };
        let mut f = Vec::new();
        match self.flavour {
            Flavour::Tls => {
                let certs = self.dir.path().join("skopeo-certs");
                std::fs::create_dir_all(&certs).unwrap();
                std::fs::copy(self.ca_file.as_ref().unwrap(), certs.join("ca.crt")).unwrap();
                f.push(format!("--{p}-cert-dir={}", certs.display()));
            }
            _ => f.push(format!("--{p}-tls-verify=false")),
        }
        if matches!(self.flavour, Flavour::Htpasswd | Flavour::Token) {
            f.push(format!("--{p}-creds={USER}:{PASSWORD}"));
        }
        f
    }

    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host)
    }
}
