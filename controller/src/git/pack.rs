//! New objects are built in memory and persisted as one pack: a release of 10,000 workload dirs
//! writes ~60,000 objects, which as loose files would cost one file each.

use std::io::Write;

use git2::{Buf, Repository};

/// Priority above libgit2's loose (1) and pack (2) backends, so every write lands in memory.
const MEMPACK_PRIORITY: i32 = 1000;

pub(super) enum Error<E> {
    Build(E),
    Persist(git2::Error),
}

/// Runs `build` with writes going to an in-memory store. When it returns `Some`, the objects it
/// wrote are persisted as a single pack in the repository; with `None` they are dropped.
/// `repo` must not be used to write objects after this returns: the in-memory backend stays
/// attached to the handle, so callers open a fresh handle per build.
pub(super) fn in_memory<T, E>(
    repo: &Repository,
    build: impl FnOnce(&Repository) -> Result<Option<T>, E>,
) -> Result<Option<T>, Error<E>> {
    let odb = repo.odb().map_err(Error::Persist)?;
    let mempack = odb
        .add_new_mempack_backend(MEMPACK_PRIORITY)
        .map_err(Error::Persist)?;
    let built = build(repo).map_err(Error::Build)?;
    if built.is_some() {
        let persist = || -> Result<(), git2::Error> {
            let mut buf = Buf::new();
            mempack.dump(repo, &mut buf)?;
            let mut writer = odb.packwriter()?;
            writer
                .write_all(&buf)
                .map_err(|e| git2::Error::from_str(&e.to_string()))?;
            writer.commit()?;
            // Later reads (the push) must find the objects in the new pack after the reset.
            odb.refresh()
        };
        persist().map_err(Error::Persist)?;
    }
    // The objects now live in the pack; drop the in-memory copies.
    mempack.reset().map_err(Error::Persist)?;
    Ok(built)
}
