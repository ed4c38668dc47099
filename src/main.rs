//! Entry: parse arguments, run the command, map the outcome to an exit code
//! (0 success, 1 some input failed, 2 usage error).

use clap::Parser;
use sme2wasm::cli::{Cli, Command};

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Repack(args) => sme2wasm::repack::run(args),
    };
    std::process::exit(code);
}
