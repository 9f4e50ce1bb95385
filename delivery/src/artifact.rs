//! A tenant's folder as the archive Flux fetches (`ExternalArtifact`): a gzip-compressed tar
//! of its files, the same bytes for the same files, so the digest published for a commit
//! still matches when the archive is built again on another request or after a restart.

use std::collections::BTreeMap;
use std::io::Write;

use sha2::{Digest, Sha256};

/// The archive of `files` (paths relative to the archive's root, as
/// [`crate::git::files_at`] keys them): entries in path order, every header written the
/// same way (no time, owner 0, mode 0644), gzip without a name or a time.
pub fn archive(files: &BTreeMap<String, Vec<u8>>) -> std::io::Result<Vec<u8>> {
    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder.append_data(&mut header, path, content.as_slice())?;
    }
    let mut encoder = builder.into_inner()?;
    encoder.flush()?;
    encoder.finish()
}

/// `sha256:<hex>` of `bytes`, as Flux writes and checks an artifact's digest.
pub fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn files() -> BTreeMap<String, Vec<u8>> {
        [
            ("kustomization.yaml", "resources: [payment-api.yaml]\n"),
            ("payment-api.yaml", "kind: Deployment\n"),
            ("secrets/db.sops.yaml", "sops: {}\n"),
        ]
        .into_iter()
        .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
        .collect()
    }

    #[test]
    fn the_same_files_make_the_same_bytes() {
        let one = archive(&files()).unwrap();
        let two = archive(&files()).unwrap();
        assert_eq!(digest(&one), digest(&two));
        let mut other = files();
        other.insert("payment-api.yaml".into(), b"kind: StatefulSet\n".to_vec());
        assert_ne!(digest(&archive(&other).unwrap()), digest(&one));
    }

    #[test]
    fn the_archive_holds_each_file_at_its_path() {
        let bytes = archive(&files()).unwrap();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        let mut read = BTreeMap::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            assert_eq!(entry.header().mode().unwrap(), 0o644);
            assert_eq!(entry.header().mtime().unwrap(), 0);
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            read.insert(path, content);
        }
        assert_eq!(read, files());
    }

    #[test]
    fn the_digest_is_sha256_as_flux_writes_it() {
        assert_eq!(
            digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
