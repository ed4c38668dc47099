//! A streaming tar reader with bounded metadata, read as Go's archive/tar
//! reads layers (containerd, Istio's fetcher, umoci and skopeo all use it).
//!
//! Why not the `tar` crate: it reads GNU long names, PAX headers and GNU
//! sparse maps whole into memory whatever size their header claims (a 1 MB
//! layer could claim a 1 GiB name), and it refuses a stream that ends after
//! the last entry's data without padding or end blocks, which Go accepts.
//!
//! The rules, Go's:
//! - GNU long names and links (`L`, `K`) and PAX headers (`x`, `g`) of more
//!   than [`MAX_META`] (1 MiB, Go's `maxSpecialFileSize`) are refused before
//!   a byte of them is held; a GNU sparse map's extension headers are
//!   counted and skipped, never kept, and refused past [`MAX_META`].
//! - The stream may end at a header boundary, or after an entry's data with
//!   its padding missing or cut short: that is the end of the archive.
//!   A stream that ends inside an entry's data or inside a header is an error.
//! - Links, directories, devices and FIFOs carry no data whatever their size field says.

use std::io::{self, Read};

pub const BLOCK: u64 = 512;
/// The largest metadata entry read (Go's archive/tar: `maxSpecialFileSize`).
pub const MAX_META: u64 = 1024 * 1024;
/// The longest entry name kept (Linux's PATH_MAX): a longer path cannot be
/// extracted by any runtime.
pub const MAX_PATH: usize = 4096;

/// One entry of the archive (metadata entries already applied).
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: Vec<u8>,
    pub link: Vec<u8>,
    /// The type flag (`b'0'` for `\0` too).
    pub typeflag: u8,
    /// The file's size (a sparse file's logical size).
    pub size: u64,
    /// Stored as a sparse file (GNU `S`, or PAX `GNU.sparse.*`): the data
    /// that follows is not the file's content as it stands.
    pub sparse: bool,
    /// Byte offset of the entry's header in the tar stream.
    pub offset: u64,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Read a tar stream entry by entry.
pub struct TarReader<R> {
    r: R,
    /// Data bytes of the current entry not read yet.
    remaining: u64,
    pad: u64,
    offset: u64,
    done: bool,
    current: String,
}

impl<R: Read> TarReader<R> {
    pub fn new(r: R) -> TarReader<R> {
        TarReader {
            r,
            remaining: 0,
            pad: 0,
            offset: 0,
            done: false,
            current: String::new(),
        }
    }

    pub fn into_inner(self) -> R {
        self.r
    }

    /// Fill `buf`; the number of bytes read (less only at the end of the stream).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Skip `n` bytes; how many were there.
    fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let mut buf = [0u8; 8192];
        let mut skipped = 0;
        while n > 0 {
            let want = buf.len().min(n as usize);
            let got = self.fill(&mut buf[..want])?;
            skipped += got as u64;
            if got < want {
                break;
            }
            n -= got as u64;
        }
        Ok(skipped)
    }

    /// A metadata entry's content, refused beyond MAX_META before any of it is held.
    fn meta(&mut self, what: &str, size: u64, at: u64) -> io::Result<Vec<u8>> {
        if size > MAX_META {
            return Err(invalid(format!(
                "the {what} at byte {at} claims {size} bytes, more than the {MAX_META} any tar reader needs (Go's archive/tar refuses it too); this is not a layer a container runtime extracts"
            )));
        }
        let mut buf = vec![0u8; size as usize];
        if self.fill(&mut buf)? < buf.len() {
            return Err(invalid(format!(
                "the layer ends inside the {what} at byte {at}"
            )));
        }
        let pad = (BLOCK - size % BLOCK) % BLOCK;
        self.skip(pad)?;
        Ok(buf)
    }

    /// A header block: `None` at a clean end of the stream.
    fn block(&mut self) -> io::Result<Option<[u8; 512]>> {
        let mut b = [0u8; 512];
        let at = self.offset;
        match self.fill(&mut b)? {
            0 => Ok(None),
            512 => Ok(Some(b)),
            n => Err(invalid(format!(
                "the layer ends inside a tar header ({n} of its 512 bytes at byte {at})"
            ))),
        }
    }

    /// The next entry, after skipping what is left of the current one.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        if self.remaining > 0 {
            let want = self.remaining;
            if self.skip(want)? < want {
                return Err(invalid(format!(
                    "the layer ends inside the data of {} ({want} bytes missing or fewer)",
                    self.current
                )));
            }
            self.remaining = 0;
        }
        // Padding cut short or missing: the end, as Go reads it.
        let pad = std::mem::take(&mut self.pad);
        if self.skip(pad)? < pad {
            self.done = true;
            return Ok(None);
        }
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let at = self.offset;
            let Some(h) = self.block()? else {
                self.done = true;
                return Ok(None);
            };
            if h.iter().all(|&b| b == 0) {
                // One zero block, then a second (or the end of the stream).
                match self.block()? {
                    Some(b) if b.iter().any(|&x| x != 0) => {
                        return Err(invalid(format!(
                        "a zero block at byte {at} is followed by a header; the archive is corrupt"
                    )))
                    }
                    _ => {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
            if !checksum_ok(&h) {
                return Err(invalid(format!(
                    "no tar header at byte {at} (its checksum does not match)"
                )));
            }
            let typeflag = if h[156] == 0 { b'0' } else { h[156] };
            let size = number(&h[124..136]).ok_or_else(|| {
                invalid(format!(
                    "the tar header at byte {at} has an unreadable size"
                ))
            })?;
            match typeflag {
                b'L' => {
                    long_name = Some(trim_nul(self.meta("GNU long name", size, at)?));
                    continue;
                }
                b'K' => {
                    long_link = Some(trim_nul(self.meta("GNU long link name", size, at)?));
                    continue;
                }
                b'x' => {
                    let data = self.meta("PAX header", size, at)?;
                    pax = parse_pax(&data).ok_or_else(|| {
                        invalid(format!("the PAX header at byte {at} is malformed"))
                    })?;
                    continue;
                }
                b'g' => {
                    // Global PAX headers: read (bounded) and set aside, as Go does.
                    self.meta("global PAX header", size, at)?;
                    continue;
                }
                _ => {}
            }
            let ustar = &h[257..263] == b"ustar\0";
            let mut path = match long_name.take() {
                Some(n) => n,
                None => {
                    let name = trim_nul(h[..100].to_vec());
                    let prefix = if ustar {
                        trim_nul(h[345..500].to_vec())
                    } else {
                        Vec::new()
                    };
                    if prefix.is_empty() {
                        name
                    } else {
                        [prefix, b"/".to_vec(), name].concat()
                    }
                }
            };
            let mut link = long_link
                .take()
                .unwrap_or_else(|| trim_nul(h[157..257].to_vec()));
            let mut data_len = size;
            let mut file_size = size;
            let mut sparse = false;
            for (k, v) in &pax {
                match k.as_str() {
                    "path" => path = v.clone(),
                    "linkpath" => link = v.clone(),
                    "size" => {
                        let n = std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                            .ok_or_else(|| {
                                invalid(format!(
                                    "the PAX header before byte {at} has an unreadable size"
                                ))
                            })?;
                        data_len = n;
                        file_size = n;
                    }
                    "GNU.sparse.name" => {
                        path = v.clone();
                        sparse = true;
                    }
                    "GNU.sparse.realsize" | "GNU.sparse.size" => {
                        sparse = true;
                        if let Some(n) = std::str::from_utf8(v)
                            .ok()
                            .and_then(|s| s.parse::<u64>().ok())
                        {
                            file_size = n;
                        }
                    }
                    k if k.starts_with("GNU.sparse.") => sparse = true,
                    _ => {}
                }
            }
            if typeflag == b'S' {
                sparse = true;
                if let Some(real) = number(&h[483..495]) {
                    file_size = real;
                }
                // Extension headers of the sparse map: counted, never kept.
                let mut extended = h[482] != 0;
                let mut ext_bytes = 0u64;
                while extended {
                    ext_bytes += BLOCK;
                    if ext_bytes > MAX_META {
                        return Err(invalid(format!(
                            "the GNU sparse map of the entry at byte {at} runs past {MAX_META} bytes of extension headers; this is not a layer a container runtime extracts"
                        )));
                    }
                    let Some(b) = self.block()? else {
                        return Err(invalid(format!(
                            "the layer ends inside the sparse map of the entry at byte {at}"
                        )));
                    };
                    extended = b[504] != 0;
                }
            }
            if matches!(typeflag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
                data_len = 0;
            }
            if path.len() > MAX_PATH {
                return Err(invalid(format!(
                    "the entry at byte {at} is named by {} bytes, more than PATH_MAX ({MAX_PATH}); no runtime can extract it",
                    path.len()
                )));
            }
            if link.len() > MAX_PATH {
                return Err(invalid(format!(
                    "the link target of the entry at byte {at} is {} bytes, more than PATH_MAX ({MAX_PATH})",
                    link.len()
                )));
            }
            self.remaining = data_len;
            self.pad = (BLOCK - data_len % BLOCK) % BLOCK;
            self.current = String::from_utf8_lossy(&path).into_owned();
            return Ok(Some(Entry {
                path,
                link,
                typeflag,
                size: file_size,
                sparse,
                offset: at,
            }));
        }
    }
}

/// The current entry's data.
impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = loop {
            match self.r.read(&mut buf[..want]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the layer ends inside the data of {} ({} bytes missing)",
                    self.current, self.remaining
                ),
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        Ok(n)
    }
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    if let Some(i) = v.iter().position(|&b| b == 0) {
        v.truncate(i);
    }
    v
}

/// An octal field, or GNU's base-256 form (high bit of the first byte set).
fn number(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        if field[0] & 0x40 != 0 {
            return None; // negative
        }
        let mut n: u64 = (field[0] & 0x3f) as u64;
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(n);
    }
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ' || b == 0)
        .take_while(|&b| b != b' ' && b != 0)
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&s).ok()?, 8).ok()
}

fn checksum_ok(h: &[u8; 512]) -> bool {
    let Some(want) = number(&h[148..156]) else {
        return false;
    };
    let unsigned: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as i64
            }
        })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as i8 as i64
            }
        })
        .sum();
    want as i64 == unsigned || want as i64 == signed
}

/// PAX records: `LEN KEY=VALUE\n`, LEN counting the whole record.
fn parse_pax(mut data: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.iter().all(|&b| b == 0) {
            break;
        }
        let sp = data.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&data[..sp]).ok()?.parse().ok()?;
        if len <= sp + 1 || len > data.len() || data[len - 1] != b'\n' {
            return None;
        }
        let rec = &data[sp + 1..len - 1];
        let eq = rec.iter().position(|&b| b == b'=')?;
        let key = String::from_utf8_lossy(&rec[..eq]).into_owned();
        out.push((key, rec[eq + 1..].to_vec()));
        data = &data[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> io::Result<Vec<(String, Vec<u8>)>> {
        let mut r = TarReader::new(tar);
        let mut out = Vec::new();
        while let Some(e) = r.next_entry()? {
            let mut data = Vec::new();
            r.read_to_end(&mut data)?;
            out.push((String::from_utf8_lossy(&e.path).into_owned(), data));
        }
        Ok(out)
    }

    fn built() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(
            &mut h,
            format!("{}/long.wasm", "d".repeat(200)),
            &b"abc"[..],
        )
        .unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(5);
        h.set_mode(0o644);
        b.append_data(&mut h, "x/manifest.yaml", &b"hello"[..])
            .unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn reads_what_the_tar_crate_writes() {
        let e = entries(&built()).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0, format!("{}/long.wasm", "d".repeat(200)));
        assert_eq!(e[0].1, b"abc");
        assert_eq!(e[1], ("x/manifest.yaml".to_string(), b"hello".to_vec()));
    }

    #[test]
    fn the_end_as_go_reads_it() {
        let full = built();
        // Without end blocks, without the last padding, with half of it.
        let data_end = full.len() - 1024 - (512 - 5);
        for cut in [full.len() - 1024, data_end, data_end + 100] {
            let e = entries(&full[..cut]).unwrap_or_else(|e| panic!("{cut}: {e}"));
            assert_eq!(e[1].1, b"hello", "{cut}");
        }
        // Inside the data, inside a header: errors.
        assert!(entries(&full[..data_end - 2]).is_err());
        assert!(entries(&full[..full.len() - 1024 - 512 - 100]).is_err());
    }
}
