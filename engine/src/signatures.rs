//! Signed delivery commits: the `gpgsig` header of a commit object holding an SSH signature
//! (SSHSIG, namespace `git`), checked against an allowed signers file as
//! `git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=FILE verify-commit` checks it.
//!
//! A signature covers the commit object without its `gpgsig` header (tree, parents, author,
//! committer and message), so rewriting a commit without the key drops or invalidates it,
//! while the audit chain ([`crate::audit`]) catches commits removed or reordered around it.
//! [`insert_signature`] and [`split_signature`] are each other's inverse and follow git's own
//! header writer and parser byte for byte.

use std::fmt;

use jiff::Timestamp;
use ssh_key::{Fingerprint, HashAlg, PublicKey, SshSig};

use crate::audit::CommitRecord;

/// The SSHSIG namespace git signs commits and tags in.
pub const GIT_NAMESPACE: &str = "git";
/// The commit header git keeps a signature in (SHA-1 repositories).
pub const SIGNATURE_HEADER: &str = "gpgsig";
/// First line of an armored SSH signature.
pub const SSH_SIGNATURE_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

// ------------------------------------------------------------------------------------------
// The commit object
// ------------------------------------------------------------------------------------------

/// A commit object split as git verifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitCommit {
    /// The `gpgsig` header's value with its continuation lines joined (armored, ending in a
    /// newline); `None` for an unsigned commit.
    pub signature: Option<String>,
    /// Everything else, byte for byte: what the signature covers.
    pub payload: Vec<u8>,
}

/// Splits the `gpgsig` header (and its continuation lines) off a commit object.
pub fn split_signature(object: &[u8]) -> SplitCommit {
    let mut signature: Option<Vec<u8>> = None;
    let mut payload = Vec::with_capacity(object.len());
    let mut in_header = true;
    let mut in_signature = false;
    let mut rest = object;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, next) = rest.split_at(end);
        rest = next;
        if !in_header {
            payload.extend_from_slice(line);
            payload.extend_from_slice(rest);
            break;
        }
        if let Some(value) = line
            .strip_prefix(SIGNATURE_HEADER.as_bytes())
            .and_then(|l| l.strip_prefix(b" "))
        {
            in_signature = true;
            signature
                .get_or_insert_with(Vec::new)
                .extend_from_slice(value);
        } else if in_signature && line.first() == Some(&b' ') {
            if let Some(signature) = &mut signature {
                signature.extend_from_slice(&line[1..]);
            }
        } else {
            in_signature = false;
            in_header = line != b"\n";
            payload.extend_from_slice(line);
        }
    }
    SplitCommit {
        signature: signature.map(|s| String::from_utf8_lossy(&s).into_owned()),
        payload,
    }
}

/// `unsigned` (a commit object) with a `gpgsig` header holding `armored`, placed at the end of
/// the headers (after `committer`) with one continuation line per signature line, as git
/// writes it.
pub fn insert_signature(unsigned: &[u8], armored: &str) -> Vec<u8> {
    let end_of_headers = unsigned
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(unsigned.len(), |i| i + 1);
    let mut header = Vec::with_capacity(armored.len() + 64);
    for (i, line) in armored.trim_end_matches('\n').split('\n').enumerate() {
        if i == 0 {
            header.extend_from_slice(SIGNATURE_HEADER.as_bytes());
        }
        header.push(b' ');
        header.extend_from_slice(line.as_bytes());
        header.push(b'\n');
    }
    let mut out = Vec::with_capacity(unsigned.len() + header.len());
    out.extend_from_slice(&unsigned[..end_of_headers]);
    out.extend_from_slice(&header);
    out.extend_from_slice(&unsigned[end_of_headers..]);
    out
}

// ------------------------------------------------------------------------------------------
// Allowed signers
// ------------------------------------------------------------------------------------------

/// One line of an allowed signers file: `principals [options] keytype base64 [comment]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedSigner {
    /// As written (a comma-separated list of patterns); reported with a good signature.
    pub principals: String,
    pub key: PublicKey,
    /// `namespaces="…"`: the signature namespaces this key may sign in; `None`: any.
    pub namespaces: Option<Vec<String>>,
    /// `valid-after=…` / `valid-before=…`, seconds since the epoch, compared with the commit
    /// time as git passes it to ssh-keygen.
    pub valid_after: Option<i64>,
    pub valid_before: Option<i64>,
    /// `cert-authority`: the key signs certificates, and no plain signature by it is accepted.
    pub cert_authority: bool,
    /// 1-based line number in the file.
    pub line: usize,
}

/// The keys whose signatures are accepted, in git's `gpg.ssh.allowedSignersFile` format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
}

/// A line of an allowed signers file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "line {line}: {reason}; each line is `principal [options] ssh-ed25519 AAAA…`, git's gpg.ssh.allowedSignersFile format (the public half of the signing key: ssh-keygen -y -f KEY)"
)]
pub struct AllowedSignersError {
    pub line: usize,
    pub reason: String,
}

impl AllowedSigners {
    /// Reads the file's text; empty lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, AllowedSignersError> {
        let mut signers = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let signer = parse_signer(line, index + 1).map_err(|reason| AllowedSignersError {
                line: index + 1,
                reason,
            })?;
            signers.push(signer);
        }
        Ok(Self { signers })
    }

    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }
}

fn parse_signer(line: &str, number: usize) -> Result<AllowedSigner, String> {
    let (principals, rest) = take_field(line)?;
    let principals = principals.trim_matches('"').to_string();
    if principals.is_empty() || starts_with_key_type(&principals) {
        return Err(format!(
            "no principal before the key; start the line with one, e.g. `gitopshq@localhost {}`",
            abbreviate(line)
        ));
    }
    let (options, key_text) = if starts_with_key_type(rest) {
        ("", rest)
    } else {
        take_field(rest)?
    };
    if key_text.is_empty() {
        return Err(format!("no public key after {principals:?}"));
    }
    let key = PublicKey::from_openssh(key_text)
        .map_err(|e| format!("cannot read the public key {}: {e}", abbreviate(key_text)))?;
    let mut signer = AllowedSigner {
        principals,
        key,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        cert_authority: false,
        line: number,
    };
    for option in split_options(options) {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name, Some(value.trim_matches('"'))),
            None => (option, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("cert-authority", None) => signer.cert_authority = true,
            ("namespaces", Some(list)) => {
                signer.namespaces = Some(list.split(',').map(|n| n.trim().to_string()).collect());
            }
            ("valid-after", Some(when)) => signer.valid_after = Some(parse_validity(when)?),
            ("valid-before", Some(when)) => signer.valid_before = Some(parse_validity(when)?),
            _ => {
                return Err(format!(
                    "unknown option {option:?} (known: cert-authority, namespaces, valid-after, valid-before)"
                ));
            }
        }
    }
    Ok(signer)
}

/// The first whitespace-separated field (double quotes keep spaces inside it) and the rest.
fn take_field(text: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&text[..i], text[i..].trim_start())),
            _ => {}
        }
    }
    if quoted {
        return Err("a double quote is not closed".into());
    }
    Ok((text, ""))
}

fn starts_with_key_type(text: &str) -> bool {
    ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|prefix| text.starts_with(prefix))
}

/// Comma-separated options; commas inside double quotes belong to the value.
fn split_options(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in options.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&options[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&options[start..]);
    out.into_iter().filter(|o| !o.is_empty()).collect()
}

/// `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]`, ssh-keygen's validity times; read as UTC (ssh-keygen
/// reads times without `Z` in its own time zone, which an offline check cannot know).
fn parse_validity(text: &str) -> Result<i64, String> {
    let digits = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let invalid = || format!("validity time {text:?} is not YYYYMMDD[HHMM[SS]][Z]");
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(invalid());
    }
    let field = |range: std::ops::Range<usize>| -> i32 {
        digits
            .get(range)
            .and_then(|d| d.parse().ok())
            .unwrap_or_default()
    };
    let date = jiff::civil::Date::new(field(0..4) as i16, field(4..6) as i8, field(6..8) as i8)
        .map_err(|_| invalid())?;
    let time = jiff::civil::Time::new(
        field(8..10) as i8,
        field(10..12) as i8,
        field(12..14) as i8,
        0,
    )
    .map_err(|_| invalid())?;
    date.to_datetime(time)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| invalid())
}

fn abbreviate(key: &str) -> String {
    let mut short: String = key.chars().take(32).collect();
    if short.len() < key.len() {
        short.push('…');
    }
    short
}

// ------------------------------------------------------------------------------------------
// Verification
// ------------------------------------------------------------------------------------------

/// A signature that verifies with an allowed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoodSignature {
    /// The principals of the allowed signers line that accepted it.
    pub principal: String,
    /// `SHA256:…` of the signing key, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
}

/// Why a commit's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureProblem {
    /// No `gpgsig` header.
    Unsigned,
    /// The header holds another kind of signature (OpenPGP, X.509).
    NotSsh,
    /// The header holds no readable SSH signature.
    Malformed { reason: String },
    /// Signed for another purpose than a git commit.
    WrongNamespace { namespace: String },
    /// The signing key is not in the allowed signers file.
    KeyNotAllowed { fingerprint: String },
    /// The key is listed, but not for git signatures or not at the commit's time.
    KeyNotValid {
        fingerprint: String,
        principal: String,
        line: usize,
        why: String,
    },
    /// The signature does not match the commit's content: it was changed after signing.
    DoesNotVerify { fingerprint: String, reason: String },
}

impl fmt::Display for SignatureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureProblem::Unsigned => write!(f, "it is not signed"),
            SignatureProblem::NotSsh => write!(
                f,
                "its signature is not an SSH signature (OpenPGP or X.509), which delivery commits never carry"
            ),
            SignatureProblem::Malformed { reason } => {
                write!(f, "its SSH signature cannot be read ({reason})")
            }
            SignatureProblem::WrongNamespace { namespace } => write!(
                f,
                "its SSH signature was made for namespace {namespace:?}, not {GIT_NAMESPACE:?}"
            ),
            SignatureProblem::KeyNotAllowed { fingerprint } => write!(
                f,
                "it is signed by key {fingerprint}, which the allowed signers file does not list"
            ),
            SignatureProblem::KeyNotValid {
                fingerprint,
                principal,
                line,
                why,
            } => write!(
                f,
                "it is signed by key {fingerprint} ({principal}, line {line} of the allowed signers file), {why}"
            ),
            SignatureProblem::DoesNotVerify {
                fingerprint,
                reason,
            } => write!(
                f,
                "its signature by key {fingerprint} does not verify ({reason}): the commit was changed after it was signed"
            ),
        }
    }
}

/// Checks the signature of one commit object against `allowed`; `time` is the commit's
/// committer time (seconds since the epoch), which validity options are compared with.
pub fn verify_commit(
    object: &[u8],
    time: i64,
    allowed: &AllowedSigners,
) -> Result<GoodSignature, SignatureProblem> {
    let split = split_signature(object);
    let armored = split.signature.ok_or(SignatureProblem::Unsigned)?;
    if !armored.trim_start().starts_with(SSH_SIGNATURE_BEGIN) {
        return Err(SignatureProblem::NotSsh);
    }
    let signature =
        SshSig::from_pem(armored.trim().as_bytes()).map_err(|e| SignatureProblem::Malformed {
            reason: e.to_string(),
        })?;
    if signature.namespace() != GIT_NAMESPACE {
        return Err(SignatureProblem::WrongNamespace {
            namespace: signature.namespace().to_string(),
        });
    }
    let fingerprint = Fingerprint::new(HashAlg::Sha256, signature.public_key()).to_string();
    let listed: Vec<&AllowedSigner> = allowed
        .signers
        .iter()
        .filter(|s| !s.cert_authority && s.key.key_data() == signature.public_key())
        .collect();
    let Some(first) = listed.first() else {
        return Err(SignatureProblem::KeyNotAllowed { fingerprint });
    };
    let signer = listed
        .iter()
        .find(|s| validity(s, time).is_ok())
        .ok_or_else(|| SignatureProblem::KeyNotValid {
            fingerprint: fingerprint.clone(),
            principal: first.principals.clone(),
            line: first.line,
            why: validity(first, time).err().unwrap_or_default(),
        })?;
    signer
        .key
        .verify(GIT_NAMESPACE, &split.payload, &signature)
        .map_err(|e| SignatureProblem::DoesNotVerify {
            fingerprint: fingerprint.clone(),
            reason: e.to_string(),
        })?;
    Ok(GoodSignature {
        principal: signer.principals.clone(),
        fingerprint,
    })
}

/// Whether an allowed signers line accepts git signatures made at `time`, and if not, why.
fn validity(signer: &AllowedSigner, time: i64) -> Result<(), String> {
    let at = |t: i64| {
        Timestamp::from_second(t)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| t.to_string())
    };
    if let Some(namespaces) = &signer.namespaces
        && !namespaces.iter().any(|n| n == GIT_NAMESPACE || n == "*")
    {
        return Err(format!(
            "which may only sign in namespaces {}",
            namespaces.join(",")
        ));
    }
    if let Some(after) = signer.valid_after
        && time < after
    {
        return Err(format!(
            "which is valid only after {}, and the commit is from {}",
            at(after),
            at(time)
        ));
    }
    if let Some(before) = signer.valid_before
        && time >= before
    {
        return Err(format!(
            "which is valid only before {}, and the commit is from {}",
            at(before),
            at(time)
        ));
    }
    Ok(())
}

/// Whether a commit object carries a signature at all.
pub fn is_signed(object: &[u8]) -> bool {
    split_signature(object).signature.is_some()
}

// ------------------------------------------------------------------------------------------
// The history
// ------------------------------------------------------------------------------------------

/// The oldest delivery commit whose signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSignature {
    pub commit: String,
    pub title: String,
    pub release: String,
    pub problem: SignatureProblem,
}

impl BadSignature {
    /// What is wrong, for people.
    pub fn describe(&self) -> String {
        format!(
            "delivery commit {} \"{}\" (release {}) fails the signature check: {}",
            self.commit, self.title, self.release, self.problem
        )
    }
}

/// What [`check_history`] found about the delivery commits' signatures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureReport {
    /// Delivery commits (those with the GitOpsHQ trailer block).
    pub delivery_commits: usize,
    /// Delivery commits carrying a signature, valid or not.
    pub signed: usize,
    /// Delivery commits whose signature verifies with an allowed key (0 without a file).
    pub verified: usize,
    /// Delivery commits whose signature is not accepted (0 without a file).
    pub failed: usize,
    pub first_bad: Option<BadSignature>,
}

/// Counts the signed delivery commits of `newest_first` (each commit with its object as
/// stored) and, given `allowed`, checks every one; the oldest that fails is reported.
pub fn check_history<'a>(
    newest_first: impl IntoIterator<Item = (&'a CommitRecord, &'a [u8])>,
    allowed: Option<&AllowedSigners>,
) -> SignatureReport {
    let mut report = SignatureReport::default();
    let commits: Vec<_> = newest_first.into_iter().collect();
    for (record, object) in commits.into_iter().rev() {
        let Some(trailers) = &record.parsed.trailers else {
            continue;
        };
        report.delivery_commits += 1;
        if is_signed(object) {
            report.signed += 1;
        }
        let Some(allowed) = allowed else {
            continue;
        };
        match verify_commit(object, record.time, allowed) {
            Ok(_) => report.verified += 1,
            Err(problem) => {
                report.failed += 1;
                if report.first_bad.is_none() {
                    report.first_bad = Some(BadSignature {
                        commit: record.commit.clone(),
                        title: record.parsed.title.clone(),
                        release: trailers.release.clone(),
                        problem,
                    });
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests;
