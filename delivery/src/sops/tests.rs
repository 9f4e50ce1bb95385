use age::secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::cipher::ValueCipher;
use super::tree::{additional_data, is_encrypted_key, scalar_bytes};
use super::*;

/// Reads a file written by `encrypt_secret` back the way `sops --decrypt` does: unwraps the data
/// key with the identity, decrypts every value under its key path, recomputes the MAC over all
/// values in document order and compares it with the file's. The proof against the real sops
/// CLI is `delivery/tests/sops.rs`; this one runs everywhere and shows what broke.
fn decrypt(doc: &[u8], identity: &x25519::Identity) -> Result<Value, String> {
    let file = parse_sops_file(doc).ok_or("not a sops file")?;
    let data_key = file.metadata["age"]
        .as_array()
        .ok_or("no age keys")?
        .iter()
        .find_map(|key| age::decrypt(identity, key["enc"].as_str()?.as_bytes()).ok())
        .ok_or("no age key opens with this identity")?;
    let data_key: [u8; 32] = data_key
        .try_into()
        .map_err(|_| "data key is not 32 bytes")?;
    // Reading needs no IV key: any value does for it.
    let cipher = ValueCipher::new(data_key, [0; 32]);
    let mut hash = Sha512::new();
    let body = decrypt_mapping(&file.body, &cipher, &mut hash, &mut Vec::new(), false)?;
    let lastmodified = file.metadata["lastmodified"]
        .as_str()
        .ok_or("no lastmodified")?;
    let (_, mac) = cipher.decrypt(file.metadata["mac"].as_str().ok_or("no mac")?, lastmodified)?;
    let computed = hex::encode_upper(hash.finalize());
    if mac != computed.as_bytes() {
        return Err(format!(
            "MAC mismatch: file has {}, computed {computed}",
            String::from_utf8_lossy(&mac)
        ));
    }
    Ok(Value::Object(body))
}

use sha2::{Digest, Sha512};

fn decrypt_mapping<'a>(
    mapping: &'a Map<String, Value>,
    cipher: &ValueCipher,
    hash: &mut Sha512,
    path: &mut Vec<&'a str>,
    encrypted: bool,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for (key, value) in mapping {
        path.push(key);
        let plain = decrypt_value(
            value,
            cipher,
            hash,
            path,
            encrypted || is_encrypted_key(key),
        )?;
        path.pop();
        out.insert(key.clone(), plain);
    }
    Ok(out)
}

fn decrypt_value<'a>(
    value: &'a Value,
    cipher: &ValueCipher,
    hash: &mut Sha512,
    path: &mut Vec<&'a str>,
    encrypted: bool,
) -> Result<Value, String> {
    let plain = match value {
        Value::Object(mapping) => {
            return Ok(Value::Object(decrypt_mapping(
                mapping, cipher, hash, path, encrypted,
            )?));
        }
        Value::Array(items) => {
            let items: Result<Vec<_>, _> = items
                .iter()
                .map(|item| decrypt_value(item, cipher, hash, path, encrypted))
                .collect();
            return Ok(Value::Array(items?));
        }
        Value::String(text) if encrypted && !text.is_empty() => {
            let (value_type, plaintext) = cipher.decrypt(text, &additional_data(path))?;
            let plaintext = String::from_utf8(plaintext).map_err(|e| e.to_string())?;
            match value_type.as_str() {
                "str" => Value::String(plaintext),
                "int" | "float" => serde_json::from_str(&plaintext).map_err(|e| e.to_string())?,
                "bool" => Value::Bool(plaintext == "True"),
                other => return Err(format!("unknown type {other}")),
            }
        }
        Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    };
    if let Some((_, bytes)) = scalar_bytes(&plain)? {
        hash.update(&bytes);
    }
    Ok(plain)
}

fn secret() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "payments",
            "labels": {"app.kubernetes.io/managed-by": "gitopshq", "tier": "1"},
            "annotations": {"note": "rotated: yes"},
        },
        "type": "Opaque",
        "immutable": false,
        "data": {"password": "aHVudGVyMg==", "empty": ""},
        "stringData": {"url": "postgres://app:hunter2@db:5432/app", "config.yaml": "a: 1\nb: [2]\n"},
    })
}

fn identity() -> x25519::Identity {
    x25519::Identity::generate()
}

fn recipient_of(identity: &x25519::Identity) -> String {
    identity.to_public().to_string()
}

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap()
}

fn key() -> DerivationKey {
    DerivationKey::from_bytes([7; 32])
}

#[test]
fn round_trip_gives_back_the_secret() {
    let identity = identity();
    let doc = encrypt_secret(
        &secret(),
        &[recipient_of(&identity)],
        &key(),
        None,
        at(1_800_000_000),
    )
    .unwrap();
    assert_eq!(decrypt(&doc, &identity).unwrap(), secret());

    let text = String::from_utf8(doc).unwrap();
    assert!(
        text.starts_with("apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"),
        "{text}"
    );
    assert!(text.contains("  password: ENC[AES256_GCM,data:"), "{text}");
    assert!(
        text.contains("  empty: \"\"\n"),
        "sops leaves empty values empty: {text}"
    );
    assert!(text.contains("    - recipient: age1"), "{text}");
    assert!(
        text.contains("      enc: |\n        -----BEGIN AGE ENCRYPTED FILE-----\n"),
        "{text}"
    );
    assert!(
        text.contains("  lastmodified: \"2027-01-15T08:00:00Z\"\n"),
        "{text}"
    );
    assert!(
        text.contains("  encrypted_regex: \"^(data|stringData)$\"\n"),
        "{text}"
    );
    assert!(text.contains("  version: \"3.13.3\"\n"), "{text}");
    assert!(is_encrypted(text.as_bytes()));
}

#[test]
fn no_plaintext_value_reaches_the_file() {
    let doc = encrypt_secret(&secret(), &[recipient_of(&identity())], &key(), None, at(0)).unwrap();
    let text = String::from_utf8(doc).unwrap();
    for plain in ["aHVudGVyMg==", "hunter2", "postgres://", "a: 1"] {
        assert!(!text.contains(plain), "{plain:?} is in the file:\n{text}");
    }
    // What kustomize and Flux need stays readable.
    assert!(
        text.contains("app.kubernetes.io/managed-by: gitopshq"),
        "{text}"
    );
    assert!(text.contains("type: Opaque"), "{text}");
}

#[test]
fn same_plaintext_same_values_and_the_previous_file_is_kept() {
    let recipients = [recipient_of(&identity())];
    let first = encrypt_secret(&secret(), &recipients, &key(), None, at(100)).unwrap();
    let second = encrypt_secret(&secret(), &recipients, &key(), None, at(200)).unwrap();
    assert_ne!(first, second, "lastmodified and the age wrapping differ");
    assert_eq!(
        parse_sops_file(&first).unwrap().body,
        parse_sops_file(&second).unwrap().body
    );
    assert!(unchanged(&first, &second));

    let kept = encrypt_secret(&secret(), &recipients, &key(), Some(&first), at(300)).unwrap();
    assert_eq!(kept, first);
}

#[test]
fn a_changed_value_changes_the_bytes_and_its_iv() {
    let recipients = [recipient_of(&identity())];
    let before = encrypt_secret(&secret(), &recipients, &key(), None, at(100)).unwrap();
    let mut changed = secret();
    changed["stringData"]["url"] = json!("postgres://app:hunter3@db:5432/app");
    let after = encrypt_secret(&changed, &recipients, &key(), Some(&before), at(200)).unwrap();
    assert_ne!(after, before);
    assert!(!unchanged(&before, &after));

    let url = |doc: &[u8]| parse_sops_file(doc).unwrap().body["stringData"]["url"].clone();
    let iv = |value: Value| value.as_str().unwrap().split(",iv:").nth(1).unwrap()[..44].to_string();
    assert_ne!(iv(url(&before)), iv(url(&after)));
    // The untouched value keeps its ciphertext.
    let password = |doc: &[u8]| parse_sops_file(doc).unwrap().body["data"]["password"].clone();
    assert_eq!(password(&before), password(&after));
}

#[test]
fn equal_values_in_two_places_do_not_share_an_iv() {
    let mut twice = secret();
    twice["stringData"] = json!({"a": "same", "b": "same"});
    let doc = encrypt_secret(&twice, &[recipient_of(&identity())], &key(), None, at(0)).unwrap();
    let body = parse_sops_file(&doc).unwrap().body;
    assert_ne!(body["stringData"]["a"], body["stringData"]["b"]);
}

#[test]
fn recipients_and_key_bind_the_ciphertext() {
    let (one, two) = (recipient_of(&identity()), recipient_of(&identity()));
    let base = encrypt_secret(&secret(), std::slice::from_ref(&one), &key(), None, at(0)).unwrap();

    let both = encrypt_secret(
        &secret(),
        &[one.clone(), two.clone()],
        &key(),
        Some(&base),
        at(0),
    );
    assert_ne!(
        both.as_ref().unwrap(),
        &base,
        "a new recipient needs its own stanza"
    );
    let reordered = encrypt_secret(
        &secret(),
        &[two, one.clone()],
        &key(),
        both.as_deref().ok(),
        at(9),
    );
    assert_eq!(
        reordered.unwrap(),
        both.unwrap(),
        "the order of the recipients is no change"
    );

    let other_key = DerivationKey::from_bytes([8; 32]);
    let rekeyed = encrypt_secret(&secret(), &[one], &other_key, Some(&base), at(0)).unwrap();
    assert_ne!(rekeyed, base);
}

#[test]
fn every_recipient_can_decrypt() {
    let (one, two) = (identity(), identity());
    let doc = encrypt_secret(
        &secret(),
        &[recipient_of(&one), recipient_of(&two)],
        &key(),
        None,
        at(0),
    )
    .unwrap();
    assert_eq!(decrypt(&doc, &one).unwrap(), secret());
    assert_eq!(decrypt(&doc, &two).unwrap(), secret());
    let stranger = decrypt(&doc, &identity()).unwrap_err();
    assert!(stranger.contains("no age key opens"), "{stranger}");
}

#[test]
fn tampering_is_detected() {
    let identity = identity();
    let doc = encrypt_secret(&secret(), &[recipient_of(&identity)], &key(), None, at(0)).unwrap();
    let text = String::from_utf8(doc).unwrap();

    // A clear field changed: every value still decrypts, the MAC does not match.
    let relabelled = text.replace("tier: \"1\"", "tier: \"2\"");
    assert_ne!(relabelled, text);
    let error = decrypt(relabelled.as_bytes(), &identity).unwrap_err();
    assert!(error.starts_with("MAC mismatch"), "{error}");

    // A ciphertext moved to another key: its key path no longer authenticates it.
    let body = parse_sops_file(text.as_bytes()).unwrap().body;
    let url = body["stringData"]["url"].as_str().unwrap();
    let config = body["stringData"]["config.yaml"].as_str().unwrap();
    let swapped = text
        .replace(url, "SWAP")
        .replace(config, url)
        .replace("SWAP", config);
    let error = decrypt(swapped.as_bytes(), &identity).unwrap_err();
    assert!(
        error.contains("does not decrypt under \"stringData:"),
        "{error}"
    );

    // A value dropped: the MAC covers it.
    let dropped = text.replace(&format!("  url: {url}\n"), "");
    assert_ne!(dropped, text);
    let error = decrypt(dropped.as_bytes(), &identity).unwrap_err();
    assert!(error.starts_with("MAC mismatch"), "{error}");
}

#[test]
fn a_bad_recipient_names_itself_and_the_field() {
    let error = encrypt_secret(
        &secret(),
        &[recipient_of(&identity()), "age1notakey".into()],
        &key(),
        None,
        at(0),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, SopsError::Recipient { .. }), "{message}");
    assert!(message.contains("\"age1notakey\""), "{message}");
    assert!(
        message.contains("Cluster.spec.secretEncryption.ageRecipients"),
        "{message}"
    );
    assert!(message.contains("age-keygen"), "{message}");

    let none = encrypt_secret(&secret(), &[], &key(), None, at(0)).unwrap_err();
    assert!(matches!(none, SopsError::NoRecipients), "{none}");
}

#[test]
fn only_v1_secrets_without_a_sops_block_are_encrypted() {
    let recipients = [recipient_of(&identity())];
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let error = encrypt_secret(&config_map, &recipients, &key(), None, at(0)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "ConfigMap c is not a v1 Secret; only Secrets are encrypted"
    );

    let mut already = secret();
    already["sops"] = json!({"mac": "ENC[x]"});
    let error = encrypt_secret(&already, &recipients, &key(), None, at(0)).unwrap_err();
    assert!(
        matches!(error, SopsError::AlreadyEncrypted { .. }),
        "{error}"
    );

    let mut huge = secret();
    huge["metadata"]["generation"] = json!(u64::MAX);
    let error = encrypt_secret(&huge, &recipients, &key(), None, at(0)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("Secret payments/db: metadata.generation is"),
        "{error}"
    );
}

#[test]
fn a_label_named_data_is_encrypted_as_sops_would() {
    let identity = identity();
    let mut labelled = secret();
    labelled["metadata"]["labels"]["data"] = json!("x");
    let doc = encrypt_secret(&labelled, &[recipient_of(&identity)], &key(), None, at(0)).unwrap();
    let body = parse_sops_file(&doc).unwrap().body;
    assert!(
        body["metadata"]["labels"]["data"]
            .as_str()
            .unwrap()
            .starts_with("ENC[")
    );
    assert_eq!(decrypt(&doc, &identity).unwrap(), labelled);
}

#[test]
fn unchanged_needs_two_sops_files() {
    let doc = encrypt_secret(&secret(), &[recipient_of(&identity())], &key(), None, at(0)).unwrap();
    let plain = yaml_serde::to_string(&secret()).unwrap();
    assert!(!unchanged(plain.as_bytes(), &doc));
    assert!(!unchanged(b"not: [yaml", &doc));
    assert!(!is_encrypted(plain.as_bytes()));
}

#[test]
fn derivation_key_debug_hides_the_bytes() {
    assert_eq!(format!("{:?}", key()), "DerivationKey(…)");
    assert_ne!(DerivationKey::random(), DerivationKey::random());
    // The identity's secret is only needed by the holder; it never reaches a file we write.
    let identity = identity();
    let doc = encrypt_secret(&secret(), &[recipient_of(&identity)], &key(), None, at(0)).unwrap();
    let secret_key = identity.to_string();
    assert!(
        !String::from_utf8(doc)
            .unwrap()
            .contains(secret_key.expose_secret())
    );
}
