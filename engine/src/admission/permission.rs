//! Project grants per environment: submitting a release, a rollback or an approval, and
//! opening a break-glass session, each need the matching verb of [`crate::rbac::verbs`] on the
//! environment in the project's namespace. RBAC itself cannot see inside the object; this
//! check can, and its denial says which grant is missing, "not permitted" as opposed to the
//! gates (freeze, approval, policy) that say "permitted, but not now".

use super::approval::list_or_none;
use super::{Directory, Permission, Request, Rule, Verdict, teams};
use crate::rbac::{describe_verb, verbs};

/// `Err(denial)` unless the requester holds `verb` on every one of `environments` in
/// `namespace`. `object` names what is refused ("release payment-api-v2").
pub fn require<K>(
    req: &Request<'_, K>,
    directory: &dyn Directory,
    namespace: &str,
    verb: &str,
    environments: &[String],
    object: &str,
) -> Result<(), Verdict> {
    for environment in environments {
        let problem = match directory.permits(req.user, namespace, verb, environment) {
            Permission::Allowed => continue,
            Permission::Denied => format!(
                "{} (groups: {}) may not {} {environment} in project {namespace}: no team grant of the project gives it; ask a project Admin for the {} role in {environment}",
                req.user.username,
                list_or_none(teams(&req.user.groups)),
                describe_verb(verb),
                role_for(verb),
            ),
            Permission::Unknown(reason) => format!(
                "cannot check whether {} may {} {environment} ({reason}); retry in a moment",
                req.user.username,
                describe_verb(verb),
            ),
        };
        return Err(Verdict::deny(
            Rule::NotPermitted,
            format!("{object} denied: {problem}"),
        ));
    }
    Ok(())
}

fn role_for(verb: &str) -> &'static str {
    match verb {
        verbs::RELEASE | verbs::CANCEL => "ReleaseManager",
        verbs::ROLLBACK => "ReleaseManager or Approver",
        verbs::APPROVE | verbs::BREAK_GLASS => "Approver",
        _ => "Admin",
    }
}
