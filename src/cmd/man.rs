//! `leaktop man` and `leaktop completions`: documentation generated from the CLI.

use clap::CommandFactory;

use super::Cli;

/// The manual page of leaktop, or of one of its commands (leaktop-report(1), ...),
/// generated from the same definitions as `--help`.
pub(crate) fn page(command: Option<&str>) -> std::io::Result<Vec<u8>> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Gives subcommands their leaktop-NAME titles and fills in inherited options.
    cli.build();
    let cmd = match command {
        None => cli,
        Some(name) => cli
            .find_subcommand(name)
            .cloned()
            .ok_or_else(|| std::io::Error::other(format!("no command {name}")))?,
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    // clap_mangen files the text after the options under EXTRA.
    let page = String::from_utf8_lossy(&page)
        .replacen(".SH EXTRA\nExamples:\n", ".SH EXAMPLES\n", 1)
        .replacen(".SH EXTRA\n", ".SH NOTES\n", 1);
    Ok(page.into_bytes())
}
