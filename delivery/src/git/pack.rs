//! New objects are persisted as one pack with its index: a release of 10,000 workload dirs
//! writes ~60,000 objects, which as loose files would cost one file each.
//!
//! The pack holds exactly the objects a delivery created that the repository lacks, not
//! everything reachable from the new commit: a release touching one workload in a repository of
//! 50,000 objects packs a few hundred. The objects never pass through libgit2's object database
//! on the way: their ids are computed here (libgit2's hash, with collision detection), their
//! contents compressed on every core (see [`super::codec`]), and the pack and its version-2
//! index written next to the repository's other packs, index last, so a reader sees either
//! no pack or a whole one. No delta compression: the objects are small, mostly distinct YAML
//! files and trees; `git gc` still finds deltas later.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use git2::{ObjectType, OdbLookupFlags, Oid, Repository};

use super::codec::{Deflater, Sha1, crc32};

/// One object to store.
pub(super) struct Object<'a> {
    pub(super) id: Oid,
    pub(super) kind: ObjectType,
    pub(super) data: Cow<'a, [u8]>,
}

impl<'a> Object<'a> {
    /// The object of `kind` holding `data`, with its id computed.
    pub(super) fn new(kind: ObjectType, data: Cow<'a, [u8]>) -> Result<Self, git2::Error> {
        Ok(Object {
            id: Oid::hash_object(kind, &data)?,
            kind,
            data,
        })
    }
}

/// Ids of `blobs`, hashed on every core, in order.
pub(super) fn hash_blobs(blobs: &[&[u8]]) -> Result<Vec<Oid>, git2::Error> {
    let hash = |part: &[&[u8]]| -> Result<Vec<Oid>, git2::Error> {
        part.iter()
            .map(|b| Oid::hash_object(ObjectType::Blob, b))
            .collect()
    };
    let threads = threads_for(blobs.iter().map(|b| b.len()).sum());
    if threads < 2 {
        return hash(blobs);
    }
    let per = blobs.len().div_ceil(threads);
    let parts: Vec<Result<Vec<Oid>, git2::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = blobs
            .chunks(per)
            .map(|part| scope.spawn(move || hash(part)))
            .collect();
        handles.into_iter().map(join).collect()
    });
    let mut ids = Vec::with_capacity(blobs.len());
    for part in parts {
        ids.extend(part?);
    }
    Ok(ids)
}

/// Below this much data one thread does the work faster than starting more.
const PARALLEL_BYTES: usize = 1 << 20;

fn threads_for(bytes: usize) -> usize {
    if bytes < PARALLEL_BYTES {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// Compressed pack entries of a run of objects.
struct Entries {
    bytes: Vec<u8>,
    /// Id, offset in `bytes` and CRC-32 of each entry.
    index: Vec<(Oid, usize, u32)>,
}

fn entries(objects: &[Object<'_>]) -> Entries {
    let raw: usize = objects.iter().map(|o| o.data.len()).sum();
    let mut out = Entries {
        bytes: Vec::with_capacity(raw / 3 + 64 * objects.len()),
        index: Vec::with_capacity(objects.len()),
    };
    let mut deflater = Deflater::new();
    for o in objects {
        let start = out.bytes.len();
        entry_header(&mut out.bytes, type_code(o.kind), o.data.len());
        deflater.zlib(&o.data, &mut out.bytes);
        out.index.push((o.id, start, crc32(&out.bytes[start..])));
    }
    out
}

fn type_code(kind: ObjectType) -> u8 {
    match kind {
        ObjectType::Commit => 1,
        ObjectType::Tree => 2,
        ObjectType::Blob => 3,
        ObjectType::Tag => 4,
        // Only the four storable kinds are ever built.
        _ => unreachable!("not a storable object kind"),
    }
}

/// Type and size, the size in little-endian groups of 4 then 7 bits.
fn entry_header(out: &mut Vec<u8>, code: u8, size: usize) {
    let mut size = size as u64;
    let mut byte = (code << 4) | (size & 0x0f) as u8;
    size >>= 4;
    while size != 0 {
        out.push(byte | 0x80);
        byte = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(byte);
}

/// Stores the objects `repo` does not have yet (repeats allowed) as one pack, and refreshes the
/// repository's view of its packs.
pub(super) fn write(repo: &Repository, objects: Vec<Object<'_>>) -> Result<(), git2::Error> {
    write_in_rounds(repo, objects, ROUND_BYTES)
}

/// [`write`], compressing about `round_bytes` of raw data at a time.
fn write_in_rounds(
    repo: &Repository,
    objects: Vec<Object<'_>>,
    round_bytes: usize,
) -> Result<(), git2::Error> {
    let odb = repo.odb()?;
    // Once, for packs written since the handle was opened (a fetch, another writer); then no
    // refresh per lookup: a miss would rescan the pack directory for every new object.
    odb.refresh()?;
    let mut seen = HashSet::with_capacity(objects.len());
    let objects: Vec<Object<'_>> = objects
        .into_iter()
        .filter(|o| seen.insert(o.id) && !odb.exists_ext(o.id, OdbLookupFlags::NO_REFRESH))
        .collect();
    if objects.is_empty() {
        return Ok(());
    }
    if objects.len() > u32::MAX as usize {
        return Err(git2::Error::from_str("too many objects for one pack"));
    }

    let dir = repo.commondir().join("objects").join("pack");
    std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
    let tmp = |what: &str| {
        dir.join(format!(
            "tmp_{what}_gitopshq_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ))
    };
    let (pack_tmp, idx_tmp) = (tmp("pack"), tmp("idx"));
    let result = write_files(&objects, round_bytes, &dir, &pack_tmp, &idx_tmp);
    if result.is_err() {
        let _ = std::fs::remove_file(&pack_tmp);
        let _ = std::fs::remove_file(&idx_tmp);
    }
    result?;
    // Later reads (the commit, the push) must find the new objects.
    odb.refresh()
}

/// Raw bytes compressed per round: the pack is written round by round, so a delivery of
/// hundreds of megabytes never holds its whole compressed pack in memory.
const ROUND_BYTES: usize = 32 << 20;

/// `objects` cut into consecutive runs of about `limit` raw bytes (at least one object each).
fn runs_of<'o, 'a>(objects: &'o [Object<'a>], limit: usize) -> Vec<&'o [Object<'a>]> {
    let mut runs = Vec::new();
    let (mut start, mut filled) = (0, 0);
    for (i, o) in objects.iter().enumerate() {
        filled += o.data.len();
        if filled >= limit {
            runs.push(&objects[start..=i]);
            (start, filled) = (i + 1, 0);
        }
    }
    if start < objects.len() {
        runs.push(&objects[start..]);
    }
    runs
}

/// The pack entries of `objects`, compressed on every core when there is enough data.
fn compress(objects: &[Object<'_>]) -> Vec<Entries> {
    let bytes: usize = objects.iter().map(|o| o.data.len()).sum();
    let threads = threads_for(bytes);
    if threads < 2 {
        return vec![entries(objects)];
    }
    // Runs of about equal size, one per core.
    let runs = runs_of(objects, bytes.div_ceil(threads));
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || entries(run)))
            .collect();
        handles.into_iter().map(join).collect()
    })
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> git2::Error {
    let path = path.to_path_buf();
    move |e| git2::Error::from_str(&format!("{action} {}: {e}", path.display()))
}

fn write_files(
    objects: &[Object<'_>],
    round_bytes: usize,
    dir: &Path,
    pack_tmp: &Path,
    idx_tmp: &Path,
) -> Result<(), git2::Error> {
    // Errors name the pack folder, never the temporary file: its name changes on every
    // attempt, and a message that changes rewrites the release's status each time.
    let mut pack =
        std::fs::File::create(pack_tmp).map_err(io_error("creating a pack file in", dir))?;
    let mut sha = Sha1::new();
    let mut put = |bytes: &[u8]| -> Result<(), git2::Error> {
        sha.update(bytes);
        pack.write_all(bytes)
            .map_err(io_error("writing a pack file in", dir))
    };
    let mut header = Vec::with_capacity(12);
    header.extend_from_slice(b"PACK");
    header.extend_from_slice(&2u32.to_be_bytes());
    header.extend_from_slice(&(objects.len() as u32).to_be_bytes());
    put(&header)?;
    let mut index: Vec<(Oid, u64, u32)> = Vec::with_capacity(objects.len());
    let mut offset = header.len() as u64;
    for round in runs_of(objects, round_bytes) {
        for part in compress(round) {
            put(&part.bytes)?;
            index.extend(
                part.index
                    .into_iter()
                    .map(|(id, at, crc)| (id, offset + at as u64, crc)),
            );
            offset += part.bytes.len() as u64;
        }
    }
    let checksum = sha.finish();
    pack.write_all(&checksum)
        .map_err(io_error("writing a pack file in", dir))?;
    drop(pack);

    index.sort_unstable_by_key(|e| e.0);
    let idx = index_file(&index, &checksum);
    std::fs::write(idx_tmp, &idx).map_err(io_error("writing a pack index in", dir))?;

    let name: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
    let pack_path = dir.join(format!("pack-{name}.pack"));
    let idx_path = dir.join(format!("pack-{name}.idx"));
    for (from, to) in [(pack_tmp, &pack_path), (idx_tmp, &idx_path)] {
        read_only(from);
        std::fs::rename(from, to).map_err(io_error("moving a new pack into", dir))?;
    }
    Ok(())
}

/// Packs are immutable; Git creates them read-only.
fn read_only(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mut perms = meta.permissions();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            perms.set_mode(0o444);
        }
        #[cfg(not(unix))]
        perms.set_readonly(true);
        let _ = std::fs::set_permissions(path, perms);
    }
}

/// The version-2 pack index of `index` (sorted by id): fan-out table, ids, CRC-32s, offsets
/// (with a 64-bit table for those past 2 GiB), the pack's checksum and its own.
fn index_file(index: &[(Oid, u64, u32)], pack_checksum: &[u8; 20]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 1024 + index.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut fanout = [0u32; 256];
    for (id, _, _) in index {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0;
    for count in fanout {
        total += count;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in index {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, _, crc) in index {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, offset, _) in index {
        if *offset < 0x8000_0000 {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            out.extend_from_slice(&(0x8000_0000 | large.len() as u32).to_be_bytes());
            large.push(*offset);
        }
    }
    for offset in large {
        out.extend_from_slice(&offset.to_be_bytes());
    }
    out.extend_from_slice(pack_checksum);
    let mut sha = Sha1::new();
    sha.update(&out);
    out.extend_from_slice(&sha.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `repo` keeps its packs.
    fn pack_dir(repo: &Repository) -> std::path::PathBuf {
        repo.commondir().join("objects").join("pack")
    }

    fn blob(data: &[u8]) -> Object<'static> {
        Object::new(ObjectType::Blob, Cow::Owned(data.to_vec())).unwrap()
    }

    fn yaml(i: usize) -> Vec<u8> {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  labels:\n    app: svc-{i}\n  name: svc-{i}\n  namespace: tenant-{i}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - image: registry.example.com/svc-{i}:v1.{i}.0\n        name: svc-{i}\n"
        )
        .into_bytes()
    }

    #[test]
    fn written_objects_read_back_through_libgit2() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut data: Vec<Vec<u8>> = (0..500).map(yaml).collect();
        data.push(Vec::new());
        data.push((0..=255u8).cycle().take(300_000).collect());
        // Pseudo-random bytes: incompressible, stored as is.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        data.push(
            (0..100_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
        data.push(vec![b'a'; 70_000]);
        data.push(b"abcabcabcabcabcabcabcabcx".repeat(5000));
        let objects: Vec<Object<'_>> = data.iter().map(|d| blob(d)).collect();
        let ids: Vec<Oid> = objects.iter().map(|o| o.id).collect();
        write(&repo, objects).unwrap();

        let packs: Vec<_> = std::fs::read_dir(pack_dir(&repo))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(packs.len(), 2, "{packs:?}");
        assert!(packs.iter().all(|p| p.starts_with("pack-")), "{packs:?}");
        let repo = Repository::open_bare(dir.path()).unwrap();
        for (id, d) in ids.iter().zip(&data) {
            assert_eq!(repo.find_blob(*id).unwrap().content(), &d[..]);
        }

        // Existing objects are not packed again; new ones go into a second pack.
        let again: Vec<Object<'_>> = data.iter().map(|d| blob(d)).collect();
        write(&repo, again).unwrap();
        assert_eq!(std::fs::read_dir(pack_dir(&repo)).unwrap().count(), 2);
        write(&repo, vec![blob(b"new\n"), blob(b"new\n")]).unwrap();
        assert_eq!(std::fs::read_dir(pack_dir(&repo)).unwrap().count(), 4);
    }

    /// Git itself checks every checksum, CRC and object of the pack.
    #[test]
    fn git_verifies_the_pack() {
        if std::process::Command::new("git")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("git not installed: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let data: Vec<Vec<u8>> = (0..3000).map(yaml).collect();
        let objects: Vec<Object<'_>> = data.iter().map(|d| blob(d)).collect();
        // Small rounds: the pack is written in many, on every core, and is still one pack.
        let raw: usize = data.iter().map(Vec::len).sum();
        write_in_rounds(&repo, objects, raw / 7).unwrap();
        let idx = std::fs::read_dir(pack_dir(&repo))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "idx"))
            .unwrap();
        let out = std::process::Command::new("git")
            .arg("verify-pack")
            .arg(&idx)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
