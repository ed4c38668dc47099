use clap::Parser;

fn main() {
    let cli = sme2wasm::cli::Cli::parse();
    let code = sme2wasm::commands::run(cli);
    std::process::exit(code as i32);
}
