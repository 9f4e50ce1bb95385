//! The seed scenario in `gitopshq_e2e::scenarios::incident_rollback`, delivered by Argo CD.

use gitopshq_e2e::{Engine, scenarios::incident_rollback};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashing_release_is_degraded_and_an_approved_rollback_restores_it() {
    incident_rollback::run(Engine::ArgoCd).await;
}
