//! `llamacol`: see `llamacol --help`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    llamacol::main_with_args(llamacol::Cli::parse())
}
