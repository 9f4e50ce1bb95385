use std::process::ExitCode;

use anyhow::Result;
use gitopshq_controller::delivery::{self, Audit};
use gitopshq_controller::git::Identity;
use gitopshq_controller::sops::DerivationKey;
use gitopshq_engine::layout::GitOpsSettings;
use kube::ResourceExt;

use super::Inputs;

use crate::load;
use crate::release_delivery::{RepoArgs, find_release, remote_for};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,
    /// The release to deliver (NAME or PROJECT/NAME).
    #[arg(long)]
    pub release: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Commit author name.
    #[arg(long, env = "GITOPSHQ_AUTHOR_NAME", default_value = "GitOpsHQ")]
    pub author_name: String,
    /// The key Secrets committed for Flux are encrypted under (64 hex characters), the one the
    /// controller uses; with it an unchanged Secret keeps its committed file. Without it each
    /// run draws its own, and rewrites every Secret file (same plaintext, new ciphertext).
    #[arg(
        long,
        env = "GITOPSHQ_SECRET_DERIVATION_KEY",
        value_name = "HEX",
        hide_env_values = true
    )]
    pub secret_derivation_key: Option<String>,
    /// Commit author e-mail.
    #[arg(
        long,
        env = "GITOPSHQ_AUTHOR_EMAIL",
        default_value = "gitopshq@localhost"
    )]
    pub author_email: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let catalog = load::catalog(&args.inputs.files)?;
    let release = find_release(&catalog, &args.release)?;
    let author = Identity {
        name: args.author_name.clone(),
        email: args.author_email.clone(),
    };
    let cache = args.repo.cache_dir();
    let project = release.namespace().unwrap_or_default();
    let remote = remote_for(&catalog, &project, &args.repo)?;
    let key = match &args.secret_derivation_key {
        Some(hex) => derivation_key(hex)?,
        None => DerivationKey::random(),
    };
    let sealing = delivery::SecretSealing {
        key,
        now: jiff::Timestamp::now(),
    };
    let delivered = delivery::deliver_release(
        &catalog,
        release,
        remote,
        &cache,
        &author,
        &Audit::default(),
        GitOpsSettings::default(),
        &sealing,
    )?;
    let outcome = delivered.outcome;
    println!("{}", outcome.commit);
    if !delivered.withheld_secrets.is_empty() {
        eprintln!(
            "{} Secret(s) are not in Git, only named in their workload's secrets.yaml: the GitOpsHQ controller applies them to the tenant's cluster when it delivers this release",
            delivered.withheld_secrets.len()
        );
    }
    if outcome.created {
        eprintln!(
            "committed release {} as {}",
            release.name_any(),
            outcome.commit
        );
    } else {
        eprintln!(
            "release {} is already delivered: nothing changed, no new commit",
            release.name_any()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn derivation_key(text: &str) -> Result<DerivationKey> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--secret-derivation-key (GITOPSHQ_SECRET_DERIVATION_KEY) must be 64 hex characters (32 bytes)"
            )
        })?;
    Ok(DerivationKey::from_bytes(bytes))
}
