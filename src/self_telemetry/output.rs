//! `service.telemetry.logs.output_paths`: where log lines go, the Collector's values:
//! `stderr` (default), `stdout`, or file paths (created, appended to).

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

/// The writer for `paths`, and whether it is a terminal's stderr alone (for colours).
pub fn writer(paths: &[String]) -> Result<(BoxMakeWriter, bool), String> {
    use std::io::IsTerminal;
    if paths.is_empty() || paths == ["stderr"] {
        return Ok((
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ));
    }
    let mut out: Option<BoxMakeWriter> = None;
    for path in paths {
        let next = match path.as_str() {
            "stderr" => BoxMakeWriter::new(std::io::stderr),
            "stdout" => BoxMakeWriter::new(std::io::stdout),
            file => {
                let opened = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .map_err(|e| format!("service.telemetry.logs.output_paths: cannot open `{file}` for appending: {e}"))?;
                BoxMakeWriter::new(Mutex::new(opened))
            }
        };
        out = Some(match out {
            None => next,
            Some(before) => BoxMakeWriter::new(before.and(next)),
        });
    }
    Ok((
        out.unwrap_or_else(|| BoxMakeWriter::new(std::io::stderr)),
        false,
    ))
}
