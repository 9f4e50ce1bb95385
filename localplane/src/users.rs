/// A static-token user of the local control plane: a person of the scenarios, acting through
/// the groups their team maps to (OIDC groups on a real cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub name: &'static str,
    pub groups: &'static [&'static str],
}

/// The cluster administrator; in `system:masters`, so RBAC never stops it.
pub const ADMIN: &str = "admin";

/// The identity the GitOpsHQ controller runs as (its ServiceAccount in a real cluster). The
/// webhook knows it by name: only it creates ApprovalRequests and names the authors of the
/// releases it creates. In `system:masters` so that its RBAC is not the subject here.
pub const CONTROLLER: &str = "gitopshq-controller";

/// The people of the scenarios and their teams. Grants are made to the groups, never to the
/// users, the way teams get access in the product.
pub const USERS: &[User] = &[
    User {
        name: ADMIN,
        groups: &["system:masters"],
    },
    User {
        name: CONTROLLER,
        groups: &["system:masters"],
    },
    User {
        name: "alice",
        groups: &["backend-team"],
    },
    User {
        name: "bob",
        groups: &["sre-team"],
    },
    User {
        name: "carol",
        groups: &["platform-team"],
    },
    User {
        name: "dave",
        groups: &["frontend-team"],
    },
    User {
        name: "erin",
        groups: &["backend-team"],
    },
    User {
        name: "frank",
        groups: &["sre-team"],
    },
];

/// A user as the API server knows it: name, groups and bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub name: String,
    pub groups: Vec<String>,
    pub token: String,
}

impl Account {
    /// One line of the API server's `--token-auth-file`: `token,user,uid,"group1,group2"`.
    pub fn token_file_line(&self) -> String {
        format!(
            "{},{},{},\"{}\"\n",
            self.token,
            self.name,
            self.name,
            self.groups.join(",")
        )
    }
}

/// A token nobody can guess from outside this process; the server only listens on loopback,
/// so the standard library's per-process random hash keys are enough.
pub(crate) fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher as _};
    let mut token = String::new();
    for _ in 0..2 {
        let hash = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        token.push_str(&format!("{hash:016x}"));
    }
    token
}
