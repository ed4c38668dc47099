//! Where image bytes come from and go to: a registry repository or an OCI
//! image-layout directory, behind one small interface, with every blob's
//! digest and size verified while it streams.

use crate::image::build::Blob;
use crate::image::media::Descriptor;
use crate::image::{ImageRef, RegistryRef};
use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// Which manifest of a repository (or layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Tag(String),
    Digest(String),
    /// An OCI layout's only image, when no tag was named.
    Only,
}

impl Selector {
    /// What a reference selects: its digest, else its tag (`latest` when it
    /// names none), else a layout's only image.
    pub fn of(r: &ImageRef) -> Selector {
        match r {
            ImageRef::Registry(RegistryRef {
                digest: Some(d), ..
            }) => Selector::Digest(d.clone()),
            ImageRef::Registry(r) => {
                Selector::Tag(r.effective_tag().unwrap_or("latest").to_string())
            }
            ImageRef::Layout(l) => match &l.tag {
                Some(t) => Selector::Tag(t.clone()),
                None => Selector::Only,
            },
        }
    }
}

/// A manifest as fetched, its digest computed from the bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub digest: String,
}

/// A failure of a store: the message names the reference, the answer and
/// what to do. `transient` failures may succeed when tried again.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
    pub transient: bool,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            transient: false,
        }
    }
}

/// A repository or a layout directory.
pub trait Store: Send + Sync {
    /// The manifest the selector names; `None` when there is none.
    fn fetch_manifest(&self, sel: &Selector) -> Result<Option<Fetched>, StoreError>;
    /// A reader over the blob; it fails at the end if digest or size differ.
    fn open_blob(&self, desc: &Descriptor) -> Result<Box<dyn Read + Send + '_>, StoreError>;
    fn has_blob(&self, desc: &Descriptor) -> Result<bool, StoreError>;
    fn put_blob(&self, blob: &Blob) -> Result<(), StoreError>;
    /// Store a manifest and point the selector (a tag) at it.
    fn put_manifest(&self, manifest: &Blob, sel: &Selector) -> Result<(), StoreError>;
}

/// Check a fetched manifest against the digest it was asked for.
pub fn verify_manifest(body: Vec<u8>, sel: &Selector) -> Result<Fetched, String> {
    let digest = crate::image::build::sha256_digest(&body);
    if let Selector::Digest(want) = sel {
        if *want != digest {
            return Err(format!(
                "the manifest's content has digest {digest}, not the {want} that was asked for"
            ));
        }
    }
    Ok(Fetched { body, digest })
}

/// Hashes and counts what passes through; at the end of the stream compares
/// both with the descriptor and turns a mismatch into an `InvalidData` error,
/// so no one uses unverified content without also seeing the error.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
    expected_digest: String,
    expected_size: u64,
    done: bool,
    /// The first error of the inner reader, repeated: a broken download is
    /// reported as such, not as a digest mismatch of what came before it.
    failed: Option<(io::ErrorKind, String)>,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, desc: &Descriptor) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
            expected_digest: desc.digest.clone(),
            expected_size: desc.size,
            done: false,
            failed: None,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, message)) = &self.failed {
            return Err(io::Error::new(*kind, message.clone()));
        }
        if self.done {
            return Ok(0);
        }
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => {
                self.failed = Some((e.kind(), e.to_string()));
                return Err(e);
            }
        };
        if n == 0 {
            self.done = true;
            let digest = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if digest != self.expected_digest || self.read != self.expected_size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "blob {} failed verification: got {} bytes with digest {digest}, expected {} bytes",
                        self.expected_digest, self.read, self.expected_size
                    ),
                ));
            }
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.expected_size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {} failed verification: more than the {} bytes its descriptor gives",
                    self.expected_digest, self.expected_size
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_fails_at_the_end() {
        let blob = Blob::new("x", b"hello".to_vec());
        let mut ok = Vec::new();
        VerifyingReader::new(&b"hello"[..], &blob.descriptor())
            .read_to_end(&mut ok)
            .unwrap();
        let e = VerifyingReader::new(&b"hellO"[..], &blob.descriptor())
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("failed verification"), "{e}");
        let e = VerifyingReader::new(&b"hello!"[..], &blob.descriptor())
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
    }
}
