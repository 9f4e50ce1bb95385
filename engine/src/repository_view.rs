//! What the repository browser shows of a GitOps repository: a commit's GitOpsHQ trailers as
//! rows that link to what they name, and one folder of a tree as its entries.

use std::collections::BTreeSet;

use gitopshq_crds::consts::trailers as keys;
use serde::Serialize;

use crate::layout::{ParsedCommit, trailers};

/// One trailer of a delivery commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TrailerRow {
    pub key: String,
    pub value: String,
    /// A dashboard page about the value (the release, the person's audit trail, the
    /// break-glass sessions), when there is one.
    pub href: Option<String>,
}

/// The trailers of `parsed` in the order they are written, each linked where it names
/// something the dashboard shows. `project` is the repository's project.
pub fn trailer_rows(parsed: &ParsedCommit, project: &str) -> Vec<TrailerRow> {
    let Some(t) = &parsed.trailers else {
        return Vec::new();
    };
    let written = trailers(t).into_iter().map(|(k, v)| (k.to_string(), v));
    let others = t.other.iter().cloned();
    written
        .chain(others)
        .map(|(key, value)| TrailerRow {
            href: link(&key, &value, project),
            key,
            value,
        })
        .collect()
}

fn link(key: &str, value: &str, project: &str) -> Option<String> {
    let release = |v: &str| {
        let (namespace, name) = v.split_once('/')?;
        Some(format!("#/releases/{namespace}/{name}"))
    };
    match key {
        keys::RELEASE => release(value),
        // `<namespace>/<release>@<commit>`
        keys::ROLLBACK_TO => release(value.split('@').next().unwrap_or(value)),
        keys::APPROVED_BY | keys::CREATED_BY | keys::SUBMITTED_BY | keys::AUTHORED_BY => {
            Some(format!("#/audit?user={value}"))
        }
        keys::BREAK_GLASS => Some("#/breakglass".to_string()),
        keys::ENVIRONMENT => Some(format!("#/projects/{project}")),
        _ => None,
    }
}

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TreeEntry {
    /// Folders first, then files, each by name.
    pub kind: EntryKind,
    pub name: String,
    /// Repository-relative path.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EntryKind {
    Folder,
    File,
}

/// The entries right below `folder` (repository-relative, no trailing slash; empty: the root)
/// among `files` (every file's repository-relative path).
pub fn folder_entries<'a>(
    files: impl IntoIterator<Item = &'a str>,
    folder: &str,
) -> Vec<TreeEntry> {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{}/", folder.trim_end_matches('/'))
    };
    let mut entries = BTreeSet::new();
    for path in files {
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let (name, kind) = match rest.split_once('/') {
            Some((dir, _)) => (dir, EntryKind::Folder),
            None => (rest, EntryKind::File),
        };
        if name.is_empty() {
            continue;
        }
        entries.insert(TreeEntry {
            kind,
            name: name.to_string(),
            path: format!("{prefix}{name}"),
        });
    }
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::parse_commit_message;

    #[test]
    fn trailers_link_to_what_they_name() {
        let message = "Deploy payment-api 1.2.0\n\nNotes here.\n\nGitOpsHQ-Release: shop/api-v2\nGitOpsHQ-Environment: prod\nGitOpsHQ-Rendered-Digest: sha256:abc\nGitOpsHQ-Approved-By: bob\nGitOpsHQ-Break-Glass: shop/bg-1\nGitOpsHQ-Previous-Audit: sha256:0123abcd\nGitOpsHQ-Created-By: alice\nGitOpsHQ-Rollback-To: shop/api-v1@fedcba\n";
        let rows = trailer_rows(&parse_commit_message(message), "shop");
        let find = |key: &str| rows.iter().find(|r| r.key == key).unwrap();
        assert_eq!(rows[0].key, "GitOpsHQ-Release");
        assert_eq!(
            find("GitOpsHQ-Release").href.as_deref(),
            Some("#/releases/shop/api-v2")
        );
        assert_eq!(
            find("GitOpsHQ-Approved-By").href.as_deref(),
            Some("#/audit?user=bob")
        );
        assert_eq!(
            find("GitOpsHQ-Previous-Audit").href,
            None,
            "a digest of the audit chain, not a commit"
        );
        assert_eq!(
            find("GitOpsHQ-Rollback-To").href.as_deref(),
            Some("#/releases/shop/api-v1")
        );
        assert_eq!(find("GitOpsHQ-Break-Glass").value, "shop/bg-1");
        assert_eq!(find("GitOpsHQ-Rendered-Digest").href, None);
        assert!(trailer_rows(&parse_commit_message("by hand\n"), "shop").is_empty());
    }

    #[test]
    fn a_folder_lists_its_folders_then_its_files() {
        let files = [
            "projects/shop/dev/eu/api/deployment-api.yaml",
            "projects/shop/dev/eu/kustomization.yaml",
            "projects/shop/dev/us/kustomization.yaml",
            "projects/shop/environments/dev/values.yaml",
            "README.md",
        ];
        let names = |folder: &str| {
            folder_entries(files, folder)
                .into_iter()
                .map(|e| (e.kind, e.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("projects/shop/dev/eu"),
            vec![
                (EntryKind::Folder, "api".to_string()),
                (EntryKind::File, "kustomization.yaml".to_string())
            ]
        );
        assert_eq!(
            names(""),
            vec![
                (EntryKind::Folder, "projects".to_string()),
                (EntryKind::File, "README.md".to_string())
            ]
        );
        assert_eq!(
            folder_entries(files, "projects/shop/")[0].path,
            "projects/shop/dev"
        );
        assert!(names("nowhere").is_empty());
    }
}
