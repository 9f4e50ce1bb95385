//! Commit messages of deliveries and their Git trailers, the audit record that travels with the
//! repository.
//!
//! ```text
//! <title>
//!
//! <notes>
//!
//! GitOpsHQ-Release: <namespace>/<name>
//! GitOpsHQ-Environment: <env>
//! GitOpsHQ-Rendered-Digest: sha256:<hex>
//! GitOpsHQ-Approved-By: <user>            (repeated, in the given order)
//! GitOpsHQ-Policy: <policy>=<verdict>     (repeated, in the given order)
//! GitOpsHQ-Break-Glass: <namespace>/<name>
//! GitOpsHQ-Previous-Audit: <value>
//! ```

/// Trailer keys (declared once, in `gitopshq_crds::consts::trailers`).
use gitopshq_crds::consts::trailers as keys;

const DIGEST_PREFIX: &str = "sha256:";

/// One policy verdict as recorded in a trailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTrailer {
    pub policy: String,
    /// `Pass`, `Warn` or `Deny` (free text: the trailer records what the engine said).
    pub verdict: String,
}

/// The audit facts a delivery commit carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailers {
    /// `<namespace>/<name>` of the Release.
    pub release: String,
    pub environment: String,
    /// Hex digest, with or without the `sha256:` prefix; always written with it.
    pub rendered_digest: String,
    pub approved_by: Vec<String>,
    pub policies: Vec<PolicyTrailer>,
    pub break_glass: Option<String>,
    pub previous_audit: Option<String>,
    /// Trailers of other tools found when parsing (never written by [`commit_message`]).
    pub other: Vec<(String, String)>,
}

/// Title, notes and trailers of a delivery commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitInfo {
    pub title: String,
    pub notes: Option<String>,
    pub trailers: Trailers,
}

/// A commit message read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedCommit {
    pub title: String,
    pub notes: Option<String>,
    /// `None` when the message has no GitOpsHQ trailer block (a commit made by hand).
    pub trailers: Option<Trailers>,
}

/// Newlines and other control characters become spaces: a trailer or title is one line.
fn one_line(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn normalise_notes(notes: &str) -> Option<String> {
    let text = notes.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let joined = lines.join("\n");
    let trimmed = joined.trim_matches('\n');
    (!trimmed.trim().is_empty()).then(|| trimmed.to_string())
}

/// The trailer lines alone, in their stable order.
pub fn trailers(t: &Trailers) -> Vec<(&'static str, String)> {
    let digest = one_line(&t.rendered_digest);
    let digest = digest.strip_prefix(DIGEST_PREFIX).unwrap_or(&digest);
    let mut out = vec![
        (keys::RELEASE, one_line(&t.release)),
        (keys::ENVIRONMENT, one_line(&t.environment)),
        (keys::RENDERED_DIGEST, format!("{DIGEST_PREFIX}{digest}")),
    ];
    out.extend(
        t.approved_by
            .iter()
            .map(|a| (keys::APPROVED_BY, one_line(a))),
    );
    out.extend(t.policies.iter().map(|p| {
        // '=' separates name and verdict; a policy name never holds one, so drop any.
        let name = one_line(&p.policy).replace('=', "-");
        (keys::POLICY, format!("{name}={}", one_line(&p.verdict)))
    }));
    if let Some(b) = &t.break_glass {
        out.push((keys::BREAK_GLASS, one_line(b)));
    }
    if let Some(p) = &t.previous_audit {
        out.push((keys::PREVIOUS_AUDIT, one_line(p)));
    }
    out
}

/// `title`, blank line, optional notes and blank line, then the trailer block.
pub fn commit_message(info: &CommitInfo) -> String {
    let mut title = one_line(&info.title);
    if title.is_empty() {
        title = format!("Release {}", one_line(&info.trailers.release));
    }
    let mut msg = title;
    msg.push_str("\n\n");
    if let Some(notes) = info.notes.as_deref().and_then(normalise_notes) {
        msg.push_str(&notes);
        msg.push_str("\n\n");
    }
    for (k, v) in trailers(&info.trailers) {
        msg.push_str(k);
        msg.push_str(": ");
        msg.push_str(&v);
        msg.push('\n');
    }
    // Further trailers (release type, creator, rollback target …) follow the fixed ones; a key
    // that is not a trailer token would break parsing, so such entries are left out.
    for (k, v) in &info.trailers.other {
        if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            msg.push_str(k);
            msg.push_str(": ");
            msg.push_str(&one_line(v));
            msg.push('\n');
        }
    }
    msg
}

fn trailer_line(line: &str) -> Option<(&str, &str)> {
    let (k, v) = line
        .split_once(": ")
        .or_else(|| line.strip_suffix(':').map(|k| (k, "")))?;
    let token = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    token.then_some((k, v.trim()))
}

/// Reads a commit message back. The trailer block is the last paragraph when every line of it
/// is `Key: value` and it holds `GitOpsHQ-Release`; notes are everything between the title and it.
pub fn parse_commit_message(message: &str) -> ParsedCommit {
    let text = message.replace("\r\n", "\n");
    let text = text.trim_end_matches('\n');
    let (title, body) = match text.split_once('\n') {
        Some((t, rest)) => (t.trim().to_string(), rest.trim_start_matches('\n')),
        None => (text.trim().to_string(), ""),
    };
    let (notes, block) = match body.rfind("\n\n") {
        Some(i) => (&body[..i], &body[i + 2..]),
        None => ("", body),
    };
    let parsed: Option<Vec<(&str, &str)>> = block.lines().map(trailer_line).collect();
    let trailers = parsed
        .filter(|lines| lines.iter().any(|(k, _)| *k == keys::RELEASE))
        .map(|lines| {
            let mut t = Trailers::default();
            for (k, v) in lines {
                let v = v.to_string();
                match k {
                    keys::RELEASE => t.release = v,
                    keys::ENVIRONMENT => t.environment = v,
                    keys::RENDERED_DIGEST => {
                        t.rendered_digest = v.strip_prefix(DIGEST_PREFIX).unwrap_or(&v).to_string()
                    }
                    keys::APPROVED_BY => t.approved_by.push(v),
                    keys::POLICY => {
                        let (policy, verdict) = v.split_once('=').unwrap_or((&v, ""));
                        t.policies.push(PolicyTrailer {
                            policy: policy.to_string(),
                            verdict: verdict.to_string(),
                        });
                    }
                    keys::BREAK_GLASS => t.break_glass = Some(v),
                    keys::PREVIOUS_AUDIT => t.previous_audit = Some(v),
                    _ => t.other.push((k.to_string(), v)),
                }
            }
            t
        });
    let notes = if trailers.is_some() { notes } else { body };
    ParsedCommit {
        title,
        notes: normalise_notes(notes),
        trailers,
    }
}
