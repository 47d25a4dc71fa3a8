//! `llamacol`: see `llamacol --help`.

fn main() -> std::process::ExitCode {
    llamacol::main(llamacol::builtins())
}
