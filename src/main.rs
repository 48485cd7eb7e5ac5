//! leaktop's entry point: the command line ([`cmd`]), and the demo's helpers.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    cmd::main()
}
