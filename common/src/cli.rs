//! Every binary's command line, parsed the same way: `--version` names the version and the git
//! commit it was built from (`hbnb_build_info`'s), and two hidden flags write the manual pages
//! and the shell completions made from the same clap definition, for the Debian package
//! (`--generate-man DIR`, `--generate-completions DIR`), so they cannot drift from `--help`.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};

/// `0.1.0 (commit 1a2b3c4d5e6f)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HBNB_GIT_COMMIT"),
    ")"
);

const GENERATE_MAN: &str = "generate-man";
const GENERATE_COMPLETIONS: &str = "generate-completions";

/// The binary's command, with `--version` and the hidden generators.
pub fn command<T: CommandFactory>() -> Command {
    T::command()
        .version(VERSION)
        .arg(
            Arg::new(GENERATE_MAN)
                .long(GENERATE_MAN)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Set)
                .hide(true),
        )
        .arg(
            Arg::new(GENERATE_COMPLETIONS)
                .long(GENERATE_COMPLETIONS)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .action(ArgAction::Set)
                .hide(true),
        )
}

/// Parses the command line into `T` (exiting with clap's message and code 2 on bad usage, or 0
/// after `--help`/`--version`); writes the manual or the completions and exits when asked to.
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    let matches = command::<T>().get_matches();
    generate_if_asked::<T>(&matches);
    T::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
}

fn generate_if_asked<T: CommandFactory>(matches: &ArgMatches) {
    let asked = [
        (
            GENERATE_MAN,
            write_man as fn(Command, &Path) -> io::Result<Vec<PathBuf>>,
        ),
        (GENERATE_COMPLETIONS, write_completions),
    ];
    for (flag, write) in asked {
        if let Some(dir) = matches.get_one::<PathBuf>(flag) {
            let command = T::command().version(VERSION);
            match std::fs::create_dir_all(dir).and_then(|()| write(command, dir)) {
                Ok(files) => {
                    for file in files {
                        println!("{}", file.display());
                    }
                    std::process::exit(0);
                }
                Err(error) => {
                    eprintln!("error: --{flag} {}: {error}", dir.display());
                    std::process::exit(1);
                }
            }
        }
    }
}

/// `DIR/<binary>.1`, and `DIR/<binary>-<subcommand>.1` for each subcommand.
fn write_man(command: Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let name = command.get_name().to_owned();
    let mut pages = vec![(name.clone(), command.clone())];
    for sub in command.get_subcommands() {
        let page = format!("{name}-{}", sub.get_name());
        // clap takes static names (without its `string` feature); the process exits right after.
        let title: &'static str = page.clone().leak();
        pages.push((page, sub.clone().name(title).version(VERSION)));
    }
    for (page, command) in pages {
        let path = dir.join(format!("{page}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(command).render(&mut out)?;
        std::fs::write(&path, out)?;
        written.push(path);
    }
    Ok(written)
}

/// Bash's and zsh's completion files for the binary in `DIR`.
fn write_completions(mut command: Command, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let name = command.get_name().to_owned();
    let mut written = Vec::new();
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh] {
        written.push(clap_complete::generate_to(shell, &mut command, &name, dir)?);
    }
    Ok(written)
}
