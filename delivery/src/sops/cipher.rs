//! sops's value format: AES-256-GCM with a 32-byte IV, written as
//! `ENC[AES256_GCM,data:<base64>,iv:<base64>,tag:<base64>,type:<type>]` (getsops/sops
//! `aes/cipher.go`). The IV is derived instead of drawn, see the module documentation.

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// AES-GCM with sops's 32-byte nonces (GCM hashes a nonce of any length other than 12 bytes
/// into its first counter block, as Go's `cipher.NewGCMWithNonceSize` does).
type SopsGcm = AesGcm<Aes256, U32>;

const TAG_LEN: usize = 16;

pub(super) struct ValueCipher {
    gcm: SopsGcm,
    iv_key: [u8; 32],
}

impl ValueCipher {
    pub(super) fn new(data_key: [u8; 32], iv_key: [u8; 32]) -> Self {
        ValueCipher {
            gcm: SopsGcm::new(GenericArray::from_slice(&data_key)),
            iv_key,
        }
    }

    /// Encrypts one value. `value_type` is sops's name for how to read the plaintext back
    /// (`str`, `int`, `float`, `bool`); `additional_data` is the key path (`data:password:`) or,
    /// for the MAC, `lastmodified`.
    pub(super) fn encrypt(
        &self,
        plaintext: &[u8],
        value_type: &str,
        additional_data: &str,
    ) -> String {
        // The IV covers everything that goes into the ciphertext, so equal IVs mean equal
        // inputs: an IV is never used for two different plaintexts.
        let iv = super::derive(
            &self.iv_key,
            "gitopshq sops value iv v1",
            &[additional_data.as_bytes(), value_type.as_bytes(), plaintext],
        );
        let sealed = self
            .gcm
            .encrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: plaintext,
                    aad: additional_data.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any value shorter than 64 GiB");
        let (data, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{value_type}]",
            STANDARD.encode(data),
            STANDARD.encode(iv),
            STANDARD.encode(tag),
        )
    }

    /// Decrypts a value this format wrote, returning its type and plaintext. Only tests read
    /// values back: delivery never needs a plaintext it did not render.
    #[cfg(test)]
    pub(super) fn decrypt(
        &self,
        value: &str,
        additional_data: &str,
    ) -> Result<(String, Vec<u8>), String> {
        let inner = value
            .strip_prefix("ENC[AES256_GCM,")
            .and_then(|rest| rest.strip_suffix(']'))
            .ok_or_else(|| format!("{value:?} is not a sops value"))?;
        let mut fields = std::collections::BTreeMap::new();
        for field in inner.split(',') {
            let (name, content) = field
                .split_once(':')
                .ok_or_else(|| format!("field {field:?} of {value:?} has no name"))?;
            fields.insert(name, content);
        }
        let decode = |name: &str| -> Result<Vec<u8>, String> {
            let content = fields
                .get(name)
                .ok_or_else(|| format!("no {name} in {value:?}"))?;
            STANDARD.decode(content).map_err(|e| format!("{name}: {e}"))
        };
        let (mut data, iv, tag) = (decode("data")?, decode("iv")?, decode("tag")?);
        if iv.len() != 32 {
            return Err(format!("the IV has {} bytes, not 32", iv.len()));
        }
        data.extend_from_slice(&tag);
        let plaintext = self
            .gcm
            .decrypt(
                Nonce::<U32>::from_slice(&iv),
                Payload {
                    msg: &data,
                    aad: additional_data.as_bytes(),
                },
            )
            .map_err(|_| format!("{value:?} does not decrypt under {additional_data:?}"))?;
        let value_type = fields.get("type").copied().unwrap_or_default().to_string();
        Ok((value_type, plaintext))
    }
}
