use clap::Parser;
use workhours::cli::{Cli, Command};
use workhours::config::Config;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Replay(args) => workhours::replay::run(args),
        Command::Simulate(args) => Config::load(args.config.as_deref())
            .map_err(anyhow::Error::from)
            .and_then(|config| workhours::simulate::run(args, &config)),
        Command::Run(args) => workhours::live::run(args),
        Command::Demo(args) => workhours::demo::run(args),
        Command::Pseudonymize(args) => workhours::pseudonymize::run(args),
        Command::Status(args) => workhours::replay::status(args),
        Command::Report(args) => workhours::report::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // The reader of the output went away (`replay | head`): stop quietly, as Unix tools do.
        // Not for the services, whose output is not a pipe's.
        Err(error)
            if !matches!(cli.command, Command::Run(_) | Command::Demo(_))
                && stdout_closed(&error) =>
        {
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("workhours: {error:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Whether `error` is a write to a pipe whose reader has gone.
fn stdout_closed(error: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().map(|io| io.kind()) == broken
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|json| json.io_error_kind())
                == broken
    })
}
