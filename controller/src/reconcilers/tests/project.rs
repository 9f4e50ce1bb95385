use std::sync::Arc;
use std::time::Duration;

use gitopshq_crds::consts::{conditions as types, reasons};
use gitopshq_crds::project::{DeliveryMode, Project};
use gitopshq_crds::testing::from_json;
use gitopshq_engine::rbac;
use http::{Method, StatusCode};
use kube::ResourceExt;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::condition;
use crate::index::Index;
use crate::mock_api::{self, Reply, Scenario, Seen};
use crate::reconcilers::project::reconcile;

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// Project `shop` delivered directly (no Argo CD or Flux objects to write), with one team
/// grant, its repository at `url`.
fn shop(url: &str) -> Project {
    let mut project = Project::test("shop", url);
    project.spec.delivery = DeliveryMode::Direct;
    project.spec.teams = vec![from_json(
        json!({"group": "shop-devs", "role": "Developer"}),
    )];
    project
}

/// A `list_metadata` answer holding objects named `names`.
fn metadata_list(names: &[&str]) -> Reply {
    let items: Vec<Value> = names
        .iter()
        .map(|name| json!({"metadata": {"name": name, "namespace": "shop"}}))
        .collect();
    Reply::Json(json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadataList",
        "metadata": {},
        "items": items,
    }))
}

/// The namespace and RBAC writes for `project`: the namespace, the catalog ClusterRole, the
/// grant's Role and RoleBinding, the catalog ClusterRoleBinding, then the listings that prune
/// (where the Role `stale-role` of a removed grant is found and deleted).
fn namespace_and_rbac(project: &Project) -> Scenario {
    let wanted = rbac::project_rbac(project);
    let role = wanted.roles[0].name_any();
    let deleted = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
    Scenario::new()
        .expect(Method::PATCH, "/api/v1/namespaces/shop", Reply::Echo)
        .expect(
            Method::PATCH,
            format!("{RBAC}/clusterroles/{}", rbac::CATALOG_READER),
            Reply::Echo,
        )
        .expect(
            Method::PATCH,
            format!("{RBAC}/namespaces/shop/roles/{role}"),
            Reply::Echo,
        )
        .expect(
            Method::PATCH,
            format!("{RBAC}/namespaces/shop/rolebindings/{role}"),
            Reply::Echo,
        )
        .expect(
            Method::PATCH,
            format!("{RBAC}/clusterrolebindings/gitopshq:shop:catalog-readers"),
            Reply::Echo,
        )
        .expect(
            Method::GET,
            format!("{RBAC}/namespaces/shop/roles"),
            metadata_list(&[&role, "stale-role"]),
        )
        .expect(
            Method::DELETE,
            format!("{RBAC}/namespaces/shop/roles/stale-role"),
            Reply::Json(deleted),
        )
        .expect(
            Method::GET,
            format!("{RBAC}/namespaces/shop/rolebindings"),
            metadata_list(&[&role]),
        )
}

async fn run(project: Project, scenario: Scenario) -> (Action, Vec<Seen>) {
    let cache = tempfile::tempdir().unwrap();
    let (ctx, server) = mock_api::context(Index::new(), cache.path());
    let verifier = server.run(scenario);
    let action = reconcile(Arc::new(project), ctx).await;
    let seen = verifier.finish().await;
    (action.expect("the reconciliation succeeds"), seen)
}

#[tokio::test]
async fn a_project_without_a_repository_gets_its_rbac_and_fails_on_the_repository() {
    let project = shop("");
    let scenario = namespace_and_rbac(&project).status_patch(&project);

    let (action, seen) = run(project.clone(), scenario).await;

    // What the writes said: the namespace labelled as the project's, owner references to the
    // Project on the RBAC objects (the garbage collector removes them with it).
    assert_eq!(
        seen[0].body["metadata"]["labels"]["gitopshq.io/project"],
        "shop"
    );
    assert_eq!(seen[2].body["kind"], "Role");
    assert_eq!(
        seen[2].body["metadata"]["ownerReferences"][0]["uid"],
        project.uid().unwrap()
    );
    assert_eq!(seen[3].body["subjects"][0]["name"], "shop-devs");
    let status = &seen.last().unwrap().body["status"];
    assert_eq!(status["phase"], "Failed");
    assert_eq!(status["namespace"], "shop");
    assert_eq!(condition(status, types::RBAC_READY)["status"], "True");
    let repository = condition(status, types::REPOSITORY_READY);
    assert_eq!(repository["status"], "False");
    assert_eq!(repository["reason"], reasons::REPOSITORY_ERROR);
    assert!(
        repository["message"]
            .as_str()
            .unwrap()
            .contains("has no spec.repository.url"),
        "{repository}"
    );
    assert_eq!(
        condition(status, types::READY)["reason"],
        reasons::REPOSITORY_ERROR
    );
    // Direct delivery has no GitOps engine objects to report.
    assert!(
        status["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != types::GITOPS_READY)
    );
    // Not Ready before either, so no Event; retried soon.
    assert_eq!(action, Action::requeue(Duration::from_secs(15)));
}

#[tokio::test]
async fn a_project_whose_repository_answers_is_ready_with_its_skeleton_committed() {
    let repository = tempfile::tempdir().unwrap();
    git2::Repository::init_bare(repository.path()).unwrap();
    let project = shop(&format!("file://{}", repository.path().display()));
    let scenario = namespace_and_rbac(&project)
        .status_patch(&project)
        .event("default");

    let (action, seen) = run(project, scenario).await;

    let status = &seen[seen.len() - 2].body["status"];
    assert_eq!(status["phase"], "Ready");
    let commit = status["lastCommit"].as_str().unwrap();
    assert_eq!(status["shortCommit"], commit[..7]);
    // The commit is in the repository, on the project's branch.
    let bare = git2::Repository::open_bare(repository.path()).unwrap();
    let head = bare
        .find_reference("refs/heads/main")
        .unwrap()
        .target()
        .unwrap();
    assert_eq!(head.to_string(), commit);
    assert_eq!(condition(status, types::READY)["status"], "True");
    // Becoming Ready is announced once.
    let event = &seen.last().unwrap().body;
    assert_eq!(event["type"], "Normal");
    assert_eq!(event["reason"], reasons::RECONCILED);
    assert_eq!(event["regarding"]["kind"], "Project");
    assert_eq!(action, Action::requeue(Duration::from_secs(300)));
}

#[tokio::test]
async fn a_refused_namespace_fails_the_project_with_the_api_error() {
    let project = shop("");
    let scenario = Scenario::new()
        .expect(
            Method::PATCH,
            "/api/v1/namespaces/shop",
            Reply::Error(StatusCode::FORBIDDEN, "namespaces is forbidden".into()),
        )
        .status_patch(&project);

    let (_, seen) = run(project, scenario).await;

    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Failed");
    // The namespace is only recorded once it is in place.
    assert!(
        status.get("namespace").is_none_or(Value::is_null),
        "{status:#}"
    );
    let rbac_ready = condition(status, types::RBAC_READY);
    assert_eq!(rbac_ready["status"], "False");
    assert_eq!(rbac_ready["reason"], reasons::INVALID_SPEC);
    assert_eq!(
        condition(status, types::READY)["reason"],
        reasons::INVALID_SPEC
    );
}
