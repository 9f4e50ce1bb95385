use serde_json::json;

use super::*;

fn deployment(replicas: i64, available: i64, generation: i64, observed: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": generation},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                "spec": {"containers": [{"name": "app", "image": "checkout:2", "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}}]}}},
        "status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": available, "availableReplicas": available}
    })
}

fn pod(name: &str, waiting: Option<&str>) -> Value {
    let state = match waiting {
        Some(reason) => json!({"waiting": {"reason": reason}}),
        None => json!({"running": {}}),
    };
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "labels": {"app": "checkout"}},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "state": state}]}})
}

fn delivered() -> Value {
    let mut d = deployment(5, 0, 1, 0);
    d.as_object_mut().unwrap().remove("status");
    d["metadata"].as_object_mut().unwrap().remove("generation");
    d
}

fn live_of(objects: &[Value]) -> BTreeMap<ObjectKey, Value> {
    objects
        .iter()
        .map(|o| (ObjectKey::of(o).unwrap(), o.clone()))
        .collect()
}

#[test]
fn a_rolled_out_deployment_is_healthy() {
    let (health, message) = object_health(&deployment(5, 5, 3, 3)).unwrap();
    assert_eq!(health, Health::Healthy);
    assert_eq!(
        message,
        "Deployment shop/checkout: 5 of 5 replicas available"
    );
    let (health, message) = object_health(&deployment(5, 3, 3, 3)).unwrap();
    assert_eq!(health, Health::Progressing, "{message}");
    let (health, _) = object_health(&deployment(5, 5, 4, 3)).unwrap();
    assert_eq!(health, Health::Progressing);
    let mut stuck = deployment(5, 2, 3, 3);
    stuck["status"]["conditions"] =
        json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
    assert_eq!(object_health(&stuck).unwrap().0, Health::Degraded);
    assert_eq!(
        object_health(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}})),
        None
    );
}

#[test]
fn crash_looping_pods_degrade_the_tenant_and_are_counted() {
    let live = live_of(&[deployment(5, 3, 1, 1)]);
    let pods = [
        pod("a", Some("CrashLoopBackOff")),
        pod("b", Some("CrashLoopBackOff")),
        pod("c", None),
        pod("d", None),
        pod("e", None),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "other", "labels": {"app": "else"}},
            "status": {"containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
    ];
    let report = tenant_health(&[delivered()], &live, &pods);
    assert_eq!(report.health, Health::Degraded);
    assert_eq!(
        report.message,
        "Deployment shop/checkout: 2 of 5 pods CrashLoopBackOff"
    );
}

#[test]
fn missing_objects_and_healthy_tenants() {
    let report = tenant_health(&[delivered()], &BTreeMap::new(), &[]);
    assert_eq!(report.health, Health::Missing);
    assert_eq!(
        report.message,
        "Deployment shop/checkout is not on the cluster yet"
    );
    let report = tenant_health(
        &[delivered()],
        &live_of(&[deployment(5, 5, 2, 2)]),
        &[pod("a", None)],
    );
    assert_eq!(report.health, Health::Healthy, "{}", report.message);
    assert!(report.drift.is_empty(), "{:?}", report.drift);
}

#[test]
fn drift_looks_only_at_delivered_fields_and_compares_quantities_by_value() {
    let want = delivered();
    let mut live = deployment(5, 5, 2, 2);
    // Server defaults and normalised quantities are not drift.
    live["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] =
        json!({"cpu": "1", "memory": "1024Mi"});
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("IfNotPresent");
    live["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
    assert!(drift(&want, &live).is_empty(), "{:?}", drift(&want, &live));

    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("checkout:1");
    live["spec"]["replicas"] = json!(2);
    let found: Vec<String> = drift(&want, &live)
        .iter()
        .map(FieldDrift::describe)
        .collect();
    assert_eq!(
        found,
        [
            "spec.replicas: want 5, found 2",
            "spec.template.spec.containers[app].image: want \"checkout:2\", found \"checkout:1\"",
        ]
    );
    live["spec"]["template"]["spec"]["containers"] = json!([{"name": "other", "image": "x"}]);
    let found: Vec<String> = drift(&want, &live)
        .iter()
        .map(FieldDrift::describe)
        .collect();
    assert_eq!(
        found[1],
        "spec.template.spec.containers[app]: want {\"name\":\"app\",\"image\":\"checkout:2\",\"resources\":{\"limits\":{\"cpu\":\"1000m\",\"memory\":\"1Gi\"}}}, missing"
    );
}

#[test]
fn quantities() {
    assert_eq!(quantity("500m"), Some(0.5));
    assert_eq!(quantity("1Gi"), Some(1_073_741_824.0));
    assert_eq!(quantity("2"), Some(2.0));
    assert_eq!(quantity("checkout:2"), None);
    assert_eq!(quantity("Mi"), None);
    assert!(!scalar_equal(&json!("100Mi"), &json!("100M")));
}

#[test]
fn selectors_with_expressions() {
    let p = pod("a", None);
    assert!(selects(&json!({"matchLabels": {"app": "checkout"}}), &p));
    assert!(!selects(&json!({"matchLabels": {"app": "web"}}), &p));
    assert!(selects(
        &json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["checkout", "web"]}]}),
        &p
    ));
    assert!(!selects(
        &json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
        &p
    ));
    assert!(
        selects(&json!({}), &p),
        "an empty selector selects everything, as in Kubernetes"
    );
    assert!(!selects(
        &json!({"matchExpressions": [{"key": "app", "operator": "Bogus"}]}),
        &p
    ));
}

#[test]
fn the_release_takes_its_worst_tenant() {
    let tenants = vec![
        ("alpha".to_string(), Health::Healthy, "ok".to_string()),
        (
            "beta".to_string(),
            Health::Degraded,
            "2 of 5 pods CrashLoopBackOff".to_string(),
        ),
    ];
    let (health, message) = overall(&tenants);
    assert_eq!(health, Health::Degraded);
    assert_eq!(
        message,
        "1 of 2 tenants healthy; beta: 2 of 5 pods CrashLoopBackOff"
    );
    assert_eq!(overall(&tenants[..1]).0, Health::Healthy);
}

#[test]
fn a_fleet_release_names_five_of_its_worst_tenants_and_counts_the_rest() {
    let tenants: Vec<_> = (0..1000)
        .map(|i| {
            let health = if i < 40 {
                Health::Healthy
            } else {
                Health::Progressing
            };
            (format!("t-{i:04}"), health, format!("waiting for t-{i:04}"))
        })
        .collect();
    let (health, message) = overall(&tenants);
    assert_eq!(health, Health::Progressing);
    assert_eq!(
        message,
        "40 of 1000 tenants healthy; t-0040: waiting for t-0040; t-0041: waiting for t-0041; \
         t-0042: waiting for t-0042; t-0043: waiting for t-0043; t-0044: waiting for t-0044; \
         and 955 more tenants Progressing (each one's message is in status.tenants)"
    );
    let six = &tenants[34..40 + 6];
    assert!(
        overall(six)
            .1
            .ends_with("and 1 more tenants Progressing (each one's message is in status.tenants)")
    );
}

#[test]
fn pods_of_an_older_revision_or_on_their_way_out_do_not_count() {
    let live = live_of(&[deployment(2, 1, 2, 2)]);
    let with_image = |name: &str, image: &str, waiting: Option<&str>| {
        let mut p = pod(name, waiting);
        p["spec"] = json!({"containers": [{"name": "app", "image": image}]});
        p
    };
    let mut leaving = with_image("gone", "checkout:2", Some("CrashLoopBackOff"));
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-06T10:00:00Z");
    // A rollback to checkout:2 while the bad checkout:3 pods still crash.
    let pods = [
        with_image("old-1", "checkout:3", Some("CrashLoopBackOff")),
        with_image("old-2", "checkout:3", Some("CrashLoopBackOff")),
        leaving,
        with_image("new-1", "checkout:2", None),
    ];
    let report = tenant_health(&[delivered()], &live, &pods);
    assert_eq!(report.health, Health::Progressing, "{}", report.message);
    // Its own pods crashing still degrade it.
    let pods = [with_image("new-2", "checkout:2", Some("ImagePullBackOff"))];
    let report = tenant_health(&[delivered()], &live, &pods);
    assert_eq!(report.health, Health::Degraded);
    assert_eq!(
        report.message,
        "Deployment shop/checkout: 1 of 1 pods ImagePullBackOff"
    );
}

#[test]
fn a_slimmed_pod_reads_as_the_full_one() {
    let live = live_of(&[deployment(3, 2, 1, 1)]);
    let full = |name: &str, image: &str, waiting: Option<&str>| {
        let mut p = pod(name, waiting);
        p["spec"] = json!({
            "containers": [{"name": "app", "image": image,
                "env": [{"name": "MODE", "value": "live"}],
                "resources": {"limits": {"cpu": "1"}},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}],
            "volumes": [{"name": "token", "projected": {"sources": []}}],
            "nodeName": "node-1",
        });
        p["status"]["podIP"] = json!("10.0.0.7");
        p["status"]["containerStatuses"][0]["image"] = json!(image);
        p["status"]["containerStatuses"][0]["restartCount"] = json!(4);
        p
    };
    let mut leaving = full("gone", "checkout:2", Some("CrashLoopBackOff"));
    leaving["metadata"]["deletionTimestamp"] = json!("2026-12-06T10:00:00Z");
    let pods = vec![
        full("a", "checkout:2", Some("CrashLoopBackOff")),
        full("b", "checkout:2", None),
        full("old", "checkout:1", Some("ImagePullBackOff")),
        leaving,
    ];
    let slimmed: Vec<Value> = pods
        .iter()
        .cloned()
        .map(|mut p| {
            slim_pod(&mut p);
            p
        })
        .collect();
    assert_eq!(
        slimmed[0]["spec"],
        json!({"containers": [{"name": "app", "image": "checkout:2"}]})
    );
    assert_eq!(slimmed[0]["status"].get("podIP"), None);
    assert_eq!(
        slimmed[0]["status"]["containerStatuses"],
        json!([{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    );
    let report = tenant_health(&[delivered()], &live, &pods);
    assert_eq!(report.health, Health::Degraded, "{}", report.message);
    assert_eq!(tenant_health(&[delivered()], &live, &slimmed), report);
}
