//! `offchain job …`: job specs checked locally, with the parser the node runs, so an author
//! learns a spec is wrong before proposing it to a fleet, and can run it once for real
//! (`job run`, in [`crate::job_run`]). Needs no JD and no node.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::Result;
use offchain::limits::MAX_SPEC_BYTES;
use offchain_pipeline::{JobSpec, JobType, SpecError};
use serde_json::{Value, json};

use crate::Reported;
use crate::args::{Format, JobCommand, ValidateArgs};

/// Runs one `offchain job` subcommand.
pub async fn run(command: JobCommand) -> Result<()> {
    match command {
        JobCommand::Validate(args) => validate(&args),
        JobCommand::Run(args) => crate::job_run::run(&args).await,
    }
}

/// Why a spec file could not be read as a spec.
#[derive(Debug)]
pub enum ReadError {
    /// Missing, a directory, no permission, …
    Io(io::Error),
    /// Over the JD's spec limit: the JD would refuse it anyway.
    TooLarge,
    /// Not UTF-8 (TOML is UTF-8).
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
            ReadError::TooLarge => write!(
                f,
                "larger than the JD's spec limit of {MAX_SPEC_BYTES} bytes"
            ),
            ReadError::NotUtf8 { offset } => {
                write!(f, "not UTF-8 text (invalid byte at offset {offset})")
            }
        }
    }
}

/// A spec file's text: at most the JD's spec limit, UTF-8.
pub fn read_spec(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let mut bytes = Vec::new();
    // One byte over the limit is enough to know; a huge file is never read whole.
    file.take(MAX_SPEC_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(ReadError::TooLarge);
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

/// `FILE:LINE:COL: message`: the form compilers use, so editors and CI annotators jump to
/// the place.
pub fn positioned(file: &Path, error: &SpecError) -> String {
    format!(
        "{}:{}:{}: {}",
        file.display(),
        error.line,
        error.column,
        error.message
    )
}

/// Why one file is not a valid spec.
enum Invalid {
    Read(ReadError),
    Spec(SpecError),
}

impl Invalid {
    /// A positioned line, or `FILE: message` for a file that could not be read.
    fn line(&self, file: &Path) -> String {
        match self {
            Invalid::Spec(e) => positioned(file, e),
            Invalid::Read(e) => format!("{}: {e}", file.display()),
        }
    }

    fn json(&self) -> Value {
        match self {
            Invalid::Spec(e) => json!({"line": e.line, "column": e.column, "message": e.message}),
            Invalid::Read(e) => json!({"line": null, "column": null, "message": e.to_string()}),
        }
    }
}

fn check_file(path: &Path) -> Result<JobSpec, Invalid> {
    let text = read_spec(path).map_err(Invalid::Read)?;
    JobSpec::parse(&text).map_err(Invalid::Spec)
}

/// `webhook, 3 tasks`.
struct Summary<'a>(&'a JobSpec);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let job_type = match self.0.job_type {
            JobType::Webhook => "webhook",
            JobType::Cron => "cron",
        };
        let tasks = self.0.pipeline.tasks.len();
        let plural = if tasks == 1 { "" } else { "s" };
        write!(f, "{job_type}, {tasks} task{plural}")
    }
}

/// `offchain job validate`: every file is checked (one bad file does not hide the others);
/// exit 2 when any is invalid.
fn validate(args: &ValidateArgs) -> Result<()> {
    let results: Vec<_> = args
        .files
        .iter()
        .map(|path| (path, check_file(path)))
        .collect();
    let invalid = results.iter().filter(|(_, r)| r.is_err()).count();
    let mut stdout = io::stdout().lock();
    match args.format {
        Format::Table => {
            let mut stderr = io::stderr().lock();
            for (path, result) in &results {
                match result {
                    Ok(spec) => writeln!(stdout, "{}: ok ({})", path.display(), Summary(spec))?,
                    Err(invalid) => writeln!(stderr, "{}", invalid.line(path))?,
                }
            }
        }
        Format::Json => {
            let report: Vec<Value> = results
                .iter()
                .map(|(path, result)| {
                    let errors: Vec<Value> = result
                        .as_ref()
                        .err()
                        .map(Invalid::json)
                        .into_iter()
                        .collect();
                    json!({
                        "file": path.display().to_string(),
                        "valid": result.is_ok(),
                        "errors": errors,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    if invalid > 0 {
        return Err(Reported(2).into());
    }
    Ok(())
}
