//! A release of a scenario, named once: what people do to it (decide on its approval request)
//! and what the scenario reads and waits for on it, so that a test reads as the steps it
//! scripts rather than as the kubectl arguments that address the release.

use std::process::Output;

use crate::Platform;

/// The release `name` in the project namespace `namespace` of a platform.
#[derive(Clone, Copy)]
pub struct Release<'a> {
    platform: &'a Platform,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl Platform {
    /// The release `name` in `namespace`, to act on and wait for.
    pub fn release<'a>(&'a self, namespace: &'a str, name: &'a str) -> Release<'a> {
        Release {
            platform: self,
            namespace,
            name,
        }
    }
}

impl Release<'_> {
    /// `kubectl get release -o jsonpath=PATH`, as the admin.
    pub fn get(&self, path: &str) -> String {
        self.platform
            .get(Some(self.namespace), "release", self.name, path)
    }

    pub fn phase(&self) -> String {
        self.get("{.status.phase}")
    }

    /// Waits until the release is in `phase`.
    pub fn wait_phase(&self, phase: &str) {
        self.wait_for("{.status.phase}", phase);
    }

    /// Waits until the release is Failed, which must be for `reason`; returns its message.
    #[track_caller]
    pub fn wait_failed(&self, reason: &str) -> String {
        self.wait_phase("Failed");
        assert_eq!(self.get("{.status.reason}"), reason);
        self.get("{.status.message}")
    }

    /// Waits until `path` of the release reads `want`.
    pub fn wait_for(&self, path: &str, want: &str) {
        self.platform
            .wait_for(Some(self.namespace), "release", self.name, path, want);
    }

    /// Waits until `path` of the release satisfies `done` (`what` names it in a failure);
    /// returns the value.
    pub fn wait_until(&self, path: &str, done: impl Fn(&str) -> bool, what: &str) -> String {
        self.platform
            .wait_until(Some(self.namespace), "release", self.name, path, done, what)
    }

    /// Waits until the release counts `summary` approvals (`1/2`).
    pub fn wait_approvals(&self, summary: &str) {
        self.wait_until("{.status.approvals.summary}", |s| s == summary, summary);
    }

    /// Waits until the release is delivered (see [`Platform::wait_delivered`]); returns the
    /// phase.
    pub fn wait_delivered(&self) -> String {
        self.platform.wait_delivered(self.namespace, self.name)
    }

    /// Merges `patch` into the release's status as the admin, the way only the controller
    /// should write it.
    pub fn patch_status(&self, patch: &str) {
        crate::ok(self.platform.admin().args([
            "-n",
            self.namespace,
            "patch",
            "release",
            self.name,
            "--subresource=status",
            "--type=merge",
            "-p",
            patch,
        ]));
    }

    /// `kubectl get approvalrequest -o jsonpath=PATH` of the release's request, as the admin.
    pub fn approval_request(&self, path: &str) -> String {
        self.platform
            .get(Some(self.namespace), "approvalrequest", self.name, path)
    }

    /// Waits until `path` of the release's approval request reads `want`.
    pub fn wait_approval_request(&self, path: &str, want: &str) {
        self.platform.wait_for(
            Some(self.namespace),
            "approvalrequest",
            self.name,
            path,
            want,
        );
    }

    /// Appends `decision` (`Approve`, `Reject`) with `comment` to the release's approval
    /// request as `user`. RBAC and the webhook may refuse it, which is often what a scenario
    /// asserts, so the outcome is returned rather than checked.
    pub fn decide(&self, user: &str, decision: &str, comment: &str) -> Output {
        let patch = serde_json::json!([{
            "op": "add",
            "path": "/spec/decisions/-",
            "value": {"decision": decision, "comment": comment},
        }]);
        self.platform
            .kubectl(user)
            .args(["-n", self.namespace, "patch", "approvalrequest", self.name])
            .args(["--type=json", "-p", &patch.to_string()])
            .output()
            .expect("kubectl runs")
    }

    /// `user` approves the release with `comment`, which must be admitted.
    #[track_caller]
    pub fn approve(&self, user: &str, comment: &str) {
        let out = self.decide(user, "Approve", comment);
        assert!(
            out.status.success(),
            "{user} could not approve {}/{}: {}",
            self.namespace,
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
