//! `samordna`: the client command line, a thin layer over the `samordna_client` library.
//! Exit codes and examples: `docs/client.md`.

use std::{
    fmt::Display,
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

mod audit_cmd;
mod invite_cmd;

use clap::{Parser, Subcommand, ValueEnum};
use samordna_client::{
    Block, ClientError, ConsentRequest, FetchRequest, SendRequest, Session, exit,
    input::parse_time,
    plan::{self, Format},
    profile::Profile,
};
use samordna_core::{
    CaseId, ConsentId, ContentKind, EnvelopeId, KeyId, PrincipalId,
    consent::{ConsentForm, GrantorRole, SubjectClass, WithdrawalReason},
};
use serde::Serialize;
use time::{Date, OffsetDateTime};

/// Samordna's client: sign, encrypt and exchange SIP documents under consent.
#[derive(Debug, Parser)]
#[command(name = "samordna", version, about)]
struct Cli {
    /// The profile directory (certificate, keys, profile.toml).
    #[arg(long, env = "SAMORDNA_PROFILE", global = true)]
    profile: Option<PathBuf>,
    /// Print the result as JSON on stdout (errors too, as {"error":{"code","message"}}).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show who this profile acts as, after checking its certificate against the federation root.
    Whoami,
    /// The principal's encryption keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// SIP cases.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Consents.
    #[command(subcommand)]
    Consent(ConsentCommand),
    /// Sign, encrypt and send a document to other principals of a case.
    Send {
        /// The document.
        file: PathBuf,
        /// The case (S-…).
        #[arg(long)]
        case: CaseId,
        /// A recipient principal (SE + organisation number); repeat for several.
        #[arg(long = "to", required = true)]
        to: Vec<PrincipalId>,
        /// What it is: plan, meeting, assessment, attachment, message, consent. A plan must be a
        /// valid SIP plan (JSON, see `samordna plan validate`); it is checked before anything is sent.
        #[arg(long)]
        kind: ContentKind,
        /// The consent to send under (K-…); chosen from the case when there is exactly one.
        #[arg(long)]
        consent: Option<ConsentId>,
    },
    /// Envelopes waiting for your organisation.
    Inbox {
        /// Only this case.
        #[arg(long)]
        case: Option<CaseId>,
    },
    /// Download, verify and save a document, and send a delivery receipt.
    Fetch {
        /// The envelope (E-…).
        id: EnvelopeId,
        /// Where to save the document (written only once it has verified).
        #[arg(long)]
        out: PathBuf,
        /// Also save the author's detached CMS signature (.p7s) for archiving.
        #[arg(long, value_name = "FILE.p7s")]
        save_signature: Option<PathBuf>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Delivery status of an envelope you sent, with each receipt verified.
    Status {
        /// The envelope (E-…).
        id: EnvelopeId,
    },
    /// The principals registered at the relay.
    Directory,
    /// SIP plans: a new one to fill in, checking one, and a readable document of one.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// The compliance officer's tools (auditor certificates only).
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// The relay's access log, as this profile has checked it.
    #[command(subcommand)]
    Log(audit_cmd::LogCommand),
    /// This profile as a witness that cosigns the relay's checkpoints.
    #[command(subcommand)]
    Witness(audit_cmd::WitnessCommand),
    /// SIP meeting invitations: by email and as an encrypted envelope through the relay.
    #[command(subcommand)]
    Invite(invite_cmd::InviteCommand),
    /// Invitation emails waiting to be sent.
    #[command(subcommand)]
    Outbox(invite_cmd::OutboxCommand),
    /// The browser interface: serve it here and print the one-time link that opens it.
    Web {
        /// Where to listen. Only loopback without TLS.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// A PEM certificate chain, for HTTPS (needed to listen beyond loopback).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Also open the link in the desktop's web browser.
        #[arg(long)]
        open: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Write a new plan to fill in (JSON, docs/spec/sip-plan-v1.md): today's date, and with a
    /// profile your organisation as lead principal and you as coordinator.
    New {
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// The case it belongs to (S-…).
        #[arg(long)]
        case: Option<CaseId>,
        /// The consent it is shared under (K-…).
        #[arg(long)]
        consent: Option<ConsentId>,
    },
    /// Check a plan; every problem is named by its field, in English and Swedish (exit 2 if invalid).
    Validate {
        /// The plan (JSON).
        file: PathBuf,
        /// Check the rules as on this day (default: today, UTC), e.g. 2026-11-23.
        #[arg(long, value_parser = parse_day)]
        date: Option<Date>,
    },
    /// Make a readable document of a valid plan, in Swedish, to hand to the person.
    Render {
        /// The plan (JSON).
        file: PathBuf,
        /// html (one self-contained page), pdf (A4) or text.
        #[arg(long, value_enum)]
        format: RenderFormat,
        /// Write it to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Check the rules as on this day (default: today, UTC).
        #[arg(long, value_parser = parse_day)]
        date: Option<Date>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RenderFormat {
    Html,
    Pdf,
    Text,
}

/// A day: `2026-11-23` (an RFC 3339 time is taken as its UTC day).
fn parse_day(s: &str) -> Result<Date, String> {
    parse_time(s).map(OffsetDateTime::date)
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new encryption key, store it in PROFILE/keys/ and publish it (valid one year).
    Init,
    /// List the keys held here and those the relay publishes for your organisation.
    List {
        /// Do not ask the relay.
        #[arg(long)]
        local: bool,
    },
    /// Publish (again) a key held here, valid one year from now.
    Publish {
        /// The key (N-…).
        key_id: KeyId,
    },
}

#[derive(Debug, Subcommand)]
enum CaseCommand {
    /// Open a new case.
    Open {
        /// The principal with overall responsibility; your own by default.
        #[arg(long)]
        lead: Option<PrincipalId>,
    },
    /// Show a case: its consents (with their state) and its history.
    Show {
        /// The case (S-…).
        id: CaseId,
    },
    /// Close a case to new documents (lead principal only); what was sent can still be fetched
    /// while its consent holds.
    Close {
        /// The case (S-…).
        id: CaseId,
    },
}

#[derive(Debug, Subcommand)]
enum ConsentCommand {
    /// Record a consent (checked here against the consent rules first).
    Record {
        /// The case (S-…).
        #[arg(long)]
        case: CaseId,
        /// A principal that may share under the consent (your own included); repeat for each.
        #[arg(long = "party", required = true)]
        parties: Vec<PrincipalId>,
        /// A kind of information covered; repeat for each.
        #[arg(long = "kind", required = true)]
        kinds: Vec<ContentKind>,
        /// Last day: the consent ends when this day begins (UTC). 2027-05-01 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        until: OffsetDateTime,
        /// First day (default: now). 2026-11-23 or RFC 3339.
        #[arg(long, value_parser = parse_time)]
        from: Option<OffsetDateTime>,
        /// Whom the consent is about.
        #[arg(long, value_enum)]
        subject: Subject,
        /// Who gave consent, by role; repeat for each.
        #[arg(long = "grantor", value_enum, required = true)]
        grantors: Vec<Grantor>,
        /// For a child: how many guardians have custody (1 or 2).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        custodians: Option<u8>,
        /// For a child: the child's own view has been heard.
        #[arg(long)]
        child_view_heard: bool,
        /// How consent was given.
        #[arg(long, value_enum)]
        form: Form,
        /// The consent this one replaces (K-…).
        #[arg(long)]
        supersedes: Option<ConsentId>,
        /// The consent document (names, how consent was given, a scanned form): sent signed and
        /// encrypted to every other party as a document of kind `consent`; the relay keeps only the
        /// consent's metadata.
        #[arg(long, value_name = "FILE")]
        document: Option<PathBuf>,
    },
    /// Show a consent: its state, amendment history, withdrawals and blocks, each signature checked.
    Show {
        /// The consent (K-…).
        id: ConsentId,
    },
    /// Withdraw a consent: final, effective at once, also for documents already sent; the other
    /// parties are told.
    Withdraw {
        /// The consent (K-…).
        id: ConsentId,
        /// Why (the circumstances belong in your case record, not at the relay).
        #[arg(long, value_enum)]
        reason: Withdrawal,
    },
    /// Block (spärr) a party or a kind of information on a consent: effective at once, also for
    /// documents already sent, and cannot be lifted.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["parties", "kinds"])))]
    Block {
        /// The consent (K-…).
        id: ConsentId,
        /// A principal to remove (SE + organisation number); repeat for several.
        #[arg(long = "party")]
        parties: Vec<PrincipalId>,
        /// A kind of information to remove; repeat for several.
        #[arg(long = "kind")]
        kinds: Vec<ContentKind>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Withdrawal {
    /// The person withdrew it.
    Individual,
    /// A guardian withdrew it.
    Guardian,
    /// The legal representative (god man, förvaltare) withdrew it.
    LegalRepresentative,
    /// It was recorded in error.
    RecordedInError,
    /// Another reason, documented in the case record.
    Other,
}

impl From<Withdrawal> for WithdrawalReason {
    fn from(w: Withdrawal) -> Self {
        match w {
            Withdrawal::Individual => WithdrawalReason::Individual,
            Withdrawal::Guardian => WithdrawalReason::Guardian,
            Withdrawal::LegalRepresentative => WithdrawalReason::LegalRepresentative,
            Withdrawal::RecordedInError => WithdrawalReason::RecordedInError,
            Withdrawal::Other => WithdrawalReason::Other,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Subject {
    Adult,
    Minor,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Grantor {
    Individual,
    Guardian1,
    Guardian2,
    LegalRepresentative,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Form {
    Written,
    /// Given orally and documented by you.
    Oral,
    Digital,
}

/// What a command produced: printed as JSON or as text, with its exit code.
struct Output {
    json: serde_json::Value,
    text: String,
    exit: u8,
}

impl Output {
    fn of<T: Serialize + Display>(value: &T) -> Result<Self, ClientError> {
        Self::with_exit(value, exit::OK)
    }

    fn with_exit<T: Serialize + Display>(value: &T, exit: u8) -> Result<Self, ClientError> {
        let json = serde_json::to_value(value)
            .map_err(|e| ClientError::Internal(format!("the result could not be written as JSON: {e}")))?;
        Ok(Output { json, text: value.to_string(), exit })
    }
}

fn main() -> ExitCode {
    let json_wanted = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json_wanted && e.use_stderr() => {
            print_error(true, "usage", e.to_string().trim(), None);
            return ExitCode::from(exit::USAGE);
        }
        // Help and version go to stdout with 0; usage errors to stderr with 2.
        Err(e) => e.exit(),
    };
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            print_error(json, "internal", &format!("cannot start: {e}"), None);
            return ExitCode::from(exit::OTHER);
        }
    };
    // A command that talked to the relay is followed by a check of the relay's access log against
    // the last checkpoint this profile verified (audit_cmd::check_after).
    // `web` serves until stopped; its pages are not one command to check after.
    let check_profile = (audit_cmd::talks_to_relay(&cli.command)
        && !matches!(cli.command, Command::Web { .. }))
    .then(|| cli.profile.clone());
    let result = runtime.block_on(run(cli));
    let log_failure = match (&result, check_profile) {
        (Ok(_), Some(profile)) => runtime.block_on(audit_cmd::check_after(profile, json, true)),
        // A refusal was logged by the relay too; a usage error or an unreachable relay was not.
        (Err(e), Some(profile)) if e.exit_code() == exit::REFUSED => {
            runtime.block_on(audit_cmd::check_after(profile, json, false))
        }
        _ => None,
    };
    let code = match result {
        Ok(mut out) => {
            if let (Some(f), Some(obj)) = (&log_failure, out.json.as_object_mut()) {
                obj.insert(
                    "log_check_error".into(),
                    serde_json::json!({ "code": f.code(), "message": f.to_string() }),
                );
            }
            let mut stdout = std::io::stdout().lock();
            let written = if json {
                writeln!(stdout, "{}", out.json)
            } else if out.text.is_empty() {
                Ok(())
            } else {
                writeln!(stdout, "{}", out.text)
            };
            // A closed pipe is not worth a second error message.
            let _ = written.and_then(|()| stdout.flush());
            out.exit
        }
        Err(e) => {
            print_error(json, &e.code(), &e.to_string(), e.request_id());
            e.exit_code()
        }
    };
    match log_failure {
        Some(f) => {
            audit_cmd::report_log_failure(&f);
            ExitCode::from(exit::VERIFICATION)
        }
        None => ExitCode::from(code),
    }
}

fn print_error(json: bool, code: &str, message: &str, request_id: Option<&str>) {
    if json {
        let mut error = serde_json::json!({ "code": code, "message": message });
        if let Some(id) = request_id {
            error["request_id"] = id.into();
        }
        println!("{}", serde_json::json!({ "error": error }));
    } else {
        eprintln!("samordna: {}", message.trim_end());
    }
}

fn load_profile(dir: Option<PathBuf>) -> Result<Profile, ClientError> {
    let dir = dir.ok_or_else(|| {
        ClientError::usage("profile", "no profile given; pass --profile DIR or set SAMORDNA_PROFILE")
    })?;
    Ok(Profile::load(&dir)?)
}

fn session(dir: Option<PathBuf>) -> Result<Session, ClientError> {
    Ok(Session::new(load_profile(dir)?)?.with_progress(std::io::stderr().is_terminal()))
}

fn warn(json: bool, message: impl Display) {
    if !json {
        eprintln!("samordna: warning: {message}");
    }
}

async fn run(cli: Cli) -> Result<Output, ClientError> {
    let json = cli.json;
    match cli.command {
        Command::Whoami => {
            let profile = load_profile(cli.profile)?;
            let id = profile.identity();
            // This line's format is relied on by scripts and tests: keep it.
            let text = format!("{} ({}), {} [{}]", id.name, id.hsa_id, id.organisation, id.principal);
            let json = serde_json::to_value(id).map_err(|e| {
                ClientError::Internal(format!("the result could not be written as JSON: {e}"))
            })?;
            Ok(Output { json, text, exit: exit::OK })
        }
        Command::Keys(KeysCommand::Init) => Output::of(&session(cli.profile)?.keys_init().await?),
        Command::Keys(KeysCommand::Publish { key_id }) => {
            Output::of(&session(cli.profile)?.keys_publish(&key_id).await?)
        }
        Command::Keys(KeysCommand::List { local }) => {
            Output::of(&session(cli.profile)?.keys_list(local).await?)
        }
        Command::Case(CaseCommand::Open { lead }) => {
            let info = session(cli.profile)?.case_open(lead).await?;
            let mut out = Output::of(&info)?;
            out.text = format!("Opened case {}.\n{}", info.case_id, out.text);
            Ok(out)
        }
        Command::Case(CaseCommand::Show { id }) => {
            let case = session(cli.profile)?.case_show(&id).await?;
            let code = if case.verification_failed() { exit::VERIFICATION } else { exit::OK };
            Output::with_exit(&case, code)
        }
        Command::Case(CaseCommand::Close { id }) => Output::of(&session(cli.profile)?.case_close(&id).await?),
        Command::Consent(ConsentCommand::Record {
            case,
            parties,
            kinds,
            until,
            from,
            subject,
            grantors,
            custodians,
            child_view_heard,
            form,
            supersedes,
            document,
        }) => {
            let req = ConsentRequest {
                case_id: case,
                parties,
                kinds,
                valid_from: from,
                valid_until: until,
                subject: match subject {
                    Subject::Adult => SubjectClass::Adult,
                    Subject::Minor => SubjectClass::Minor,
                },
                grantors: grantors
                    .into_iter()
                    .map(|g| match g {
                        Grantor::Individual => GrantorRole::Individual,
                        Grantor::Guardian1 => GrantorRole::Guardian1,
                        Grantor::Guardian2 => GrantorRole::Guardian2,
                        Grantor::LegalRepresentative => GrantorRole::LegalRepresentative,
                    })
                    .collect(),
                custodial_guardians: custodians,
                child_view_heard,
                form: match form {
                    Form::Written => ConsentForm::Written,
                    Form::Oral => ConsentForm::OralDocumented,
                    Form::Digital => ConsentForm::Digital,
                },
                supersedes,
            };
            let session = session(cli.profile)?;
            let Some(document) = document else {
                let recorded = session.consent_record(&req).await?;
                let mut out = Output::of(&recorded)?;
                out.text = format!("Recorded consent {}.\n{}", recorded.consent.consent_id, out.text);
                return Ok(out);
            };
            let recorded = session.consent_record_with_document(&req, &document).await?;
            // The consent stands even when its document could not be sent; the exit code says so.
            let mut out = Output::with_exit(&recorded, recorded.exit_code())?;
            out.text = format!("Recorded consent {}.\n{}", recorded.recorded.consent.consent_id, out.text);
            Ok(out)
        }
        Command::Consent(ConsentCommand::Show { id }) => {
            let shown = session(cli.profile)?.consent_show(&id).await?;
            let code = if shown.consent.verification_failed() { exit::VERIFICATION } else { exit::OK };
            Output::with_exit(&shown, code)
        }
        Command::Consent(ConsentCommand::Withdraw { id, reason }) => {
            Output::of(&session(cli.profile)?.consent_withdraw(&id, reason.into()).await?)
        }
        Command::Consent(ConsentCommand::Block { id, parties, kinds }) => {
            let blocks: Vec<Block> =
                parties.into_iter().map(Block::Party).chain(kinds.into_iter().map(Block::Kind)).collect();
            Output::of(&session(cli.profile)?.consent_blocks(&id, blocks).await?)
        }
        Command::Send { file, case, to, kind, consent } => {
            let sent =
                session(cli.profile)?.send(&SendRequest { file, case_id: case, to, kind, consent }).await?;
            for s in &sent.skipped_keys {
                let key = s.key_id.as_ref().map_or("(unreadable)".to_owned(), ToString::to_string);
                warn(json, format_args!("did not use key {key} of {}: {}", s.principal, s.reason));
            }
            Output::of(&sent)
        }
        Command::Inbox { case } => Output::of(&session(cli.profile)?.inbox(case.as_ref()).await?),
        Command::Fetch { id, out, save_signature, force } => {
            let req = FetchRequest { envelope_id: id, out, save_signature, overwrite: force };
            Output::of(&session(cli.profile)?.fetch(&req).await?)
        }
        Command::Status { id } => {
            let status = session(cli.profile)?.status(&id).await?;
            let code = if status.has_invalid_receipt() { exit::VERIFICATION } else { exit::OK };
            Output::with_exit(&status, code)
        }
        Command::Directory => Output::of(&session(cli.profile)?.directory().await?),
        Command::Plan(command) => run_plan(command, cli.profile, json),
        Command::Audit(command) => audit_cmd::audit(command, cli.profile).await,
        Command::Log(command) => audit_cmd::log(command, cli.profile).await,
        Command::Witness(command) => audit_cmd::witness(command, cli.profile).await,
        Command::Invite(command) => invite_cmd::invite(command, cli.profile).await,
        Command::Outbox(command) => invite_cmd::outbox(command, cli.profile).await,
        Command::Web { listen, tls_cert, tls_key, open } => {
            let profile_dir = cli.profile.ok_or_else(|| {
                ClientError::usage("profile", "no profile given; pass --profile DIR or set SAMORDNA_PROFILE")
            })?;
            let opts = samordna_client::web::WebOptions {
                profile_dir,
                listen,
                tls_cert,
                tls_key,
                open_browser: open,
            };
            samordna_client::web::serve(opts).await?;
            Ok(Output { json: serde_json::Value::Null, text: String::new(), exit: exit::OK })
        }
    }
}

fn run_plan(command: PlanCommand, profile: Option<PathBuf>, json: bool) -> Result<Output, ClientError> {
    let to_json = |v: serde_json::Value, text: String| Output { json: v, text, exit: exit::OK };
    match command {
        PlanCommand::New { out, force, case, consent } => {
            // A profile is optional here; one that is given must load.
            let profile = profile.map(|dir| Profile::load(&dir)).transpose()?;
            let skeleton = plan::skeleton(
                plan::today(),
                profile.as_ref().map(Profile::identity),
                case.as_ref(),
                consent.as_ref(),
            );
            let pretty = serde_json::to_string_pretty(&skeleton)
                .map_err(|e| ClientError::Internal(format!("the plan could not be written as JSON: {e}")))?;
            match out {
                None => Ok(to_json(skeleton, pretty)),
                Some(out) => {
                    plan::write_output(&out, format!("{pretty}\n").as_bytes(), force)?;
                    let text = format!(
                        "Wrote a new SIP plan to {0}; fill it in, then check it with `samordna plan validate {0}`.",
                        out.display()
                    );
                    Ok(to_json(serde_json::json!({ "file": out }), text))
                }
            }
        }
        PlanCommand::Validate { file, date } => {
            let result = plan::validate_file(&file, date.unwrap_or_else(plan::today))?;
            let code = if result.valid { exit::OK } else { exit::USAGE };
            Output::with_exit(&result, code)
        }
        PlanCommand::Render { file, format, out, force, date } => {
            let format = match format {
                RenderFormat::Html => Format::Html,
                RenderFormat::Pdf => Format::Pdf,
                RenderFormat::Text => Format::Text,
            };
            if out.is_none() && json {
                return Err(ClientError::usage("usage", "with --json, name the file to write with --out"));
            }
            if out.is_none() && format == Format::Pdf && std::io::stdout().is_terminal() {
                return Err(ClientError::usage(
                    "usage",
                    "a PDF is not for the terminal; name the file with --out plan.pdf (or redirect the output)",
                ));
            }
            let plan = plan::load(&file, date.unwrap_or_else(plan::today))?;
            let bytes = plan::render(&plan, format, None)?;
            match out {
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&bytes).and_then(|()| stdout.flush()).map_err(|e| {
                        ClientError::Internal(format!("cannot write to standard output: {e}"))
                    })?;
                    Ok(Output { json: serde_json::Value::Null, text: String::new(), exit: exit::OK })
                }
                Some(out) => {
                    plan::write_output(&out, &bytes, force)?;
                    let text = format!(
                        "Wrote the plan as {} to {} ({} bytes).",
                        format.extension(),
                        out.display(),
                        bytes.len()
                    );
                    Ok(to_json(
                        serde_json::json!({ "file": out, "format": format, "bytes": bytes.len() }),
                        text,
                    ))
                }
            }
        }
    }
}
