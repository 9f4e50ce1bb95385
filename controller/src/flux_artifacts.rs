//! Per-tenant Flux artifacts (`--flux-artifacts-url`): after each commit of a `delivery: Flux`
//! project, the tenants of the release's environment that the commit targets or changed get
//! a new `ExternalArtifact` status (a tar.gz of the tenant's folder at the commit, its digest
//! and the commit's revision), so kustomize-controller reconciles those tenants only; and the
//! server that hands the archives to Flux, built again from the repository on request (the
//! same bytes every time), so it needs no storage and survives restarts. The decisions are
//! [`gitopshq_engine::flux_artifacts`]'.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use gitopshq_crds::consts::labels;
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_delivery::{artifact, git};
use gitopshq_engine::catalog::Catalog;
use gitopshq_engine::error::Chain;
use gitopshq_engine::flux_artifacts::{self as decide, Artifact};
use gitopshq_engine::layout;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use crate::context::Context;
use crate::engine_namespace::FLUX;
use crate::receiver::{Serving, serve_router};

fn external_artifacts() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "ExternalArtifact"),
        "externalartifacts",
    )
}

/// Archives built lately, by their path on the server: Flux fetches an archive right after
/// it is published, so the one built for its digest is usually still here.
#[derive(Default)]
struct Recent {
    archives: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
    bytes: usize,
}

/// What [`Recent`] keeps at most.
const RECENT_BYTES: usize = 64 << 20;

static RECENT: LazyLock<Mutex<Recent>> = LazyLock::new(Mutex::default);

fn remember(path: &str, archive: Arc<Vec<u8>>) {
    let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    if recent.archives.contains_key(path) || archive.len() > RECENT_BYTES {
        return;
    }
    recent.bytes += archive.len();
    recent.archives.insert(path.to_string(), archive);
    recent.order.push_back(path.to_string());
    while recent.bytes > RECENT_BYTES {
        let Some(oldest) = recent.order.pop_front() else {
            break;
        };
        if let Some(gone) = recent.archives.remove(&oldest) {
            recent.bytes -= gone.len();
        }
    }
}

fn recalled(path: &str) -> Option<Arc<Vec<u8>>> {
    let recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    recent.archives.get(path).cloned()
}

/// One tenant of the environment: its folder and its `ExternalArtifact`'s name.
struct TenantFolder {
    tenant: String,
    name: String,
    dir: String,
}

/// Publishes the artifacts `commit` makes new for the tenants of `environment` in `project`
/// (`targeted`: the release's tenants). Returns what it did, for the release's record; `Err`
/// says what failed (the release then waits for Flux as it would for a failed sync).
pub async fn publish(
    ctx: &Context,
    project: &Project,
    catalog: &Catalog,
    environment: &str,
    commit: &str,
    targeted: &[String],
) -> Result<Option<String>, String> {
    let Some(settings) = &ctx.settings.flux_artifacts else {
        return Ok(None);
    };
    let name = project.name_any();
    let root = layout::repository_root(&name, project.spec.repository.path.as_deref())
        .map_err(|e| e.to_string())?;
    let folders: Vec<TenantFolder> = catalog
        .tenants_of(&name)
        .filter(|t| t.spec.environment == environment)
        .map(|t| {
            let tenant = t.name_any();
            TenantFolder {
                name: layout::gitops_object_name(&name, environment, &tenant),
                dir: layout::tenant_dir(&root, environment, &tenant),
                tenant,
            }
        })
        .collect();
    let namespace = &ctx.settings.flux_namespace;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), namespace, &external_artifacts());
    let selector = format!(
        "{}={name},{}={environment}",
        labels::PROJECT,
        labels::ENVIRONMENT
    );
    let existing: HashMap<String, serde_json::Value> = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| format!("listing ExternalArtifacts in {namespace}: {e}"))?
        .items
        .into_iter()
        .filter_map(|o| Some((o.name_any(), serde_json::to_value(o).ok()?)))
        .collect();
    let remote = ctx.git_remote(project).await?;
    let cache_dir = ctx.settings.cache_dir.clone();
    let dirs: Vec<String> = folders.iter().map(|f| f.dir.clone()).collect();
    let trees = {
        let (remote, cache_dir, commit) = (remote.clone(), cache_dir.clone(), commit.to_string());
        tokio::task::spawn_blocking(move || git::tree_ids_at(&remote, &cache_dir, &commit, &dirs))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| Chain(&e).to_string())?
    };
    let due: Vec<(&TenantFolder, String)> = folders
        .iter()
        .zip(trees)
        .filter_map(|(folder, tree)| {
            let tree = tree?;
            let published = existing.get(&folder.name).and_then(decide::published);
            let targeted = targeted.contains(&folder.tenant);
            decide::needs_publishing(published.as_ref(), &tree, targeted).then_some((folder, tree))
        })
        .collect();
    let revision = decide::revision(&project.spec.repository.branch, commit);
    let time = ctx.now().to_string();
    let mut published = 0;
    for (folder, tree) in due {
        let path = decide::archive_path(&name, commit, &folder.dir);
        let archive = build(&remote, &cache_dir, commit, &folder.dir).await?;
        let artifact = Artifact {
            url: format!("{}{path}", settings.url),
            revision: revision.clone(),
            digest: artifact::digest(&archive),
            size: archive.len() as u64,
            tree,
            time: time.clone(),
        };
        remember(&path, archive);
        let generation = match existing.get(&folder.name) {
            Some(object) => object["metadata"]["generation"].as_i64(),
            None => {
                let object = decide::external_artifact(
                    &folder.name,
                    namespace,
                    &name,
                    environment,
                    &folder.tenant,
                );
                FLUX.apply_all(ctx, namespace, &[object], |_| external_artifacts())
                    .await?;
                Some(1)
            }
        };
        api.patch_status(
            &folder.name,
            &PatchParams::default(),
            &Patch::Merge(&decide::artifact_status(&artifact, generation)),
        )
        .await
        .map_err(|e| {
            format!(
                "publishing ExternalArtifact {namespace}/{}: {e}",
                folder.name
            )
        })?;
        published += 1;
    }
    // A tenant removed from the environment (deleted, or moved to another) leaves its
    // artifact behind: its Kustomization is pruned from the repository by this commit.
    let mut removed = 0;
    for gone in existing
        .keys()
        .filter(|name| !folders.iter().any(|f| &f.name == *name))
    {
        match api.delete(gone, &Default::default()).await {
            Ok(_) => removed += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                warn!(name = %gone, %e, "could not delete the ExternalArtifact of a removed tenant")
            }
        }
    }
    debug!(project = %name, environment, published, removed, "Flux artifacts published");
    Ok(Some(format!(
        "{published} of {} tenant artifact(s) of {environment} published",
        folders.len()
    )))
}

/// The archive of `dir` at `commit`, built from the local copy of the repository.
async fn build(
    remote: &git::GitRemote,
    cache_dir: &std::path::Path,
    commit: &str,
    dir: &str,
) -> Result<Arc<Vec<u8>>, String> {
    let (remote, cache_dir, commit, dir) = (
        remote.clone(),
        cache_dir.to_path_buf(),
        commit.to_string(),
        dir.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let files =
            git::files_at(&remote, &cache_dir, &commit, &dir).map_err(|e| Chain(&e).to_string())?;
        if files.is_empty() {
            return Err(format!("{dir} has no files at commit {commit}"));
        }
        artifact::archive(&files)
            .map(Arc::new)
            .map_err(|e| format!("archiving {dir} at {commit}: {e}"))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Serves the archives on `address` (plain HTTP: what they hold is what Git holds, Secrets
/// SOPS-encrypted, and Flux's own artifact servers are plain HTTP inside the cluster).
pub async fn serve(
    ctx: Arc<Context>,
    address: SocketAddr,
) -> Result<Serving, crate::receiver::Error> {
    let app = Router::new().fallback(archive).with_state(ctx);
    let serving = serve_router(app, address, None).await?;
    info!(address = %serving.address, "serving per-tenant Flux artifacts");
    Ok(serving)
}

async fn archive(State(ctx): State<Arc<Context>>, uri: Uri) -> Response {
    let path = uri.path();
    match find(&ctx, path).await {
        Ok(archive) => (
            [(header::CONTENT_TYPE, "application/gzip")],
            archive.as_ref().clone(),
        )
            .into_response(),
        Err((status, message)) => {
            if status != StatusCode::NOT_FOUND {
                warn!(path, %message, "a Flux artifact could not be served");
            }
            (status, message).into_response()
        }
    }
}

/// The archive at `path`: a tenant folder of a Flux project this controller delivers, at a
/// commit of its repository. Anything else is 404, the answer Flux reads as "not there yet".
async fn find(ctx: &Context, path: &str) -> Result<Arc<Vec<u8>>, (StatusCode, String)> {
    let not_found = |what: String| (StatusCode::NOT_FOUND, what);
    let request = decide::archive_request(path)
        .ok_or_else(|| not_found(format!("{path} is not an artifact path")))?;
    let project = ctx
        .index
        .projects
        .store
        .get(&ObjectRef::<Project>::new(&request.project))
        .filter(|p| {
            p.spec.delivery == DeliveryMode::Flux && ctx.settings.shard.owns(&request.project)
        })
        .ok_or_else(|| not_found(format!("no Flux project {}", request.project)))?;
    let root = layout::repository_root(&request.project, project.spec.repository.path.as_deref())
        .map_err(|e| not_found(e.to_string()))?;
    if !decide::is_tenant_dir(&request.dir, &root, &project.spec.environments) {
        return Err(not_found(format!(
            "{} is not a tenant folder of project {}",
            request.dir, request.project
        )));
    }
    let canonical = decide::archive_path(&request.project, &request.commit, &request.dir);
    if let Some(archive) = recalled(&canonical) {
        return Ok(archive);
    }
    let remote = ctx
        .git_remote(&project)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
    let archive = build(
        &remote,
        &ctx.settings.cache_dir,
        &request.commit,
        &request.dir,
    )
    .await
    .map_err(not_found)?;
    remember(&canonical, Arc::clone(&archive));
    Ok(archive)
}
