//! Splitting a YAML stream into documents by their `---` / `...` markers,
//! without parsing them. YAML forbids a document marker at column 0 inside
//! any scalar, so a line that starts with `---` or `...` followed by nothing
//! or white space is always a document boundary. This is what lets a
//! document that is not a ServiceMeshExtension pass through byte for byte.

/// One document of a stream, as raw text.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    /// The raw text: from the `---` line that opens it (if any) up to the
    /// line before the next document's `---`.
    pub text: &'a str,
    /// 1-based line number of the first line of `text` in the whole stream.
    pub start_line: usize,
    /// Byte offset of `text` in the whole stream.
    pub offset: usize,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Split `input` into documents. The concatenation of every `text` is
/// exactly `input`.
pub fn split_documents(input: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut line_no = 1usize;
    let mut pos = 0usize;
    // Whether the current document has any line yet (its `---` included).
    let mut has_content = false;
    let bytes = input.as_bytes();
    while pos < input.len() {
        let end = line_end(bytes, pos);
        let line = &input[pos..end];
        if is_marker(line, "---") && has_content {
            docs.push(Document {
                text: &input[start..pos],
                start_line,
                offset: start,
            });
            start = pos;
            start_line = line_no;
        }
        // A directive (`%YAML 1.1`) belongs to the document its `---` opens.
        if !line.starts_with('%') || has_content {
            has_content = true;
        }
        pos = end;
        line_no += 1;
        if is_marker(line, "...") {
            docs.push(Document {
                text: &input[start..pos],
                start_line,
                offset: start,
            });
            start = pos;
            start_line = line_no;
            has_content = false;
        }
    }
    if start < input.len() || docs.is_empty() {
        docs.push(Document {
            text: &input[start..],
            start_line,
            offset: start,
        });
    }
    docs
}

/// Whether `line` starts with `key:`, `"key":` or `'key':`.
fn starts_with_key(line: &str, key: &str) -> bool {
    let quoted = |q: char| {
        line.strip_prefix(q)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(q))
            .is_some_and(|r| r.starts_with(':'))
    };
    line.strip_prefix(key).is_some_and(|r| r.starts_with(':')) || quoted('"') || quoted('\'')
}

/// The end of the line that starts at `pos` (after its line break). A line
/// ends at LF, CRLF or a lone CR: YAML 1.2 (§5.4) and Kubernetes' reader
/// take all three as a line break.
fn line_end(bytes: &[u8], pos: usize) -> usize {
    match bytes[pos..].iter().position(|&c| c == b'\n' || c == b'\r') {
        Some(i) if bytes[pos + i] == b'\r' && bytes.get(pos + i + 1) == Some(&b'\n') => pos + i + 2,
        Some(i) => pos + i + 1,
        None => bytes.len(),
    }
}

/// The 0-based line of the last key of `path` found (each key searched for
/// from the line of the one before, starting at line `from`): the first line
/// that, indentation and `- ` taken off, starts with `key:` (or the key
/// quoted). The text is searched for the key itself, not line by line, so
/// that the lines before it cost a substring search, not a look each.
fn key_line(text: &str, path: &[&str], from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    // The line the search starts at: its byte offset and its index.
    let mut pos = 0usize;
    for _ in 0..from {
        pos = line_end(bytes, pos);
    }
    let mut index = from;
    let mut found = None;
    'keys: for key in path {
        let mut search = pos;
        loop {
            let Some(rel) = text[search..].find(key) else {
                break 'keys;
            };
            let hit = search + rel;
            let start = bytes[pos..hit]
                .iter()
                .rposition(|&c| c == b'\n' || c == b'\r')
                .map_or(pos, |i| pos + i + 1);
            let end = line_end(bytes, start);
            let line = text[start..end]
                .trim_end_matches('\n')
                .trim_end_matches('\r');
            if starts_with_key(line.trim_start().trim_start_matches("- "), key) {
                index += line_breaks(&bytes[pos..start]);
                pos = start;
                found = Some(index);
                continue 'keys;
            }
            // The last line failed (an empty key would be found there again).
            if end >= bytes.len() {
                break 'keys;
            }
            search = end;
        }
    }
    found
}

/// How many line breaks (LF, CRLF, lone CR) `bytes` holds.
fn line_breaks(bytes: &[u8]) -> usize {
    let mut n = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if c == b'\n' || (c == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            n += 1;
        }
    }
    n
}

/// The lines of `text` with their line breaks (LF, CRLF or a lone CR).
pub fn lines_inclusive(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let end = line_end(bytes, pos);
        let line = &text[pos..end];
        pos = end;
        Some(line)
    })
}

/// The lines of `text` without their line breaks (LF, CRLF or a lone CR),
/// as `str::lines` gives them for LF and CRLF.
pub fn lines(text: &str) -> impl Iterator<Item = &str> {
    lines_inclusive(text).map(|l| l.trim_end_matches('\n').trim_end_matches('\r'))
}

/// The line break a text uses most: `\r\n`, `\r` or `\n` (the default),
/// so that a rewritten file keeps it.
pub fn newline_of(text: &str) -> &'static str {
    let (mut lf, mut crlf, mut cr) = (0usize, 0usize, 0usize);
    for l in lines_inclusive(text) {
        if l.ends_with("\r\n") {
            crlf += 1;
        } else if l.ends_with('\r') {
            cr += 1;
        } else if l.ends_with('\n') {
            lf += 1;
        }
    }
    if crlf > lf && crlf >= cr {
        "\r\n"
    } else if cr > lf && cr > crlf {
        "\r"
    } else {
        "\n"
    }
}

impl<'a> Document<'a> {
    /// True when the document holds nothing but blank lines, comments and
    /// markers.
    pub fn is_blank(&self) -> bool {
        lines(self.text).all(|l| {
            let t = l.trim_start_matches('\u{feff}').trim();
            t.is_empty() || t.starts_with('#') || t == "---" || t == "..."
        })
    }

    /// The line number of the first line that carries content.
    pub fn content_line(&self) -> usize {
        for (i, l) in lines(self.text).enumerate() {
            let t = l.trim_start_matches('\u{feff}').trim();
            if !(t.is_empty() || t.starts_with('#') || t == "---") {
                return self.start_line + i;
            }
        }
        self.start_line
    }

    /// The leading comment lines of the document (after its `---`), kept
    /// above a converted document so that a description survives.
    pub fn leading_comments(&self) -> &'a str {
        let mut end = 0;
        let mut first = true;
        for l in lines_inclusive(self.text) {
            let t = l.trim_start_matches('\u{feff}').trim();
            if first && is_marker(l, "---") && t == "---" {
                first = false;
                end += l.len();
                continue;
            }
            first = false;
            if t.starts_with('#') {
                end += l.len();
            } else {
                break;
            }
        }
        let text = self.text;
        let skip = if is_marker(text, "---") {
            line_end(text.as_bytes(), 0)
        } else {
            0
        };
        if end <= skip {
            ""
        } else {
            &text[skip..end]
        }
    }

    /// Best-effort line of a key path such as `["spec", "phase"]`: each key
    /// is searched for below the line of the previous one. Falls back to the
    /// document's content line.
    pub fn line_of(&self, path: &[&str]) -> usize {
        self.line_of_from(path, 0)
    }

    /// As `line_of`, searching from the given 0-based line of the document.
    pub fn line_of_from(&self, path: &[&str], from: usize) -> usize {
        match key_line(self.text, path, from) {
            Some(i) => self.start_line + i,
            None => self.content_line_from(from),
        }
    }

    fn content_line_from(&self, from: usize) -> usize {
        if from == 0 {
            self.content_line()
        } else {
            self.start_line + from
        }
    }

    /// 0-based line indexes of lines that start with `name: VALUE` for a
    /// metadata name, used to find list items.
    pub fn find_line_containing(&self, needle: &str) -> Option<usize> {
        lines(self.text).position(|l| l.contains(needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line-by-line search `key_line` replaced: the oracle it must match.
    fn key_line_by_lines(text: &str, path: &[&str], from: usize) -> Option<usize> {
        let mut at = from;
        let mut found = None;
        for key in path {
            let hit = lines(text).enumerate().skip(at).find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                starts_with_key(t, key)
            });
            match hit {
                Some((i, _)) => {
                    at = i;
                    found = Some(i);
                }
                None => break,
            }
        }
        found
    }

    proptest::proptest! {
        #[test]
        fn key_search_finds_the_line_the_line_by_line_search_finds(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "spec", "image", "phase", ":", ": x", " ", "  ", "- ", "\"", "'", "\n",
                    "\r\n", "\r", "#", "é", "sp", "ec", "\t", "x",
                ]),
                0..60,
            ),
            path in proptest::collection::vec(
                proptest::sample::select(vec!["spec", "image", "phase", "ec"]),
                1..4,
            ),
            from in 0usize..6,
        ) {
            let text: String = parts.concat();
            proptest::prop_assert_eq!(
                key_line(&text, &path, from),
                key_line_by_lines(&text, &path, from),
                "{:?} {:?} from {}", text, path, from
            );
        }
    }

    fn texts(input: &str) -> Vec<(&str, usize)> {
        split_documents(input)
            .into_iter()
            .map(|d| (d.text, d.start_line))
            .collect()
    }

    #[test]
    fn splits_and_keeps_every_byte() {
        let input = "# c\na: 1\n---\nb: 2\n--- # x\nc: |\n  ---x\n...\nd: 4";
        let docs = texts(input);
        assert_eq!(
            docs,
            vec![
                ("# c\na: 1\n", 1),
                ("---\nb: 2\n", 3),
                ("--- # x\nc: |\n  ---x\n...\n", 5),
                ("d: 4", 9)
            ]
        );
        let joined: String = split_documents(input).iter().map(|d| d.text).collect();
        assert_eq!(joined, input);
    }

    #[test]
    fn a_directive_stays_with_its_document() {
        let docs = texts("a: 1\n...\n%YAML 1.1\n---\nb: 2\n");
        assert_eq!(
            docs,
            vec![("a: 1\n...\n", 1), ("%YAML 1.1\n---\nb: 2\n", 3)]
        );
    }

    #[test]
    fn leading_marker_and_crlf() {
        let docs = texts("---\r\na: 1\r\n---\r\nb: 2\r\n");
        assert_eq!(docs, vec![("---\r\na: 1\r\n", 1), ("---\r\nb: 2\r\n", 3)]);
    }

    #[test]
    fn a_lone_cr_ends_a_line() {
        let input = "# c\r---\ra: 1\r\n---\nb: 2\r";
        let docs = texts(input);
        assert_eq!(
            docs,
            vec![("# c\r", 1), ("---\ra: 1\r\n", 2), ("---\nb: 2\r", 4)]
        );
        let d = split_documents("# about\rkind: X\rspec:\r  phase: A\r")[0];
        assert_eq!((d.content_line(), d.line_of(&["spec", "phase"])), (2, 4));
        assert_eq!(d.leading_comments(), "# about\r");
        assert_eq!(
            lines("a\rb\r\nc\nd").collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(newline_of("a\rb\rc\n"), "\r");
        assert_eq!(newline_of("a\r\nb\r\nc\n"), "\r\n");
        assert_eq!(newline_of("a"), "\n");
    }

    #[test]
    fn dashes_inside_a_value_are_not_a_marker() {
        let docs = texts("a: ---\nb: '---'\n----\n");
        assert_eq!(docs.len(), 1);
    }

    #[test]
    fn empty_input_is_one_blank_document() {
        let docs = split_documents("");
        assert_eq!(docs.len(), 1);
        assert!(docs[0].is_blank());
    }

    #[test]
    fn positions() {
        let d = split_documents("---\n# about\nkind: X\nspec:\n  phase: A\n")[0];
        assert_eq!(d.content_line(), 3);
        assert_eq!(d.line_of(&["spec", "phase"]), 5);
        assert_eq!(d.leading_comments(), "# about\n");
    }

    proptest::proptest! {
        #[test]
        fn key_match_is_the_three_prefixes(line in "[ab:'\" -]{0,8}", key in "[ab:'\"]{0,3}") {
            let expected = line.starts_with(&format!("{key}:"))
                || line.starts_with(&format!("\"{key}\":"))
                || line.starts_with(&format!("'{key}':"));
            proptest::prop_assert_eq!(starts_with_key(&line, &key), expected);
        }
    }
}
