//! A bare gateway frontend binary (what `luakit frontend` runs), for trying
//! the frontend without the CLI: any arguments are ignored.

fn main() {
    if let Err(e) = luakit_frontend::run() {
        eprintln!("luakit frontend: {e}");
        std::process::exit(1);
    }
}
