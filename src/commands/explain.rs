//! `sme2wasm explain`: the notification catalogue, one rule or all codes.

use crate::cli::ExplainArgs;
use crate::exit::Exit;
use crate::output::{printed, write_stdout};

/// `explain`: print one rule of the notification catalogue, or all codes.
pub fn run(args: &ExplainArgs) -> Exit {
    use crate::notify::catalogue::{Code as C, RULES};
    if args.list {
        let mut out = String::new();
        for r in RULES {
            out.push_str(&format!("{} {} {}\n", r.code, r.level, r.name));
        }
        return printed(write_stdout(&out));
    }
    let text = args.code.as_deref().unwrap_or_default();
    match C::lookup(text) {
        Some(rule) => printed(write_stdout(&rule.to_string())),
        None => {
            eprintln!(
                "sme2wasm: no notification has the code {text:?}; `sme2wasm explain --list` lists them"
            );
            Exit::Usage
        }
    }
}
