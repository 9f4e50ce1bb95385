//! Kubernetes label selectors (`matchLabels` + `matchExpressions`), as `kubectl get -l` applies
//! them: releases and promotion batches pick tenants by their labels (`tier=canary`).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error(
        "label selector requirement on {key:?} uses operator {operator:?}: use In, NotIn, Exists or DoesNotExist"
    )]
    UnknownOperator { key: String, operator: String },
    #[error("label selector requirement {key:?} {operator} needs at least one value in `values`")]
    MissingValues { key: String, operator: String },
    #[error("label selector requirement {key:?} {operator} must not list `values`: remove them")]
    UnexpectedValues { key: String, operator: String },
    #[error(
        "label selector term {term:?} is not key=value: write terms such as tier=canary,region=eu"
    )]
    Malformed { term: String },
}

/// The selector `tier=canary,region=eu` stands for (`matchLabels`, as `kubectl get -l` reads
/// equalities); empty text selects nothing in particular (`None`).
pub fn parse_equalities(text: &str) -> Result<Option<LabelSelector>, SelectorError> {
    let mut labels = BTreeMap::new();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = term
            .split_once("==")
            .or_else(|| term.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.contains('=') && !k.contains('!'))
            .ok_or_else(|| SelectorError::Malformed {
                term: term.to_string(),
            })?;
        labels.insert(key.to_string(), value.to_string());
    }
    Ok((!labels.is_empty()).then(|| LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    }))
}

/// Whether `labels` satisfy every term of `selector`. An empty selector selects everything,
/// as in Kubernetes.
pub fn matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let mut expressions_match = true;
    for requirement in selector.match_expressions.iter().flatten() {
        // Validate every requirement even after a miss, so a typo is reported, not hidden.
        expressions_match &= requirement_matches(requirement, labels)?;
    }
    Ok(labels_match && expressions_match)
}

fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    let key = &requirement.key;
    let operator = requirement.operator.as_str();
    let values = requirement.values.as_deref().unwrap_or_default();
    let needs_values = |present: bool| -> Result<(), SelectorError> {
        match (present, values.is_empty()) {
            (true, true) => Err(SelectorError::MissingValues {
                key: key.clone(),
                operator: operator.to_string(),
            }),
            (false, false) => Err(SelectorError::UnexpectedValues {
                key: key.clone(),
                operator: operator.to_string(),
            }),
            _ => Ok(()),
        }
    };
    let current = labels.get(key);
    match operator {
        "In" => {
            needs_values(true)?;
            Ok(current.is_some_and(|v| values.contains(v)))
        }
        "NotIn" => {
            needs_values(true)?;
            Ok(current.is_none_or(|v| !values.contains(v)))
        }
        "Exists" => {
            needs_values(false)?;
            Ok(current.is_some())
        }
        "DoesNotExist" => {
            needs_values(false)?;
            Ok(current.is_none())
        }
        other => Err(SelectorError::UnknownOperator {
            key: key.clone(),
            operator: other.to_string(),
        }),
    }
}

/// Renders a selector the way `kubectl get -l` spells it, for messages and status.
pub fn describe(selector: &LabelSelector) -> String {
    let mut terms: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for requirement in selector.match_expressions.iter().flatten() {
        let values = requirement.values.as_deref().unwrap_or_default().join(",");
        terms.push(match requirement.operator.as_str() {
            "In" => format!("{} in ({values})", requirement.key),
            "NotIn" => format!("{} notin ({values})", requirement.key),
            "Exists" => requirement.key.clone(),
            "DoesNotExist" => format!("!{}", requirement.key),
            other => format!("{} {other} ({values})", requirement.key),
        });
    }
    if terms.is_empty() {
        "<all>".to_string()
    } else {
        terms.join(",")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn equalities_read_as_kubectl_reads_them() {
        let selector = super::parse_equalities(" tier=canary, region==eu ")
            .unwrap()
            .unwrap();
        assert_eq!(
            selector
                .match_labels
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [
                ("region".to_string(), "eu".to_string()),
                ("tier".to_string(), "canary".to_string())
            ]
        );
        assert_eq!(super::parse_equalities("  ").unwrap(), None);
        for bad in ["tier", "tier!=canary", "=eu", "a=b=c"] {
            assert!(
                super::parse_equalities(bad)
                    .unwrap_err()
                    .to_string()
                    .contains("is not key=value"),
                "{bad}"
            );
        }
    }

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        expressions: Vec<LabelSelectorRequirement>,
    ) -> LabelSelector {
        LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!expressions.is_empty()).then_some(expressions),
        }
    }

    #[test]
    fn empty_selector_selects_everything() {
        assert!(matches(&LabelSelector::default(), &labels(&[])).unwrap());
        assert_eq!(describe(&LabelSelector::default()), "<all>");
    }

    #[test]
    fn match_labels_need_every_pair() {
        let s = selector(&[("tier", "canary"), ("region", "eu")], vec![]);
        assert!(
            matches(
                &s,
                &labels(&[("tier", "canary"), ("region", "eu"), ("x", "y")])
            )
            .unwrap()
        );
        assert!(!matches(&s, &labels(&[("tier", "canary")])).unwrap());
        assert!(!matches(&s, &labels(&[("tier", "stable"), ("region", "eu")])).unwrap());
    }

    #[test]
    fn set_based_operators() {
        let tenant = labels(&[("tier", "canary")]);
        let check = |op: &str, key: &str, values: &[&str]| {
            matches(&selector(&[], vec![requirement(key, op, values)]), &tenant).unwrap()
        };
        assert!(check("In", "tier", &["canary", "beta"]));
        assert!(!check("In", "tier", &["stable"]));
        assert!(!check("In", "missing", &["canary"]));
        assert!(check("NotIn", "tier", &["stable"]));
        assert!(!check("NotIn", "tier", &["canary"]));
        assert!(check("NotIn", "missing", &["canary"]));
        assert!(check("Exists", "tier", &[]));
        assert!(!check("Exists", "missing", &[]));
        assert!(check("DoesNotExist", "missing", &[]));
        assert!(!check("DoesNotExist", "tier", &[]));
    }

    #[test]
    fn malformed_requirements_are_errors_naming_the_key() {
        let tenant = labels(&[]);
        let err = matches(
            &selector(&[], vec![requirement("tier", "Like", &["x"])]),
            &tenant,
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"tier\""), "{err}");
        assert!(matches!(
            matches(
                &selector(&[], vec![requirement("tier", "In", &[])]),
                &tenant
            ),
            Err(SelectorError::MissingValues { .. })
        ));
        assert!(matches!(
            matches(
                &selector(&[], vec![requirement("tier", "Exists", &["x"])]),
                &tenant
            ),
            Err(SelectorError::UnexpectedValues { .. })
        ));
        // A malformed term is reported even when an earlier term already failed.
        let s = selector(
            &[("tier", "no")],
            vec![requirement("tier", "Bogus", &["x"])],
        );
        assert!(matches(&s, &labels(&[("tier", "yes")])).is_err());
    }

    #[test]
    fn describe_uses_kubectl_spelling() {
        let s = selector(
            &[("tier", "canary")],
            vec![
                requirement("region", "In", &["eu", "us"]),
                requirement("paused", "DoesNotExist", &[]),
            ],
        );
        assert_eq!(describe(&s), "tier=canary,region in (eu,us),!paused");
    }
}
