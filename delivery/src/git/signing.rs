//! The key that signs delivery commits: an unencrypted OpenSSH ed25519 private key (what
//! `ssh-keygen -t ed25519 -N ''` writes), signing as `git -c gpg.format=ssh commit -S` does —
//! an SSHSIG over the unsigned commit object in namespace `git` with SHA-512, armored in the
//! commit's `gpgsig` header ([`gitopshq_engine::signatures::insert_signature`]).

use std::fmt;
use std::path::{Path, PathBuf};

use gitopshq_engine::signatures::{self, GIT_NAMESPACE};
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey};

/// What to run to make a key that fits.
const CREATE_KEY: &str = "ssh-keygen -t ed25519 -N '' -C gitopshq -f gitopshq-signing-key";

/// Where a signing key was read from, as errors name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Key `key` of a Secret (`kubernetes.io/ssh-auth` layout: `ssh-privatekey`).
    Secret {
        namespace: String,
        name: String,
        key: String,
    },
    File(PathBuf),
}

impl KeyOrigin {
    /// How to put a key that fits where this one was.
    pub fn how_to_fix(&self) -> String {
        match self {
            KeyOrigin::Secret {
                namespace,
                name,
                key,
            } => format!(
                "create a key with `{CREATE_KEY}` and store it: kubectl -n {namespace} create secret generic {name} --type=kubernetes.io/ssh-auth --from-file={key}=gitopshq-signing-key (delete the old Secret first)"
            ),
            KeyOrigin::File(_) => {
                format!("create a key with `{CREATE_KEY}` and pass that file")
            }
        }
    }
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Secret {
                namespace,
                name,
                key,
            } => write!(f, "key {key} of Secret {namespace}/{name}"),
            KeyOrigin::File(path) => write!(f, "signing key file {}", path.display()),
        }
    }
}

/// Why a signing key cannot be used. Each names where the key came from and how to make one
/// that fits.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read {origin}: {reason}; check the path, or {}", origin.how_to_fix())]
    Unreadable { origin: KeyOrigin, reason: String },
    #[error(
        "{origin} is not an OpenSSH private key ({reason}); {}",
        origin.how_to_fix()
    )]
    NotOpenSsh { origin: KeyOrigin, reason: String },
    #[error(
        "{origin} is encrypted with a passphrase, which nobody can type for the controller; {}",
        origin.how_to_fix()
    )]
    Encrypted { origin: KeyOrigin },
    #[error(
        "{origin} is an {algorithm} key; delivery commits are signed with ed25519 keys: {}",
        origin.how_to_fix()
    )]
    NotEd25519 {
        origin: KeyOrigin,
        algorithm: String,
    },
}

/// A key that signs commits. Its `Debug` shows the public half only.
#[derive(Clone)]
pub struct SigningKey {
    key: PrivateKey,
    origin: KeyOrigin,
}

impl SigningKey {
    /// Reads an OpenSSH private key (the text `ssh-keygen` writes).
    pub fn from_openssh(text: &[u8], origin: KeyOrigin) -> Result<Self, SigningKeyError> {
        let key = PrivateKey::from_openssh(text).map_err(|e| SigningKeyError::NotOpenSsh {
            reason: if text.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----") {
                e.to_string()
            } else {
                "it does not start with -----BEGIN OPENSSH PRIVATE KEY-----".into()
            },
            origin: origin.clone(),
        })?;
        if key.is_encrypted() {
            return Err(SigningKeyError::Encrypted { origin });
        }
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(SigningKeyError::NotEd25519 {
                algorithm: key.algorithm().to_string(),
                origin,
            });
        }
        Ok(Self { key, origin })
    }

    /// Reads the key file `path`.
    pub fn read_file(path: &Path) -> Result<Self, SigningKeyError> {
        let origin = KeyOrigin::File(path.to_path_buf());
        let text = std::fs::read(path).map_err(|e| SigningKeyError::Unreadable {
            reason: e.to_string(),
            origin: origin.clone(),
        })?;
        Self::from_openssh(&text, origin)
    }

    /// Where the key was read from.
    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// The public half in OpenSSH format (`ssh-ed25519 AAAA… comment`): the line an allowed
    /// signers file lists after a principal.
    pub fn public_key(&self) -> String {
        self.key
            .public_key()
            .to_openssh()
            .unwrap_or_else(|e| format!("<unencodable public key: {e}>"))
    }

    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// A 32-byte secret for `purpose`, derived from the private key (HMAC-SHA256 keyed with
    /// it): other secrets of the same installation (the key Secrets are encrypted under) follow
    /// the signing key without a Secret of their own. `None` for keys other than ed25519.
    pub fn derived_secret(&self, purpose: &str) -> Option<[u8; 32]> {
        let keypair = self.key.key_data().ed25519()?;
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &keypair.private.to_bytes());
        let tag = ring::hmac::sign(&key, purpose.as_bytes());
        tag.as_ref().try_into().ok()
    }

    /// `unsigned` (a commit object without a signature) with the `gpgsig` header git would add.
    pub fn sign_commit(&self, unsigned: &[u8]) -> Result<Vec<u8>, ssh_key::Error> {
        let signature = self.key.sign(GIT_NAMESPACE, HashAlg::Sha512, unsigned)?;
        let armored = signature.to_pem(LineEnding::LF)?;
        Ok(signatures::insert_signature(unsigned, &armored))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .field("origin", &self.origin)
            .finish()
    }
}

/// Keys are the same when their public halves are.
impl PartialEq for SigningKey {
    fn eq(&self, other: &Self) -> bool {
        self.key.public_key() == other.key.public_key()
    }
}

impl Eq for SigningKey {}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../engine/tests/fixtures/signed-commit"
    );

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(Path::new(FIXTURE).join(name)).unwrap()
    }

    fn secret_origin() -> KeyOrigin {
        KeyOrigin::Secret {
            namespace: "gitopshq-system".into(),
            name: "gitopshq-signing-key".into(),
            key: "ssh-privatekey".into(),
        }
    }

    #[test]
    fn a_signed_commit_is_byte_for_byte_what_git_writes() {
        let key = SigningKey::read_file(&Path::new(FIXTURE).join("signing-key")).unwrap();
        let signed_by_git = fixture("commit");
        let unsigned = signatures::split_signature(&signed_by_git).payload;
        assert_eq!(
            String::from_utf8(key.sign_commit(&unsigned).unwrap()).unwrap(),
            String::from_utf8(signed_by_git).unwrap()
        );
        assert_eq!(
            key.public_key(),
            String::from_utf8(fixture("signing-key.pub"))
                .unwrap()
                .trim()
        );
    }

    #[test]
    fn a_key_that_does_not_fit_names_where_it_came_from_and_how_to_make_one() {
        let error = SigningKey::from_openssh(b"not a key", secret_origin()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "key ssh-privatekey of Secret gitopshq-system/gitopshq-signing-key is not an OpenSSH private key (it does not start with -----BEGIN OPENSSH PRIVATE KEY-----); create a key with `ssh-keygen -t ed25519 -N '' -C gitopshq -f gitopshq-signing-key` and store it: kubectl -n gitopshq-system create secret generic gitopshq-signing-key --type=kubernetes.io/ssh-auth --from-file=ssh-privatekey=gitopshq-signing-key (delete the old Secret first)"
        );

        let public_only = fixture("signing-key.pub");
        let error = SigningKey::from_openssh(&public_only, secret_origin()).unwrap_err();
        assert!(
            matches!(error, SigningKeyError::NotOpenSsh { .. }),
            "{error}"
        );

        let missing = Path::new(FIXTURE).join("no-such-key");
        let error = SigningKey::read_file(&missing).unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot read signing key file {}: ",
                missing.display()
            )) && text.ends_with("and pass that file"),
            "{text}"
        );
    }
}
