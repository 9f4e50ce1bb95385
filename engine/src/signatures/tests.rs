use super::*;
use crate::layout;
use ssh_key::{LineEnding, PrivateKey};

/// A commit signed by `git commit -S` with `gpg.format=ssh` (see the fixture's README).
const GIT_SIGNED: &[u8] = include_bytes!("../../tests/fixtures/signed-commit/commit");
const KEY: &str = include_str!("../../tests/fixtures/signed-commit/signing-key");
const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/signed-commit/signing-key.pub");
/// The fixture's committer time.
const TIME: i64 = 1_767_225_600;

fn allowed(lines: &str) -> AllowedSigners {
    AllowedSigners::parse(lines).unwrap()
}

fn fixture_signers() -> AllowedSigners {
    allowed(&format!("release-bot@example.com {PUBLIC_KEY}"))
}

/// The fixture with its message changed, signature kept.
fn tampered() -> Vec<u8> {
    let text = String::from_utf8(GIT_SIGNED.to_vec()).unwrap();
    text.replace("Deploy api 1.0.0", "Deploy api 6.6.6")
        .into_bytes()
}

fn other_key() -> PrivateKey {
    let keypair = ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]);
    PrivateKey::new(ssh_key::private::KeypairData::Ed25519(keypair), "mallory").unwrap()
}

fn signed_with(key: &PrivateKey, namespace: &str, unsigned: &[u8]) -> Vec<u8> {
    let signature = key.sign(namespace, HashAlg::Sha512, unsigned).unwrap();
    insert_signature(unsigned, &signature.to_pem(LineEnding::LF).unwrap())
}

fn unsigned_fixture() -> Vec<u8> {
    split_signature(GIT_SIGNED).payload
}

#[test]
fn a_commit_signed_by_git_splits_into_its_signature_and_what_it_covers() {
    let split = split_signature(GIT_SIGNED);
    let signature = split.signature.unwrap();
    assert!(signature.starts_with("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH"));
    assert!(signature.ends_with("-----END SSH SIGNATURE-----\n"));
    let payload = String::from_utf8(split.payload).unwrap();
    assert!(payload.starts_with("tree 2e81171448eb9f2ee3821e3d447aa6b2fe3ddba1\nauthor "));
    assert!(
        payload.contains("+0000\n\nDeploy api 1.0.0\n"),
        "the header ends with committer, then the message: {payload}"
    );
    assert!(!payload.contains("gpgsig") && !payload.contains("SSH SIGNATURE"));
}

#[test]
fn inserting_the_signature_again_gives_git_s_bytes() {
    let split = split_signature(GIT_SIGNED);
    let rebuilt = insert_signature(&split.payload, &split.signature.unwrap());
    assert_eq!(
        String::from_utf8_lossy(&rebuilt),
        String::from_utf8_lossy(GIT_SIGNED)
    );
}

#[test]
fn signing_the_payload_with_the_same_key_reproduces_git_s_signature() {
    // Ed25519 is deterministic: the same key over the same bytes gives ssh-keygen's signature.
    let key = PrivateKey::from_openssh(KEY).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&signed_with(&key, GIT_NAMESPACE, &unsigned_fixture())),
        String::from_utf8_lossy(GIT_SIGNED)
    );
}

#[test]
fn split_keeps_other_multi_line_headers_and_the_message_untouched() {
    let object = b"tree abc\nparent def\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\nmergetag object 123\n type commit\n\ngpgsig in the message\n is not a header\n";
    let split = split_signature(object);
    assert_eq!(split.signature, None);
    assert_eq!(split.payload, object.to_vec());
    assert!(!is_signed(object));
}

#[test]
fn a_git_signature_verifies_with_its_listed_key() {
    let good = verify_commit(GIT_SIGNED, TIME, &fixture_signers()).unwrap();
    assert_eq!(good.principal, "release-bot@example.com");
    assert!(
        good.fingerprint.starts_with("SHA256:"),
        "{}",
        good.fingerprint
    );
}

#[test]
fn each_way_a_signature_fails_is_told_apart() {
    let signers = fixture_signers();
    assert_eq!(
        verify_commit(&unsigned_fixture(), TIME, &signers),
        Err(SignatureProblem::Unsigned)
    );
    match verify_commit(&tampered(), TIME, &signers) {
        Err(SignatureProblem::DoesNotVerify { .. }) => {}
        other => panic!("a changed message must not verify: {other:?}"),
    }
    match verify_commit(
        &signed_with(&other_key(), GIT_NAMESPACE, &unsigned_fixture()),
        TIME,
        &signers,
    ) {
        Err(SignatureProblem::KeyNotAllowed { fingerprint }) => {
            assert!(fingerprint.starts_with("SHA256:"))
        }
        other => panic!("an unlisted key must not be accepted: {other:?}"),
    }
    let key = PrivateKey::from_openssh(KEY).unwrap();
    assert_eq!(
        verify_commit(
            &signed_with(&key, "file", &unsigned_fixture()),
            TIME,
            &signers
        ),
        Err(SignatureProblem::WrongNamespace {
            namespace: "file".into()
        })
    );
    let pgp = insert_signature(
        &unsigned_fixture(),
        "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n",
    );
    assert_eq!(
        verify_commit(&pgp, TIME, &signers),
        Err(SignatureProblem::NotSsh)
    );
    let garbled = insert_signature(
        &unsigned_fixture(),
        "-----BEGIN SSH SIGNATURE-----\nbm90IGEgc2lnbmF0dXJl\n-----END SSH SIGNATURE-----\n",
    );
    assert!(matches!(
        verify_commit(&garbled, TIME, &signers),
        Err(SignatureProblem::Malformed { .. })
    ));
}

#[test]
fn options_limit_where_and_when_a_listed_key_signs() {
    let only_files = allowed(&format!("bot namespaces=\"file\" {PUBLIC_KEY}"));
    let problem = verify_commit(GIT_SIGNED, TIME, &only_files).unwrap_err();
    assert!(
        problem
            .to_string()
            .contains("may only sign in namespaces file"),
        "{problem}"
    );
    let expired = allowed(&format!("bot valid-before=\"20250101\" {PUBLIC_KEY}"));
    let problem = verify_commit(GIT_SIGNED, TIME, &expired).unwrap_err();
    assert!(
        problem.to_string().contains(
            "valid only before 2025-01-01T00:00:00Z, and the commit is from 2026-01-01T00:00:00Z"
        ),
        "{problem}"
    );
    let window = allowed(&format!(
        "bot namespaces=\"git,file\",valid-after=20251231Z,valid-before=202601020000 {PUBLIC_KEY}"
    ));
    assert!(verify_commit(GIT_SIGNED, TIME, &window).is_ok());
    let authority = allowed(&format!("*@example.com cert-authority {PUBLIC_KEY}"));
    assert!(matches!(
        verify_commit(GIT_SIGNED, TIME, &authority),
        Err(SignatureProblem::KeyNotAllowed { .. })
    ));
}

#[test]
fn allowed_signers_files_read_as_git_writes_them() {
    let other = other_key().public_key().to_openssh().unwrap();
    let file = format!(
        "# release signing keys\n\n\"Release Bot\" {PUBLIC_KEY}\nalice@example.com,bob@example.com namespaces=\"git\" {other}\n"
    );
    let signers = AllowedSigners::parse(&file).unwrap();
    assert_eq!(signers.signers.len(), 2);
    assert_eq!(signers.signers[0].principals, "Release Bot");
    assert_eq!(signers.signers[0].line, 3);
    assert_eq!(signers.signers[1].namespaces, Some(vec!["git".to_string()]));

    let error = AllowedSigners::parse("bot ssh-ed25519 AAAAnotbase64!\n").unwrap_err();
    assert_eq!(error.line, 1);
    assert!(
        error.to_string().contains("cannot read the public key"),
        "{error}"
    );
    let error = AllowedSigners::parse(&format!("\nbot\n{PUBLIC_KEY}")).unwrap_err();
    assert_eq!(error.line, 2, "{error}");
    let error = AllowedSigners::parse(PUBLIC_KEY).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("line 1: no principal before the key; start the line with one, e.g. `gitopshq@localhost ssh-ed25519 AAAAC3NzaC1lZDI1NTE5…`;"),
        "{error}"
    );
    let error = AllowedSigners::parse(&format!("bot no-touch-required {PUBLIC_KEY}")).unwrap_err();
    assert!(error.to_string().contains("unknown option"), "{error}");
    let error = AllowedSigners::parse(&format!("bot valid-after=2026 {PUBLIC_KEY}")).unwrap_err();
    assert!(error.to_string().contains("YYYYMMDD"), "{error}");
}

fn record(id: &str, message: &str) -> CommitRecord {
    CommitRecord {
        commit: id.into(),
        parents: vec![],
        tree: "t".into(),
        time: TIME,
        author: "GitOpsHQ".into(),
        parsed: layout::parse_commit_message(message),
    }
}

#[test]
fn the_history_report_names_the_oldest_delivery_commit_that_fails() {
    let delivery = String::from_utf8(unsigned_fixture()).unwrap();
    let message = delivery.split_once("\n\n").unwrap().1.to_string();
    let skeleton = record("c0", "Initialise project shop\n");
    let good = record("c1", &message);
    let forged = record("c2", &message);
    let unsigned = record("c3", &message);
    let forged_object = signed_with(&other_key(), GIT_NAMESPACE, &unsigned_fixture());
    let unsigned_object = unsigned_fixture();
    let newest_first: Vec<(&CommitRecord, &[u8])> = vec![
        (&unsigned, &unsigned_object),
        (&forged, &forged_object),
        (&good, GIT_SIGNED),
        (&skeleton, b"tree x\n\nInitialise project shop\n"),
    ];

    let counted = check_history(newest_first.iter().copied(), None);
    assert_eq!(
        (
            counted.delivery_commits,
            counted.signed,
            counted.verified,
            counted.failed
        ),
        (3, 2, 0, 0)
    );
    assert_eq!(counted.first_bad, None);

    let report = check_history(newest_first.iter().copied(), Some(&fixture_signers()));
    assert_eq!((report.verified, report.failed), (1, 2));
    let bad = report.first_bad.unwrap();
    assert_eq!(bad.commit, "c2");
    assert_eq!(bad.release, "shop/api-v1");
    assert!(
        bad.describe().starts_with(
            "delivery commit c2 \"Deploy api 1.0.0\" (release shop/api-v1) fails the signature check: it is signed by key SHA256:"
        ),
        "{}",
        bad.describe()
    );
}
