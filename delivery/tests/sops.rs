//! What `gitopshq_delivery::sops` writes, decrypted by the real sops CLI (built from the Go
//! module proxy by `tests/testenv/sops/build.sh`): the same program Flux's kustomize-controller
//! embeds to decrypt the Secrets GitOpsHQ commits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use age::secrecy::ExposeSecret;
use age::x25519::Identity;
use gitopshq_delivery::sops::{DerivationKey, encrypt_secret};
use serde_json::{Value, json};

fn sops() -> PathBuf {
    gitopshq_localplane::sops_binary().expect("the sops CLI builds from the Go module proxy")
}

fn secret() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "payments-db",
            "namespace": "payments",
            "labels": {
                "app.kubernetes.io/managed-by": "gitopshq",
                "gitopshq.io/tenant": "acme",
                "version": "1.0",
            },
            "annotations": {"rotated": "2026-11-30", "owner": "sre-team: on call"},
        },
        "type": "Opaque",
        "immutable": false,
        "data": {"password": "czNjcjN0LXBAc3N3MHJk", "empty": ""},
        "stringData": {
            "DATABASE_URL": "postgres://app:s3cr3t-p@ssw0rd@db.payments:5432/app",
            "config.yaml": "pool: 10\ntls: true\n",
            "token": "Ghp_7hXq\"quoted\"\ttabbed é",
        },
    })
}

fn encrypted(recipients: &[&Identity]) -> Vec<u8> {
    let recipients: Vec<String> = recipients
        .iter()
        .map(|i| i.to_public().to_string())
        .collect();
    encrypt_secret(
        &secret(),
        &recipients,
        &DerivationKey::random(),
        None,
        jiff::Timestamp::now(),
    )
    .unwrap()
}

/// `sops --decrypt FILE` with the identity in `SOPS_AGE_KEY`, as Flux hands it over.
fn sops_decrypt(file: &Path, identity: &Identity) -> Output {
    Command::new(sops())
        .args(["--decrypt", "--input-type", "yaml", "--output-type", "json"])
        .arg(file)
        .env_clear()
        .env("SOPS_AGE_KEY", identity.to_string().expose_secret())
        // No keys of the person running the tests: only the identity given.
        .env("HOME", file.parent().unwrap())
        .env("SOPS_DISABLE_VERSION_CHECK", "1")
        .output()
        .unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn decrypted(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "sops --decrypt failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn sops_decrypts_to_the_rendered_secret_for_every_recipient() {
    let (flux, backup) = (Identity::generate(), Identity::generate());
    let doc = encrypted(&[&flux, &backup]);
    let dir = tempfile::tempdir().unwrap();
    let file = write(&dir, "secret-payments-db.yaml", &doc);

    assert_eq!(decrypted(&sops_decrypt(&file, &flux)), secret());
    assert_eq!(decrypted(&sops_decrypt(&file, &backup)), secret());
}

#[test]
fn no_plaintext_value_is_in_the_file() {
    let doc = encrypted(&[&Identity::generate()]);
    let text = String::from_utf8(doc).unwrap();
    let secret = secret();
    let mut values: Vec<String> = Vec::new();
    for field in ["data", "stringData"] {
        for value in secret[field].as_object().unwrap().values() {
            let value = value.as_str().unwrap();
            if !value.is_empty() {
                values.push(value.to_string());
                // Each line of a multi-line value on its own, too.
                values.extend(value.lines().map(str::to_string));
            }
        }
    }
    values.extend(["s3cr3t-p@ssw0rd".to_string(), "Ghp_7hXq".to_string()]);
    for value in values {
        assert!(!text.contains(&value), "{value:?} is in the file:\n{text}");
    }
}

#[test]
fn sops_refuses_a_tampered_file() {
    let identity = Identity::generate();
    let doc = String::from_utf8(encrypted(&[&identity])).unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A clear field changed after encryption: only the MAC can tell.
    let relabelled = doc.replace("gitopshq.io/tenant: acme", "gitopshq.io/tenant: globex");
    assert_ne!(relabelled, doc);
    let output = sops_decrypt(
        &write(&dir, "relabelled.yaml", relabelled.as_bytes()),
        &identity,
    );
    assert!(!output.status.success(), "a relabelled Secret decrypted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MAC mismatch"), "{stderr}");

    // An encrypted value swapped for another one of the same file: its key path no longer
    // authenticates it.
    let value_of = |key: &str| {
        doc.lines()
            .find_map(|line| line.trim().strip_prefix(&format!("{key}: ")))
            .unwrap()
            .to_string()
    };
    let (password, token) = (value_of("password"), value_of("token"));
    let swapped = doc
        .replace(&password, "\u{1}")
        .replace(&token, &password)
        .replace('\u{1}', &token);
    let output = sops_decrypt(&write(&dir, "swapped.yaml", swapped.as_bytes()), &identity);
    assert!(!output.status.success(), "a swapped value decrypted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Could not decrypt"), "{stderr}");
}

#[test]
fn sops_refuses_an_unrelated_identity() {
    let doc = encrypted(&[&Identity::generate()]);
    let dir = tempfile::tempdir().unwrap();
    let output = sops_decrypt(&write(&dir, "secret.yaml", &doc), &Identity::generate());
    assert!(!output.status.success(), "a stranger decrypted the Secret");
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Failed to get the data key"), "{stderr}");
}
