//! SOPS (age) encryption of a Kubernetes Secret, so that a Secret committed for Flux never holds
//! a value in plaintext.
//!
//! **What.** [`encrypt_secret`] turns one rendered `v1` Secret into the SOPS v3 YAML document
//! that the `sops` CLI and Flux's kustomize-controller (`spec.decryption.provider: sops`)
//! decrypt: the values under `data` and `stringData` become
//! `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]` (AES-256-GCM, 32-byte IVs, the key path
//! `data:password:` as additional data, exactly as sops's `aes` cipher does), everything else
//! (apiVersion, kind, metadata) stays in clear for kustomize and Flux to read, and a `sops`
//! block carries the data key wrapped for each age recipient (armored age files), `lastmodified`,
//! the `mac` (SHA-512 over every value in document order, encrypted with `lastmodified` as
//! additional data), `encrypted_regex: ^(data|stringData)$` and the format version.
//!
//! **Why deterministic.** Delivery must not make a new commit when nothing changed, but sops
//! itself draws a fresh data key and fresh IVs on every run. Here the data key and an IV key
//! are HMAC-SHA256 derivations of the caller's [`DerivationKey`] over the sorted recipients and
//! the Secret's namespace and name, and each IV is an HMAC of the key path, the value's type and
//! its plaintext (SIV-like): the same plaintext for the same recipients gives the same
//! ciphertext, and two different plaintexts never share an IV. What stays random is the age
//! wrapping of the data key and `lastmodified`; [`unchanged`] compares everything else, without
//! any private key, and [`encrypt_secret`] given the previously committed bytes returns them
//! untouched when they hold the same plaintext for the same recipients.
//!
//! **What the caller must do.** Keep one [`DerivationKey`] per installation and treat it like
//! the age identities: whoever holds it can derive every data key and so read every Secret
//! (a new key changes every ciphertext once, which costs one commit). Pass the recipients of the
//! tenant's `Cluster.spec.secretEncryption.ageRecipients`, the previously committed file when
//! there is one, and commit the returned bytes as they are. Flux needs the matching age identity
//! as key `age.agekey` of a `sops-age` Secret in its namespace.

mod cipher;
mod emit;
mod tree;

#[cfg(test)]
mod tests;

use std::fmt;

use age::x25519;
use serde_json::{Map, Value};

use self::cipher::ValueCipher;

/// The field users set the recipients in; errors name it so the fix is obvious.
pub const RECIPIENTS_FIELD: &str = "Cluster.spec.secretEncryption.ageRecipients";

/// The only fields sops encrypts in what we write; the rest must stay readable for kustomize.
pub const ENCRYPTED_REGEX: &str = "^(data|stringData)$";

/// The sops release whose file format this module writes, and which the tests decrypt with.
pub const SOPS_VERSION: &str = "3.13.3";

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error(
        "age recipient {recipient:?} in {RECIPIENTS_FIELD} is not an age public key ({reason}); \
         list the `age1…` public key that `age-keygen` prints for the cluster's identity"
    )]
    Recipient { recipient: String, reason: String },
    #[error(
        "no age recipient to encrypt for: list at least one age public key in {RECIPIENTS_FIELD}"
    )]
    NoRecipients,
    #[error("{object} is not a v1 Secret; only Secrets are encrypted")]
    NotASecret { object: String },
    #[error("{object} already carries a top-level `sops` field; render the plain Secret instead")]
    AlreadyEncrypted { object: String },
    #[error("{object}: {field} {problem}")]
    Value {
        object: String,
        field: String,
        problem: String,
    },
    #[error("cannot wrap the data key of {object} for age recipient {recipient}")]
    Age {
        object: String,
        recipient: String,
        // Boxed: age's error is large, and this one travels through every encryption result.
        #[source]
        source: Box<age::EncryptError>,
    },
}

/// The secret every data key and IV is derived from (32 bytes). Its `Debug` hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivationKey([u8; 32]);

impl DerivationKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DerivationKey(bytes)
    }

    /// A fresh key from the operating system's generator: fine for one process, but every
    /// Secret's ciphertext (and so its file) changes when the process restarts.
    pub fn random() -> Self {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("the operating system's random generator is available");
        DerivationKey(bytes)
    }

    /// HMAC-SHA256 under this key of a label and length-prefixed parts, so no two different
    /// inputs can be laid out as the same bytes.
    fn derive(&self, label: &str, parts: &[&[u8]]) -> [u8; 32] {
        derive(&self.0, label, parts)
    }
}

impl fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivationKey(…)")
    }
}

fn derive(key: &[u8], label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut context = ring::hmac::Context::with_key(&key);
    for part in std::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(context.sign().as_ref());
    out
}

/// Encrypts one `v1` Secret for `recipients` (age public keys) into a SOPS YAML document.
///
/// `previous` is the file committed for this Secret before, if any: when it holds the same
/// plaintext for the same recipients (see [`unchanged`]) it is returned byte for byte, so the
/// delivery makes no new commit. `now` becomes `sops.lastmodified` of a new file.
pub fn encrypt_secret(
    secret: &Value,
    recipients: &[String],
    key: &DerivationKey,
    previous: Option<&[u8]>,
    now: jiff::Timestamp,
) -> Result<Vec<u8>, SopsError> {
    let (document, identity) = secret_document(secret)?;
    let recipients = parse_recipients(recipients)?;
    let recipient_names: Vec<String> = recipients.iter().map(|r| r.to_string()).collect();

    let mut context: Vec<&[u8]> = vec![identity.namespace.as_bytes(), identity.name.as_bytes()];
    context.extend(recipient_names.iter().map(|r| r.as_bytes()));
    let data_key = key.derive("gitopshq sops data key v1", &context);
    let iv_key = key.derive("gitopshq sops iv key v1", &context);
    let cipher = ValueCipher::new(data_key, iv_key);

    let object = identity.to_string();
    let encrypted = tree::encrypt(document, &cipher, &object)?;
    let lastmodified = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mac = cipher.encrypt(encrypted.mac.as_bytes(), "str", &lastmodified);

    let mut age_keys = Vec::with_capacity(recipients.len());
    for (recipient, name) in recipients.iter().zip(&recipient_names) {
        let enc =
            age::encrypt_and_armor(recipient, &data_key).map_err(|source| SopsError::Age {
                object: object.clone(),
                recipient: name.clone(),
                source: Box::new(source),
            })?;
        let mut entry = Map::new();
        entry.insert("recipient".into(), Value::String(name.clone()));
        entry.insert("enc".into(), Value::String(enc));
        age_keys.push(Value::Object(entry));
    }
    let mut metadata = Map::new();
    metadata.insert("age".into(), Value::Array(age_keys));
    metadata.insert("encrypted_regex".into(), ENCRYPTED_REGEX.into());
    metadata.insert("lastmodified".into(), lastmodified.into());
    metadata.insert("mac".into(), mac.into());
    metadata.insert("version".into(), SOPS_VERSION.into());

    let mut out = encrypted.document;
    out.insert(METADATA_KEY.into(), Value::Object(metadata));
    let bytes = emit::document(&out);
    match previous {
        Some(previous) if unchanged(previous, &bytes) => Ok(previous.to_vec()),
        _ => Ok(bytes),
    }
}

/// Whether `previous` holds the same Secret as `next`, both SOPS files written by
/// [`encrypt_secret`] with the same [`DerivationKey`]: every field outside `sops` is equal
/// (clear fields as text, encrypted values as ciphertext, which is a function of the plaintext
/// under that key), and so are the recipients and the encryption rule. Needs no private key.
/// Anything that does not parse as such a file is not unchanged.
pub fn unchanged(previous: &[u8], next: &[u8]) -> bool {
    let (Some(previous), Some(next)) = (parse_sops_file(previous), parse_sops_file(next)) else {
        return false;
    };
    let recipients = |metadata: &Map<String, Value>| -> Option<Vec<Value>> {
        let keys = metadata.get("age")?.as_array()?;
        keys.iter()
            .map(|key| key.get("recipient").cloned())
            .collect()
    };
    previous.body == next.body
        && recipients(&previous.metadata).is_some()
        && recipients(&previous.metadata) == recipients(&next.metadata)
        && previous.metadata.get("encrypted_regex") == next.metadata.get("encrypted_regex")
}

/// Whether `doc` is a SOPS-encrypted YAML document (a top-level `sops` block with a `mac`).
pub fn is_encrypted(doc: &[u8]) -> bool {
    parse_sops_file(doc).is_some()
}

const METADATA_KEY: &str = "sops";

struct SopsFile {
    body: Map<String, Value>,
    metadata: Map<String, Value>,
}

fn parse_sops_file(doc: &[u8]) -> Option<SopsFile> {
    let Ok(Value::Object(mut body)) = yaml_serde::from_slice::<Value>(doc) else {
        return None;
    };
    let Some(Value::Object(metadata)) = body.remove(METADATA_KEY) else {
        return None;
    };
    let has_mac = metadata
        .get("mac")
        .and_then(Value::as_str)
        .is_some_and(|mac| mac.starts_with("ENC["));
    has_mac.then_some(SopsFile { body, metadata })
}

/// Namespace and name of the Secret: they bind the data key to this one object.
struct SecretIdentity {
    namespace: String,
    name: String,
}

impl fmt::Display for SecretIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "Secret {}", self.name)
        } else {
            write!(f, "Secret {}/{}", self.namespace, self.name)
        }
    }
}

fn secret_document(secret: &Value) -> Result<(&Map<String, Value>, SecretIdentity), SopsError> {
    let text = |pointer: &str| secret.pointer(pointer).and_then(Value::as_str);
    let identity = SecretIdentity {
        namespace: text("/metadata/namespace").unwrap_or_default().to_string(),
        name: text("/metadata/name").unwrap_or_default().to_string(),
    };
    let document = match secret {
        Value::Object(document)
            if text("/apiVersion") == Some("v1") && text("/kind") == Some("Secret") =>
        {
            document
        }
        _ => {
            let kind = text("/kind").unwrap_or("object");
            return Err(SopsError::NotASecret {
                object: format!("{kind} {}", identity.name),
            });
        }
    };
    if document.contains_key(METADATA_KEY) {
        return Err(SopsError::AlreadyEncrypted {
            object: identity.to_string(),
        });
    }
    Ok((document, identity))
}

/// Parses, sorts and de-duplicates the recipients, so the order they are listed in changes
/// nothing in the file.
fn parse_recipients(recipients: &[String]) -> Result<Vec<x25519::Recipient>, SopsError> {
    let mut parsed = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let trimmed = recipient.trim();
        let key = trimmed
            .parse::<x25519::Recipient>()
            .map_err(|reason| SopsError::Recipient {
                recipient: recipient.clone(),
                reason: reason.to_string(),
            })?;
        parsed.push((key.to_string(), key));
    }
    if parsed.is_empty() {
        return Err(SopsError::NoRecipients);
    }
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.dedup_by(|a, b| a.0 == b.0);
    Ok(parsed.into_iter().map(|(_, key)| key).collect())
}
