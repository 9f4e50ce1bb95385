//! The seed scenario in `gitopshq_e2e::scenarios::canary_rollout`, delivered by Argo CD.

use gitopshq_e2e::{Engine, scenarios::canary_rollout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_promoted_in_batches_with_soak_approval_and_a_pause_on_degradation() {
    canary_rollout::run(Engine::ArgoCd).await;
}
