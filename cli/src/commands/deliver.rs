use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gitopshq_controller::git::{self, CommitMeta, Identity};
use gitopshq_crds::consts::trailers;
use gitopshq_crds::release::{Release, ReleaseType};
use gitopshq_engine::layout::{self, CommitInfo, Trailers};
use gitopshq_engine::plan;
use kube::ResourceExt;

use super::Inputs;

use crate::load;
use crate::release_delivery::{RepoArgs, find_release, plan_release, remote_for};

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
    let outcome = match release.spec.type_ {
        ReleaseType::Rollback => {
            let Some(target) = &release.spec.rollback_to else {
                bail!(
                    "release {} is a Rollback without spec.rollbackTo.release: name the release whose content to restore",
                    release.name_any()
                );
            };
            let project = release.namespace().unwrap_or_default();
            let target_release = catalog
                .release(&project, &target.release)
                .with_context(|| {
                    format!(
                        "rollback target release {project}/{} not found in the input files",
                        target.release
                    )
                })?;
            let remote = remote_for(&catalog, &project, &args.repo)?;
            let scope = plan::rollback_scope(&catalog, release, target_release)?;
            let root = plan::repository_root(&catalog, &project)?;
            let prefixes: Vec<String> = scope
                .iter()
                .map(|(tenant, workload)| {
                    format!(
                        "{}/",
                        layout::workload_dir(&root, &release.spec.environment, tenant, workload)
                    )
                })
                .collect();
            let target_id = format!("{project}/{}", target.release);
            let history = git::log(&remote, &cache, 10_000)?;
            let delivered = history
                .iter()
                .find(|e| e.parsed.trailers.as_ref().is_some_and(|t| t.release == target_id))
                .with_context(|| {
                    format!("release {target_id} has no delivery commit in {} {}: deliver it first or roll back to another release", remote.url, remote.branch)
                })?;
            let meta = meta_for(
                release,
                &author,
                delivered
                    .parsed
                    .trailers
                    .as_ref()
                    .map(|t| t.rendered_digest.clone())
                    .unwrap_or_default(),
                &[(
                    trailers::ROLLBACK_TO.to_string(),
                    format!("{target_id}@{}", delivered.commit),
                )],
            );
            git::restore(&remote, &cache, &delivered.commit, &prefixes, &meta)?
        }
        ReleaseType::Deploy | ReleaseType::Promotion => {
            let planned = plan_release(&catalog, release, &args.repo)?;
            let digest = layout::rendered_digest(&planned.layout.files);
            let meta = meta_for(release, &author, digest, &[]);
            let (remote, change) = planned.into_change();
            git::deliver(&remote, &cache, &change, &meta)?
        }
    };
    if outcome.created {
        println!("{}", outcome.commit);
        eprintln!(
            "committed release {} as {}",
            release.name_any(),
            outcome.commit
        );
    } else {
        println!("{}", outcome.commit);
        eprintln!(
            "release {} is already delivered: nothing changed, no new commit",
            release.name_any()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn meta_for(
    release: &Release,
    author: &Identity,
    rendered_digest: String,
    extra: &[(String, String)],
) -> CommitMeta {
    let mut other: Vec<(String, String)> = vec![(
        trailers::RELEASE_TYPE.to_string(),
        plan::release_type_name(release.spec.type_).to_string(),
    )];
    if let Some(by) = &release.spec.created_by {
        other.push((trailers::CREATED_BY.to_string(), by.clone()));
    }
    other.extend(extra.iter().cloned());
    let info = CommitInfo {
        title: release.spec.title.clone(),
        notes: release.spec.notes.clone(),
        trailers: Trailers {
            release: format!(
                "{}/{}",
                release.namespace().unwrap_or_default(),
                release.name_any()
            ),
            environment: release.spec.environment.clone(),
            rendered_digest,
            approved_by: Vec::new(),
            policies: Vec::new(),
            break_glass: release.spec.break_glass_session.clone(),
            previous_audit: None,
            other,
        },
    };
    CommitMeta {
        message: layout::commit_message(&info),
        author: author.clone(),
        committer: None,
        time: None,
    }
}
