//! New objects are built in memory and persisted as one pack: a release of 10,000 workload dirs
//! writes ~60,000 objects, which as loose files would cost one file each.
//!
//! The pack holds exactly the objects the build created (the caller lists them), not everything
//! reachable from the new commit: a release touching one workload in a repository of 50,000
//! objects packs a few hundred. Delta compression is off for this pack. The objects are small,
//! mostly distinct YAML files and trees; libgit2's delta search over them costs more time than
//! it saves space, and `git gc` on the repository still finds deltas later.

use std::io::Write;
use std::path::Path;

use git2::{Buf, ConfigLevel, Odb, OdbLookupFlags, Oid, Repository};

/// Priority above libgit2's loose (1) and pack (2) backends, so every write lands in memory.
const MEMPACK_PRIORITY: i32 = 1000;

/// Configuration of the handle that builds the pack. libgit2 skips the delta search for objects
/// above `pack.bigFileThreshold`; libgit2 1.9 reads that limit from `pack.deltaCacheSize`, so
/// both are set.
const NO_DELTA_CONFIG: &str = "[pack]\n\tbigFileThreshold = 1\n\tdeltaCacheSize = 1\n";
const NO_DELTA_CONFIG_FILE: &str = "gitopshq-pack.config";

pub(super) enum Error<E> {
    Build(E),
    Persist(git2::Error),
}

/// What a build produced: its result and the ids of the objects it wrote (in any order,
/// repeats allowed; objects that already existed are fine too, they are left out of the pack).
pub(super) struct Built<T> {
    pub(super) value: T,
    pub(super) objects: Vec<Oid>,
}

/// Runs `build` with writes going to an in-memory store. When it returns `Some`, the new objects
/// it lists are persisted as a single pack in the repository; with `None` they are dropped.
/// `repo` must not be used to write objects after this returns: the in-memory backend stays
/// attached to the handle, so callers open a fresh handle per build. `scratch` is a directory
/// of the caller's where a small configuration file for the pack builder is kept.
pub(super) fn in_memory<T, E>(
    repo: &Repository,
    scratch: &Path,
    build: impl FnOnce(&Repository) -> Result<Option<Built<T>>, E>,
) -> Result<Option<T>, Error<E>> {
    let odb = repo.odb().map_err(Error::Persist)?;
    let mempack = odb
        .add_new_mempack_backend(MEMPACK_PRIORITY)
        .map_err(Error::Persist)?;
    let built = build(repo).map_err(Error::Build)?;
    let value = match built {
        Some(Built { value, objects }) => {
            persist(repo, &odb, scratch, objects).map_err(Error::Persist)?;
            Some(value)
        }
        None => None,
    };
    // The objects now live in the pack; drop the in-memory copies.
    mempack.reset().map_err(Error::Persist)?;
    Ok(value)
}

fn persist(
    repo: &Repository,
    odb: &Odb<'_>,
    scratch: &Path,
    mut objects: Vec<Oid>,
) -> Result<(), git2::Error> {
    objects.sort_unstable();
    objects.dedup();
    // The repository's stores without the in-memory one: what is already on disk.
    let on_disk = Odb::new()?;
    on_disk.add_disk_alternate(&repo.path().join("objects").to_string_lossy())?;
    // No refresh: a miss would rescan the pack directory for every new object.
    objects.retain(|oid| !on_disk.exists_ext(*oid, OdbLookupFlags::NO_REFRESH));
    if objects.is_empty() {
        return Ok(());
    }

    // A second handle on the same object store (memory included) whose configuration turns
    // the delta search off; the caller's handle keeps its own settings (its pushes still
    // compute deltas for the network).
    let packer = Repository::open(repo.path())?;
    packer.set_odb(odb)?;
    packer
        .config()?
        .add_file(&no_delta_config(scratch)?, ConfigLevel::App, true)?;
    let mut builder = packer.packbuilder()?;
    builder.set_threads(0);
    for oid in objects {
        builder.insert_object(oid, None)?;
    }
    let mut buf = Buf::new();
    builder.write_buf(&mut buf)?;
    drop(builder);

    let mut writer = odb.packwriter()?;
    writer
        .write_all(&buf)
        .map_err(|e| git2::Error::from_str(&e.to_string()))?;
    writer.commit()?;
    // Later reads (the push) must find the objects in the new pack after the reset.
    odb.refresh()
}

fn no_delta_config(scratch: &Path) -> Result<std::path::PathBuf, git2::Error> {
    let io = |e: std::io::Error| git2::Error::from_str(&e.to_string());
    let path = scratch.join(NO_DELTA_CONFIG_FILE);
    if std::fs::read(&path).ok().as_deref() != Some(NO_DELTA_CONFIG.as_bytes()) {
        std::fs::create_dir_all(scratch).map_err(io)?;
        // Written aside and renamed: a concurrent reader never sees half a file.
        let tmp = scratch.join(format!("{NO_DELTA_CONFIG_FILE}.{}", std::process::id()));
        std::fs::write(&tmp, NO_DELTA_CONFIG).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
    }
    Ok(path)
}
