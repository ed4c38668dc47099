fn main() {
    println!("sme2wasm");
}
