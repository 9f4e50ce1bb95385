//! Renders by content: one compiled chart per published chart version, and the output of each
//! (chart version, render input) pair, so judging the same release again (an admission retried
//! by the API server, a `kubectl apply` of an unchanged file, the controller after the webhook)
//! renders nothing twice. Keys are digests of the content, never names: a changed Variables or
//! Tenant gives a new key, and an entry can never be stale.

use std::sync::Arc;

use crate::catalog::Catalog;
use crate::charts::content_digest;
use crate::plan::{self, ChartCache, PlanError, RenderedTarget, Target, chart_source};
use crate::policy::cache::{BoundedCache, Digest, Hasher};
use crate::render::{CompiledChart, RenderOutput};

/// See the module documentation. Thread-safe; bounded in entries.
pub struct RenderCache {
    charts: BoundedCache<String, Arc<CompiledChart>>,
    outputs: BoundedCache<Digest, Arc<RenderOutput>>,
}

impl Default for RenderCache {
    fn default() -> Self {
        // A few dozen chart versions are in use at once; a rendered target is a few KiB.
        Self::new(64, 2048)
    }
}

impl std::fmt::Debug for RenderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderCache")
            .field("charts", &self.charts.counters())
            .field("outputs", &self.outputs.counters())
            .finish()
    }
}

impl RenderCache {
    pub fn new(charts: usize, outputs: usize) -> Self {
        Self {
            charts: BoundedCache::new(charts),
            outputs: BoundedCache::new(outputs),
        }
    }

    /// [`plan::render_targets`], from the caches where the same content was rendered before.
    pub fn render_targets(
        &self,
        catalog: &Catalog,
        targets: Vec<Target>,
    ) -> plan::Result<Vec<RenderedTarget>> {
        plan::render_each(catalog, targets, |_: &mut ChartCache, catalog, target| {
            self.render(catalog, target)
        })
    }

    fn render(&self, catalog: &Catalog, target: Target) -> plan::Result<RenderedTarget> {
        let cv = catalog
            .chart_version(&target.chart, &target.version)
            .ok_or_else(|| PlanError::ChartVersionNotFound {
                project: target.project.clone(),
                workload: target.workload.clone(),
                environment: target.environment.clone(),
                chart: target.chart.clone(),
                version: target.version.clone(),
            })?;
        let chart_digest = content_digest(cv);
        let compiled = match self.charts.get(&chart_digest) {
            Some(compiled) => compiled,
            None => {
                let compiled = Arc::new(
                    CompiledChart::compile(&chart_source(cv))
                        .map_err(plan::render_failed(&target))?,
                );
                self.charts
                    .insert(chart_digest.clone(), Arc::clone(&compiled));
                compiled
            }
        };
        let key = input_digest(&chart_digest, &target);
        if let Some(output) = self.outputs.get(&key) {
            return Ok(RenderedTarget { output, target });
        }
        let rendered = plan::render_with(&compiled, target)?;
        self.outputs.insert(key, Arc::clone(&rendered.output));
        Ok(rendered)
    }
}

/// Everything a render reads: the chart version's content and the whole render input (which
/// also fixes the ownership labels: project, environment, tenant and workload).
fn input_digest(chart_digest: &str, target: &Target) -> Digest {
    let input = &target.input;
    let layers: Vec<(&str, &serde_json::Value)> = input
        .layers
        .iter()
        .map(|l| (l.source.as_str(), &*l.values))
        .collect();
    let mut hasher = Hasher::new("gitopshq.render");
    hasher
        .str(chart_digest)
        .json(&input.release)
        .str(&input.project)
        .str(&input.environment)
        .json(&input.tenant)
        .json(&input.workload)
        .json(&layers)
        .json(&input.variables.project)
        .json(&input.variables.environment)
        .json(&input.variables.tenant);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::testing::shop;
    use crate::plan::environment_targets;

    #[test]
    fn the_same_content_renders_once_and_gives_the_same_output() {
        let catalog = shop(&["api"], 3);
        let cache = RenderCache::new(4, 16);
        let targets = || environment_targets(&catalog, "shop", "prod", None, None).unwrap();
        let first = cache.render_targets(&catalog, targets()).unwrap();
        let again = cache.render_targets(&catalog, targets()).unwrap();
        let plain = plan::render_targets(&catalog, targets()).unwrap();
        for ((a, b), c) in first.iter().zip(&again).zip(&plain) {
            assert_eq!(a.output, b.output);
            assert_eq!(a.output, c.output, "cached and uncached renders agree");
        }
        assert_eq!(cache.outputs.counters().hits, 3);
        assert_eq!(cache.charts.counters().misses, 1, "one compile");

        // A changed tenant value is another key: never a stale answer.
        let mut changed = catalog.clone();
        changed.tenants[1]
            .spec
            .values
            .insert("replicas".into(), 9.into());
        let targets = environment_targets(&changed, "shop", "prod", None, None).unwrap();
        let third = cache.render_targets(&changed, targets).unwrap();
        let yaml = third[1].output.yaml_stream().unwrap();
        assert!(yaml.contains("replicas: '9'"), "{yaml}");
        assert_eq!(cache.outputs.counters().hits, 5);
    }
}
