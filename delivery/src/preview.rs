//! The repository side of a release preview, shared by the release controller (which records
//! `status.diff`), `gitopshq diff` and the dashboard: read what the release touches at the
//! branch head, lay a Deploy or Promotion over it (or restore a Rollback's folders from its
//! target's commit), and let the engine compare ([`gitopshq_engine::preview`]).

use std::collections::BTreeSet;
use std::path::Path;

use gitopshq_crds::release::{Release, ReleaseType};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::layout::{self, GitOpsSettings};
use gitopshq_engine::plan;
use gitopshq_engine::preview::{self, Preview};
use kube::ResourceExt;

use crate::git::{self, GitRemote};
use crate::{DeliveryError, Result, plan_release, plan_rollback};

/// A release's preview against `remote`, with how many paths it owns (writes or deletes).
/// `catalog` holds the states recorded for the release's environment (see
/// [`crate::load_recorded_states`]) when the release is a Deploy or Promotion.
pub fn preview_release(
    catalog: &Catalog,
    release: &Release,
    remote: GitRemote,
    cache_dir: &Path,
    settings: GitOpsSettings,
) -> Result<(Preview, usize)> {
    let project = release.namespace().unwrap_or_default();
    let environment_dir = format!(
        "{}/{}",
        plan::repository_root(catalog, &project)?,
        release.spec.environment
    );
    match release.spec.type_ {
        ReleaseType::Rollback => {
            let rollback = plan_rollback(catalog, release, remote, cache_dir)?;
            let current = git::read_tree(&rollback.remote, cache_dir, &environment_dir)?;
            let mut target = std::collections::BTreeMap::new();
            for prefix in &rollback.prefixes {
                target.extend(git::read_tree_at(
                    &rollback.remote,
                    cache_dir,
                    Some(&rollback.target_commit),
                    prefix,
                )?);
            }
            let after = preview::restored_tree(&current, &rollback.prefixes, &target);
            let owned = rollback.prefixes.len();
            Ok((preview::preview(&current, &after, &environment_dir)?, owned))
        }
        ReleaseType::Deploy | ReleaseType::Promotion => {
            let planned = plan_release(catalog, release, remote, settings)?;
            let mut current = git::read_tree(&planned.remote, cache_dir, &environment_dir)?;
            // Owned paths outside the environment's folder (the project's Flux source) are
            // compared too.
            let base = format!("{}/", environment_dir.trim_end_matches('/'));
            let outside: BTreeSet<&str> = planned
                .layout
                .owned
                .iter()
                .filter(|p| !p.starts_with(&base))
                .filter_map(|p| p.trim_end_matches('/').rsplit_once('/').map(|(dir, _)| dir))
                .collect();
            for dir in outside {
                current.extend(git::read_tree(&planned.remote, cache_dir, dir)?);
            }
            let after = layout::apply(&current, &planned.layout);
            let owned = planned.layout.owned.len();
            Ok((preview::preview(&current, &after, &environment_dir)?, owned))
        }
    }
}

impl From<preview::PreviewError> for DeliveryError {
    fn from(error: preview::PreviewError) -> Self {
        DeliveryError::Preview(error)
    }
}
