//! An editable view of a Git tree that loads directories only when a path goes through them and
//! rewrites only the directories that changed: untouched tenants keep their tree ids.
//!
//! Nothing is written to the repository here: new blobs and trees are collected as
//! [`Object`]s for one pack (see [`super::pack`]), tree objects serialised exactly as Git and
//! libgit2 write them.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use git2::{FileMode, ObjectType, Oid, Repository, Tree};

use super::pack::Object;

/// One entry of a tree object: name, id, file mode.
type Entry = (Box<str>, Oid, i32);

/// Values kept per tree id, in two generations that bound the memory: when the current one
/// holds `limit` weight it becomes the previous one and the older is dropped. A hit does not
/// move a tree: a delivery reads the trees the last one wrote, and moving them could push its
/// other trees out before they are read. Tree ids name their content, so a value is right in
/// every repository that has the tree.
struct Generations<V> {
    current: HashMap<Oid, V>,
    previous: HashMap<Oid, V>,
    /// Weight held by `current`.
    weight: usize,
    /// Weight per generation.
    limit: usize,
    weigh: fn(&V) -> usize,
}

impl<V: Clone> Generations<V> {
    fn new(limit: usize, weigh: fn(&V) -> usize) -> Self {
        Generations {
            current: HashMap::new(),
            previous: HashMap::new(),
            weight: 0,
            limit,
            weigh,
        }
    }

    fn get(&self, oid: Oid) -> Option<V> {
        self.current
            .get(&oid)
            .or_else(|| self.previous.get(&oid))
            .cloned()
    }

    fn insert(&mut self, oid: Oid, value: V) {
        let weight = (self.weigh)(&value);
        if self.weight + weight > self.limit {
            self.previous = std::mem::take(&mut self.current);
            self.weight = 0;
        }
        self.weight += weight;
        if let Some(old) = self.current.insert(oid, value) {
            self.weight -= (self.weigh)(&old);
        }
    }
}

/// What this process remembers of trees it read or wrote.
///
/// A delivery edits a few directories of a repository that may hold hundreds of thousands; the
/// editor loads each directory on its way (the environment, every tenant of the release, their
/// workload directories). Reading those trees back out of the pack (inflate and parse) was a
/// fifth of an incremental commit, and the trees a delivery writes are the ones the next
/// delivery edits.
struct TreeCache {
    /// Entries of each tree, weighed by their number.
    entries: Generations<Arc<[Entry]>>,
    /// Whether a tree holds a file of a given name ([`TreeEditor::subdirs_with`]). Rebuilding a
    /// tenant's index asks this of every workload directory of the tenant (100,000 directories
    /// for a release across 10,000 tenants) and needs one bit of each, not its entries.
    holds: HashMap<Box<str>, Generations<bool>>,
}

impl Default for TreeCache {
    fn default() -> Self {
        TreeCache {
            entries: Generations::new(TREE_CACHE_ENTRIES, |entries| entries.len()),
            holds: HashMap::new(),
        }
    }
}

/// Per generation; about 70 bytes each, so at most ~40 MB in all. One generation holds the
/// directories a release across 10,000 tenants rewrites (about 190,000 entries); the other
/// workload directories of those tenants are asked about one bit each (`holds`).
const TREE_CACHE_ENTRIES: usize = 1 << 18;

/// Trees per generation for each file name asked about; about 40 bytes each, so at most
/// ~20 MB per name. One generation holds the workload directories of 10,000 tenants × 20.
const TREE_HOLDS_ENTRIES: usize = 1 << 18;

fn tree_cache() -> std::sync::MutexGuard<'static, TreeCache> {
    static CACHE: OnceLock<Mutex<TreeCache>> = OnceLock::new();
    CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn cached_tree(oid: Oid) -> Option<Arc<[Entry]>> {
    tree_cache().entries.get(oid)
}

fn remember_tree(oid: Oid, entries: Arc<[Entry]>) {
    tree_cache().entries.insert(oid, entries);
}

/// Forgets every remembered tree: the next delivery reads what it edits from the repository.
pub fn forget_cached_trees() {
    *tree_cache() = TreeCache::default();
}

/// Whether the tree `oid` holds a file (not a directory) named `file`: remembered, or from its
/// remembered entries, or read from `repo` without remembering its entries (these trees are
/// many and read only for this).
fn tree_holds_file(repo: &Repository, oid: Oid, file: &str) -> Result<bool, git2::Error> {
    let is_file = |mode: i32| mode != i32::from(FileMode::Tree);
    let from_entries = {
        let cache = tree_cache();
        // A remembered answer stays where it is (a hit does not move a tree).
        if let Some(holds) = cache.holds.get(file).and_then(|g| g.get(oid)) {
            return Ok(holds);
        }
        cache.entries.get(oid).map(|entries| {
            entries
                .iter()
                .any(|(name, _, mode)| &**name == file && is_file(*mode))
        })
    };
    let holds = match from_entries {
        Some(holds) => holds,
        None => repo
            .find_tree(oid)?
            .get_name_bytes(file.as_bytes())
            .is_some_and(|e| is_file(e.filemode())),
    };
    tree_cache()
        .holds
        .entry(file.into())
        .or_insert_with(|| Generations::new(TREE_HOLDS_ENTRIES, |_| 1))
        .insert(oid, holds);
    Ok(holds)
}

/// The entries of the tree `oid`, remembered or read from `repo`.
fn tree_entries(repo: &Repository, oid: Oid) -> Result<Arc<[Entry]>, git2::Error> {
    if let Some(entries) = cached_tree(oid) {
        return Ok(entries);
    }
    let entries: Arc<[Entry]> = repo
        .find_tree(oid)?
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(e.name_bytes()).into(),
                e.id(),
                e.filemode(),
            )
        })
        .collect();
    remember_tree(oid, entries.clone());
    Ok(entries)
}

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
                for (name, oid, mode) in tree_entries(repo, base)?.iter() {
                    let node = if *mode == i32::from(FileMode::Tree) {
                        Node::Dir(Dir::from_tree(*oid))
                    } else {
                        Node::Leaf {
                            oid: *oid,
                            mode: *mode,
                        }
                    };
                    map.insert(name.to_string(), node);
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

pub(super) struct TreeEditor<'r, 'a> {
    repo: &'r Repository,
    root: Dir,
    /// Every object this editor made, for the pack (some may already exist).
    objects: Vec<Object<'a>>,
}

impl<'r, 'a> TreeEditor<'r, 'a> {
    pub(super) fn new(repo: &'r Repository, base: Option<Oid>) -> Self {
        Self {
            repo,
            root: Dir {
                base,
                entries: None,
                dirty: base.is_none(),
            },
            objects: Vec::new(),
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

    /// Writes `bytes` at `path`.
    pub(super) fn write_file(&mut self, path: &str, bytes: &[u8]) -> Result<(), git2::Error> {
        let blob = Object::new(ObjectType::Blob, Cow::Owned(bytes.to_vec()))?;
        self.put_blob(path, blob)
    }

    /// Writes the blob `blob` (id computed by the caller) at `path`.
    pub(super) fn put_blob(&mut self, path: &str, blob: Object<'a>) -> Result<(), git2::Error> {
        let oid = blob.id;
        self.objects.push(blob);
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
        for (name, node) in d.entries(repo)?.iter() {
            let Node::Dir(sub) = node else { continue };
            // A directory this edit has not opened is its tree as it was: ask about the tree,
            // without loading its entries.
            let holds = match (&sub.entries, sub.base) {
                (Some(entries), _) => matches!(entries.get(file), Some(Node::Leaf { .. })),
                (None, Some(base)) => tree_holds_file(repo, base, file)?,
                (None, None) => false,
            };
            if holds {
                out.insert(name.clone());
            }
        }
        Ok(out)
    }

    /// Builds every changed directory; returns the root tree id and every object made (blobs
    /// and trees; some may already exist).
    pub(super) fn write(mut self) -> Result<(Oid, Vec<Object<'a>>), git2::Error> {
        let root = match write_dir(self.repo, &mut self.root, &mut self.objects)? {
            Some(oid) => oid,
            None => {
                let empty = Object::new(ObjectType::Tree, Cow::Borrowed(&[]))?;
                let oid = empty.id;
                self.objects.push(empty);
                oid
            }
        };
        Ok((root, self.objects))
    }
}

/// Git's order of tree entries: by name, a directory's name compared as if it ended in `/`.
fn entry_order(a: &(&str, Oid, i32), b: &(&str, Oid, i32)) -> Ordering {
    let tree = i32::from(FileMode::Tree);
    let (a_name, b_name) = (a.0.as_bytes(), b.0.as_bytes());
    let common = a_name.len().min(b_name.len());
    a_name[..common].cmp(&b_name[..common]).then_with(|| {
        let next =
            |name: &[u8], mode: i32| name.get(common).copied().or((mode == tree).then_some(b'/'));
        next(a_name, a.2).cmp(&next(b_name, b.2))
    })
}

/// The tree object of `entries`: `<octal mode> <name>\0<20-byte id>` each, in Git's order.
fn tree_bytes(entries: &mut [(&str, Oid, i32)]) -> Vec<u8> {
    entries.sort_unstable_by(entry_order);
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.0.len() + 28).sum());
    for (name, oid, mode) in entries.iter() {
        out.extend_from_slice(format!("{mode:o} ").as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.extend_from_slice(oid.as_bytes());
    }
    out
}

/// `None` for a directory left empty: Git does not keep empty directories.
fn write_dir(
    repo: &Repository,
    dir: &mut Dir,
    objects: &mut Vec<Object<'_>>,
) -> Result<Option<Oid>, git2::Error> {
    if !dir.dirty {
        return Ok(dir.base);
    }
    let mut entries: Vec<(&str, Oid, i32)> = Vec::new();
    for (name, node) in dir.entries(repo)?.iter_mut() {
        let (oid, mode) = match node {
            Node::Leaf { oid, mode } => (*oid, *mode),
            Node::Dir(sub) => match write_dir(repo, sub, objects)? {
                Some(oid) => (oid, FileMode::Tree.into()),
                None => continue,
            },
        };
        entries.push((name, oid, mode));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let tree = Object::new(ObjectType::Tree, Cow::Owned(tree_bytes(&mut entries)))?;
    let oid = tree.id;
    objects.push(tree);
    remember_tree(
        oid,
        entries
            .iter()
            .map(|(name, oid, mode)| (Box::from(*name), *oid, *mode))
            .collect(),
    );
    Ok(Some(oid))
}

/// Every blob under `tree`, keyed by `prefix/`-joined path.
pub(super) fn collect_blobs(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    keep: &dyn Fn(&str) -> bool,
    out: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), git2::Error> {
    let mut walk_err = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() != Some(ObjectType::Blob) {
            return git2::TreeWalkResult::Ok;
        }
        let name = String::from_utf8_lossy(entry.name_bytes());
        if !keep(&name) {
            return git2::TreeWalkResult::Ok;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_set(entries: &[Entry]) -> BTreeSet<(String, Oid, i32)> {
        entries
            .iter()
            .map(|(name, oid, mode)| (name.to_string(), *oid, *mode))
            .collect()
    }

    /// A full generation becomes the previous one, still read; two turns later a tree is gone.
    #[test]
    fn the_cache_keeps_two_generations() {
        let tree = |n: u8| -> (Oid, Arc<[Entry]>) {
            let oid = Oid::from_bytes(&[n; 20]).unwrap();
            (oid, Arc::from(vec![(Box::from("f"), oid, 0o100644); 2]))
        };
        let mut cache = Generations::new(4, |entries: &Arc<[Entry]>| entries.len());
        for n in 0..3 {
            let (oid, entries) = tree(n);
            cache.insert(oid, entries);
        }
        // 0 and 1 filled the first generation; 2 started the second.
        assert!(cache.previous.contains_key(&tree(0).0) && cache.current.contains_key(&tree(2).0));
        assert!(
            cache.get(tree(0).0).is_some(),
            "found in the previous generation"
        );
        for n in 3..5 {
            let (oid, entries) = tree(n);
            cache.insert(oid, entries);
        }
        assert!(cache.get(tree(0).0).is_none(), "two turns later it is gone");
        assert!(cache.get(tree(2).0).is_some() && cache.get(tree(4).0).is_some());
        assert_eq!(cache.weight, 2);
    }

    /// What a delivery remembers of the trees it wrote is what the repository then holds, and
    /// an edit on remembered trees gives the same tree as one that reads them back.
    #[test]
    fn remembered_trees_are_the_written_ones() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut editor = TreeEditor::new(&repo, None);
        for path in [
            "a/b/c.yaml",
            "a/b-c.yaml",
            "a/b.d/e",
            "kustomization.yaml",
            "z",
        ] {
            editor.write_file(path, path.as_bytes()).unwrap();
        }
        let (root, objects) = editor.write().unwrap();
        let trees: Vec<Oid> = objects
            .iter()
            .filter(|o| o.kind == ObjectType::Tree)
            .map(|o| o.id)
            .collect();
        super::super::pack::write(&repo, objects).unwrap();
        for oid in &trees {
            let stored: Arc<[Entry]> = repo
                .find_tree(*oid)
                .unwrap()
                .iter()
                .map(|e| (e.name().unwrap().into(), e.id(), e.filemode()))
                .collect();
            // Other tests may have cleared the cache meanwhile; what is there must match.
            if let Some(remembered) = cached_tree(*oid) {
                assert_eq!(entry_set(&remembered), entry_set(&stored));
            }
        }

        let edit = |forget: bool| {
            if forget {
                forget_cached_trees();
            }
            let mut editor = TreeEditor::new(&repo, Some(root));
            editor.write_file("a/b/new.yaml", b"new").unwrap();
            editor.remove("a/b-c.yaml").unwrap();
            editor.write().unwrap().0
        };
        assert_eq!(edit(false), edit(true));
    }

    /// The directories holding an index are found from what is remembered of their trees or
    /// from the repository alike, without remembering the entries of every directory asked
    /// about; a directory of that name does not count, nor does one removed by the edit.
    #[test]
    fn subdirs_with_a_file_are_found_without_loading_them() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let mut editor = TreeEditor::new(&repo, None);
        for path in [
            "env/t/a/kustomization.yaml",
            "env/t/b/deployment.yaml",
            "env/t/c/kustomization.yaml/x",
            "env/t/d/kustomization.yaml",
            "env/t/e/kustomization.yaml",
            "env/t/kustomization.yaml",
        ] {
            editor.write_file(path, path.as_bytes()).unwrap();
        }
        let (root, objects) = editor.write().unwrap();
        super::super::pack::write(&repo, objects).unwrap();
        let b = repo
            .find_tree(root)
            .unwrap()
            .get_path(std::path::Path::new("env/t/b"))
            .unwrap()
            .id();

        let found = |forget: bool| {
            if forget {
                forget_cached_trees();
            }
            let mut editor = TreeEditor::new(&repo, Some(root));
            editor.remove("env/t/d/kustomization.yaml").unwrap();
            editor
                .write_file("env/t/f/kustomization.yaml", b"f")
                .unwrap();
            editor.subdirs_with("env/t", "kustomization.yaml").unwrap()
        };
        let expected: BTreeSet<String> = ["a", "e", "f"].map(String::from).into();
        assert_eq!(found(true), expected, "trees read from the repository");
        assert!(
            cached_tree(b).is_none(),
            "a directory only asked about is not loaded"
        );
        assert_eq!(found(false), expected, "what the first edit remembered");
        assert!(!tree_holds_file(&repo, b, "kustomization.yaml").unwrap());
        assert!(tree_holds_file(&repo, b, "deployment.yaml").unwrap());
    }

    /// Trees built here have the ids libgit2's tree builder gives them, whatever the names.
    #[test]
    fn trees_match_libgit2() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init_bare(dir.path()).unwrap();
        let blob = repo.blob(b"x\n").unwrap();
        let sub = {
            let mut b = repo.treebuilder(None).unwrap();
            b.insert("f", blob, FileMode::Blob.into()).unwrap();
            b.write().unwrap()
        };
        let names: &[(&str, bool)] = &[
            ("a", true),
            ("a-b", false),
            ("a.b", true),
            ("a0", false),
            ("a.yaml", false),
            ("kustomization.yaml", false),
            ("b", false),
            ("b.c", true),
            ("_applications", true),
            ("Z", false),
        ];
        let mut builder = repo.treebuilder(None).unwrap();
        let mut entries = Vec::new();
        for (name, is_dir) in names {
            let (oid, mode) = if *is_dir {
                (sub, i32::from(FileMode::Tree))
            } else {
                (blob, i32::from(FileMode::Blob))
            };
            builder.insert(name, oid, mode).unwrap();
            entries.push((*name, oid, mode));
        }
        let expected = builder.write().unwrap();
        let ours = Object::new(ObjectType::Tree, Cow::Owned(tree_bytes(&mut entries))).unwrap();
        assert_eq!(ours.id, expected);
        let odb = repo.odb().unwrap();
        assert_eq!(&ours.data[..], odb.read(expected).unwrap().data());
    }
}
