//! The `borderlog` binary: parses arguments and hands them to the library.

fn main() -> std::process::ExitCode {
    borderlog::cli::main()
}
