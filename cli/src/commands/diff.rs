use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use gitopshq_controller::git;
use gitopshq_crds::release::Release;
use gitopshq_crds::release::ReleaseType;
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout;
use gitopshq_engine::{ManifestDiff, ObjectId, diff_objects, unified_diff};
use serde::Deserialize;
use serde_json::Value;

use super::Inputs;
use crate::load;
use crate::release_delivery::{RepoArgs, find_release, plan_release};

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
}

pub fn run(args: Args) -> Result<ExitCode> {
    let catalog = load::catalog(&args.inputs.files)?;
    let release = find_release(&catalog, &args.release)?;
    if release.spec.type_ == ReleaseType::Rollback {
        anyhow::bail!(
            "release {} is a Rollback: preview it with `gitopshq diff --release <the release it restores>` against the history, or deliver it; a rollback restores that release's committed content",
            args.release
        );
    }
    let preview = preview(&catalog, release, &args.repo)?;
    println!(
        "release {} → {} {} ({} owned paths)",
        args.release, preview.remote.url, preview.remote.branch, preview.owned
    );
    print!("{}", preview.objects);
    println!("{}", preview.objects.summary());
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

/// What a Deploy or Promotion release would change in its repository now.
pub struct Preview {
    pub remote: git::GitRemote,
    /// Paths the release owns (writes or deletes).
    pub owned: usize,
    /// Objects added, removed or changed, field by field.
    pub objects: ManifestDiff,
    /// A unified diff of every file that changes.
    pub unified: String,
}

/// The environment's subtree (and any other folder the release owns a path in) before and
/// after the release: owned paths replaced and tenant kustomizations recomputed exactly as
/// delivery would.
pub fn preview(catalog: &Catalog, release: &Release, repo: &RepoArgs) -> Result<Preview> {
    let planned = plan_release(catalog, release, repo)?;
    let cache = repo.cache_dir();
    let mut current = git::read_tree(&planned.remote, &cache, &planned.environment_dir)?;
    // Owned paths outside the environment's folder (the project's Flux source) are compared too.
    let outside: std::collections::BTreeSet<&str> = planned
        .layout
        .owned
        .iter()
        .filter(|p| {
            !p.starts_with(&format!(
                "{}/",
                planned.environment_dir.trim_end_matches('/')
            ))
        })
        .filter_map(|p| p.trim_end_matches('/').rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    for dir in outside {
        current.extend(git::read_tree(&planned.remote, &cache, dir)?);
    }
    let after = layout::apply(&current, &planned.layout);
    let old = objects(&current)?;
    let new = objects(&after)?;
    let diff = diff_objects(
        old.iter().map(|(id, v)| (id.clone(), v)),
        new.iter().map(|(id, v)| (id.clone(), v)),
    );
    let mut paths: Vec<&String> = current.keys().chain(after.keys()).collect();
    paths.sort();
    paths.dedup();
    // A Secret's text is never printed: both sides show it with its values replaced.
    let text = |m: &BTreeMap<String, Vec<u8>>, path: &str| {
        m.get(path)
            .map(|b| match redacted_secret(b) {
                Some(redacted) => redacted,
                None => String::from_utf8_lossy(b).into_owned(),
            })
            .unwrap_or_default()
    };
    let unified = paths
        .iter()
        .map(|path| {
            unified_diff(
                &text(&current, path),
                &text(&after, path),
                &format!("a/{path}"),
                &format!("b/{path}"),
            )
        })
        .collect();
    Ok(Preview {
        remote: planned.remote,
        owned: planned.layout.owned.len(),
        objects: diff,
        unified,
    })
}

/// The file as YAML with every Secret value replaced, when it is a `v1` Secret (plain or
/// SOPS-encrypted).
fn redacted_secret(bytes: &[u8]) -> Option<String> {
    let value: Value = yaml_serde::from_slice(bytes).ok()?;
    layout::SecretSummary::of(&value)?;
    yaml_serde::to_string(&gitopshq_engine::redacted_secret(&value)).ok()
}

/// Kubernetes objects in a set of files, by identity; kustomization files count as objects
/// too (kind Kustomization) so their changes show.
fn objects(files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<(ObjectId, Value)>> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for document in yaml_serde::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .map_err(|e| anyhow::anyhow!("{path} in the repository is not valid YAML: {e}"))?;
            if value.is_null() {
                continue;
            }
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("File")
                .to_string();
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| path.clone());
            let namespace = value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(str::to_string);
            out.push((
                ObjectId {
                    kind,
                    namespace,
                    name,
                },
                value,
            ));
        }
    }
    Ok(out)
}
