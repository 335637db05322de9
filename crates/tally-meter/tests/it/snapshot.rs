//! Snapshots: validation on restore, the JSON encoding's golden vector, and
//! hostile encodings (random bytes included) refused without a panic.

use proptest::prelude::*;
use tally_meter::{DimSpec, Error, Meter, Policy, SNAPSHOT_VERSION, Snapshot};

const POLICY: Policy<2> = match Policy::new([
    DimSpec::new("tokens", 1_000).warn_at(800),
    DimSpec::new("calls", 10),
]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

#[test]
fn restore_refuses_a_snapshot_of_another_policy() {
    let other = Policy::new([DimSpec::new("tokens", 1_000), DimSpec::new("calls", 10)]).unwrap();
    let snapshot = Meter::new(&other).snapshot();
    assert_eq!(
        Meter::restore(&POLICY, &snapshot).err(),
        Some(Error::SnapshotPolicyMismatch)
    );
    let forged = Snapshot::new(POLICY.fingerprint() ^ 1, [0, 0], [0, 0]);
    assert_eq!(
        Meter::restore(&POLICY, &forged).err(),
        Some(Error::SnapshotPolicyMismatch)
    );
}

#[test]
fn restore_refuses_impossible_states_at_the_bound_and_one_past() {
    let fp = POLICY.fingerprint();
    let calls = POLICY.dim("calls").unwrap();
    // Reserved up to the limit is possible; one past is not.
    let at = Snapshot::new(fp, [0, 0], [1_000, 10]);
    let meter = Meter::restore(&POLICY, &at).unwrap();
    assert_eq!(meter.remaining(calls), Some(0));
    let past = Snapshot::new(fp, [0, 0], [0, 11]);
    assert_eq!(
        Meter::restore(&POLICY, &past).err(),
        Some(Error::SnapshotInvalid { dim: calls })
    );
    // Spent past the limit is possible (recorded by `charge`), up to u64::MAX
    // in total with the reserved amount; one past is not.
    let spent_max = Snapshot::new(fp, [0, u64::MAX - 10], [0, 10]);
    let meter = Meter::restore(&POLICY, &spent_max).unwrap();
    assert_eq!(meter.overrun(calls), Some(u64::MAX - 10));
    let overflow = Snapshot::new(fp, [0, u64::MAX - 9], [0, 10]);
    assert_eq!(
        Meter::restore(&POLICY, &overflow).err(),
        Some(Error::SnapshotInvalid { dim: calls })
    );
}

#[test]
fn snapshot_version_is_one() {
    assert_eq!(SNAPSHOT_VERSION, 1);
}

#[cfg(feature = "serde")]
mod json {
    use super::*;

    /// The golden vector: this meter state encodes to exactly these bytes.
    const GOLDEN: &str =
        r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0]}"#;

    fn golden_meter() -> Meter<'static, 2> {
        let mut meter = Meter::new(&POLICY);
        meter.try_charge_many(&[850, 3]).unwrap();
        let _held = meter.reserve(&[100, 0]).unwrap();
        meter
    }

    #[test]
    fn snapshot_json_matches_the_golden_vector() {
        let meter = golden_meter();
        assert_eq!(format!("{:016x}", POLICY.fingerprint()), "b3aed6233d6b993b");
        assert_eq!(serde_json::to_string(&meter.snapshot()).unwrap(), GOLDEN);
        let decoded: Snapshot<2> = serde_json::from_str(GOLDEN).unwrap();
        assert_eq!(decoded, meter.snapshot());
        let restored = Meter::restore(&POLICY, &decoded).unwrap();
        assert_eq!(restored.snapshot(), meter.snapshot());
    }

    #[test]
    fn hostile_snapshot_json_is_refused() {
        let bad = [
            // version
            r#"{"version":2,"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"version":0,"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0]}"#,
            // fingerprint
            r#"{"version":1,"policy":"B3AED6233D6B993B","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b0","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993g","spent":[850,3],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":12947521425579415867,"spent":[850,3],"reserved":[100,0]}"#,
            // arrays
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,3,0],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,-3],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,3.5],"reserved":[100,0]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,18446744073709551616],"reserved":[100,0]}"#,
            // fields
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,3]}"#,
            r#"{"version":1,"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0],"extra":1}"#,
            r#"{"version":1,"version":1,"policy":"b3aed6233d6b993b","spent":[850,3],"reserved":[100,0]}"#,
            r#"[1,"b3aed6233d6b993b",[850,3]]"#,
            r#"[1,"b3aed6233d6b993b",[850,3],[100,0],5]"#,
            "null",
            "",
        ];
        for text in bad {
            assert!(serde_json::from_str::<Snapshot<2>>(text).is_err(), "{text}");
        }
        // The sequence form is accepted when complete.
        let seq = r#"[1,"b3aed6233d6b993b",[850,3],[100,0]]"#;
        assert_eq!(
            serde_json::from_str::<Snapshot<2>>(seq).unwrap(),
            golden_meter().snapshot()
        );
    }

    proptest! {
        /// Decoding random bytes never panics; whatever decodes is still
        /// checked by restore, which never panics either.
        #[test]
        fn decoding_random_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(snapshot) = serde_json::from_slice::<Snapshot<2>>(&bytes) {
                let _ = Meter::restore(&POLICY, &snapshot);
            }
        }

        /// Decoding mutations of the golden vector never panics, and restore
        /// accepts only states possible under the policy.
        #[test]
        fn decoding_mutated_snapshots_never_panics(pos in 0usize..GOLDEN.len(), byte in any::<u8>()) {
            let mut bytes = GOLDEN.as_bytes().to_vec();
            bytes[pos] = byte;
            if let Ok(snapshot) = serde_json::from_slice::<Snapshot<2>>(&bytes)
                && let Ok(meter) = Meter::restore(&POLICY, &snapshot)
            {
                for (dim, spec) in POLICY.dims() {
                    prop_assert!(meter.reserved(dim).unwrap() <= spec.limit());
                }
            }
        }

        /// encode -> decode -> restore is the identity on any valid state.
        #[test]
        fn json_round_trip_is_the_identity(spent in [any::<u64>(), any::<u64>()], r0 in 0u64..=1_000, r1 in 0u64..=10) {
            let spent = [spent[0].min(u64::MAX - r0), spent[1].min(u64::MAX - r1)];
            let snapshot = Snapshot::new(POLICY.fingerprint(), spent, [r0, r1]);
            let meter = Meter::restore(&POLICY, &snapshot).unwrap();
            let text = serde_json::to_string(&meter.snapshot()).unwrap();
            let decoded: Snapshot<2> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(decoded, snapshot);
            prop_assert_eq!(Meter::restore(&POLICY, &decoded).unwrap().snapshot(), snapshot);
        }
    }
}
