fn main() -> std::process::ExitCode {
    panjereh_host::cli::main()
}
