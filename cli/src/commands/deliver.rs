use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use gitopshq_delivery::git::{Identity, SigningKey};
use gitopshq_delivery::sops::DerivationKey;
use gitopshq_delivery::{Audit, Committer};
use gitopshq_engine::layout::GitOpsSettings;
use kube::ResourceExt;

use super::Inputs;

use crate::load;
use crate::release_delivery::{RepoArgs, find_release, remote_for, with_recorded_states};

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
    /// controller uses; with it an unchanged Secret keeps its committed file. Without it the
    /// key derives from --signing-key (as the controller's does from its signing key), else
    /// each run draws its own and rewrites every Secret file (same plaintext, new ciphertext).
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
    /// Sign the commit with this OpenSSH ed25519 private key (`ssh-keygen -t ed25519 -N ''`),
    /// as `git commit -S` with `gpg.format=ssh` would.
    #[arg(long, env = "GITOPSHQ_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let catalog = load::catalog(&args.inputs.files)?;
    let release = find_release(&catalog, &args.release)?;
    // Read before anything is written: a key that does not fit must not leave an unsigned commit.
    let signing_key = match &args.signing_key {
        Some(path) => Some(Arc::new(SigningKey::read_file(path)?)),
        None => None,
    };
    let configured = match &args.secret_derivation_key {
        Some(hex) => Some(derivation_key(hex)?),
        None => None,
    };
    let committer = Committer::new(
        Identity {
            name: args.author_name.clone(),
            email: args.author_email.clone(),
        },
        signing_key,
        configured.as_ref(),
        DerivationKey::random,
        jiff::Timestamp::now(),
    );
    let cache = args.repo.cache_dir();
    let project = release.namespace().unwrap_or_default();
    let remote = remote_for(&catalog, &project, &args.repo)?;
    let catalog = with_recorded_states(&catalog, release, &remote, &args.repo)?;
    let delivered = gitopshq_delivery::deliver_release(
        &catalog,
        release,
        remote,
        &cache,
        &committer,
        &Audit::default(),
        GitOpsSettings::default(),
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
