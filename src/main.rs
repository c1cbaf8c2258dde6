use std::process::ExitCode;

fn main() -> ExitCode {
    rbuild::cli::main()
}
