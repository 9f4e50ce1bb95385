//! `GET /api/events`: one server-sent event per change of what the pages show, watched as the
//! signed-in person, so each page refetches only when something it shows changed.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::workload::Workload;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::api::{Change, ChangedKind};
use super::auth::Person;
use super::diagnostics::event_data;
use super::error::ApiResult;
use super::objects::projects;

fn changes<K>(api: Api<K>, kind: ChangedKind) -> BoxStream<'static, Change>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    watcher(api, watcher::Config::default())
        .default_backoff()
        .filter_map(move |event| async move {
            // The initial listing is what the page already fetched: only later changes count.
            let object = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => o,
                _ => return None,
            };
            Some(Change {
                kind,
                namespace: object.namespace(),
                name: object.name_any(),
            })
        })
        .boxed()
}

/// Watches, as `person`, the kinds the pages show in every project namespace they can see.
pub async fn stream(
    person: Person,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let client = person.client.clone();
    let mut watches: Vec<BoxStream<'static, Change>> = vec![changes(
        Api::<Environment>::all(client.clone()),
        ChangedKind::Environments,
    )];
    for project in projects(&person).await? {
        let ns = project.namespace_name();
        // Only namespaces whose releases the person may watch: a refused watch retries forever.
        if !person
            .can("watch", gitopshq_crds::consts::GROUP, "releases", &ns, None)
            .await?
        {
            continue;
        }
        watches.push(changes(
            Api::<Release>::namespaced(client.clone(), &ns),
            ChangedKind::Releases,
        ));
        watches.push(changes(
            Api::<ApprovalRequest>::namespaced(client.clone(), &ns),
            ChangedKind::ApprovalRequests,
        ));
        watches.push(changes(
            Api::<BreakGlassSession>::namespaced(client.clone(), &ns),
            ChangedKind::BreakGlassSessions,
        ));
        watches.push(changes(
            Api::<Workload>::namespaced(client.clone(), &ns),
            ChangedKind::Workloads,
        ));
        watches.push(changes(
            Api::<Tenant>::namespaced(client.clone(), &ns),
            ChangedKind::Tenants,
        ));
    }
    let events = stream::select_all(watches)
        .map(|change| Ok(Event::default().event("change").data(event_data(&change))));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
