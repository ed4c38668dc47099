//! The commands: running a parsed command line. Each command is a thin
//! module that turns validated options (`cli`) into a run of the conversion
//! core, prints through `output`, and maps the outcome to an `Exit`:
//! `convert`, `explain` and `docs` (completions, manual pages) here;
//! `migrate`, `repack` and `verify` are folders (or files) of their own
//! beside this one.

use crate::cli::{Cli, Command};
use crate::exit::Exit;

pub mod convert;
pub mod docs;
pub mod explain;

/// Run one parsed command line; its exit code.
pub fn run(cli: Cli) -> Exit {
    crate::notify::set_color(match cli.color {
        crate::cli::ColorChoice::Auto => None,
        crate::cli::ColorChoice::Always => Some(true),
        crate::cli::ColorChoice::Never => Some(false),
    });
    match cli.command {
        Command::Completions { shell } => print_or_fail(&docs::completions(shell)),
        Command::Man { command, dir } => man(command.as_deref(), dir.as_deref()),
        Command::Convert(args) => convert::run(args),
        Command::Migrate(args) => migrate(&args),
        Command::Repack(args) => crate::repack::run(args),
        Command::Verify(args) => crate::verify::run(args),
        Command::Explain(args) => explain::run(&args),
    }
}

/// Print generated text (a completion script, a manual page).
fn print_or_fail(bytes: &[u8]) -> Exit {
    match docs::print(bytes) {
        Ok(()) => Exit::Ok,
        Err(e) => {
            eprintln!("sme2wasm: cannot write the output: {e}");
            Exit::Usage
        }
    }
}

/// `sme2wasm man [COMMAND] [--dir DIR]`.
fn man(command: Option<&str>, dir: Option<&std::path::Path>) -> Exit {
    match dir {
        Some(dir) => match docs::write_pages(dir) {
            Ok(written) => {
                for p in written {
                    eprintln!("wrote {}", p.display());
                }
                Exit::Ok
            }
            Err(e) => {
                eprintln!("sme2wasm: {e}");
                Exit::Usage
            }
        },
        None => match docs::page(command) {
            Ok(text) => print_or_fail(&text),
            Err(e) => {
                eprintln!("sme2wasm: {e}");
                Exit::Usage
            }
        },
    }
}

/// `migrate`, with `--repack` bound to the repack command's options.
fn migrate(args: &crate::cli::MigrateArgs) -> Exit {
    let t = &args.repack_target;
    let destination = t.to.is_some() || t.tag_suffix.is_some() || t.registry.is_some();
    if !args.repack {
        if destination {
            eprintln!("sme2wasm: --to, --tag-suffix and --registry go with --repack");
            return Exit::Usage;
        }
        return crate::migrate::run(args);
    }
    let config = match crate::repack::RepackConfig::for_migrate(t, &mut std::io::stdin()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sme2wasm: --repack: {e}");
            return Exit::Usage;
        }
    };
    let repack = |images: &[String]| crate::repack::image_map_of(&config, images);
    crate::migrate::run_with(args, Some(&repack))
}
