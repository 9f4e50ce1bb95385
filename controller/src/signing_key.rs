//! `--signing-key-secret`: the Secret holding the key that signs delivery commits, in the
//! `kubernetes.io/ssh-auth` layout (key `ssh-privatekey`). The controller reads
//! it whenever it is about to commit, so a rotated key signs from the next commit on, without
//! a restart; when it is configured but cannot be used, nothing is committed.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use gitopshq_delivery::git::{KeyOrigin, SigningKey};

/// The data key of a `kubernetes.io/ssh-auth` Secret that holds the private key.
pub const SSH_PRIVATE_KEY: &str = "ssh-privatekey";

/// `--signing-key-secret` as written: `NAMESPACE/NAME`, or `NAME` of a Secret in the
/// controller's own namespace (`--lease-namespace`), as the webhook's `--tls-secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeySecretRef {
    pub namespace: Option<String>,
    pub name: String,
}

impl SigningKeySecretRef {
    /// The Secret, with `own_namespace` where the reference names none.
    pub fn resolve(&self, own_namespace: &str) -> SigningKeySecret {
        SigningKeySecret {
            namespace: self
                .namespace
                .clone()
                .unwrap_or_else(|| own_namespace.to_string()),
            name: self.name.clone(),
        }
    }
}

impl FromStr for SigningKeySecretRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let dns = |part: &str| {
            !part.is_empty()
                && part.len() <= 253
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        };
        let (namespace, name) = match s.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, s),
        };
        if namespace.is_none_or(dns) && dns(name) {
            return Ok(Self {
                namespace: namespace.map(str::to_string),
                name: name.to_string(),
            });
        }
        Err(format!(
            "{s:?} is not NAMESPACE/NAME or NAME of a Secret (lowercase letters, digits, '-', '.'); name the Secret holding the commit signing key, e.g. gitopshq-signing-key"
        ))
    }
}

/// Where the signing key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeySecret {
    pub namespace: String,
    pub name: String,
}

impl SigningKeySecret {
    fn origin(&self) -> KeyOrigin {
        KeyOrigin::Secret {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            key: SSH_PRIVATE_KEY.into(),
        }
    }

    /// The key in the Secret's `data` (`None`: the Secret does not exist); the error says what
    /// is wrong and how to fix it.
    pub fn key_from(&self, data: Option<&BTreeMap<String, Vec<u8>>>) -> Result<SigningKey, String> {
        let origin = self.origin();
        let Some(data) = data else {
            return Err(format!(
                "the commit signing key Secret {self} does not exist; {} (or fix --signing-key-secret)",
                origin.how_to_fix()
            ));
        };
        let Some(text) = data.get(SSH_PRIVATE_KEY) else {
            return Err(format!(
                "the commit signing key Secret {self} has no key {SSH_PRIVATE_KEY}; {}",
                origin.how_to_fix()
            ));
        };
        SigningKey::from_openssh(text, origin).map_err(|e| e.to_string())
    }
}

impl fmt::Display for SigningKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SigningKeySecret {
        let reference: SigningKeySecretRef = "gitopshq-signing-key".parse().unwrap();
        reference.resolve("gitopshq-system")
    }

    #[test]
    fn the_reference_is_namespace_and_name_or_a_name_in_the_controller_s_namespace() {
        assert_eq!(
            secret(),
            SigningKeySecret {
                namespace: "gitopshq-system".into(),
                name: "gitopshq-signing-key".into()
            }
        );
        let elsewhere: SigningKeySecretRef = "keys/release-signing".parse().unwrap();
        assert_eq!(
            elsewhere.resolve("gitopshq-system").to_string(),
            "keys/release-signing"
        );
        for wrong in ["a/b/c", "/x", "x/", "Upper/case", ""] {
            let error = wrong.parse::<SigningKeySecretRef>().unwrap_err();
            assert!(
                error.contains("is not NAMESPACE/NAME or NAME"),
                "{wrong}: {error}"
            );
        }
    }

    #[test]
    fn a_missing_or_unusable_secret_says_how_to_create_one() {
        let missing = secret().key_from(None).unwrap_err();
        assert!(
            missing.starts_with(
                "the commit signing key Secret gitopshq-system/gitopshq-signing-key does not exist; create a key with `ssh-keygen -t ed25519"
            ) && missing.contains("kubectl -n gitopshq-system create secret generic gitopshq-signing-key --type=kubernetes.io/ssh-auth --from-file=ssh-privatekey=")
                && missing.ends_with("(or fix --signing-key-secret)"),
            "{missing}"
        );
        let wrong_key = BTreeMap::from([("identity".to_string(), b"x".to_vec())]);
        let error = secret().key_from(Some(&wrong_key)).unwrap_err();
        assert!(error.contains("has no key ssh-privatekey"), "{error}");
        let garbage = BTreeMap::from([(SSH_PRIVATE_KEY.to_string(), b"hunter2".to_vec())]);
        let error = secret().key_from(Some(&garbage)).unwrap_err();
        assert!(
            error.starts_with("key ssh-privatekey of Secret gitopshq-system/gitopshq-signing-key is not an OpenSSH private key"),
            "{error}"
        );
    }
}
