//! `custom-collector`: llamacol with two more components. The whole CLI (`run`,
//! `validate`, `components`), config validation, self-metrics, admin server and graceful
//! shutdown come with `llamacol::main`.

fn main() -> std::process::ExitCode {
    let registry = llamacol::builtins()
        .processor(custom_collector::redact::factory())
        .exporter(custom_collector::jsonl_webhook::factory());
    llamacol::main(registry)
}
