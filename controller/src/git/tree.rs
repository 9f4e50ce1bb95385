//! An editable view of a Git tree that loads directories only when a path goes through them and
//! rewrites only the directories that changed: untouched tenants keep their tree ids.

use std::collections::{BTreeMap, BTreeSet};

use git2::{FileMode, ObjectType, Oid, Repository, Tree};

enum Node {
    Leaf { oid: Oid, mode: i32 },
    Dir(Dir),
}

#[derive(Default)]
struct Dir {
    /// The tree this directory was loaded from, reused as is while it is not dirty.
    base: Option<Oid>,
    entries: Option<BTreeMap<String, Node>>,
    dirty: bool,
}

impl Dir {
    fn from_tree(oid: Oid) -> Self {
        Dir {
            base: Some(oid),
            entries: None,
            dirty: false,
        }
    }

    fn entries(&mut self, repo: &Repository) -> Result<&mut BTreeMap<String, Node>, git2::Error> {
        if self.entries.is_none() {
            let mut map = BTreeMap::new();
            if let Some(base) = self.base {
                for e in repo.find_tree(base)?.iter() {
                    let name = String::from_utf8_lossy(e.name_bytes()).into_owned();
                    let node = if e.kind() == Some(ObjectType::Tree) {
                        Node::Dir(Dir::from_tree(e.id()))
                    } else {
                        Node::Leaf {
                            oid: e.id(),
                            mode: e.filemode(),
                        }
                    };
                    map.insert(name, node);
                }
            }
            self.entries = Some(map);
        }
        Ok(self.entries.as_mut().expect("just loaded"))
    }
}

/// Rejects paths that would escape the tree or write Git's own files.
pub(super) fn check_path(path: &str) -> Result<(), ()> {
    let ok = !path.is_empty()
        && path.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && !c.eq_ignore_ascii_case(".git")
                && !c.contains('\0')
        });
    if ok { Ok(()) } else { Err(()) }
}

pub(super) struct TreeEditor<'r> {
    repo: &'r Repository,
    root: Dir,
    /// Every object this editor wrote, for the pack (some may already have existed).
    written: Vec<Oid>,
}

impl<'r> TreeEditor<'r> {
    pub(super) fn new(repo: &'r Repository, base: Option<Oid>) -> Self {
        Self {
            repo,
            root: Dir {
                base,
                entries: None,
                dirty: base.is_none(),
            },
            written: Vec::new(),
        }
    }

    /// The directory at `components`; with `mutate`, missing directories are created (a file in
    /// the way is replaced) and every directory on the way is marked for rewriting.
    fn dir(&mut self, components: &[&str], mutate: bool) -> Result<Option<&mut Dir>, git2::Error> {
        let repo = self.repo;
        let mut dir = &mut self.root;
        for c in components {
            dir.dirty |= mutate;
            let entries = dir.entries(repo)?;
            if mutate && !matches!(entries.get(*c), Some(Node::Dir(_))) {
                entries.insert((*c).to_string(), Node::Dir(Dir::default()));
            }
            dir = match entries.get_mut(*c) {
                Some(Node::Dir(d)) => d,
                _ => return Ok(None),
            };
        }
        dir.dirty |= mutate;
        Ok(Some(dir))
    }

    fn split(path: &str) -> (Vec<&str>, &str) {
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        (parts, name)
    }

    pub(super) fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), git2::Error> {
        let oid = self.repo.blob(bytes)?;
        self.written.push(oid);
        let (parent, name) = Self::split(path);
        let repo = self.repo;
        let dir = self.dir(&parent, true)?.expect("created");
        dir.entries(repo)?.insert(
            name.to_string(),
            Node::Leaf {
                oid,
                mode: FileMode::Blob.into(),
            },
        );
        Ok(())
    }

    /// Removes the file or directory at `path`, if any.
    pub(super) fn remove(&mut self, path: &str) -> Result<(), git2::Error> {
        self.graft(path, None)
    }

    /// Puts the object `entry` (id, file mode) at `path`, or removes what is there with `None`.
    pub(super) fn graft(
        &mut self,
        path: &str,
        entry: Option<(Oid, i32)>,
    ) -> Result<(), git2::Error> {
        let (parent, name) = Self::split(path);
        let repo = self.repo;
        if entry.is_none() {
            // Do not create (or dirty) directories just to find nothing to remove.
            let Some(dir) = self.dir(&parent, false)? else {
                return Ok(());
            };
            if !dir.entries(repo)?.contains_key(name) {
                return Ok(());
            }
        }
        let dir = self.dir(&parent, true)?.expect("created");
        let entries = dir.entries(repo)?;
        match entry {
            None => {
                entries.remove(name);
            }
            Some((oid, mode)) if mode == i32::from(FileMode::Tree) => {
                entries.insert(name.to_string(), Node::Dir(Dir::from_tree(oid)));
            }
            Some((oid, mode)) => {
                entries.insert(name.to_string(), Node::Leaf { oid, mode });
            }
        }
        Ok(())
    }

    /// The blob id at `path`, if a file is there.
    pub(super) fn get(&mut self, path: &str) -> Result<Option<Oid>, git2::Error> {
        let (parent, name) = Self::split(path);
        let repo = self.repo;
        let Some(dir) = self.dir(&parent, false)? else {
            return Ok(None);
        };
        Ok(match dir.entries(repo)?.get(name) {
            Some(Node::Leaf { oid, .. }) => Some(*oid),
            _ => None,
        })
    }

    /// Names of the immediate subdirectories of `dir` that contain a file named `file`.
    pub(super) fn subdirs_with(
        &mut self,
        dir: &str,
        file: &str,
    ) -> Result<BTreeSet<String>, git2::Error> {
        let repo = self.repo;
        let components: Vec<&str> = dir.split('/').collect();
        let Some(d) = self.dir(&components, false)? else {
            return Ok(BTreeSet::new());
        };
        let mut out = BTreeSet::new();
        for (name, node) in d.entries(repo)?.iter_mut() {
            if let Node::Dir(sub) = node
                && matches!(sub.entries(repo)?.get(file), Some(Node::Leaf { .. }))
            {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }

    /// Writes every changed directory; returns the root tree id and every object written.
    pub(super) fn write(mut self) -> Result<(Oid, Vec<Oid>), git2::Error> {
        let root = match write_dir(self.repo, &mut self.root, &mut self.written)? {
            Some(oid) => oid,
            None => self.repo.treebuilder(None)?.write()?,
        };
        self.written.push(root);
        Ok((root, self.written))
    }
}

/// `None` for a directory left empty: Git does not keep empty directories.
fn write_dir(
    repo: &Repository,
    dir: &mut Dir,
    written: &mut Vec<Oid>,
) -> Result<Option<Oid>, git2::Error> {
    if !dir.dirty {
        return Ok(dir.base);
    }
    let mut builder = repo.treebuilder(None)?;
    let mut empty = true;
    for (name, node) in dir.entries(repo)?.iter_mut() {
        let (oid, mode) = match node {
            Node::Leaf { oid, mode } => (*oid, *mode),
            Node::Dir(sub) => match write_dir(repo, sub, written)? {
                Some(oid) => (oid, FileMode::Tree.into()),
                None => continue,
            },
        };
        builder.insert(name, oid, mode)?;
        empty = false;
    }
    if empty {
        return Ok(None);
    }
    let oid = builder.write()?;
    written.push(oid);
    Ok(Some(oid))
}

/// Every blob under `tree`, keyed by `prefix/`-joined path.
pub(super) fn collect_blobs(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), git2::Error> {
    let mut walk_err = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        let name = String::from_utf8_lossy(entry.name_bytes());
        let path = if prefix.is_empty() {
            format!("{dir}{name}")
        } else {
            format!("{prefix}/{dir}{name}")
        };
        match repo.find_blob(entry.id()) {
            Ok(blob) => {
                out.insert(path, blob.content().to_vec());
                git2::TreeWalkResult::Ok
            }
            Err(e) => {
                walk_err = Some(e);
                git2::TreeWalkResult::Abort
            }
        }
    })?;
    walk_err.map_or(Ok(()), Err)
}
