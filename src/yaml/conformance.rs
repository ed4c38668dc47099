//! The gate a replacement for [`parse`] must pass: it reads every document
//! exactly as [`parse_with_backend`] (serde_yaml plus the byte-order mark,
//! the depth check, JSON as JSON and merge keys) does.
//!
//! Three sources of documents are read by both and compared:
//! - a table of hand-written documents, one or more per corner of YAML the
//!   backend resolves (scalar types, quoting, block scalars, keys, anchors,
//!   merge keys, tags, directives, line endings, JSON, invalid input, bombs);
//! - random documents from a small YAML grammar (a property test);
//! - every document of the repository's own fixtures.
//!
//! "The same" means: both `Ok` with values equal node for node (mapping
//! order, the kind of number, tags; NaN equals NaN), or both `Err` with the
//! same line where both name one. Error messages may differ in wording: the
//! table test prints the messages that differ without failing. Today, with
//! `parse` being the backend, no message differs; a new reader lists its
//! different messages here when it lands.
//!
//! `backend_behaviour` pins what serde_yaml 0.9 does with the inputs where
//! its behaviour is least obvious, so that the rules a new reader has to
//! follow are written down, not only implied by the comparison.

use super::{parse, parse_with_backend, split_documents, ParseError, Value};
use std::fmt::Write as _;

/// Structural equality, stricter than `Value`'s own `==`: mapping order
/// counts, an integer is not a float, and NaN equals NaN.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => {
            x.as_u64() == y.as_u64()
                && x.as_i64() == y.as_i64()
                && x.is_f64() == y.is_f64()
                && match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) if x.is_f64() => {
                        (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits()
                    }
                    _ => true,
                }
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Mapping(x), Value::Mapping(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| same_value(k1, k2) && same_value(v1, v2))
        }
        (Value::Tagged(x), Value::Tagged(y)) => {
            // Tags compare as they print (`!foo` and `foo` are one tag to
            // serde_yaml, and the non-specific `!` prints as `!!`).
            x.tag == y.tag && same_value(&x.value, &y.value)
        }
        _ => false,
    }
}

/// How two results differ, if they do in a way that matters.
enum Verdict {
    Same,
    /// Both failed, on the same line (or one names no line), with different
    /// messages: reported, not a failure.
    MessageDiffers(String, String),
    Differ,
}

fn compare(new: &Result<Value, ParseError>, old: &Result<Value, ParseError>) -> Verdict {
    match (new, old) {
        (Ok(a), Ok(b)) if same_value(a, b) => Verdict::Same,
        (Err(a), Err(b)) => {
            if let (Some(la), Some(lb)) = (a.line, b.line) {
                if la != lb {
                    return Verdict::Differ;
                }
            }
            if a.message == b.message {
                Verdict::Same
            } else {
                Verdict::MessageDiffers(a.message.clone(), b.message.clone())
            }
        }
        _ => Verdict::Differ,
    }
}

/// A failure report: the input (escaped, so that tabs, CRs and odd
/// characters show) and both results.
fn explain(
    name: &str,
    input: &str,
    new: &Result<Value, ParseError>,
    old: &Result<Value, ParseError>,
) -> String {
    let shown: String = if input.len() > 600 {
        format!(
            "{:?}… ({} bytes in all)",
            &input[..floor(input, 600)],
            input.len()
        )
    } else {
        format!("{input:?}")
    };
    let mut out = String::new();
    let _ = writeln!(out, "--- {name}");
    let _ = writeln!(out, "input:              {shown}");
    let _ = writeln!(out, "parse:              {}", brief(new));
    let _ = writeln!(out, "parse_with_backend: {}", brief(old));
    out
}

/// The largest char boundary at or before `i`.
fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn brief(r: &Result<Value, ParseError>) -> String {
    let s = format!("{r:?}");
    if s.len() > 1500 {
        format!("{}… ({} characters)", &s[..floor(&s, 1500)], s.len())
    } else {
        s
    }
}

/// Read every input with both parsers; fail with every difference at once.
fn check_all<'a>(cases: impl IntoIterator<Item = (String, &'a str)>) -> usize {
    let mut failures = String::new();
    let mut messages = String::new();
    let mut n = 0;
    for (name, input) in cases {
        n += 1;
        let new = parse(input);
        let old = parse_with_backend(input);
        match compare(&new, &old) {
            Verdict::Same => {}
            Verdict::MessageDiffers(a, b) => {
                let _ = writeln!(
                    messages,
                    "{name}: {input:?}\n  parse:              {a}\n  parse_with_backend: {b}"
                );
            }
            Verdict::Differ => failures.push_str(&explain(&name, input, &new, &old)),
        }
    }
    if !messages.is_empty() {
        eprintln!("error messages that differ (not a failure):\n{messages}");
    }
    assert!(
        failures.is_empty(),
        "parse and parse_with_backend differ:\n{failures}"
    );
    n
}

// ---------------------------------------------------------------------------
// The table

/// (name, document). The names say what each case is about; a case may
/// succeed or fail, the comparison only asks that both readers agree.
const CASES: &[(&str, &str)] = &[
    // Null.
    ("null tilde", "a: ~\n"),
    ("null word", "a: null\n"),
    ("null capitalised", "a: Null\n"),
    ("null upper", "a: NULL\n"),
    ("null mixed case is a string", "a: nULL\n"),
    ("null empty value", "a:\n"),
    ("null empty value then key", "a:\nb: 1\n"),
    ("null root tilde", "~"),
    ("null root word", "null\n"),
    ("empty document", ""),
    ("only white space", "  \n\n"),
    ("only a comment", "# only comment\n"),
    ("only a document start", "---\n"),
    ("document start and tilde", "--- ~\n"),
    ("only a document end", "...\n"),
    ("start and end only", "---\n...\n"),
    ("null sequence items", "- \n- ~\n-\n"),
    // Bool.
    ("bool true", "a: true\n"),
    ("bool True", "a: True\n"),
    ("bool TRUE", "a: TRUE\n"),
    ("bool false", "a: false\n"),
    ("bool False", "a: False\n"),
    ("bool FALSE", "a: FALSE\n"),
    ("bool tRUE is a string", "a: tRUE\n"),
    ("yaml 1.1 words stay strings", "a: yes\nb: no\nc: on\nd: off\ne: Yes\nf: NO\ng: On\nh: OFF\ni: y\nj: n\nk: Y\nl: N\n"),
    // Integers.
    ("int zero", "a: 0\n"),
    ("int decimal", "a: 1\nb: 42\nc: 1234567\n"),
    ("int signed", "a: -1\nb: +1\nc: -0\nd: +0\n"),
    ("int leading zeros", "a: 010\nb: 0010\nc: 00\nd: 09\ne: -010\n"),
    ("int hex", "a: 0x1F\nb: 0xff\nc: 0X1F\nd: -0x1F\ne: +0x1F\nf: 0x\n"),
    ("int octal", "a: 0o17\nb: 0o8\nc: -0o17\nd: 0O17\ne: 0o\n"),
    ("int binary", "a: 0b101\nb: 0b2\nc: -0b1\n"),
    ("int underscores", "a: 1_000\nb: 0x_1F\nc: 1__0\nd: _1\n"),
    ("int sexagesimal", "a: 190:20:30\nb: 1:30\n"),
    ("int comma", "a: 1,000\n"),
    ("int i64 limits", "a: 9223372036854775807\nb: -9223372036854775808\n"),
    ("int past i64", "a: 9223372036854775808\nb: -9223372036854775809\n"),
    ("int u64 limit", "a: 18446744073709551615\n"),
    ("int past u64", "a: 18446744073709551616\n"),
    ("int huge", "a: 123456789012345678901234567890\nb: -123456789012345678901234567890\n"),
    ("hex past u64", "a: 0x10000000000000000\n"),
    ("int key types", "1: a\n-2: b\n0x10: c\n"),
    // Floats.
    ("float plain", "a: 1.5\nb: -1.5\nc: +1.5\nd: 0.0\ne: -0.0\n"),
    ("float exponent", "a: 1e3\nb: 1E3\nc: 1.0e+3\nd: 6.8523015e+5\ne: 0.1e-2\nf: 1e-3\n"),
    ("float no digits on a side", "a: .5\nb: 1.\nc: -.5\nd: +.5\ne: .\n"),
    ("float infinity", "a: .inf\nb: -.inf\nc: .Inf\nd: .INF\ne: +.inf\nf: -.Inf\n"),
    ("float nan", "a: .nan\nb: .NaN\nc: .NAN\nd: .nAn\n"),
    ("float words that are strings", "a: nan\nb: inf\nc: infinity\nd: NaN\ne: -inf\n"),
    ("float malformed", "a: 1.5e\nb: 1e\nc: e3\nd: 1.2.3\n"),
    ("float underscores", "a: 1_000.5\nb: 685.230_15e+03\n"),
    ("float out of range", "a: 1e400\nb: -1e400\nc: 2.5e-400\n"),
    ("float precision", "a: 0.1\nb: 3.141592653589793238462643383279\nc: 1.7976931348623157e308\n"),
    ("float hex is not a float", "a: 0x1.8p1\n"),
    // Strings that look like something else.
    ("quoted numbers", "a: '1'\nb: \"1\"\nc: '1.5'\nd: \"0x10\"\ne: '-.inf'\n"),
    ("quoted null and bool", "a: '~'\nb: \"null\"\nc: 'true'\nd: \"\"\ne: ''\n"),
    ("strings with colons", "a: b:c\nb: http://x.y/z\nc: 'a: b'\nd: a :b\n"),
    ("strings with hashes", "a: b#c\nb: b #c\nc: '#x'\nd: \"#x\"\n"),
    ("date-like stays a string", "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: 12:30\n"),
    ("version-like", "a: 1.2.3\nb: v1\nc: 1.10\nd: 1.0\n"),
    // Double-quoted escapes.
    ("dq newline and tab", r#"a: "x\ny\tz""#),
    ("dq unicode escapes", r#"a: "\u00e9 \x41 \U0001F600""#),
    ("dq slash and misc", r#"a: "\/ \0 \a \b \e \f \r \v \  \_ \N \L \P \" \\""#),
    ("dq invalid escape", r#"a: "\q""#),
    ("dq lone surrogate escape", r#"a: "\ud83d""#),
    ("dq surrogate pair escape", r#"a: "\ud83d\ude00""#),
    ("dq short hex escape", r#"a: "\x4""#),
    ("dq folding", "a: \"one\n  two\n\n  three\"\n"),
    ("dq escaped line break", "a: \"one \\\n  two\"\n"),
    ("dq trailing spaces before break", "a: \"one   \n  two\"\n"),
    ("dq key", "\"a\\tb\": 1\n"),
    // Single quotes.
    ("sq doubled quote", "a: 'it''s'\n"),
    ("sq backslash is literal", "a: 'x\\ny'\n"),
    ("sq folding", "a: 'one\n  two\n\n  three'\n"),
    ("sq empty", "a: ''\n"),
    // Block scalars.
    ("literal clip", "a: |\n  x\n  y\n\nb: 1\n"),
    ("literal strip", "a: |-\n  x\n  y\n\n\nb: 1\n"),
    ("literal keep", "a: |+\n  x\n  y\n\n\nb: 1\n"),
    ("folded clip", "a: >\n  x\n  y\n\n  z\nb: 1\n"),
    ("folded strip", "a: >-\n  x\n  y\nb: 1\n"),
    ("folded keep", "a: >+\n  x\n  y\n\n"),
    ("folded more indented", "a: >\n  x\n    indented\n  y\n"),
    ("explicit indentation", "a: |2\n    four spaces\n  two\n"),
    ("explicit indentation and chomping", "a: |2-\n   x\nb: >-2\n   y\n"),
    ("leading blank lines in literal", "a: |\n\n\n  x\n"),
    ("literal with a hash", "a: |\n  # not a comment\n  x # neither\n"),
    ("empty literal", "a: |\nb: 1\n"),
    ("empty literal at end", "a: |\n"),
    ("literal at the root", "--- |\n  text\n  more\n"),
    ("literal with header comment", "a: | # comment\n  x\n"),
    ("literal less indented than first line", "a: |\n    x\n  y\n"),
    ("literal in a sequence", "- |\n  x\n- >-\n  y\n  z\n"),
    ("literal with tabs inside", "a: |\n  x\ty\n  \tz\n"),
    ("literal bad indentation indicator", "a: |0\n  x\n"),
    // Multi-line plain scalars.
    ("plain multi-line", "a: b\n  c\n  d\n"),
    ("plain multi-line with blank line", "a: b\n\n  c\n"),
    ("plain multi-line at the root", "one\ntwo\n\nthree\n"),
    ("plain multi-line in flow", "[a\n b, c]\n"),
    ("plain with trailing spaces", "a: b   \n"),
    // Keys of every kind.
    ("int keys", "1: a\n2: b\n"),
    ("bool keys", "true: a\nfalse: b\n"),
    ("null keys", "~: a\n"),
    ("empty key", "? \n: a\n"),
    ("empty key short", ": a\n"),
    ("float keys", "1.5: a\n.inf: b\n"),
    ("quoted keys", "'1': a\n\"true\": b\n'~': c\n"),
    ("key with spaces", "a b c: 1\n"),
    ("complex key flow sequence", "? [a, b]\n: c\n"),
    ("complex key flow mapping", "? {a: 1}\n: x\n"),
    ("implicit flow key", "[a, b]: c\n"),
    ("complex key block", "? - a\n  - b\n: c\n"),
    ("explicit key without value", "? a\n? b\n"),
    ("unicode key", "ключ: значение\n"),
    ("key longer than 1024", "LONGKEY"),
    ("number and string key differ", "1: a\n'1': b\n"),
    // Collections.
    ("nested block", "a:\n  b:\n    c: 1\n  d:\n    - e\n    - f: 2\n      g: 3\n"),
    ("nested flow", "{a: [1, {b: c}], d: {}}\n"),
    ("mixed flow in block", "a: [1, 2]\nb: {c: d}\nc:\n  - [x, y]\n  - {z: 1}\n"),
    ("empty flow collections", "a: []\nb: {}\nc: [[], {}]\n"),
    ("empty flow at the root", "[]\n"),
    ("empty flow map at the root", "{}\n"),
    ("seq item empty flow", "- []\n- {}\n"),
    ("compact map in sequence", "- a: 1\n  b: 2\n- c: 3\n"),
    ("nested sequences", "- - a\n  - b\n- - c\n"),
    ("sequence not indented under key", "a:\n- 1\n- 2\nb: 3\n"),
    ("single-pair map in flow sequence", "[a: 1, b]\n"),
    ("flow map keys without values", "{a, b: 1}\n"),
    ("flow trailing commas", "a: [1, 2, ]\nb: {c: 1, }\n"),
    ("flow over several lines", "a: [\n  1,\n  2\n]\nb: {\n  c: 1\n}\n"),
    ("flow with quoted items", "['a', \"b\", c]\n"),
    ("flow map with adjacent value", "{\"a\":1}\n"),
    ("flow plain with colon", "[a:b, c]\n"),
    ("flow empty entry", "[a, , b]\n"),
    ("block map at root after sequence", "- a\nb: 1\n"),
    // Anchors and aliases.
    ("alias scalar", "a: &x 1\nb: *x\n"),
    ("alias mapping", "a: &m\n  k: v\nb: *m\n"),
    ("alias sequence", "a: &s [1, 2]\nb: *s\nc: *s\n"),
    ("anchor on a key", "&k a: 1\nb: *k\n"),
    ("alias as a key", "a: &k key\n*k : 2\n"),
    ("anchor on empty value", "a: &x\nb: *x\n"),
    ("anchor redefined", "a: &x 1\nb: *x\nc: &x 2\nd: *x\n"),
    ("anchor used twice", "a: &x {k: 1}\nb: [*x, *x]\n"),
    ("undefined alias", "a: *nope\n"),
    ("alias before anchor", "a: *x\nb: &x 1\n"),
    ("anchor names", "a: &a-b_c.d 1\nb: *a-b_c.d\n"),
    ("anchor in flow", "[&x a, *x, {k: *x}]\n"),
    ("alias with property", "a: &x 1\nb: !!str *x\n"),
    ("anchor alone", "&a\n"),
    ("alias inside its own anchor mapping", "a: &x {b: *x}\n"),
    ("alias inside its own anchor sequence", "a:\n  - 1\n  - &x [*x]\n"),
    // Merge keys.
    ("merge one", "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  c: 3\n"),
    ("merge list", "a: &a {x: 1}\nb: &b {x: 2, y: 3}\nc:\n  <<: [*a, *b]\n"),
    ("merge override after", "a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n"),
    ("merge override before", "a: &a {x: 1}\nb:\n  x: 2\n  <<: *a\n"),
    ("merge inline map", "a:\n  <<: {x: 1}\n  y: 2\n"),
    ("merge quoted key single", "'<<': {a: 1}\n"),
    ("merge quoted key double", "\"<<\": {a: 1}\n"),
    ("merge scalar", "x: {<<: 1}\n"),
    ("merge list of scalars", "x:\n  <<: [1]\n"),
    ("merge in flow", "a: &a {x: 1}\nb: {<<: *a, y: 2}\n"),
    ("merge nested", "a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b, z: 3}\n"),
    ("merge in a sequence item", "a: &a {x: 1}\nl:\n  - <<: *a\n    y: 2\n"),
    ("merge as a value", "a: <<\n"),
    ("merge null", "a:\n  <<:\n  b: 1\n"),
    ("merge sequence alias", "s: &s [1, 2]\nm:\n  <<: *s\n"),
    ("merge of a tagged map", "m:\n  <<: !foo {a: 1}\n"),
    ("merge key twice", "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  <<: *b\n"),
    // Tags.
    ("tag str", "a: !!str 1\nb: !!str true\nc: !!str ~\n"),
    ("tag int", "a: !!int \"3\"\nb: !!int 3\nc: !!int 0x10\n"),
    ("tag int invalid", "a: !!int x\n"),
    ("tag binary", "a: !!binary aGVsbG8=\n"),
    ("tag binary block", "a: !!binary |\n  aGVs\n  bG8=\n"),
    ("tag binary invalid", "a: !!binary not base64!\n"),
    ("tag map", "a: !!map {b: 1}\n"),
    ("tag seq", "a: !!seq [1]\n"),
    ("tag float", "a: !!float 1\nb: !!float \"1.5\"\nc: !!float .nan\n"),
    ("tag float invalid", "a: !!float x\n"),
    ("tag null", "a: !!null \"\"\nb: !!null ~\n"),
    ("tag null invalid", "a: !!null x\n"),
    ("tag bool", "a: !!bool \"true\"\nb: !!bool false\n"),
    ("tag bool yaml 1.1 word", "a: !!bool yes\n"),
    ("tag local scalar", "a: !foo x\n"),
    ("tag local mapping", "a: !foo {a: 1}\n"),
    ("tag local sequence", "a: !foo [1, 2]\n"),
    ("tag local block mapping", "a: !foo\n  b: 1\n"),
    ("tag local at the root", "!foo\na: 1\n"),
    ("tag local empty", "a: !foo\n"),
    ("tag verbatim", "a: !<tag:yaml.org,2002:str> x\n"),
    ("tag verbatim int", "a: !<tag:yaml.org,2002:int> 1\n"),
    ("tag verbatim local", "a: !<!bar> baz\n"),
    ("tag non-specific", "a: ! 12\n"),
    ("tag timestamp", "a: !!timestamp 2001-12-14\n"),
    ("tag set", "a: !!set {x, y}\n"),
    ("tag omap", "a: !!omap [a: 1]\n"),
    ("tag unknown secondary", "a: !!foo x\n"),
    ("tag unknown secondary on a number", "a: !!foo 1\nb: !!foo true\nc: !!foo ~\n"),
    ("tag unknown secondary on a mapping", "a: !!foo {b: 1}\n"),
    ("tag verbatim global", "a: !<tag:example.com,2000:x> 1\n"),
    ("tag null tilde", "a: !!null ~\n"),
    ("tag int underscores", "a: !!int 1_000\n"),
    ("tag float forms", "a: !!float .5\nb: !!float 1e3\nc: !!float -.inf\n"),
    ("tag binary as key", "!!binary aGk=: 1\n"),
    ("tag directive", "%TAG !e! tag:example.com,2000:app/\n---\na: !e!foo x\n"),
    ("tag directive primary", "%TAG ! tag:example.com,2000:\n---\na: !foo x\n"),
    ("tag undefined handle", "a: !e!foo x\n"),
    ("tagged key", "!!str 1: a\n"),
    ("tag str on a mapping", "a: !!str {b: 1}\n"),
    ("tag in flow", "[!!str 1, !foo x, !!int '2']\n"),
    // Documents.
    ("start marker", "---\na: 1\n"),
    ("end marker", "a: 1\n...\n"),
    ("scalar after start", "--- a\n"),
    ("two documents", "---\na: 1\n---\nb: 2\n"),
    ("two documents with end", "a: 1\n...\n---\nb: 2\n"),
    ("empty second document", "a: 1\n---\n"),
    ("three empty documents", "---\n---\n---\n"),
    ("yaml directive 1.2", "%YAML 1.2\n---\na: 1\n"),
    ("yaml directive 1.1", "%YAML 1.1\n---\na: yes\n"),
    ("yaml directive twice", "%YAML 1.2\n%YAML 1.2\n---\na: 1\n"),
    ("yaml directive 2.0", "%YAML 2.0\n---\na: 1\n"),
    ("directive without start", "%YAML 1.2\na: 1\n"),
    ("unknown directive", "%FOO bar\n---\na: 1\n"),
    ("start marker with comment", "--- # comment\na: 1\n"),
    ("content after end marker", "a: 1\n...\nb: 2\n"),
    ("start marker inside a line", "a: --- b\n"),
    // Comments.
    ("comments everywhere", "# head\na: 1 # trailing\n# between\nb:   # after key\n  - x # in seq\n  # indented\n  - y\n# tail\n"),
    ("comment in flow", "[a, # c\n b]\n"),
    ("comment without space is text", "a: b#c\n"),
    ("comment after quoted", "a: 'b' # c\n"),
    ("comment right after quoted", "a: 'b'# c\n"),
    ("comment between key and nested map", "a:\n  # c\n  b: 1\n"),
    ("comment at column zero inside nested map", "a:\n  b: 1\n# c\n  d: 2\n"),
    // Line endings, BOM, tabs.
    ("crlf", "a: 1\r\nb: 2\r\n"),
    ("crlf literal", "a: |\r\n  x\r\n  y\r\nb: 1\r\n"),
    ("crlf quoted folding", "a: \"x\r\n  y\"\r\n"),
    ("cr only", "a: 1\rb: 2\r"),
    ("no final newline", "a: 1"),
    ("bom", "\u{feff}a: 1\n"),
    ("bom before json", "\u{feff}{\"a\": 1}"),
    ("bom twice", "\u{feff}\u{feff}a: 1\n"),
    ("bom inside", "a: 1\n\u{feff}b: 2\n"),
    ("bom in quotes", "a: \"\u{feff}x\"\n"),
    ("tab after colon", "a:\tb\n"),
    ("tab inside value", "a: b\tc\n"),
    ("tab indentation", "a:\n\tb: 1\n"),
    ("tab in flow", "{a:\t1,\tb: 2}\n"),
    ("tab after dash", "-\ta\n"),
    ("tab before comment", "a: 1\t# c\n"),
    ("tab-only line", "a: 1\n\t\nb: 2\n"),
    // Unicode.
    ("unicode values", "é: ü\nemoji: 😀\ncjk: 漢字\nrtl: שלום\n"),
    ("line separator inside quotes", "a: \"x\u{2028}y\"\nb: 'x\u{2029}y'\n"),
    ("line separator in plain", "a: x\u{2028}y\n"),
    ("next line in plain", "a: x\u{85}y\n"),
    ("zero width space", "a: \u{200b}\n"),
    ("control character", "a: x\u{1}y\n"),
    ("nul", "a: x\u{0}y\n"),
    ("escaped control in quotes", "a: \"\\u0001\"\n"),
    ("del character", "a: x\u{7f}y\n"),
    ("private use", "a: \u{e000}\n"),
    ("noncharacter", "a: \u{fffe}\n"),
    ("astral private use", "a: \u{f0000}\n"),
    // Duplicates.
    ("duplicate keys", "a: 1\na: 2\n"),
    ("duplicate keys flow", "{a: 1, a: 2}\n"),
    ("duplicate int keys written differently", "1: a\n0x1: b\n"),
    ("duplicate null keys", "null: a\n~: b\n"),
    ("duplicate quoted and plain", "'a': 1\na: 2\n"),
    ("duplicate nested", "x:\n  a: 1\n  a: 2\n"),
    ("duplicate in the second line", "a: 1\nb: 2\nc: 3\nb: 4\n"),
    ("duplicate via alias", "a: &k x\nx: 1\n*k : 2\n"),
    // JSON.
    ("json object", "{\"a\": 1, \"b\": [true, null, 2.5, \"x\"]}"),
    ("json array", "[1, 2.5, \"x\", null, true]"),
    ("json surrogate pair", r#"{"k": "a\ud83d\ude00b"}"#),
    ("json big int", "{\"n\": 123456789012345678901234567890}"),
    ("json u64", "[18446744073709551615, -9223372036854775808]"),
    ("json long key", "JSONLONGKEY"),
    ("json slash escape", r#"{"a": "\/"}"#),
    ("json trailing space", "{\"a\": 1}   \n\n"),
    ("json leading space", "  \n {\"a\": 1}"),
    ("json then comment", "{\"a\": 1} # c\n"),
    ("json duplicate keys", "{\"a\": 1, \"a\": 2}"),
    ("json float out of range", "[1e400]"),
    ("json negative zero", "[-0, -0.0, 0.0]"),
    ("json exponent", "[1E2, 1e-2, 1.0]"),
    ("json tabs", "{\t\"a\":\t1}"),
    ("json nul escape", r#"{"\u0000": 1}"#),
    ("json merge key", "{\"<<\": {\"a\": 1}}"),
    ("json trailing comma", "[1, 2,]"),
    ("json-looking yaml", "{a: 1}"),
    ("json then more", "{\"a\": 1}\n{\"b\": 2}"),
    ("json nested", "{\"a\": {\"b\": {\"c\": [[[]]]}}}"),
    ("json invalid escape", r#"{"a": "\q"}"#),
    ("json lone surrogate", r#"{"a": "\ud83d"}"#),
    ("json with crlf", "{\r\n\"a\": 1\r\n}\r\n"),
    ("json deep nesting", "JSONDEEP"),
    // Invalid YAML.
    ("unclosed double quote", "a: \"b\n"),
    ("unclosed single quote", "a: 'b\n"),
    ("unclosed bracket", "a: [1, 2\n"),
    ("unclosed brace", "a: {b: 1\n"),
    ("stray closing bracket", "a: ]\n"),
    ("stray closing brace", "a: }\n"),
    ("extra closing brace", "{a: 1}}\n"),
    ("closing bracket at root", "]\n"),
    ("bad indentation", "a:\n  b: 1\n c: 2\n"),
    ("bad indentation deeper", "a:\n  b: 1\n    c: 2\n"),
    ("key value value", "key: value: other\n"),
    ("sequence then map", "- a\nb: 1\n"),
    ("map then sequence", "a: 1\n- b\n"),
    ("reserved at", "@foo\n"),
    ("reserved backtick", "`foo\n"),
    ("text after single quoted", "a: 'b'c\n"),
    ("text after double quoted", "a: \"b\"c\n"),
    ("text after flow", "[a]b\n"),
    ("document start inside block", "a:\n  b: 1\n--- x\n"),
    ("flow sequence as implicit key over lines", "[a,\n b]: c\n"),
    ("quoted implicit key over lines", "\"a\nb\": c\n"),
    ("mapping in a plain scalar line", "a: b\nc\n"),
    ("anchor without node then key", "&a\nb: 1\n"),
    ("two anchors on one node", "a: &x &y 1\n"),
    ("two tags on one node", "a: !!str !!int 1\n"),
    ("directive after content", "a: 1\n%YAML 1.2\n---\n"),
    ("block scalar in flow", "[|\n  x\n]\n"),
    ("dash without space", "-a\n-b\n"),
    ("colon without space in block", "a:1\n"),
    ("question mark plain", "?a\n"),
    ("sequence item at wrong indent", "a:\n  - 1\n - 2\n"),
    // Bombs and depth.
    ("billion laughs", "BILLION"),
    ("alias fan-out small", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"),
    ("flow nesting 128", "FLOW128"),
    ("flow nesting 129", "FLOW129"),
    ("flow nesting 20000", "FLOW20000"),
    ("block nesting 200", "BLOCK200"),
    ("block sequence nesting 200", "BLOCKSEQ200"),
    ("json nesting 129", "JSON129"),
    // Long lines.
    ("long plain value", "LONGVALUE"),
    ("long quoted value", "LONGQUOTED"),
    ("many keys", "MANYKEYS"),
];

/// The cases too big to write out, made where the table names them.
fn expand(doc: &str) -> String {
    match doc {
        "LONGKEY" => format!("{}: 1\n", "k".repeat(2000)),
        "JSONLONGKEY" => format!("{{\"{}\": 1}}", "k".repeat(2000)),
        "JSONDEEP" => format!("{}1{}", "[".repeat(100), "]".repeat(100)),
        "BILLION" => {
            let mut s = String::from(
                "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
            );
            let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
            for w in names.windows(2) {
                let items = vec![format!("*{}", w[0]); 9].join(",");
                let _ = writeln!(s, "{}: &{} [{items}]", w[1], w[1]);
            }
            s
        }
        "FLOW128" => format!("a: {}1{}\n", "[".repeat(127), "]".repeat(127)),
        "FLOW129" => format!("a: {}1{}\n", "[".repeat(129), "]".repeat(129)),
        "FLOW20000" => format!("a: {}\n", "[".repeat(20000)),
        "BLOCK200" => {
            let mut s = String::new();
            for i in 0..200 {
                let _ = writeln!(s, "{}k{i}:", " ".repeat(i));
            }
            s
        }
        "BLOCKSEQ200" => {
            let mut s = String::new();
            for i in 0..200 {
                let _ = writeln!(s, "{}-", " ".repeat(i * 2));
            }
            s
        }
        "JSON129" => format!("{}1{}", "[".repeat(129), "]".repeat(129)),
        "LONGVALUE" => format!("a: {}\n", "v".repeat(200_000)),
        "LONGQUOTED" => format!("a: \"{}\"\n", "é ".repeat(50_000)),
        "MANYKEYS" => (0..5000).fold(String::new(), |mut s, i| {
            let _ = writeln!(s, "key{i}: {i}");
            s
        }),
        other => other.to_string(),
    }
}

#[test]
fn table_agrees() {
    assert!(CASES.len() >= 150, "the table has {} cases", CASES.len());
    let docs: Vec<(String, String)> = CASES
        .iter()
        .map(|(name, doc)| (name.to_string(), expand(doc)))
        .collect();
    let n = check_all(docs.iter().map(|(name, doc)| (name.clone(), doc.as_str())));
    assert_eq!(n, CASES.len());
}

/// The same table with CRLF line endings and with a byte-order mark: the
/// line numbers of errors must not move.
#[test]
fn table_agrees_with_crlf_and_bom() {
    let mut docs = Vec::new();
    for (name, doc) in CASES {
        let doc = expand(doc);
        docs.push((format!("{name} (crlf)"), doc.replace('\n', "\r\n")));
        docs.push((format!("{name} (bom)"), format!("\u{feff}{doc}")));
    }
    check_all(docs.iter().map(|(name, doc)| (name.clone(), doc.as_str())));
}

// ---------------------------------------------------------------------------
// What serde_yaml 0.9 does where it is least obvious

fn num_i(i: i64) -> Value {
    Value::Number(i.into())
}

fn num_f(f: f64) -> Value {
    Value::Number(f.into())
}

fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(super::TaggedValue {
        tag: super::Tag::new(tag),
        value,
    }))
}

/// What the backend makes of an input: the value of its key `a` (or the
/// whole document when it is not a mapping with `a`), or an error on a
/// line (`None`: the error names no line).
enum Want {
    Value(Value),
    Error(Option<usize>),
}

fn v(value: Value) -> Want {
    Want::Value(value)
}

fn err(line: Option<usize>) -> Want {
    Want::Error(line)
}

/// The rules a new reader has to follow where serde_yaml 0.9 is least
/// obvious (it resolves plain scalars by YAML 1.2's core schema, with its
/// own limits). A new reader meets these through the comparison; they are
/// written here so that the rules are plain to read and a change of the
/// backend shows.
fn pinned() -> Vec<(&'static str, Want)> {
    vec![
        // Null and empty documents.
        ("a: Null", v(Value::Null)),
        ("a: nULL", v(string("nULL"))),
        ("a:", v(Value::Null)),
        ("", v(Value::Null)),
        ("# only comment", v(Value::Null)),
        ("---\n", v(Value::Null)),
        ("&x\n", v(Value::Null)),
        ("...\n", err(Some(1))),
        // Bools: YAML 1.2 only.
        ("a: True", v(Value::Bool(true))),
        ("a: tRUE", v(string("tRUE"))),
        ("a: yes", v(string("yes"))),
        ("a: off", v(string("off"))),
        ("a: y", v(string("y"))),
        // Integers: a leading zero makes a string, the prefixes are
        // lower-case only, no underscores, and past u64 / below i64 is an
        // error (not a float, not a string).
        ("a: 0", v(num_i(0))),
        ("a: 010", v(string("010"))),
        ("a: 0010", v(string("0010"))),
        ("a: 00", v(string("00"))),
        ("a: 09", v(string("09"))),
        ("a: -010", v(string("-010"))),
        ("a: -0", v(num_i(0))),
        ("a: +1", v(num_i(1))),
        ("a: 0x1F", v(num_i(31))),
        ("a: +0x1F", v(num_i(31))),
        ("a: -0x1F", v(num_i(-31))),
        ("a: 0X1F", v(string("0X1F"))),
        ("a: 0x", v(string("0x"))),
        ("a: 0o17", v(num_i(15))),
        ("a: 0O17", v(string("0O17"))),
        ("a: 0o8", v(string("0o8"))),
        ("a: 0b101", v(num_i(5))),
        ("a: -0b1", v(num_i(-1))),
        ("a: 1_000", v(string("1_000"))),
        ("a: 190:20:30", v(string("190:20:30"))),
        (
            "a: 9223372036854775808",
            v(Value::Number(9223372036854775808u64.into())),
        ),
        ("a: 18446744073709551615", v(Value::Number(u64::MAX.into()))),
        ("a: 18446744073709551616", err(Some(1))),
        ("a: 1\nb: -9223372036854775809", err(Some(2))),
        ("a: 0x10000000000000000", err(Some(1))),
        ("a: 123456789012345678901234567890", err(Some(1))),
        // Floats.
        ("a: 1.", v(num_f(1.0))),
        ("a: .5", v(num_f(0.5))),
        ("a: .", v(string("."))),
        ("a: 1.0", v(num_f(1.0))),
        ("a: 1.10", v(num_f(1.1))),
        ("a: 1e3", v(num_f(1000.0))),
        ("a: 6.8523015e+5", v(num_f(685230.15))),
        ("a: -0.0", v(num_f(-0.0))),
        ("a: .Inf", v(num_f(f64::INFINITY))),
        ("a: +.inf", v(num_f(f64::INFINITY))),
        ("a: -.inf", v(num_f(f64::NEG_INFINITY))),
        ("a: .NaN", v(num_f(f64::NAN))),
        ("a: .nAn", v(string(".nAn"))),
        ("a: nan", v(string("nan"))),
        ("a: inf", v(string("inf"))),
        ("a: 1e400", v(string("1e400"))),
        ("a: 2.5e-400", v(num_f(0.0))),
        ("a: 1_000.5", v(string("1_000.5"))),
        ("a: 2001-12-14", v(string("2001-12-14"))),
        // Tags: the core ones convert (or fail), `!!binary` and other
        // non-local tags are dropped, local ones give Value::Tagged.
        ("a: !!str 1", v(string("1"))),
        ("a: !!int \"3\"", v(num_i(3))),
        ("a: !!float 1", v(num_f(1.0))),
        ("a: !!null ~", v(Value::Null)),
        ("a: !!null \"\"", err(Some(1))),
        ("a: !!bool \"true\"", v(Value::Bool(true))),
        ("a: !!bool yes", err(Some(1))),
        ("a: !!int x", err(Some(1))),
        ("a: !!str {b: 1}", v(map(&[("b", num_i(1))]))),
        ("a: !!binary aGVsbG8=", v(string("aGVsbG8="))),
        ("a: !!binary not base64!", v(string("not base64!"))),
        ("a: !!timestamp 2001-12-14", v(string("2001-12-14"))),
        ("a: !!foo x", v(string("x"))),
        ("a: !!foo 1", v(string("1"))),
        ("a: !<tag:example.com,2000:x> 1", v(string("1"))),
        ("a: !!foo {b: 1}", v(map(&[("b", num_i(1))]))),
        ("a: !<tag:yaml.org,2002:str> 1", v(string("1"))),
        (
            "%TAG !e! tag:example.com,2000:app/\n---\na: !e!foo x",
            v(string("x")),
        ),
        ("a: !foo x", v(tagged("!foo", string("x")))),
        ("a: !<!bar> baz", v(tagged("!bar", string("baz")))),
        // A non-specific tag is kept, as a tag shown `!!`.
        ("a: ! 12", v(tagged("!", num_i(12)))),
        // Escapes and block scalars.
        ("a: \"\\x41\\u00e9\\U0001F600\\/\"", v(string("Aé😀/"))),
        ("a: \"\\ud83d\\ude00\"", err(Some(1))),
        ("a: |2\n    x\n  y\n", v(string("  x\ny\n"))),
        ("a: >+\n  x\n\n", v(string("x\n\n"))),
        ("-a\n-b\n", v(string("-a -b"))),
        // Characters.
        ("a: x\u{2028}y\n", err(Some(3))),
        ("\u{feff}\u{feff}a: 1", v(num_i(1))),
        ("a: x\u{7f}y", err(Some(1))),
        ("a: &a.b 1", err(Some(1))),
        // An alias inside the node its anchor names recurses until the
        // backend's recursion limit: reported as too deep, with a line.
        ("a: 1\nb: &x {c: *x}", err(Some(2))),
        // Duplicates: the error names the line where the mapping starts.
        ("a: 1\nb: 2\nc: 3\nb: 4\n", err(Some(1))),
        ("x:\n  a: 1\n  a: 2\n", err(Some(2))),
        ("1: a\n0x1: b\n", err(Some(1))),
        // More than one document, whatever the cause, names no line.
        ("a: 1\n---\n", err(None)),
        ("{a: 1}}", err(None)),
        ("[a]b", err(None)),
        // Merge keys: a key before `<<` loses; errors name no line.
        (
            "m: &m {x: 1}\na: {x: 2, <<: *m}",
            v(map(&[("x", num_i(1))])),
        ),
        ("a:\n  <<:\n  b: 1\n", err(None)),
        ("m: &m {x: 1}\na:\n  <<: *m\n  <<: *m\n", err(Some(3))),
        // JSON: read by serde_json first, YAML when serde_json refuses it.
        (
            "{\"a\": 123456789012345678901234567890}",
            v(num_f(1.2345678901234568e29)),
        ),
        ("{\"a\": 1, \"a\": 2}", v(num_i(2))),
        ("{\"a\": -0}", v(num_f(-0.0))),
        ("{\"a\": 1e400}", v(string("1e400"))),
        (
            "{\"a\": [1, 2,]}",
            v(Value::Sequence(vec![num_i(1), num_i(2)])),
        ),
    ]
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Mapping(
        entries
            .iter()
            .map(|(k, v)| (string(k), v.clone()))
            .collect(),
    )
}

#[test]
fn backend_behaviour() {
    let mut wrong = String::new();
    for (input, want) in pinned() {
        let got = parse_with_backend(input).map(|doc| match doc {
            Value::Mapping(m) if m.contains_key("a") => m["a"].clone(),
            other => other,
        });
        let right = match (&got, &want) {
            (Ok(g), Want::Value(w)) => same_value(g, w),
            (Err(e), Want::Error(line)) => e.line == *line,
            _ => false,
        };
        if !right {
            let want = match want {
                Want::Value(w) => format!("{w:?}"),
                Want::Error(line) => format!("an error on line {line:?}"),
            };
            let _ = writeln!(wrong, "{input:?}: got {got:?}, want {want}");
        }
    }
    assert!(
        wrong.is_empty(),
        "the backend reads these differently now:\n{wrong}"
    );
}

// ---------------------------------------------------------------------------
// Random documents

mod random {
    use super::*;
    use proptest::prelude::*;

    /// Scalars written as they appear in the document: each is valid both
    /// in block and in flow context.
    const RAW: &[&str] = &[
        "~",
        "null",
        "Null",
        "NULL",
        "true",
        "False",
        "TRUE",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "0",
        "1",
        "-1",
        "+1",
        "010",
        "0010",
        "0x1F",
        "0o17",
        "0b11",
        "1_000",
        "1e3",
        ".5",
        "1.",
        "-.inf",
        ".Inf",
        ".nan",
        ".NaN",
        "6.8523015e+5",
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775809",
        "1.5",
        "2001-12-14",
        "190:20:30",
        "'1'",
        "\"1\"",
        "'~'",
        "\"true\"",
        "''",
        "\"\"",
        "'it''s'",
        "\"\\n\\t\\u00e9\\x41\\U0001F600\\/\"",
        "\"x\u{2028}y\"",
        "é",
        "😀",
        "漢字",
        "!!str 1",
        "!!int \"3\"",
        "!!float 2",
        "!!null ''",
        "!!bool 'false'",
        "!!binary aGVsbG8=",
        "!foo x",
        "!foo 1",
        "!<tag:yaml.org,2002:str> 5",
        "<<",
        "a b",
        "http://x/y",
        "b#c",
        "plain",
    ];

    /// Text that is written in a random style (plain when it is safe).
    const TEXT: &[&str] = &[
        "word",
        "two words",
        "1",
        "true",
        "~",
        "",
        "x: y",
        "a, b",
        "[x]",
        "#hash",
        " lead",
        "trail ",
        "line\nbreak",
        "tab\there",
        "quote'single",
        "quote\"double",
        "back\\slash",
        "é ü",
        "😀",
        "multi\nline\n\ntext\n",
        "\n",
        "ends in newline\n",
        "-",
        "- x",
        "?",
        "%",
    ];

    const KEYS: &[&str] = &[
        "a", "b", "c", "key", "1", "2", "0x2", "true", "~", "'q'", "\"dq\"", "1.5", "<<", "é",
        "? [x, y]", "!!str 3", "'<<'", "<<", "<<",
    ];

    #[derive(Debug, Clone)]
    enum Style {
        Plain,
        Single,
        Double,
        Literal(u8),
        Folded(u8),
    }

    #[derive(Debug, Clone)]
    enum Node {
        Raw(&'static str),
        Text(&'static str, Style),
        Alias(usize),
        Seq(Vec<Node>, bool),
        Map(Vec<(&'static str, Node)>, bool),
    }

    /// Anchors, comments and blank lines: chosen per node by a number.
    #[derive(Debug, Clone)]
    pub(super) struct Doc {
        root: Node,
        /// Drives the choices made while writing (anchors, comments, blank
        /// lines, indentation).
        noise: Vec<u8>,
        markers: u8,
    }

    fn style() -> impl Strategy<Value = Style> {
        prop_oneof![
            3 => Just(Style::Plain),
            2 => Just(Style::Single),
            2 => Just(Style::Double),
            1 => (0u8..3).prop_map(Style::Literal),
            1 => (0u8..3).prop_map(Style::Folded),
        ]
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            4 => prop::sample::select(RAW).prop_map(Node::Raw),
            3 => (prop::sample::select(TEXT), style()).prop_map(|(t, s)| Node::Text(t, s)),
            1 => (0usize..8).prop_map(Node::Alias),
        ];
        leaf.prop_recursive(5, 48, 5, |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..5), any::<bool>())
                    .prop_map(|(v, f)| Node::Seq(v, f)),
                (
                    prop::collection::vec((prop::sample::select(KEYS), inner), 0..5),
                    any::<bool>()
                )
                    .prop_map(|(v, f)| Node::Map(v, f)),
            ]
        })
    }

    pub(super) fn doc() -> impl Strategy<Value = Doc> {
        (node(), prop::collection::vec(any::<u8>(), 64), any::<u8>()).prop_map(
            |(root, noise, markers)| Doc {
                root,
                noise,
                markers,
            },
        )
    }

    struct Writer<'a> {
        out: String,
        noise: &'a [u8],
        at: usize,
        anchors: usize,
    }

    impl Writer<'_> {
        fn roll(&mut self) -> u8 {
            let n = self.noise[self.at % self.noise.len()];
            self.at += 1;
            n
        }

        /// `&aN ` on some nodes.
        fn anchor(&mut self) -> String {
            if self.roll() % 5 == 0 {
                self.anchors += 1;
                format!("&a{} ", self.anchors)
            } else {
                String::new()
            }
        }

        /// The properties of a collection: sometimes an anchor, sometimes a
        /// tag (a local one, kept as `Value::Tagged`, or the core one).
        fn collection_props(&mut self, map: bool) -> String {
            let mut props = self.anchor();
            match self.roll() % 12 {
                0 => props.push_str("!foo "),
                1 => props.push_str(if map { "!!map " } else { "!!seq " }),
                _ => {}
            }
            props
        }

        /// The value of a `<<` key: mostly an alias (of a mapping, if the
        /// dice are kind), so that merges happen, not only merge errors.
        fn merge_alias(&mut self) -> Option<String> {
            let i = usize::from(self.roll());
            if self.roll() % 4 == 0 {
                None
            } else {
                self.alias(i)
            }
        }

        /// A space in a scalar written over two lines (it folds back to a
        /// space), the continuation indented under `indent`.
        fn fold(&mut self, text: String, indent: usize, flow: bool) -> String {
            if flow || self.roll() % 3 != 0 {
                return text;
            }
            match text.find(' ') {
                Some(i) if i > 0 => format!(
                    "{}\n{}{}",
                    &text[..i],
                    " ".repeat(indent + 2),
                    &text[i + 1..]
                ),
                _ => text,
            }
        }

        /// After a value on its line: sometimes a comment.
        fn end_line(&mut self) {
            if self.roll() % 6 == 0 {
                self.out.push_str(" # note");
            }
            self.out.push('\n');
            match self.roll() % 9 {
                0 => self.out.push('\n'),
                1 => self.out.push_str("# a comment line\n"),
                2 => self.out.push_str("   # indented comment\n"),
                _ => {}
            }
        }

        fn is_flow_safe_plain(t: &str) -> bool {
            !t.is_empty()
                && !t.contains([
                    '\n', '\t', ',', '[', ']', '{', '}', '#', ':', '\'', '"', '\\',
                ])
                && !t.starts_with([' ', '-', '?', '%', '!', '&', '*', '@', '`', '|', '>'])
                && !t.ends_with(' ')
        }

        fn quoted_double(t: &str) -> String {
            let mut s = String::from("\"");
            for c in t.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\t' => s.push_str("\\t"),
                    'é' => s.push_str("\\u00e9"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }

        /// A scalar written on the current line (`indent`: of its parent,
        /// for the lines of a block scalar); returns whether it ended the
        /// line itself.
        fn scalar(&mut self, t: &str, style: &Style, indent: usize, flow: bool) -> bool {
            match style {
                Style::Plain if Self::is_flow_safe_plain(t) => {
                    let text = self.fold(t.to_string(), indent, flow);
                    self.out.push_str(&text);
                }
                Style::Plain | Style::Single if !t.contains('\n') => {
                    let _ = write!(self.out, "'{}'", t.replace('\'', "''"));
                }
                Style::Literal(chomp) | Style::Folded(chomp) if !flow => {
                    let head = if matches!(style, Style::Literal(_)) {
                        '|'
                    } else {
                        '>'
                    };
                    let chomp = ["", "-", "+"][usize::from(*chomp)];
                    let pad = " ".repeat(indent + 2);
                    let explicit = t.starts_with(' ') || t.starts_with('\n');
                    if explicit {
                        let _ = writeln!(self.out, "{head}2{chomp}");
                    } else {
                        let _ = writeln!(self.out, "{head}{chomp}");
                    }
                    for line in t.lines() {
                        if line.is_empty() {
                            self.out.push('\n');
                        } else {
                            let _ = writeln!(self.out, "{pad}{line}");
                        }
                    }
                    return true;
                }
                _ => {
                    let text = self.fold(Self::quoted_double(t), indent, flow);
                    self.out.push_str(&text);
                }
            }
            false
        }

        fn alias(&self, i: usize) -> Option<String> {
            (self.anchors > 0).then(|| format!("*a{}", i % self.anchors + 1))
        }

        /// A node in flow context.
        fn flow(&mut self, node: &Node) {
            match node {
                Node::Raw(r) => {
                    let a = self.anchor();
                    self.out.push_str(&a);
                    self.out.push_str(r);
                }
                Node::Text(t, style) => {
                    let a = self.anchor();
                    self.out.push_str(&a);
                    self.scalar(t, style, 0, true);
                }
                Node::Alias(i) => match self.alias(*i) {
                    Some(a) => self.out.push_str(&a),
                    None => self.out.push('~'),
                },
                Node::Seq(items, _) => {
                    let a = self.collection_props(false);
                    self.out.push_str(&a);
                    self.out.push('[');
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            let sep = if self.roll() % 7 == 0 { ",\n  " } else { ", " };
                            self.out.push_str(sep);
                        }
                        self.flow(item);
                    }
                    self.out.push(']');
                }
                Node::Map(entries, _) => {
                    let a = self.collection_props(true);
                    self.out.push_str(&a);
                    self.out.push('{');
                    let mut seen = std::collections::HashSet::new();
                    for (k, v) in entries {
                        if !seen.insert(*k) && self.roll() % 8 != 0 {
                            continue;
                        }
                        if seen.len() > 1 {
                            self.out.push_str(", ");
                        }
                        let _ = write!(self.out, "{k}: ");
                        match (*k == "<<").then(|| self.merge_alias()).flatten() {
                            Some(alias) => self.out.push_str(&alias),
                            None => self.flow(v),
                        }
                    }
                    self.out.push('}');
                }
            }
        }

        fn is_block(node: &Node) -> bool {
            match node {
                Node::Seq(items, flow) => !flow && !items.is_empty(),
                Node::Map(entries, flow) => !flow && !entries.is_empty(),
                _ => false,
            }
        }

        /// A value after `key:` or `- ` (the line is open), whose parent
        /// sits at column `indent`.
        fn value(&mut self, node: &Node, indent: usize) {
            if Self::is_block(node) {
                let a = self.collection_props(matches!(node, Node::Map(..)));
                if !a.is_empty() {
                    self.out.push(' ');
                    self.out.push_str(a.trim_end());
                }
                self.end_line();
                self.block(node, indent + 2);
                return;
            }
            self.out.push(' ');
            let ended = match node {
                Node::Text(t, style) => {
                    let a = self.anchor();
                    self.out.push_str(&a);
                    self.scalar(t, style, indent, false)
                }
                other => {
                    self.flow(other);
                    false
                }
            };
            if !ended {
                self.end_line();
            }
        }

        /// A block collection at column `indent`, from the start of a line.
        fn block(&mut self, node: &Node, indent: usize) {
            let pad = " ".repeat(indent);
            match node {
                Node::Seq(items, _) => {
                    for item in items {
                        self.out.push_str(&pad);
                        self.out.push('-');
                        self.value(item, indent);
                    }
                }
                Node::Map(entries, _) => {
                    let mut seen = std::collections::HashSet::new();
                    for (k, v) in entries {
                        // Mostly unique keys: a duplicate fails the whole
                        // document, which tests little more each time.
                        if !seen.insert(*k) && self.roll() % 8 != 0 {
                            continue;
                        }
                        self.out.push_str(&pad);
                        if let Some(complex) = k.strip_prefix("? ") {
                            let _ = writeln!(self.out, "? {complex}");
                            self.out.push_str(&pad);
                        } else {
                            self.out.push_str(k);
                        }
                        self.out.push(':');
                        match (*k == "<<").then(|| self.merge_alias()).flatten() {
                            Some(alias) => {
                                let _ = write!(self.out, " {alias}");
                                self.end_line();
                            }
                            None => self.value(v, indent),
                        }
                    }
                }
                other => {
                    self.flow(other);
                    self.end_line();
                }
            }
        }
    }

    pub(super) fn render(doc: &Doc) -> String {
        let mut w = Writer {
            out: String::new(),
            noise: &doc.noise,
            at: 0,
            anchors: 0,
        };
        match doc.markers % 4 {
            1 => w.out.push_str("---\n"),
            2 => w.out.push_str("# leading comment\n\n"),
            _ => {}
        }
        match &doc.root {
            Node::Text(t, style) => {
                if !w.scalar(t, style, 0, false) {
                    w.out.push('\n');
                }
            }
            root => w.block(root, 0),
        }
        if doc.markers % 5 == 0 {
            w.out.push_str("...\n");
        }
        if doc.markers % 7 == 0 {
            w.out = w.out.replace('\n', "\r\n");
        }
        w.out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(std::env::var("SME2WASM_YAML_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)))]
        #[test]
        fn random_documents_agree(doc in doc()) {
            let text = render(&doc);
            let new = parse(&text);
            let old = parse_with_backend(&text);
            prop_assert!(
                !matches!(compare(&new, &old), Verdict::Differ),
                "{}",
                explain("random document", &text, &new, &old)
            );
        }
    }

    /// The generator writes mostly valid documents with the features it
    /// promises; otherwise the property above would test little.
    #[test]
    fn the_generator_covers_its_grammar() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut ok, mut aliases, mut anchors, mut blocks, mut flows, mut comments) =
            (0, 0, 0, 0, 0, 0);
        let (mut merges, mut tags, mut folds) = (0, 0, 0);
        let n = 300;
        for _ in 0..n {
            let text = render(&doc().new_tree(&mut runner).unwrap().current());
            ok += usize::from(parse_with_backend(&text).is_ok());
            aliases += usize::from(text.contains('*'));
            anchors += usize::from(text.contains('&'));
            blocks += usize::from(text.contains(['|', '>']));
            flows += usize::from(text.contains('{') || text.contains('['));
            comments += usize::from(text.contains('#'));
            merges += usize::from(text.contains("<<: *"));
            // (`!foo x` and `!foo 1` are scalars of the pool.)
            let collection_tag = text
                .replace("!foo x", "")
                .replace("!foo 1", "")
                .contains("!foo")
                || text.contains("!!map")
                || text.contains("!!seq");
            tags += usize::from(collection_tag);
            folds += usize::from(text.lines().any(|l| {
                l.starts_with(' ')
                    && !l.trim_start().starts_with(['-', '#', '?'])
                    && !l.contains(':')
            }));
        }
        eprintln!("{ok} of {n} parse; aliases {aliases}, anchors {anchors}, block scalars {blocks}, flow {flows}, comments {comments}, merges {merges}, tags {tags}, folds {folds}");
        assert!(ok * 2 > n, "only {ok} of {n} random documents parse");
        for (what, count) in [
            ("aliases", aliases),
            ("anchors", anchors),
            ("block scalars", blocks),
            ("flow collections", flows),
            ("comments", comments),
            ("merge keys with an alias", merges),
            ("tagged collections", tags),
            ("scalars over two lines", folds),
        ] {
            assert!(
                count * 20 > n,
                "only {count} of {n} random documents have {what}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// The repository's own fixtures

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            yaml_files(&path, out);
        } else if meta.is_file() && path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn fixtures_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["testdata", "examples"] {
        yaml_files(&root.join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() > 50, "found only {} fixture files", files.len());
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.strip_prefix(root).unwrap().display().to_string(), text)
        })
        .collect();
    let docs = texts.iter().flat_map(|(name, text)| {
        split_documents(text)
            .into_iter()
            .map(move |d| (format!("{name}:{}", d.start_line), d.text))
    });
    let n = check_all(docs);
    assert!(n >= files.len());
}
