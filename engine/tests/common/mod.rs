//! Shared fixtures: the microservice-base chart and the payment-api inputs of
//! examples/bootstrap.
#![allow(dead_code)]

use std::collections::BTreeMap;

use gitopshq_engine::{
    ChartSource, ReleaseInfo, RenderInput, TenantInfo, ValueLayer, VariableScopes, WorkloadInfo,
};
use serde_json::{Value, json};

pub fn microservice_base() -> ChartSource {
    let spec: Value =
        yaml_serde::from_str(include_str!("../fixtures/microservice-base.yaml")).unwrap();
    let templates = spec["templates"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    ChartSource {
        name: spec["chart"].as_str().unwrap().to_owned(),
        version: spec["version"].as_str().unwrap().to_owned(),
        templates,
        values: spec["values"].clone(),
        values_schema: Some(spec["valuesSchema"].clone()),
    }
}

/// payment-api in production for tenant eu-production, as the bootstrap example declares it.
pub fn payment_api_production() -> RenderInput {
    RenderInput {
        release: ReleaseInfo {
            name: "payment-api-v2".into(),
            title: "Bump payment-api".into(),
            release_type: "Deploy".into(),
        },
        project: "payment-service".into(),
        environment: "production".into(),
        tenant: TenantInfo {
            name: "eu-production".into(),
            namespace: "payments".into(),
            cluster: "eu-west-1".into(),
            labels: BTreeMap::from([
                ("region".into(), "eu".into()),
                ("tier".into(), "standard".into()),
            ]),
        },
        workload: WorkloadInfo {
            name: "payment-api".into(),
            namespace: "payments".into(),
        },
        layers: vec![
            ValueLayer::new(
                "Workload payment-api spec.values",
                json!({
                    "image": {"repository": "registry.example.com/payment-api", "tag": "v1.0.0"},
                    "env": {
                        "DATABASE_HOST": "{{hq.var.DATABASE_HOST}}",
                        "DATABASE_PORT": "{{hq.var.DATABASE_PORT}}",
                        "DATABASE_URL": "postgres://{{hq.var.DATABASE_HOST}}:{{hq.var.DATABASE_PORT}}/payments",
                        "LOG_LEVEL": "{{hq.var.LOG_LEVEL}}"
                    },
                    "database": {"maxConnections": "{{hq.var.DATABASE_MAX_CONNECTIONS}}"},
                    "ingress": {"enabled": true, "host": "{{hq.var.PUBLIC_HOST}}"}
                }),
            ),
            ValueLayer::new(
                "Workload payment-api spec.environments.production.values",
                json!({
                    "resources": {
                        "requests": {"cpu": "250m", "memory": "256Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"}
                    },
                    "autoscaling": {"minReplicas": 3, "maxReplicas": 12}
                }),
            ),
            ValueLayer::new("Tenant eu-production spec.values", Value::Null),
            ValueLayer::new(
                "Tenant eu-production spec.workloads.payment-api.values",
                json!({"env": {"REGION": "eu-west-1"}}),
            ),
        ],
        variables: VariableScopes {
            project: BTreeMap::from([
                ("DATABASE_PORT".into(), json!(5432)),
                ("LOG_LEVEL".into(), json!("info")),
                ("DATABASE_MAX_CONNECTIONS".into(), json!(20)),
            ]),
            environment: BTreeMap::from([
                ("DATABASE_HOST".into(), json!("payments-db.prod.internal")),
                ("DATABASE_MAX_CONNECTIONS".into(), json!(100)),
                ("PUBLIC_HOST".into(), json!("payments.example.com")),
            ]),
            tenant: BTreeMap::new(),
            secret_backed: Default::default(),
        }
        .into(),
    }
}
