//! leaktop's entry point: the demo's helpers, then the command line ([`cmd`]).

mod cmd;

use std::process::ExitCode;

use leaktop::demo;

fn main() -> ExitCode {
    // `leaktop demo` re-executes leaktop as its helpers; they are not part of the CLI.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(demo::HELPER_COMMAND) {
        demo::helper(
            argv.get(2).map_or("", String::as_str),
            &argv[3.min(argv.len())..],
        );
    }
    cmd::main()
}
