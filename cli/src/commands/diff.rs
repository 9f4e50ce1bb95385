use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use gitopshq_crds::release::Release;
use gitopshq_delivery::git;
use gitopshq_engine::ManifestDiff;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::GitOpsSettings;
use kube::ResourceExt;

use super::Inputs;
use crate::load;
use crate::release_delivery::{RepoArgs, find_release, remote_for, with_recorded_states};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub inputs: Inputs,
    /// The release to preview (NAME or PROJECT/NAME).
    #[arg(long)]
    pub release: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Also print a unified diff of every changed file.
    #[arg(long)]
    pub unified: bool,
    /// Exit with status 1 when the release would change something (for CI checks).
    #[arg(long)]
    pub exit_code: bool,
    /// The controller's: the Argo CD and Flux objects are laid out as it lays them out.
    #[command(flatten)]
    pub gitops: gitopshq_controller::config::GitOpsArgs,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let catalog = load::catalog(&args.inputs.files)?;
    let release = find_release(&catalog, &args.release)?;
    let preview = preview(&catalog, release, &args.repo, args.gitops.settings())?;
    println!(
        "release {} ({}) → {} {} ({} owned paths)",
        args.release, release.spec.type_, preview.remote.url, preview.remote.branch, preview.owned
    );
    print!("{}", preview.objects);
    println!("{}", preview.objects.summary());
    for (tenant, diff) in &preview.tenants {
        println!("  tenant {tenant}: {}", diff.summary());
    }
    if args.unified {
        print!("{}", preview.unified);
    }
    let diff = preview.objects;
    Ok(if args.exit_code && !diff.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What a release would change in its repository now.
pub struct Preview {
    pub remote: git::GitRemote,
    /// Paths the release owns (writes or deletes; a Rollback's restored folders).
    pub owned: usize,
    /// Objects added, removed or changed, field by field.
    pub objects: ManifestDiff,
    /// The same, per tenant with a change.
    pub tenants: BTreeMap<String, ManifestDiff>,
    /// A unified diff of every file that changes, Secrets redacted.
    pub unified: String,
}

/// The environment's subtree (and any other folder the release owns a path in) before and
/// after the release: for a Deploy or Promotion, owned paths replaced and tenant
/// kustomizations recomputed exactly as delivery would, from the states recorded in the
/// repository; for a Rollback, its folders as its target's commit holds them. The Argo CD
/// and Flux objects are laid out with `settings`, the controller's.
pub fn preview(
    catalog: &Catalog,
    release: &Release,
    repo: &RepoArgs,
    settings: GitOpsSettings,
) -> Result<Preview> {
    let project = release.namespace().unwrap_or_default();
    let remote = remote_for(catalog, &project, repo)?;
    let catalog = with_recorded_states(catalog, release, &remote, repo)?;
    let (preview, owned) = gitopshq_delivery::preview::preview_release(
        &catalog,
        release,
        remote.clone(),
        &repo.cache_dir(),
        settings,
    )?;
    Ok(Preview {
        remote,
        owned,
        objects: preview.objects,
        tenants: preview.tenants,
        unified: preview.unified,
    })
}
