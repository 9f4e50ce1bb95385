//! Every well-known string of the API in one place: group and version, the field manager, label
//! and annotation keys, condition types and reasons, Git commit trailers and the names of the
//! objects kept for the GitOps engines.
//! Controllers, the webhook and the CLI use these constants instead of string literals.

/// API group of every GitOpsHQ kind.
pub const GROUP: &str = "gitopshq.io";
/// API version served and stored.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` value of every GitOpsHQ object.
pub const API_VERSION: &str = "gitopshq.io/v1alpha1";
/// Category shared by every CRD: `kubectl get gitopshq` lists all GitOpsHQ objects.
pub const CATEGORY: &str = "gitopshq";
/// The one server-side apply field manager for everything the operator writes.
pub const FIELD_MANAGER: &str = "gitopshq";

/// Label keys set on objects the operator creates (namespaces, RBAC, rendered manifests,
/// ApprovalRequests) so that they can be found and pruned by selector.
pub mod labels {
    /// Name of the Project an object belongs to.
    pub const PROJECT: &str = "gitopshq.io/project";
    /// Name of the Release that produced an object.
    pub const RELEASE: &str = "gitopshq.io/release";
    /// Name of the Tenant an object was rendered for.
    pub const TENANT: &str = "gitopshq.io/tenant";
    /// Name of the Workload an object was rendered from.
    pub const WORKLOAD: &str = "gitopshq.io/workload";
    /// Name of the Environment an object targets.
    pub const ENVIRONMENT: &str = "gitopshq.io/environment";
    /// Name of the Promotion that created a batch Release.
    pub const PROMOTION: &str = "gitopshq.io/promotion";
    /// Name of the Cluster an object belongs to or was delivered to.
    pub const CLUSTER: &str = "gitopshq.io/cluster";
    /// Marks objects created and owned by the operator; value [`MANAGED_BY_VALUE`].
    pub const MANAGED_BY: &str = "gitopshq.io/managed-by";
    /// Value of [`MANAGED_BY`].
    pub const MANAGED_BY_VALUE: &str = "gitopshq";
    /// `"true"` on a Release an image update policy created.
    pub const IMAGE_UPDATE: &str = "gitopshq.io/image-update";
    /// The standard Kubernetes `app.kubernetes.io/managed-by` label.
    pub const K8S_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
}

/// Annotation keys.
pub mod annotations {
    /// Set on a Release to ask the controller to retry a Failed or Blocked release; the value is
    /// free text (a timestamp is customary) so that every change triggers one retry.
    pub const RETRY: &str = "gitopshq.io/retry";
    /// On a Release whose submission an Enforce policy refused, stamped by the webhook (which
    /// keeps it a Draft): `<user> at <time>: <the denial>`. Users cannot set or change it.
    pub const SUBMISSION_REFUSED: &str = "gitopshq.io/submission-refused";
    /// `"true"` on a Release makes it wait for approval even when no ApprovalPolicy binds its
    /// type (a Promotion batch with `requireApproval`): the strictest policy bound to its
    /// environment for any type governs. Opt-in only: nothing on a Release can skip a policy.
    pub const REQUIRE_APPROVAL: &str = "gitopshq.io/require-approval";
    /// On a Release an image update created: the image tag it delivers.
    pub const IMAGE_TAG: &str = "gitopshq.io/image-tag";
    /// On a Release an image update created: the pushed image's digest.
    pub const IMAGE_DIGEST: &str = "gitopshq.io/image-digest";
    /// On a Release an image update created: the CI build that produced the image.
    pub const BUILD_URL: &str = "gitopshq.io/build-url";
    /// On a Release an image update created: the source commit of the image.
    pub const SOURCE_COMMIT: &str = "gitopshq.io/source-commit";
    /// On a tenant's GitOps object (Argo CD Application, Flux Kustomization): the API server
    /// URL of its cluster, for people; never used to address the cluster.
    pub const CLUSTER_SERVER: &str = "gitopshq.io/cluster-server";
    /// On a Cluster's kubeconfig Secret written by `gitopshq cluster register`: the
    /// `<namespace>/<name>` of the ServiceAccount it acts as in the workload cluster.
    pub const SERVICE_ACCOUNT: &str = "gitopshq.io/service-account";
    /// On the same Secret: the `<namespace>/<name>` of the token Secret whose token it holds.
    pub const TOKEN_SECRET: &str = "gitopshq.io/token-secret";
    /// On the same Secret: `observe` or `deliver`, the rights the ServiceAccount holds.
    pub const ACCESS_MODE: &str = "gitopshq.io/access-mode";
    /// On a Cluster: when `register` or `rotate` last wrote its kubeconfig; a new value makes
    /// the controller probe the cluster with it at once.
    pub const CREDENTIALS_UPDATED_AT: &str = "gitopshq.io/credentials-updated-at";
}

/// Keys of the annotations the admission webhook adds to the Kubernetes audit log
/// (`auditAnnotations` of its AdmissionReview response).
pub mod audit_annotations {
    /// On the request that cancelled a release: `<user>: <reason>`.
    pub const CANCELLATION: &str = "gitopshq.io/cancellation";
}

/// Condition types (`status.conditions[].type`).
pub mod conditions {
    /// The object is reconciled and usable.
    pub const READY: &str = "Ready";
    /// The spec is valid and every referenced object exists.
    pub const VALID: &str = "Valid";
    /// A Cluster answers through its kubeconfig.
    pub const CONNECTED: &str = "Connected";
    /// A Project's Git repository is reachable and its skeleton is committed.
    pub const REPOSITORY_READY: &str = "RepositoryReady";
    /// A Project's namespace and RBAC are in place.
    pub const RBAC_READY: &str = "RBACReady";
    /// Project: what its GitOps engine needs in the management cluster is in place (Flux's
    /// GitRepository, root Kustomizations and kubeconfig copies).
    pub const GITOPS_READY: &str = "GitOpsReady";
    /// A Policy's Rego module compiles.
    pub const COMPILED: &str = "Compiled";
    /// A Policy's embedded tests pass.
    pub const TESTS_PASSED: &str = "TestsPassed";
    /// An Environment is inside a freeze window.
    pub const FROZEN: &str = "Frozen";
    /// A Release passed its policies.
    pub const POLICIES_PASSED: &str = "PoliciesPassed";
    /// A Release has the approvals it needs.
    pub const APPROVED: &str = "Approved";
    /// A Release's commit is in the GitOps repository (or applied directly).
    pub const DELIVERED: &str = "Delivered";
    /// Delivered objects report healthy.
    pub const HEALTHY: &str = "Healthy";
    /// Live objects differ from the delivered manifests.
    pub const DRIFTED: &str = "Drifted";
    /// A Release has waited for approval longer than its ApprovalPolicy's `sla`.
    pub const APPROVAL_OVERDUE: &str = "ApprovalOverdue";
    /// A BreakGlassSession is active.
    pub const ACTIVE: &str = "Active";
    /// A Promotion is progressing through its batches.
    pub const PROGRESSING: &str = "Progressing";
    /// A ChartVersion is deprecated, or a Workload uses a deprecated one.
    pub const DEPRECATED: &str = "Deprecated";
}

/// Condition reasons (`status.conditions[].reason`, CamelCase as Kubernetes requires).
pub mod reasons {
    pub const RECONCILED: &str = "Reconciled";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const NOT_FOUND: &str = "NotFound";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const CONNECTED: &str = "Connected";
    pub const UNREACHABLE: &str = "Unreachable";
    /// A Cluster that answered before stopped answering.
    pub const DISCONNECTED: &str = "Disconnected";
    /// A cluster's stored kubeconfig authenticates with an exec credential plugin.
    pub const EXEC_PLUGIN_UNSUPPORTED: &str = "ExecPluginUnsupported";
    pub const REPOSITORY_ERROR: &str = "RepositoryError";
    pub const COMPILE_ERROR: &str = "CompileError";
    pub const COMPILED: &str = "Compiled";
    pub const TESTS_PASSED: &str = "TestsPassed";
    pub const TESTS_FAILED: &str = "TestsFailed";
    pub const FREEZE_ACTIVE: &str = "FreezeActive";
    pub const NO_FREEZE: &str = "NoFreeze";
    pub const DRAFT: &str = "Draft";
    pub const RENDER_FAILED: &str = "RenderFailed";
    pub const UNRESOLVED_VARIABLE: &str = "UnresolvedVariable";
    /// A Secret-backed HQ variable's value would land outside a Secret's data.
    pub const SECRET_VALUE_OUTSIDE_SECRET: &str = "SecretValueOutsideSecret";
    /// Flux delivery of a Secret to a cluster without `spec.secretEncryption`.
    pub const SECRET_ENCRYPTION_MISSING: &str = "SecretEncryptionMissing";
    pub const POLICY_DENIED: &str = "PolicyDenied";
    pub const POLICY_WARNED: &str = "PolicyWarned";
    pub const POLICIES_PASSED: &str = "PoliciesPassed";
    pub const ENVIRONMENT_FROZEN: &str = "EnvironmentFrozen";
    pub const AWAITING_APPROVAL: &str = "AwaitingApproval";
    /// The content to deliver changed after approvals were given: they no longer count.
    pub const APPROVALS_VOIDED: &str = "ApprovalsVoided";
    pub const APPROVED: &str = "Approved";
    pub const REJECTED: &str = "Rejected";
    pub const NO_APPROVAL_NEEDED: &str = "NoApprovalNeeded";
    /// An active break-glass session the release names covers it: its ApprovalPolicy is
    /// skipped, and the session records it.
    pub const APPROVAL_BYPASSED: &str = "ApprovalBypassed";
    pub const COMMITTED: &str = "Committed";
    pub const NOTHING_TO_COMMIT: &str = "NothingToCommit";
    pub const APPLIED: &str = "Applied";
    pub const DELIVERY_FAILED: &str = "DeliveryFailed";
    /// The GitOps engine could not apply the release's commit to a tenant.
    pub const SYNC_FAILED: &str = "SyncFailed";
    /// A tenant was not synced and healthy within the environment's progress deadline.
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
    pub const HEALTHY: &str = "Healthy";
    pub const DEGRADED: &str = "Degraded";
    pub const PROGRESSING: &str = "Progressing";
    pub const SUPERSEDED: &str = "Superseded";
    /// A release was cancelled before delivery (`spec.cancellation`).
    pub const CANCELLED: &str = "Cancelled";
    pub const DRIFT_DETECTED: &str = "DriftDetected";
    pub const IN_SYNC: &str = "InSync";
    /// An Enforce policy refused the submission: the release stays a Draft.
    pub const SUBMISSION_REFUSED: &str = "SubmissionRefused";
    /// Pending approval past the ApprovalPolicy's `sla`: escalated.
    pub const SLA_EXCEEDED: &str = "SlaExceeded";
    pub const SESSION_ACTIVE: &str = "SessionActive";
    pub const SESSION_CLOSED: &str = "SessionClosed";
    pub const SESSION_EXPIRED: &str = "SessionExpired";
    pub const BATCH_PROGRESSING: &str = "BatchProgressing";
    /// A promotion created the release of its next batch.
    pub const BATCH_STARTED: &str = "BatchStarted";
    /// Admission refused the release of a promotion's batch.
    pub const BATCH_REFUSED: &str = "BatchRefused";
    pub const PAUSED: &str = "Paused";
    pub const SUCCEEDED: &str = "Succeeded";
    pub const FAILED: &str = "Failed";
    pub const PUBLISHED: &str = "Published";
    pub const PUBLICATION_FAILED: &str = "PublicationFailed";
    pub const CHART_DEPRECATED: &str = "ChartVersionDeprecated";
    pub const CURRENT: &str = "Current";
    /// A NotificationChannel's last delivery succeeded.
    pub const SENT: &str = "Sent";
    /// A NotificationChannel gave a delivery up after its attempts.
    pub const DEAD_LETTER: &str = "DeadLetter";
    /// A registry push set a Workload's image value.
    pub const IMAGE_UPDATED: &str = "ImageUpdated";
    /// A registry push was not applied to a Workload (older tag, unreadable pattern).
    pub const IMAGE_UPDATE_SKIPPED: &str = "ImageUpdateSkipped";
    /// An image update submitted its release in an `autoRelease` environment.
    pub const AUTO_RELEASE_CREATED: &str = "AutoReleaseCreated";
    /// Admission refused an image update's release (freeze, policy, permission).
    pub const AUTO_RELEASE_REFUSED: &str = "AutoReleaseRefused";
}

/// Git commit trailer names written on every delivery commit.
pub mod trailers {
    pub const RELEASE: &str = "GitOpsHQ-Release";
    pub const ENVIRONMENT: &str = "GitOpsHQ-Environment";
    pub const RENDERED_DIGEST: &str = "GitOpsHQ-Rendered-Digest";
    pub const APPROVED_BY: &str = "GitOpsHQ-Approved-By";
    pub const POLICY: &str = "GitOpsHQ-Policy";
    pub const BREAK_GLASS: &str = "GitOpsHQ-Break-Glass";
    pub const TENANT: &str = "GitOpsHQ-Tenant";
    pub const WORKLOAD: &str = "GitOpsHQ-Workload";
    pub const PREVIOUS_AUDIT: &str = "GitOpsHQ-Previous-Audit";
    /// Deploy, Rollback or Promotion.
    pub const RELEASE_TYPE: &str = "GitOpsHQ-Release-Type";
    /// The user who created the release, as stamped by the admission webhook.
    pub const CREATED_BY: &str = "GitOpsHQ-Created-By";
    /// The user whose request submitted the release, as stamped by the admission webhook.
    pub const SUBMITTED_BY: &str = "GitOpsHQ-Submitted-By";
    /// Everyone who created or changed the release's spec (repeated), as stamped by the
    /// admission webhook.
    pub const AUTHORED_BY: &str = "GitOpsHQ-Authored-By";
    /// For a rollback: `<namespace>/<release>@<commit>` whose content was restored.
    pub const ROLLBACK_TO: &str = "GitOpsHQ-Rollback-To";
}

/// Defaults written into the schema (and used by the serde defaults of the Rust types).
pub mod defaults {
    /// `Project.spec.repository.branch`.
    pub const REPOSITORY_BRANCH: &str = "main";
    /// Prefix of the computed `Project.spec.repository.path` (`projects/<name>`).
    pub const REPOSITORY_PATH_PREFIX: &str = "projects/";
    /// `Cluster.spec.kubeconfigSecretRef.key`.
    pub const KUBECONFIG_KEY: &str = "kubeconfig";
    /// `NotificationChannel.spec.urlSecretRef.key`.
    pub const URL_KEY: &str = "url";
    /// `Workload.spec.imageUpdate.valuePath`.
    pub const IMAGE_VALUE_PATH: &str = "image.tag";
}

/// Names of the objects GitOpsHQ keeps for the GitOps engines.
pub mod names {
    /// Prefix of the copy of a Cluster's kubeconfig in the Flux namespace
    /// (`gitopshq-kubeconfig-<cluster>`), the Secret the tenants' Kustomizations name.
    pub const FLUX_KUBECONFIG_PREFIX: &str = "gitopshq-kubeconfig-";
    /// Prefix of a Flux project's root objects: the GitRepository `gitopshq-<project>` and one
    /// Kustomization per environment `gitopshq-<project>-<environment>`.
    pub const FLUX_ROOT_PREFIX: &str = "gitopshq-";
    /// Prefix of an Argo CD project's root objects: the AppProject `gitopshq-<project>` and
    /// one app-of-apps Application per environment `gitopshq-<project>-<environment>`.
    pub const ARGOCD_ROOT_PREFIX: &str = "gitopshq-";
    /// Prefix of the Argo CD cluster Secret made from a Cluster's kubeconfig
    /// (`gitopshq-cluster-<cluster>`), named in Argo CD by the Cluster's name.
    pub const ARGOCD_CLUSTER_PREFIX: &str = "gitopshq-cluster-";
    /// Prefix of the Secret holding a Cluster's kubeconfig in the management cluster
    /// (`cluster-<cluster>`), as `gitopshq cluster register` writes it.
    pub const KUBECONFIG_SECRET_PREFIX: &str = "cluster-";
    /// The namespace `gitopshq cluster register` creates in a workload cluster for the
    /// ServiceAccounts GitOpsHQ acts as there.
    pub const ACCESS_NAMESPACE: &str = "gitopshq-access";
}

/// Annotation keys of the GitOps engines that GitOpsHQ writes.
pub mod engines {
    /// Flux: a new value asks the controllers to reconcile now rather than at the interval.
    pub const FLUX_REQUESTED_AT: &str = "reconcile.fluxcd.io/requestedAt";
    /// Flux: an object the Kustomization must never delete (the tenants' Namespaces).
    pub const FLUX_PRUNE: &str = "kustomize.toolkit.fluxcd.io/prune";
    /// Argo CD: asks the application controller to compare with the repository now.
    pub const ARGOCD_REFRESH: &str = "argocd.argoproj.io/refresh";
    /// Argo CD: the label that makes a Secret a cluster (or repository) definition.
    pub const ARGOCD_SECRET_TYPE: &str = "argocd.argoproj.io/secret-type";
    /// Argo CD's name for the cluster it runs in.
    pub const ARGOCD_IN_CLUSTER: &str = "https://kubernetes.default.svc";
}
