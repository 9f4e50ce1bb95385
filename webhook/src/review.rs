//! One AdmissionReview in, one out: decode, call the engine rule for the kind, encode.
//! Nothing here decides; the decisions are `gitopshq_engine::admission` functions.

use std::time::Instant;

use gitopshq_crds::approval_request::ApprovalRequest;
use gitopshq_crds::break_glass_session::BreakGlassSession;
use gitopshq_crds::chart_version::ChartVersion;
use gitopshq_crds::environment::Environment;
use gitopshq_crds::policy::Policy;
use gitopshq_crds::promotion::Promotion;
use gitopshq_crds::release::Release;
use gitopshq_crds::tenant::Tenant;
use gitopshq_crds::variables::Variables;
use gitopshq_crds::workload::Workload;
use gitopshq_engine::admission::{self, Mutation, Operation, Request, Requester, Rule, Verdict};
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde::de::DeserializeOwned;

use crate::Context;
use crate::error::ReviewError;

/// Which of the two endpoints a review came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Validate,
    Mutate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Validate => "validate",
            Endpoint::Mutate => "mutate",
        }
    }
}

/// What the server needs besides the response body: labels for metrics and logs.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: String,
    pub operation: &'static str,
    pub verdict: &'static str,
    pub review: AdmissionReview<DynamicObject>,
}

/// Decodes an AdmissionReview body and answers it. A body that is not an AdmissionReview is a
/// [`ReviewError`] (the server answers 400); everything else gets a response.
pub fn review(body: &[u8], endpoint: Endpoint, ctx: &Context) -> Result<Outcome, ReviewError> {
    let started = Instant::now();
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(ReviewError::Decode)?;
    check_envelope(&review)?;
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| ReviewError::MissingRequest)?;
    check_objects(&request)?;
    let kind = request.kind.kind.clone();
    let operation = operation(&request);
    let verdict = decide(&request, endpoint, ctx);
    let label = verdict.label();
    let response = respond(&request, verdict)?;
    let outcome = Outcome {
        kind,
        operation: operation.as_str(),
        verdict: label,
        review: response.into_review(),
    };
    ctx.metrics.observe(
        endpoint,
        &outcome.kind,
        outcome.operation,
        label,
        started.elapsed(),
    );
    Ok(outcome)
}

/// Only what the API server sends is answered: an `admission.k8s.io/v1` `AdmissionReview`.
fn check_envelope(review: &AdmissionReview<DynamicObject>) -> Result<(), ReviewError> {
    let types = &review.types;
    if types.api_version != "admission.k8s.io/v1" || types.kind != "AdmissionReview" {
        return Err(ReviewError::Envelope(format!(
            "apiVersion {:?} kind {:?}; the API server sends apiVersion admission.k8s.io/v1 kind AdmissionReview (admissionReviewVersions: [v1])",
            types.api_version, types.kind
        )));
    }
    Ok(())
}

/// A CREATE or UPDATE carries the object, an UPDATE or DELETE the object before it: a request
/// without them cannot be judged, so it is not answered as if it could.
fn check_objects(request: &AdmissionRequest<DynamicObject>) -> Result<(), ReviewError> {
    use kube::core::admission::Operation as Op;
    let missing = match request.operation {
        Op::Create if request.object.is_none() => Some("object"),
        Op::Update if request.object.is_none() => Some("object"),
        Op::Update | Op::Delete if request.old_object.is_none() => Some("oldObject"),
        _ => None,
    };
    match missing {
        Some(field) => Err(ReviewError::Envelope(format!(
            "a {:?} request for {} {} has no request.{field}",
            request.operation, request.kind.kind, request.name
        ))),
        None => Ok(()),
    }
}

fn operation(request: &AdmissionRequest<DynamicObject>) -> Operation {
    use kube::core::admission::Operation as Op;
    match request.operation {
        Op::Create => Operation::Create,
        Op::Update => Operation::Update,
        Op::Delete => Operation::Delete,
        Op::Connect => Operation::Connect,
    }
}

fn decide(request: &AdmissionRequest<DynamicObject>, endpoint: Endpoint, ctx: &Context) -> Verdict {
    if request.kind.group != gitopshq_crds::consts::GROUP {
        return Verdict::allow();
    }
    let user = Requester {
        username: request.user_info.username.clone().unwrap_or_default(),
        groups: request.user_info.groups.clone().unwrap_or_default(),
    };
    let now = (ctx.clock)();
    let directory = ctx.directory.as_ref();
    let settings = &ctx.settings;
    macro_rules! typed {
        ($kind:ty, |$req:ident| $body:expr) => {
            match typed_request::<$kind>(request, &user, now) {
                Ok((object, old)) => {
                    let $req = Request {
                        operation: operation(request),
                        user: &user,
                        object: object.as_ref(),
                        old: old.as_ref(),
                        now,
                    };
                    $body
                }
                Err(verdict) => verdict,
            }
        };
    }
    match (request.kind.kind.as_str(), endpoint) {
        ("Release", Endpoint::Mutate) => {
            typed!(Release, |req| admission::mutate_release(
                &req,
                directory,
                &ctx.policies,
                settings
            ))
        }
        ("Release", Endpoint::Validate) => typed!(Release, |req| {
            admission::validate_release(&req, directory, &ctx.policies, settings)
        }),
        ("ApprovalRequest", Endpoint::Mutate) => {
            typed!(ApprovalRequest, |req| admission::mutate_approval_request(
                &req
            ))
        }
        ("ApprovalRequest", Endpoint::Validate) => typed!(ApprovalRequest, |req| {
            admission::validate_approval_request(&req, directory, settings)
        }),
        ("BreakGlassSession", Endpoint::Mutate) => {
            typed!(BreakGlassSession, |req| {
                admission::mutate_break_glass_session(&req)
            })
        }
        ("BreakGlassSession", Endpoint::Validate) => {
            typed!(BreakGlassSession, |req| {
                admission::admit_break_glass_session(&req, directory, settings)
            })
        }
        ("Promotion", Endpoint::Mutate) => {
            typed!(Promotion, |req| admission::mutate_promotion(&req))
        }
        ("Promotion", Endpoint::Validate) => {
            typed!(Promotion, |req| admission::validate_promotion(
                &req, directory
            ))
        }
        ("Tenant", Endpoint::Validate) => {
            typed!(Tenant, |req| admission::validate_tenant(&req, directory))
        }
        ("Variables", Endpoint::Mutate) => {
            typed!(Variables, |req| admission::mutate_variables(
                &req, directory
            ))
        }
        ("Variables", Endpoint::Validate) => {
            typed!(Variables, |req| admission::validate_variables(
                &req, directory
            ))
        }
        ("ChartVersion", Endpoint::Validate) => {
            typed!(ChartVersion, |req| admission::validate_chart_version(&req))
        }
        ("Workload", Endpoint::Validate) => {
            typed!(Workload, |req| admission::validate_workload(
                &req, directory
            ))
        }
        ("Environment", Endpoint::Validate) => {
            typed!(Environment, |req| admission::validate_environment(&req))
        }
        ("Policy", Endpoint::Validate) => {
            typed!(Policy, |req| admission::validate_policy(
                &req,
                &ctx.policies
            ))
        }
        _ => Verdict::allow(),
    }
}

/// The typed object and old object of a request. An object our types cannot read is denied
/// with the reason instead of being let through unchecked.
fn typed_request<K: kube::Resource + DeserializeOwned>(
    request: &AdmissionRequest<DynamicObject>,
    _user: &Requester,
    _now: jiff::Timestamp,
) -> Result<(Option<K>, Option<K>), Verdict> {
    let parse = |object: &Option<DynamicObject>, which: &str| -> Result<Option<K>, Verdict> {
        match object {
            None => Ok(None),
            Some(object) => object.clone().try_parse::<K>().map(Some).map_err(|error| {
                Verdict::deny(
                    Rule::Invalid,
                    format!(
                        "{} {} denied: the {which} cannot be read as a {} ({error}); check the fields against kubectl explain {}",
                        request.kind.kind.to_lowercase(),
                        request.name,
                        request.kind.kind,
                        request.kind.kind.to_lowercase()
                    ),
                )
            }),
        }
    };
    Ok((
        parse(&request.object, "object")?,
        parse(&request.old_object, "old object")?,
    ))
}

fn respond(
    request: &AdmissionRequest<DynamicObject>,
    verdict: Verdict,
) -> Result<AdmissionResponse, ReviewError> {
    let mut response = AdmissionResponse::from(request);
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings.clone());
    }
    response.audit_annotations = verdict
        .audit
        .iter()
        .map(|(k, v)| (audit_key(k), v.clone()))
        .collect();
    if let Some(denial) = verdict.denial {
        let mut response = response.deny(&denial.message);
        response.result.code = denial.rule.status_code();
        response.result.reason = status_reason(denial.rule.status_code()).to_string();
        return Ok(response);
    }
    if verdict.mutations.is_empty() {
        return Ok(response);
    }
    let patch = Patch(verdict.mutations.into_iter().map(patch_operation).collect());
    response.with_patch(patch).map_err(ReviewError::Patch)
}

/// Audit annotation keys are prefixed by the API server with the webhook's name; they must be
/// a qualified name without a slash.
fn audit_key(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_string()
}

fn status_reason(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        409 => "Conflict",
        422 => "Invalid",
        _ => "BadRequest",
    }
}

fn patch_operation(mutation: Mutation) -> PatchOperation {
    let path = json_patch::jsonptr::PointerBuf::parse(&mutation.path).unwrap_or_default();
    if mutation.value.is_null() {
        PatchOperation::Remove(RemoveOperation { path })
    } else {
        PatchOperation::Add(AddOperation {
            path,
            value: mutation.value,
        })
    }
}
