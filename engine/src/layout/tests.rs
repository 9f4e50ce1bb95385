use super::*;

fn file(name: &str, body: &str) -> RenderedFile {
    RenderedFile {
        file_name: name.into(),
        yaml: body.as_bytes().to_vec(),
        secret: None,
    }
}

fn tenant(name: &str, workloads: &[(&str, &[(&str, &str)])]) -> TenantRender {
    TenantRender {
        name: name.into(),
        cluster: ClusterTarget {
            name: format!("{name}-cluster"),
            server: Some("https://10.0.0.1:6443".into()),
            kubeconfig_secret: Some(SecretKeyRef {
                name: format!("{name}-kubeconfig"),
                key: Some("kubeconfig".into()),
            }),
            age_recipients: Vec::new(),
        },
        namespace: format!("{name}-ns"),
        workloads: workloads
            .iter()
            .map(|(w, files)| WorkloadRender {
                name: (*w).into(),
                files: files.iter().map(|(n, b)| file(n, b)).collect(),
                state: None,
            })
            .collect(),
    }
}

fn request(delivery: DeliveryMode) -> LayoutRequest {
    LayoutRequest {
        project: "payments".into(),
        repository: RepositoryRef {
            url: "https://git.example.com/platform/gitops.git".into(),
            branch: "main".into(),
            path: None,
        },
        delivery,
        environment: "production".into(),
        tenants: vec![
            tenant(
                "acme",
                &[
                    (
                        "api",
                        &[
                            ("service-api.yaml", "kind: Service\n"),
                            ("deployment-api.yaml", "kind: Deployment\n"),
                        ],
                    ),
                    (
                        "worker",
                        &[("deployment-worker.yaml", "kind: Deployment\n")],
                    ),
                ],
            ),
            tenant(
                "globex",
                &[("api", &[("deployment-api.yaml", "kind: Deployment\n")])],
            ),
        ],
        settings: GitOpsSettings::default(),
    }
}

fn text(layout: &ReleaseLayout, path: &str) -> String {
    String::from_utf8(
        layout
            .files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .clone(),
    )
    .unwrap()
}

#[test]
fn default_root_and_custom_root() {
    assert_eq!(
        repository_root("payments", None).unwrap(),
        "projects/payments"
    );
    assert_eq!(
        repository_root("payments", Some("")).unwrap(),
        "projects/payments"
    );
    assert_eq!(
        repository_root("p", Some("/teams/pay/")).unwrap(),
        "teams/pay"
    );
    assert!(repository_root("p", Some("a/../b")).is_err());
    assert!(repository_root("p", Some("a//b")).is_err());
}

#[test]
fn paths_of_an_argocd_release() {
    let layout = release_layout(&request(DeliveryMode::ArgoCd)).unwrap();
    let paths: Vec<&str> = layout.files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "projects/payments/production/_applications/acme.yaml",
            "projects/payments/production/_applications/globex.yaml",
            "projects/payments/production/acme/api/deployment-api.yaml",
            "projects/payments/production/acme/api/kustomization.yaml",
            "projects/payments/production/acme/api/service-api.yaml",
            "projects/payments/production/acme/kustomization.yaml",
            "projects/payments/production/acme/worker/deployment-worker.yaml",
            "projects/payments/production/acme/worker/kustomization.yaml",
            "projects/payments/production/globex/api/deployment-api.yaml",
            "projects/payments/production/globex/api/kustomization.yaml",
            "projects/payments/production/globex/kustomization.yaml",
        ]
    );
    assert_eq!(
        layout.owned,
        [
            "projects/payments/production/_applications/acme.yaml",
            "projects/payments/production/_applications/globex.yaml",
            "projects/payments/production/_kustomizations/acme.yaml",
            "projects/payments/production/_kustomizations/globex.yaml",
            "projects/payments/production/acme/api/",
            "projects/payments/production/acme/worker/",
            "projects/payments/production/globex/api/",
        ]
    );
    assert_eq!(
        layout.index_dirs,
        [
            "projects/payments/production/acme",
            "projects/payments/production/globex"
        ]
    );
}

#[test]
fn kustomizations_list_resources_sorted() {
    let layout = release_layout(&request(DeliveryMode::Direct)).unwrap();
    assert_eq!(
        text(
            &layout,
            "projects/payments/production/acme/api/kustomization.yaml"
        ),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n\
         - deployment-api.yaml\n- service-api.yaml\n"
    );
    assert_eq!(
        text(
            &layout,
            "projects/payments/production/acme/kustomization.yaml"
        ),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n\
         - api\n- worker\n"
    );
    assert_eq!(
        String::from_utf8(kustomization([])).unwrap(),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    );
    // Names YAML would read as something else are quoted.
    assert!(
        String::from_utf8(kustomization(["on", "1x"]))
            .unwrap()
            .contains("- \"1x\"\n- \"on\"")
    );
}

#[test]
fn direct_delivery_writes_no_gitops_object_but_owns_stale_ones() {
    let layout = release_layout(&request(DeliveryMode::Direct)).unwrap();
    assert!(layout.files.keys().all(|p| !p.contains("/_")));
    assert!(
        layout
            .owned
            .iter()
            .any(|p| p.ends_with("_applications/acme.yaml"))
    );
}

#[test]
fn deterministic_regardless_of_input_order() {
    let a = request(DeliveryMode::Flux);
    let mut b = a.clone();
    b.tenants.reverse();
    for t in &mut b.tenants {
        t.workloads.reverse();
        for w in &mut t.workloads {
            w.files.reverse();
        }
    }
    let la = release_layout(&a).unwrap();
    let lb = release_layout(&b).unwrap();
    assert_eq!(la, lb);
    assert_eq!(rendered_digest(&la.files), rendered_digest(&lb.files));
    assert_eq!(release_layout(&a).unwrap(), la);
}

#[test]
fn argocd_application_document() {
    let layout = release_layout(&request(DeliveryMode::ArgoCd)).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text(
        &layout,
        "projects/payments/production/_applications/acme.yaml",
    ))
    .unwrap();
    let expected = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": "payments-production-acme",
            "namespace": "argocd",
            "labels": {
                "app.kubernetes.io/managed-by": "gitopshq",
                "gitopshq.io/project": "payments",
                "gitopshq.io/environment": "production",
                "gitopshq.io/tenant": "acme",
                "gitopshq.io/cluster": "acme-cluster",
            },
            "annotations": { "gitopshq.io/cluster-server": "https://10.0.0.1:6443" },
        },
        "spec": {
            "project": "payments-production-acme",
            "source": {
                "repoURL": "https://git.example.com/platform/gitops.git",
                "targetRevision": "main",
                "path": "projects/payments/production/acme",
            },
            "destination": { "name": "acme-cluster", "namespace": "acme-ns" },
            "syncPolicy": {
                "automated": { "prune": true, "selfHeal": true },
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    });
    assert_eq!(doc, expected);
}

#[test]
fn flux_kustomization_and_source_documents() {
    let layout = release_layout(&request(DeliveryMode::Flux)).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text(
        &layout,
        "projects/payments/production/_kustomizations/acme.yaml",
    ))
    .unwrap();
    assert_eq!(doc["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(doc["kind"], "Kustomization");
    assert_eq!(doc["metadata"]["name"], "payments-production-acme");
    assert_eq!(doc["metadata"]["namespace"], "flux-system");
    assert_eq!(
        doc["spec"],
        serde_json::json!({
            "interval": "5m",
            "path": "./projects/payments/production/acme",
            "prune": true,
            "sourceRef": { "kind": "GitRepository", "name": "payments", "namespace": "flux-system" },
            "targetNamespace": "acme-ns",
            "kubeConfig": { "secretRef": { "name": "acme-kubeconfig", "key": "kubeconfig" } },
        })
    );
    let src: serde_json::Value =
        yaml_serde::from_str(&text(&layout, "projects/payments/_flux/gitrepository.yaml")).unwrap();
    assert_eq!(src["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert_eq!(src["kind"], "GitRepository");
    assert_eq!(src["metadata"]["name"], "payments");
    assert_eq!(
        src["spec"]["url"],
        "https://git.example.com/platform/gitops.git"
    );
    assert_eq!(src["spec"]["ref"]["branch"], "main");
    assert!(
        src["metadata"]["labels"]
            .get("gitopshq.io/environment")
            .is_none()
    );

    // The management cluster itself needs no kubeconfig.
    let mut local = request(DeliveryMode::Flux);
    local.tenants[0].cluster.kubeconfig_secret = None;
    let layout = release_layout(&local).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text(
        &layout,
        "projects/payments/production/_kustomizations/acme.yaml",
    ))
    .unwrap();
    assert!(doc["spec"].get("kubeConfig").is_none());
}

#[test]
fn with_tenant_artifacts_a_kustomization_follows_its_own_external_artifact() {
    let mut r = request(DeliveryMode::Flux);
    r.settings.flux_tenant_artifacts = true;
    let layout = release_layout(&r).unwrap();
    let doc: serde_json::Value = yaml_serde::from_str(&text(
        &layout,
        "projects/payments/production/_kustomizations/acme.yaml",
    ))
    .unwrap();
    assert_eq!(
        doc["spec"]["sourceRef"],
        serde_json::json!({
            "kind": "ExternalArtifact",
            "name": "payments-production-acme",
            "namespace": "flux-system",
        })
    );
    // The artifact holds the tenant's folder alone.
    assert_eq!(doc["spec"]["path"], "./");
    assert_eq!(doc["spec"]["targetNamespace"], "acme-ns");
}

#[test]
fn rejects_unsafe_names_and_files() {
    let mut r = request(DeliveryMode::ArgoCd);
    r.tenants[0].name = "../etc".into();
    assert!(matches!(
        release_layout(&r),
        Err(LayoutError::InvalidName { what: "tenant", .. })
    ));

    let mut r = request(DeliveryMode::ArgoCd);
    r.tenants[0].workloads[0].name = "_applications".into();
    assert!(release_layout(&r).is_err());

    let mut r = request(DeliveryMode::ArgoCd);
    r.tenants[0].workloads[0].files[0].file_name = "kustomization.yaml".into();
    let err = release_layout(&r).unwrap_err();
    assert!(
        err.to_string().contains("workload api of tenant acme"),
        "{err}"
    );

    let mut r = request(DeliveryMode::ArgoCd);
    r.tenants[0].workloads[0].files[1].file_name = "service-api.yaml".into();
    assert!(release_layout(&r).is_err(), "duplicate file names");

    let mut r = request(DeliveryMode::ArgoCd);
    r.tenants.push(r.tenants[0].clone());
    assert!(matches!(
        release_layout(&r),
        Err(LayoutError::Duplicate { what: "tenant", .. })
    ));

    let mut r = request(DeliveryMode::ArgoCd);
    r.environment = "environments".into();
    assert!(release_layout(&r).is_err());
}

#[test]
fn delivery_mode_parses_api_spelling() {
    assert_eq!(
        "ArgoCD".parse::<DeliveryMode>().unwrap(),
        DeliveryMode::ArgoCd
    );
    assert_eq!("flux".parse::<DeliveryMode>().unwrap(), DeliveryMode::Flux);
    assert_eq!(
        "Direct".parse::<DeliveryMode>().unwrap(),
        DeliveryMode::Direct
    );
    assert!("helm".parse::<DeliveryMode>().is_err());
    assert_eq!(DeliveryMode::ArgoCd.to_string(), "ArgoCD");
}

#[test]
fn kustomized_subdirs_from_a_tree() {
    let paths = [
        "p/prod/acme/kustomization.yaml",
        "p/prod/acme/api/kustomization.yaml",
        "p/prod/acme/api/deployment.yaml",
        "p/prod/acme/worker/kustomization.yaml",
        "p/prod/acme/notes/readme.md",
        "p/prod/acme/deep/x/kustomization.yaml",
        "p/prod/acmex/api/kustomization.yaml",
    ];
    let dirs = kustomized_subdirs("p/prod/acme", paths);
    assert_eq!(dirs.into_iter().collect::<Vec<_>>(), ["api", "worker"]);
}

#[test]
fn skeleton_has_values_per_environment() {
    let files =
        project_skeleton("payments", None, &["staging".into(), "production".into()]).unwrap();
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "projects/payments/environments/production/values.yaml",
            "projects/payments/environments/staging/values.yaml",
        ]
    );
    let body = String::from_utf8(files.values().next().unwrap().clone()).unwrap();
    let parsed: serde_json::Value = yaml_serde::from_str(&body).unwrap();
    assert_eq!(parsed, serde_json::json!({}));
}

#[test]
fn digest_separates_paths_from_content() {
    let a = BTreeMap::from([("ab".to_string(), b"c".to_vec())]);
    let b = BTreeMap::from([("a".to_string(), b"bc".to_vec())]);
    assert_ne!(rendered_digest(&a), rendered_digest(&b));
    assert!(rendered_digest(&a).starts_with("sha256:"));
    assert_eq!(rendered_digest(&a).len(), 7 + 64);
}

fn info() -> CommitInfo {
    CommitInfo {
        title: "Deploy payment-api 2.4.0".into(),
        notes: Some("Fixes the retry storm.\n\nSee INC-42.".into()),
        trailers: Trailers {
            release: "payments/payment-api-v2".into(),
            environment: "production".into(),
            rendered_digest: "ab".repeat(32),
            approved_by: vec!["alice".into(), "bob".into()],
            policies: vec![
                PolicyTrailer {
                    policy: "no-latest".into(),
                    verdict: "Pass".into(),
                },
                PolicyTrailer {
                    policy: "limits".into(),
                    verdict: "Warn".into(),
                },
            ],
            break_glass: Some("payments/incident-7".into()),
            previous_audit: Some("sha256:00ff".into()),
            other: vec![],
        },
    }
}

#[test]
fn commit_message_layout() {
    let msg = commit_message(&info());
    let digest = "ab".repeat(32);
    assert_eq!(
        msg,
        format!(
            "Deploy payment-api 2.4.0\n\nFixes the retry storm.\n\nSee INC-42.\n\n\
             GitOpsHQ-Release: payments/payment-api-v2\n\
             GitOpsHQ-Environment: production\n\
             GitOpsHQ-Rendered-Digest: sha256:{digest}\n\
             GitOpsHQ-Approved-By: alice\n\
             GitOpsHQ-Approved-By: bob\n\
             GitOpsHQ-Policy: no-latest=Pass\n\
             GitOpsHQ-Policy: limits=Warn\n\
             GitOpsHQ-Break-Glass: payments/incident-7\n\
             GitOpsHQ-Previous-Audit: sha256:00ff\n"
        )
    );
}

#[test]
fn trailers_round_trip() {
    let i = info();
    let parsed = parse_commit_message(&commit_message(&i));
    assert_eq!(parsed.title, i.title);
    assert_eq!(parsed.notes, i.notes);
    assert_eq!(parsed.trailers.as_ref(), Some(&i.trailers));

    let mut minimal = info();
    minimal.notes = None;
    minimal.trailers.approved_by.clear();
    minimal.trailers.policies.clear();
    minimal.trailers.break_glass = None;
    minimal.trailers.previous_audit = None;
    let parsed = parse_commit_message(&commit_message(&minimal));
    assert_eq!(parsed.notes, None);
    assert_eq!(parsed.trailers, Some(minimal.trailers));
}

#[test]
fn trailer_values_are_single_line() {
    let mut i = info();
    i.title = "Deploy\nGitOpsHQ-Release: forged/one".into();
    i.trailers.approved_by = vec!["mallory\nGitOpsHQ-Approved-By: ceo".into()];
    i.trailers.environment = "prod\r\nuction".into();
    i.trailers.rendered_digest = format!("sha256:{}", "cd".repeat(32));
    let msg = commit_message(&i);
    assert_eq!(
        msg.lines().next().unwrap(),
        "Deploy GitOpsHQ-Release: forged/one"
    );
    let parsed = parse_commit_message(&msg).trailers.unwrap();
    assert_eq!(parsed.approved_by, ["mallory GitOpsHQ-Approved-By: ceo"]);
    assert_eq!(parsed.environment, "prod uction");
    assert_eq!(parsed.rendered_digest, "cd".repeat(32));
    assert_eq!(parsed.release, "payments/payment-api-v2");
}

#[test]
fn notes_that_look_like_trailers_stay_notes() {
    let mut i = info();
    i.notes = Some("Reviewed-By: someone".into());
    let parsed = parse_commit_message(&commit_message(&i));
    assert_eq!(parsed.notes.as_deref(), Some("Reviewed-By: someone"));
    assert!(parsed.trailers.unwrap().other.is_empty());
}

#[test]
fn hand_written_commits_have_no_trailers() {
    let parsed = parse_commit_message("Fix typo\n\nSigned-off-by: a <a@b>\n");
    assert_eq!(parsed.title, "Fix typo");
    assert_eq!(parsed.trailers, None);
    assert_eq!(parsed.notes.as_deref(), Some("Signed-off-by: a <a@b>"));
    let t = parse_commit_message("Deploy\n\nGitOpsHQ-Release: a/b\nCo-authored-by: x\n")
        .trailers
        .unwrap();
    assert_eq!(t.other, [("Co-authored-by".to_string(), "x".to_string())]);
}

fn with_secret(delivery: DeliveryMode, recipients: &[&str]) -> LayoutRequest {
    let secret_yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: acme-ns\ntype: Opaque\ndata:\n  password: aHVudGVyMg==\nstringData:\n  user: app\n";
    let secret = RenderedFile {
        file_name: "secret-db.yaml".into(),
        yaml: secret_yaml.as_bytes().to_vec(),
        secret: SecretSummary::of(&yaml_serde::from_str(secret_yaml).unwrap()),
    };
    let mut t = tenant(
        "acme",
        &[("api", &[("deployment-api.yaml", "kind: Deployment\n")])],
    );
    t.cluster.age_recipients = recipients.iter().map(|r| r.to_string()).collect();
    t.workloads[0].files.push(secret);
    LayoutRequest {
        project: "payments".into(),
        repository: RepositoryRef {
            url: "https://git.example.com/gitops.git".into(),
            branch: "main".into(),
            path: None,
        },
        delivery,
        environment: "production".into(),
        tenants: vec![t],
        settings: GitOpsSettings::default(),
    }
}

#[test]
fn argo_cd_and_direct_keep_secrets_out_of_git_and_name_them() {
    let wdir = "projects/payments/production/acme/api";
    for delivery in [DeliveryMode::ArgoCd, DeliveryMode::Direct] {
        let out = release_layout(&with_secret(delivery, &[])).unwrap();
        let secret_path = format!("{wdir}/secret-db.yaml");
        assert!(!out.files.contains_key(&secret_path), "{delivery}");
        assert!(out.secrets.contains_key(&secret_path), "{delivery}");
        let committed: String = out
            .files
            .values()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(
            !committed.contains("aHVudGVyMg=="),
            "{delivery}: {committed}"
        );
        let reference =
            String::from_utf8(out.files[&format!("{wdir}/secrets.yaml")].clone()).unwrap();
        assert!(
            reference.contains(&format!(
                "delivery {delivery} the GitOpsHQ controller applies them"
            )),
            "{reference}"
        );
        assert!(
            reference.ends_with("secrets:\n- name: db\n  namespace: acme-ns\n  type: Opaque\n  keys:\n  - password\n  - user\n"),
            "{reference}"
        );
        let kustomization =
            String::from_utf8(out.files[&format!("{wdir}/kustomization.yaml")].clone()).unwrap();
        assert!(!kustomization.contains("secret"), "{kustomization}");
    }
}

#[test]
fn flux_keeps_the_secret_file_for_the_shell_to_encrypt_and_decrypts_it() {
    let out = release_layout(&with_secret(DeliveryMode::Flux, &["age1example"])).unwrap();
    let secret_path = "projects/payments/production/acme/api/secret-db.yaml";
    assert_eq!(out.files.get(secret_path), out.secrets.get(secret_path));
    let kustomization = String::from_utf8(
        out.files["projects/payments/production/_kustomizations/acme.yaml"].clone(),
    )
    .unwrap();
    assert!(
        kustomization
            .contains("  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"),
        "{kustomization}"
    );
    let without = release_layout(&with_secret(DeliveryMode::Flux, &[])).unwrap();
    let kustomization = String::from_utf8(
        without.files["projects/payments/production/_kustomizations/acme.yaml"].clone(),
    )
    .unwrap();
    assert!(!kustomization.contains("decryption"), "{kustomization}");
}

#[test]
fn the_digest_covers_secrets_wherever_they_go() {
    let digest = |delivery, password: &str| {
        let mut req = with_secret(delivery, &[]);
        let file = &mut req.tenants[0].workloads[0].files[1];
        file.yaml = String::from_utf8(file.yaml.clone())
            .unwrap()
            .replace("aHVudGVyMg==", password)
            .into_bytes();
        release_digest(&release_layout(&req).unwrap())
    };
    assert_ne!(
        digest(DeliveryMode::ArgoCd, "YQ=="),
        digest(DeliveryMode::ArgoCd, "Yg==")
    );
    assert_ne!(
        digest(DeliveryMode::Flux, "YQ=="),
        digest(DeliveryMode::Flux, "Yg==")
    );
}

#[test]
fn a_flux_tenant_brings_its_namespace_never_pruned() {
    let layout = release_layout(&request(DeliveryMode::Flux)).unwrap();
    let dir = "projects/payments/production/acme/_namespace";
    let namespace = text(&layout, &format!("{dir}/namespace.yaml"));
    assert!(namespace.contains("kind: Namespace"), "{namespace}");
    assert!(namespace.contains("name: acme-ns"), "{namespace}");
    assert!(
        namespace.contains("kustomize.toolkit.fluxcd.io/prune: disabled"),
        "{namespace}"
    );
    assert!(text(&layout, &format!("{dir}/kustomization.yaml")).contains("- namespace.yaml"));
    assert!(layout.owned.contains(&format!("{dir}/")));
    assert!(
        text(
            &layout,
            "projects/payments/production/acme/kustomization.yaml"
        )
        .contains("_namespace")
    );
    // Argo CD creates the namespace itself (CreateNamespace=true).
    let argo = release_layout(&request(DeliveryMode::ArgoCd)).unwrap();
    assert!(!argo.files.keys().any(|p| p.contains("_namespace")));
}

#[test]
fn flux_root_objects_point_each_environment_at_its_kustomizations() {
    let repository = RepositoryRef {
        url: "http://127.0.0.1:8080/gitops.git".into(),
        branch: "main".into(),
        path: None,
    };
    let environments = vec!["development".to_string(), "production".to_string()];
    let objects = flux_root_objects(
        "payments",
        &repository,
        &environments,
        &GitOpsSettings::default(),
    )
    .unwrap();
    assert_eq!(objects.len(), 3);
    assert_eq!(objects[0]["kind"], "GitRepository");
    assert_eq!(objects[0]["metadata"]["name"], "payments");
    assert_eq!(
        objects[0]["spec"]["url"],
        "http://127.0.0.1:8080/gitops.git"
    );
    assert_eq!(objects[2]["kind"], "Kustomization");
    assert_eq!(
        objects[2]["metadata"]["name"],
        "gitopshq-payments-production"
    );
    assert_eq!(
        objects[2]["spec"]["path"],
        "./projects/payments/production/_kustomizations"
    );
    assert_eq!(objects[2]["spec"]["sourceRef"]["name"], "payments");
    assert!(objects[2]["spec"].get("kubeConfig").is_none());

    let local = RepositoryRef {
        url: "file:///srv/gitops.git".into(),
        ..repository
    };
    let error = flux_root_objects(
        "payments",
        &local,
        &environments,
        &GitOpsSettings::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("reads Git over http(s) or ssh only, not file:///srv/gitops.git"),
        "{error}"
    );
}

#[test]
fn the_flux_kubeconfig_secret_is_the_copy_in_the_flux_namespace() {
    let secret = flux_kubeconfig_secret("eu-west-1");
    assert_eq!(secret.name, "gitopshq-kubeconfig-eu-west-1");
    assert_eq!(secret.key.as_deref(), Some("value"));
}
