//! `sluice-bench`: the benchmark harness behind `cargo xtask bench` (which builds the release
//! binaries and installs the load tools first; run that, not this, by hand).
//!
//! ```text
//! sluice-bench run --sluice target/release/sluice [--quick] [--peers] [--repeat N] ...
//! sluice-bench sse-load --url URL --rate N --secs N   (the streaming load client)
//! ```
//!
//! Method (the shared bench's, `../shared/bench/README.md`): every load runs twice back to
//! back, first straight at the mock upstream (direct), then through the gateway; overhead is
//! the difference. See docs/benchmarks.md.

mod churn;
mod clock;
mod gateway_config;
mod http1;
mod load;
mod measure;
mod plot;
mod procfs;
mod procs;
mod report;
mod runner;
mod targets;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sluice-bench",
    about = "Sluice's benchmark harness (run it through `cargo xtask bench`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole benchmark: paired direct/gateway runs, start-up, churn, results.
    Run(runner::RunArgs),
    /// Fixed-rate streaming load client (time to first token); prints one JSON line.
    SseLoad(load::sse::SseLoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => runner::run(args),
        Command::SseLoad(args) => load::sse::client(&args).map(|stats| {
            println!(
                "{}",
                serde_json::to_string(&stats).expect("stats serialize")
            );
        }),
    };
    // Returning now would end the process under the interrupt handler, which is still stopping
    // what the bench started; it exits when done.
    while procs::stopping() {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
