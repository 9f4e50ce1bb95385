//! The seed scenario in `gitopshq_e2e::scenarios::bootstrap`, delivered by Argo CD.

use gitopshq_e2e::{Engine, scenarios::bootstrap};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_project_is_bootstrapped_and_its_first_release_becomes_healthy() {
    bootstrap::run(Engine::ArgoCd).await;
}
