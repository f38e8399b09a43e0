//! `samordna audit|log|witness`: the compliance officer's tools and this profile's view of the relay's
//! access log, over [`samordna_client::audit`], [`samordna_client::logcheck`] and
//! [`samordna_client::witness`]. The officer's guide: `docs/auditing.md`.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
};

use clap::{Subcommand, ValueEnum};
use samordna_client::{
    ClientError,
    audit::{AuditQuery, extract::ExtractFormat},
    exit,
    input::parse_time,
    logcheck::LogCheckError,
    plan,
};
use samordna_core::{CaseId, HsaId, PrincipalId, audit::Action, log::Decision};
use time::OffsetDateTime;

use super::{Output, session};

/// `samordna log …`
#[derive(Debug, Subcommand)]
pub(crate) enum LogCommand {
    /// Check the relay's latest checkpoint against the last one this profile verified.
    Check,
}

/// `samordna witness …`
#[derive(Debug, Subcommand)]
pub(crate) enum WitnessCommand {
    /// Make this profile a witness: a cosigning key, registered with the relay.
    Init,
}

/// `samordna audit …` (auditor certificates only)
#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// The log entries you may see, filtered; a table, or `--json`, or `--csv`.
    Log {
        /// Only this case (S-…).
        #[arg(long)]
        case: Option<CaseId>,
        /// Only entries where this principal acted (SE + organisation number).
        #[arg(long)]
        principal: Option<PrincipalId>,
        /// Only entries where this person or system acted (HSA-id).
        #[arg(long)]
        user: Option<HsaId>,
        /// Only this action, e.g. envelope_fetch (see docs/auditing.md for the list).
        #[arg(long, value_parser = parse_action)]
        action: Option<Action>,
        /// Only allowed, or only refused, requests.
        #[arg(long, value_enum)]
        decision: Option<DecisionArg>,
        /// From this time (inclusive): 2026-11-23 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        from: Option<OffsetDateTime>,
        /// Before this time (exclusive): 2026-11-24 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        to: Option<OffsetDateTime>,
        /// Print RFC 4180 CSV instead of a table.
        #[arg(long)]
        csv: bool,
    },
    /// Fetch the log and its checkpoints; recompute and check every proof and signature.
    /// Exit 4, naming the first bad index, when the log does not verify.
    Verify,
    /// The log extract (loggutdrag) for the person of a case: who accessed what, when, on which consent.
    Extract {
        /// The case (S-…).
        #[arg(long)]
        case: CaseId,
        /// text, csv, html (one self-contained page) or pdf (A4).
        #[arg(long, value_enum, default_value = "text")]
        format: ExtractFormatArg,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Export the entries you may see in a standard format.
    Export {
        /// fhir: a FHIR R4 Bundle of AuditEvent resources (JSON).
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// Only this case (S-…).
        #[arg(long)]
        case: Option<CaseId>,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Counts for the yearly follow-up: cases, consents, refusals by reason, per principal.
    Stats {
        /// From this day (inclusive): 2026-01-01 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        from: OffsetDateTime,
        /// Before this day (exclusive): 2027-01-01 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        to: OffsetDateTime,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum DecisionArg {
    Allow,
    Deny,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ExtractFormatArg {
    Text,
    Csv,
    Html,
    Pdf,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ExportFormat {
    Fhir,
}

fn parse_action(s: &str) -> Result<Action, String> {
    Action::parse(s.trim()).ok_or_else(|| {
        let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        format!("unknown action {s:?}; one of: {}", known.join(", "))
    })
}

/// Whether `--json` was given. The global flag is parsed in `main.rs`, which hands this module
/// only the profile; the argument list is the same one clap parsed.
fn json_wanted() -> bool {
    std::env::args_os().any(|a| a == "--json")
}

pub(crate) async fn log(command: LogCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    match command {
        LogCommand::Check => Output::of(&session(profile)?.log_check().await?),
    }
}

pub(crate) async fn witness(
    command: WitnessCommand,
    profile: Option<PathBuf>,
) -> Result<Output, ClientError> {
    match command {
        WitnessCommand::Init => Output::of(&session(profile)?.witness_init().await?),
    }
}

pub(crate) async fn audit(command: AuditCommand, profile: Option<PathBuf>) -> Result<Output, ClientError> {
    let json = json_wanted();
    match command {
        AuditCommand::Log { case, principal, user, action, decision, from, to, csv } => {
            if csv && json {
                return Err(ClientError::usage("usage", "choose one of --csv and --json"));
            }
            if let (Some(f), Some(t)) = (from, to)
                && t <= f
            {
                return Err(ClientError::usage("usage", "--to must be after --from"));
            }
            let query = AuditQuery {
                case,
                principal,
                user,
                action,
                decision: decision.map(|d| match d {
                    DecisionArg::Allow => Decision::Allow,
                    DecisionArg::Deny => Decision::Deny,
                }),
                from,
                to,
            };
            let log = session(profile)?.audit_log(&query).await?;
            let mut out = Output::of(&log)?;
            if csv {
                // Printed with a trailing newline by main: drop the CSV's last CRLF's LF.
                out.text = log.to_csv().trim_end_matches('\n').to_owned();
            }
            Ok(out)
        }
        AuditCommand::Verify => {
            let report = session(profile)?.audit_verify().await?;
            let code = if report.ok { exit::OK } else { exit::VERIFICATION };
            Output::with_exit(&report, code)
        }
        AuditCommand::Extract { case, format, out, force } => {
            let format = match format {
                ExtractFormatArg::Text => ExtractFormat::Text,
                ExtractFormatArg::Csv => ExtractFormat::Csv,
                ExtractFormatArg::Html => ExtractFormat::Html,
                ExtractFormatArg::Pdf => ExtractFormat::Pdf,
            };
            if out.is_none() && format == ExtractFormat::Pdf && std::io::stdout().is_terminal() {
                return Err(ClientError::usage(
                    "usage",
                    "a PDF is not for the terminal; name the file with --out extract.pdf (or redirect the output)",
                ));
            }
            if out.is_none() && json && format != ExtractFormat::Text {
                return Err(ClientError::usage("usage", "with --json, name the file to write with --out"));
            }
            let extract = session(profile)?.audit_extract(&case).await?;
            match out {
                None if json || format == ExtractFormat::Text => Output::of(&extract),
                None => {
                    write_stdout(&extract.render(format, None)?)?;
                    Ok(Output { json: serde_json::Value::Null, text: String::new(), exit: exit::OK })
                }
                Some(path) => {
                    let bytes = extract.render(format, None)?;
                    plan::write_output(&path, &bytes, force)?;
                    let text = format!(
                        "Wrote the log extract of {} ({} {}) as {} to {} ({} bytes).",
                        extract.case_id,
                        extract.entries.len(),
                        if extract.entries.len() == 1 { "access" } else { "accesses" },
                        format.extension(),
                        path.display(),
                        bytes.len()
                    );
                    let json = serde_json::json!({
                        "file": path,
                        "format": format,
                        "bytes": bytes.len(),
                        "case_id": extract.case_id,
                        "entries": extract.entries.len(),
                        "verified_against": extract.verified_against,
                    });
                    Ok(Output { json, text, exit: exit::OK })
                }
            }
        }
        AuditCommand::Export { format: ExportFormat::Fhir, case, out, force } => {
            let export = session(profile)?.audit_export_fhir(case.as_ref()).await?;
            match out {
                None if json => Ok(Output { json: export.bundle, text: String::new(), exit: exit::OK }),
                None => Output::of(&export),
                Some(path) => {
                    let mut bytes = serde_json::to_vec_pretty(&export.bundle).map_err(|e| {
                        ClientError::Internal(format!("the bundle could not be written as JSON: {e}"))
                    })?;
                    bytes.push(b'\n');
                    plan::write_output(&path, &bytes, force)?;
                    let text = format!(
                        "Wrote a FHIR R4 Bundle of {} AuditEvent resources to {} ({} bytes).",
                        export.count,
                        path.display(),
                        bytes.len()
                    );
                    let json = serde_json::json!({
                        "file": path, "format": "fhir", "count": export.count, "bytes": bytes.len(),
                    });
                    Ok(Output { json, text, exit: exit::OK })
                }
            }
        }
        AuditCommand::Stats { from, to } => Output::of(&session(profile)?.audit_stats(from, to).await?),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), ClientError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| ClientError::Internal(format!("cannot write to standard output: {e}")))
}

/// The access-log check that follows a command that talked to the relay (issue 5: "the client
/// checks consistency against each new checkpoint: a relay that rewinds or forks its log is caught
/// and reported loudly"). Returns the failure that must fail the command (exit 4): a rewound or
/// forked log, a checkpoint that does not verify. Anything else (no checkpoint yet, the relay gone
/// meanwhile, no `relay_log_key`) is at most a warning, and only when the command itself worked.
pub(crate) async fn check_after(
    profile: Option<PathBuf>,
    json: bool,
    command_ok: bool,
) -> Option<ClientError> {
    let session = session(profile).ok()?;
    match session.check_log().await {
        Ok(check) => {
            if !json {
                for w in &check.warnings {
                    eprintln!("samordna: warning: {w}");
                }
            }
            None
        }
        Err(e) if e.is_failure() => Some(e.into()),
        Err(LogCheckError::NoCheckpoint) => None,
        Err(e) => {
            if command_ok && !json {
                eprintln!("samordna: warning: {e}");
            }
            None
        }
    }
}

/// Prints a failed log check so that nobody misses it: on standard error always (also with
/// `--json`, whose standard output holds the command's own result), framed.
pub(crate) fn report_log_failure(e: &ClientError) {
    let rule = "!".repeat(72);
    eprintln!("{rule}\nsamordna: {}\n{rule}", e.to_string().trim_end());
}

/// Whether a command talks to the relay and so is followed by [`check_after`]. `log check`,
/// `audit …` check the log themselves; `whoami`, `plan …`, `outbox …` and `keys list --local`
/// never reach the relay. Anything new talks to the relay unless listed here.
pub(crate) fn talks_to_relay(command: &super::Command) -> bool {
    use super::{Command, KeysCommand};
    !matches!(
        command,
        Command::Whoami
            | Command::Plan(_)
            | Command::Log(_)
            | Command::Audit(_)
            | Command::Outbox(_)
            | Command::Keys(KeysCommand::List { local: true })
    )
}
