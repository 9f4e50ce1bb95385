//! `status.deliveredAt` orders releases delivered in the same second, and still reads the
//! second-precision values written before it carried microseconds.

use gitopshq_crds::release::ReleaseStatus;

fn status(delivered_at: &str) -> ReleaseStatus {
    serde_json::from_value(serde_json::json!({ "deliveredAt": delivered_at }))
        .unwrap_or_else(|e| panic!("deliveredAt {delivered_at:?} does not parse: {e}"))
}

#[test]
fn delivered_at_keeps_microseconds_and_reads_whole_seconds() {
    let whole_second = status("2026-12-03T05:34:22Z");
    let later_in_it = status("2026-12-03T05:34:22.123456Z");
    let first = whole_second.delivered_at.expect("parsed");
    let second = later_in_it.delivered_at.clone().expect("parsed");
    assert!(second.0 > first.0, "{second:?} should come after {first:?}");
    let written = serde_json::to_value(&later_in_it).expect("serialises");
    assert_eq!(written["deliveredAt"], "2026-12-03T05:34:22.123456Z");
}
