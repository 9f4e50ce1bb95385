//! The tree walk of getsops/sops `sops.go` (`Tree.Encrypt`, `walkBranch`, `ToBytes`): which
//! values are encrypted, the additional data each gets, and the bytes the MAC hashes.

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha512};

use super::SopsError;
use super::cipher::ValueCipher;

/// The document with `data`/`stringData` values encrypted, and the MAC's plaintext.
pub(super) struct EncryptedTree {
    pub(super) document: Map<String, Value>,
    /// Upper-case hex of SHA-512 over every value, as sops prints it (`%X`).
    pub(super) mac: String,
}

pub(super) fn encrypt(
    document: &Map<String, Value>,
    cipher: &ValueCipher,
    object: &str,
) -> Result<EncryptedTree, SopsError> {
    let mut walk = Walk {
        cipher,
        object,
        hash: Sha512::new(),
        path: Vec::new(),
    };
    let document = walk.mapping(document, false)?;
    Ok(EncryptedTree {
        document,
        mac: hex::encode_upper(walk.hash.finalize()),
    })
}

/// sops's `encrypted_regex: ^(data|stringData)$` matched against every component of the key
/// path: a value is encrypted when any key above it is `data` or `stringData`, even a label
/// named `data`. Writing the same rule sops applies on decryption is what makes it decrypt.
pub(super) fn is_encrypted_key(key: &str) -> bool {
    key == "data" || key == "stringData"
}

/// sops's additional data for a value: the keys of its path, each followed by `:`. Sequence
/// items share the path of their sequence.
pub(super) fn additional_data(path: &[&str]) -> String {
    path.iter().map(|key| format!("{key}:")).collect()
}

/// A scalar as sops sees it after reading the YAML back: its type name and its bytes for the
/// MAC (`ToBytes`: booleans as `True`/`False`, floats in Go's shortest non-exponent form).
pub(super) fn scalar_bytes(value: &Value) -> Result<Option<(&'static str, Vec<u8>)>, String> {
    Ok(match value {
        Value::Null => None,
        Value::String(text) => Some(("str", text.as_bytes().to_vec())),
        Value::Bool(true) => Some(("bool", b"True".to_vec())),
        Value::Bool(false) => Some(("bool", b"False".to_vec())),
        Value::Number(number) => Some(number_bytes(number)?),
        Value::Array(_) | Value::Object(_) => return Err("is not a scalar".into()),
    })
}

fn number_bytes(number: &Number) -> Result<(&'static str, Vec<u8>), String> {
    if let Some(int) = number.as_i64() {
        return Ok(("int", int.to_string().into_bytes()));
    }
    if number.is_u64() {
        // Go's YAML decoder gives a uint64 here, which sops cannot walk.
        return Err(format!(
            "is {number}, beyond the 64-bit signed integers sops reads"
        ));
    }
    let float = number.as_f64().ok_or("is not a number sops reads")?;
    // Rust's Display of f64 is the shortest round-trip form without an exponent, which is Go's
    // strconv.FormatFloat(v, 'f', -1, 64).
    Ok(("float", float.to_string().into_bytes()))
}

struct Walk<'a> {
    cipher: &'a ValueCipher,
    object: &'a str,
    hash: Sha512,
    path: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn mapping(
        &mut self,
        mapping: &'a Map<String, Value>,
        encrypted: bool,
    ) -> Result<Map<String, Value>, SopsError> {
        let mut out = Map::with_capacity(mapping.len());
        for (key, value) in mapping {
            self.path.push(key);
            let walked = self.value(value, encrypted || is_encrypted_key(key))?;
            self.path.pop();
            out.insert(key.clone(), walked);
        }
        Ok(out)
    }

    fn value(&mut self, value: &'a Value, encrypted: bool) -> Result<Value, SopsError> {
        match value {
            Value::Object(mapping) => Ok(Value::Object(self.mapping(mapping, encrypted)?)),
            Value::Array(items) => items
                .iter()
                .map(|item| self.value(item, encrypted))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            scalar => self.scalar(scalar, encrypted),
        }
    }

    fn scalar(&mut self, value: &Value, encrypted: bool) -> Result<Value, SopsError> {
        let bytes = scalar_bytes(value).map_err(|problem| SopsError::Value {
            object: self.object.to_string(),
            field: self.path.join("."),
            problem,
        })?;
        // A null is neither hashed nor encrypted (sops's walkValue returns it untouched).
        let Some((value_type, bytes)) = bytes else {
            return Ok(Value::Null);
        };
        self.hash.update(&bytes);
        if !encrypted {
            return Ok(value.clone());
        }
        // sops leaves an empty string empty rather than encrypting it.
        if value.as_str() == Some("") {
            return Ok(Value::String(String::new()));
        }
        let ciphertext = self
            .cipher
            .encrypt(&bytes, value_type, &additional_data(&self.path));
        Ok(Value::String(ciphertext))
    }
}
