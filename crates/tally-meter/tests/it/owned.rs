//! `OwnedPolicy`: validation of run-time declarations at every bound (at the
//! bound accepted, one past refused), names copied in, lookups bounded by the
//! declared count, amounts past it refused, and snapshots shared with the
//! const form. The meters' semantics on both forms are in `props.rs` and
//! `differential.rs`.

use tally_meter::{
    AtomicMeter, DimDecl, DimSpec, Error, MAX_DIMS, MAX_NAME_BYTES, MAX_WARN_LEVELS, Meter,
    OwnedMeter, OwnedPolicy, OwnedSnapshot, Policy, Snapshot, Verdict,
};

/// Run-time names `d0`, `d1`, … (not `'static`).
fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("d{i}")).collect()
}

fn decls(names: &[String], limit: u64) -> Vec<DimDecl<'_>> {
    names.iter().map(|n| DimDecl::new(n, limit)).collect()
}

/// The handle of index `i`, from a policy of `MAX_DIMS` dimensions.
fn dim(i: usize) -> tally_meter::Dim {
    let names = names(MAX_DIMS);
    OwnedPolicy::new(&decls(&names, 1))
        .unwrap()
        .dim_at(i)
        .unwrap()
}

fn three() -> OwnedPolicy {
    let names = ["tokens".to_owned(), "millis".to_owned(), "calls".to_owned()];
    let policy = OwnedPolicy::new(&[
        DimDecl::new(&names[0], 100).warn_at(50),
        DimDecl::new(&names[1], 1_000),
        DimDecl::new(&names[2], 3),
    ])
    .unwrap();
    drop(names);
    policy
}

/// `amounts` in the owned meter's `MAX_DIMS` slots.
fn wide(amounts: &[u64]) -> [u64; MAX_DIMS] {
    let mut wide = [0; MAX_DIMS];
    wide[..amounts.len()].copy_from_slice(amounts);
    wide
}

#[test]
fn owned_dimension_count_is_bounded_at_max_dims() {
    assert_eq!(OwnedPolicy::new(&[]), Err(Error::NoDims));
    let one = names(1);
    assert_eq!(OwnedPolicy::new(&decls(&one, 1)).unwrap().dim_count(), 1);
    let full = names(MAX_DIMS);
    let policy = OwnedPolicy::new(&decls(&full, 1)).unwrap();
    assert_eq!(policy.dim_count(), MAX_DIMS);
    assert_eq!(policy.dim("d31"), Some(dim(31)));
    assert_eq!(policy.dim_at(MAX_DIMS), None);
    let past = names(MAX_DIMS + 1);
    assert_eq!(OwnedPolicy::new(&decls(&past, 1)), Err(Error::TooManyDims));
    // The count is checked before any declaration.
    let mut bad = decls(&past, 1);
    bad[0] = DimDecl::new("", 0);
    assert_eq!(OwnedPolicy::new(&bad), Err(Error::TooManyDims));
}

#[test]
fn owned_names_are_bounded_at_max_name_bytes_and_copied_in() {
    let longest: String = "abcdefghijklmnopqrstuvwxyz_.-019".to_owned();
    assert_eq!(longest.len(), MAX_NAME_BYTES);
    let policy = OwnedPolicy::new(&[DimDecl::new(&longest, 7)]).unwrap();
    let copy = longest.clone();
    drop(longest);
    assert_eq!(policy.dim(&copy), Some(dim(0)));
    assert_eq!(policy.name(dim(0)), Some(copy.as_str()));
    let too_long = format!("{copy}9");
    assert_eq!(too_long.len(), MAX_NAME_BYTES + 1);
    let invalid = Err(Error::InvalidName { dim: dim(0) });
    assert_eq!(OwnedPolicy::new(&[DimDecl::new(&too_long, 1)]), invalid);
    for bad in ["", " ", "a b", "tök", "a\"b", "a\nb", "a/b", "\u{0}", "ü"] {
        let bad = bad.to_owned();
        assert_eq!(
            OwnedPolicy::new(&[DimDecl::new(&bad, 1)]),
            invalid,
            "{bad:?}"
        );
    }
    // The second dimension's name is checked too, and named by its index.
    let second = OwnedPolicy::new(&[DimDecl::new("a", 1), DimDecl::new(&too_long, 1)]);
    assert_eq!(second, Err(Error::InvalidName { dim: dim(1) }));
    // A one-byte name is the other bound.
    let short = OwnedPolicy::new(&[DimDecl::new("-", 1)]).unwrap();
    assert_eq!(short.name(dim(0)), Some("-"));
}

#[test]
fn owned_limits_warn_levels_and_names_follow_the_const_rules() {
    let a = dim(0);
    let one = |d: DimDecl<'_>| OwnedPolicy::new(&[d]);
    assert_eq!(one(DimDecl::new("a", 0)), Err(Error::ZeroLimit { dim: a }));
    assert!(one(DimDecl::new("a", 1)).is_ok());
    assert!(one(DimDecl::new("a", u64::MAX)).is_ok());
    let four = (1..=MAX_WARN_LEVELS as u64).fold(DimDecl::new("a", 100), |d, l| d.warn_at(l));
    assert_eq!(one(four).unwrap().warn_levels(a), Some(&[1, 2, 3, 4][..]));
    assert_eq!(
        one(four.warn_at(5)),
        Err(Error::TooManyWarnLevels { dim: a })
    );
    assert!(one(DimDecl::new("a", 100).warn_at(99)).is_ok());
    assert_eq!(
        one(DimDecl::new("a", 100).warn_at(100)),
        Err(Error::WarnNotBelowLimit { dim: a })
    );
    assert_eq!(
        one(DimDecl::new("a", 100).warn_at(5).warn_at(5)),
        Err(Error::WarnNotIncreasing { dim: a })
    );
    let (x, y) = ("x".to_owned(), "x".to_owned());
    let dup = OwnedPolicy::new(&[
        DimDecl::new(&x, 1),
        DimDecl::new("z", 1),
        DimDecl::new(&y, 1),
    ]);
    assert_eq!(dup, Err(Error::DuplicateName { dim: dim(2) }));
}

#[test]
fn owned_lookups_are_bounded_by_the_declared_count() {
    let policy = three();
    let [tokens, millis, calls, past] = [0, 1, 2, 3].map(dim);
    assert_eq!(policy.dim_count(), 3);
    assert_eq!(
        [policy.dim("tokens"), policy.dim("calls"), policy.dim("d3")],
        [Some(tokens), Some(calls), None]
    );
    assert_eq!(policy.dim(""), None);
    assert_eq!(policy.dim_at(2), Some(calls));
    assert_eq!(policy.dim_at(3), None);
    assert_eq!(
        policy.spec(tokens),
        Some(DimDecl::new("tokens", 100).warn_at(50))
    );
    assert_eq!(policy.limit(millis), Some(1_000));
    assert_eq!(policy.warn_levels(tokens), Some(&[50][..]));
    assert_eq!(
        (policy.spec(past), policy.name(past), policy.limit(past)),
        (None, None, None)
    );
    assert_eq!(policy.warn_levels(past), None);
    let dims: Vec<_> = policy.dims().map(|(d, s)| (d.index(), s.name())).collect();
    assert_eq!(dims, [(0, "tokens"), (1, "millis"), (2, "calls")]);
    assert_eq!(
        format!("{policy:?}"),
        format!(
            "OwnedPolicy {{ dims: [{:?}, {:?}, {:?}], fingerprint: {} }}",
            DimDecl::new("tokens", 100).warn_at(50),
            DimDecl::new("millis", 1_000),
            DimDecl::new("calls", 3),
            policy.fingerprint()
        )
    );
    let fixed = Policy::new([
        DimSpec::new("tokens", 100).warn_at(50),
        DimSpec::new("millis", 1_000),
        DimSpec::new("calls", 3),
    ])
    .unwrap();
    assert_eq!(policy.fingerprint(), fixed.fingerprint());
}

#[test]
fn an_owned_meter_refuses_amounts_past_its_dimensions_and_changes_nothing() {
    let policy = three();
    let [tokens, _, calls, past] = [0, 1, 2, 3].map(dim);
    let mut meter: OwnedMeter<'_> = Meter::new(&policy);
    meter.try_charge(tokens, 10).unwrap();
    let held = meter.reserve(&wide(&[5, 0, 1])).unwrap();
    let before = meter.snapshot();
    let unknown = Error::UnknownDim { dim: past };
    assert_eq!(meter.charge(past, 1), Err(unknown));
    assert_eq!(meter.try_charge(past, 0), Err(unknown));
    let mut over = wide(&[1, 1, 1]);
    over[3] = 1;
    assert_eq!(meter.charge_many(&over), Err(unknown));
    assert_eq!(meter.try_charge_many(&over), Err(unknown));
    assert_eq!(
        meter.reserve(&over).err(),
        Some(Error::UnknownDim { dim: past })
    );
    let mut last = [0; MAX_DIMS];
    last[MAX_DIMS - 1] = 1;
    assert_eq!(
        meter.charge_many(&last),
        Err(Error::UnknownDim {
            dim: dim(MAX_DIMS - 1)
        })
    );
    let rejected = meter.commit(held, &over).unwrap_err();
    assert_eq!(rejected.error, Error::UnknownDim { dim: past });
    assert_eq!(meter.snapshot(), before);
    let getters = (
        meter.spent(past),
        meter.reserved(past),
        meter.remaining(past),
        meter.overrun(past),
    );
    assert_eq!(getters, (None, None, None, None));
    // Zero amounts past the policy are the normal case.
    let report = meter
        .commit(rejected.reservation, &wide(&[4, 0, 1]))
        .unwrap();
    assert_eq!(report.get(calls), Some(Verdict::Continue));
    assert_eq!(report.get(past), Some(Verdict::Continue));
    assert_eq!(meter.spent(tokens), Some(14));
    assert_eq!(meter.snapshot().dim_count(), 3);
}

#[test]
fn owned_atomic_meters_share_the_semantics_and_check_their_children() {
    let policy = three();
    let [tokens, _, calls, past] = [0, 1, 2, 3].map(dim);
    let parent = AtomicMeter::new(&policy);
    let child = AtomicMeter::child(&parent, &policy).unwrap();
    assert_eq!(
        child
            .try_charge(tokens, 60)
            .unwrap()
            .warning()
            .map(|w| w.crossed()),
        Some(true)
    );
    assert_eq!(parent.spent(tokens), Some(60));
    let mut over = wide(&[0, 0, 1]);
    over[3] = 1;
    assert_eq!(
        child.try_charge_many(&over),
        Err(Error::UnknownDim { dim: past })
    );
    assert_eq!(
        child.charge_many(&over),
        Err(Error::UnknownDim { dim: past })
    );
    assert_eq!(
        child.reserve(&over).err(),
        Some(Error::UnknownDim { dim: past })
    );
    let held = child.reserve(&wide(&[0, 0, 3])).unwrap();
    let rejected = child.commit(held, &over).unwrap_err();
    assert_eq!(rejected.error, Error::UnknownDim { dim: past });
    child
        .commit(rejected.reservation, &wide(&[0, 0, 2]))
        .unwrap();
    assert_eq!(
        (parent.spent(calls), parent.reserved(calls)),
        (Some(2), Some(0))
    );
    assert_eq!(child.charge(past, 1), Err(Error::UnknownDim { dim: past }));
    let getters = |m: &AtomicMeter<'_, MAX_DIMS, OwnedPolicy>| {
        (
            m.spent(past),
            m.reserved(past),
            m.remaining(past),
            m.overrun(past),
        )
    };
    assert_eq!(getters(&parent), (None, None, None, None));
    assert_eq!(getters(&child), (None, None, None, None));
    // A child must declare the parent's dimensions: the same names, in the
    // same order, and as many (a prefix is not enough).
    let names = ["tokens".to_owned(), "millis".to_owned()];
    let prefix = OwnedPolicy::new(&decls(&names, 1_000)).unwrap();
    assert_eq!(
        AtomicMeter::child(&parent, &prefix).err(),
        Some(Error::PolicyMismatch)
    );
    let renamed = OwnedPolicy::new(&[
        DimDecl::new("tokens", 100),
        DimDecl::new("millis", 1_000),
        DimDecl::new("call", 3),
    ])
    .unwrap();
    assert_eq!(
        AtomicMeter::child(&parent, &renamed).err(),
        Some(Error::PolicyMismatch)
    );
}

#[test]
fn owned_snapshots_restore_only_with_the_declared_count() {
    let policy = three();
    let fp = policy.fingerprint();
    let ok = Snapshot::<MAX_DIMS>::from_slices(fp, &[1, 2, 3], &[0, 0, 0]).unwrap();
    let meter = Meter::restore(&policy, &ok).unwrap();
    assert_eq!(meter.snapshot(), ok);
    // Another count is another policy, whatever the fingerprint says.
    let short = Snapshot::<MAX_DIMS>::from_slices(fp, &[1, 2], &[0, 0]).unwrap();
    assert_eq!(
        Meter::restore(&policy, &short).err(),
        Some(Error::SnapshotPolicyMismatch)
    );
    let full = Snapshot::new(fp, [0; MAX_DIMS], [0; MAX_DIMS]);
    assert_eq!(full.dim_count(), MAX_DIMS);
    assert_eq!(
        Meter::restore(&policy, &full).err(),
        Some(Error::SnapshotPolicyMismatch)
    );
    // Reserved above a limit, at the bound and one past.
    let at = Snapshot::<MAX_DIMS>::from_slices(fp, &[0, 0, 0], &[100, 1_000, 3]).unwrap();
    assert!(Meter::restore(&policy, &at).is_ok());
    let past = Snapshot::<MAX_DIMS>::from_slices(fp, &[0, 0, 0], &[100, 1_000, 4]).unwrap();
    assert_eq!(
        Meter::restore(&policy, &past).err(),
        Some(Error::SnapshotInvalid { dim: dim(2) })
    );
    // from_slices: 1..=N amounts, as many reserved as spent.
    assert!(Snapshot::<MAX_DIMS>::from_slices(fp, &[], &[]).is_none());
    assert!(Snapshot::<MAX_DIMS>::from_slices(fp, &[1], &[1, 2]).is_none());
    assert!(Snapshot::<MAX_DIMS>::from_slices(fp, &[0; MAX_DIMS], &[0; MAX_DIMS]).is_some());
    let too_many = [0; MAX_DIMS + 1];
    assert!(Snapshot::<MAX_DIMS>::from_slices(fp, &too_many, &too_many).is_none());
    let owned = OwnedSnapshot::from(ok);
    assert_eq!(Snapshot::from(owned), ok);
}

#[cfg(feature = "serde")]
mod json {
    use super::*;

    #[test]
    fn owned_and_const_snapshots_encode_alike_and_restore_across_forms() {
        let owned_policy = three();
        let fixed = Policy::new([
            DimSpec::new("tokens", 100).warn_at(50),
            DimSpec::new("millis", 1_000),
            DimSpec::new("calls", 3),
        ])
        .unwrap();
        let mut owned = Meter::new(&owned_policy);
        owned.try_charge_many(&wide(&[60, 7, 1])).unwrap();
        let _held = owned.reserve(&wide(&[10, 0, 1])).unwrap();
        let text = serde_json::to_string(&owned.snapshot()).unwrap();
        let expected = format!(
            r#"{{"version":1,"policy":"{:016x}","spent":[60,7,1],"reserved":[10,0,1]}}"#,
            fixed.fingerprint()
        );
        assert_eq!(text, expected);
        // The const form reads it and restores it, and writes it back alike.
        let as_fixed: Snapshot<3> = serde_json::from_str(&text).unwrap();
        let fixed_meter = Meter::restore(&fixed, &as_fixed).unwrap();
        assert_eq!(
            serde_json::to_string(&fixed_meter.snapshot()).unwrap(),
            text
        );
        // The owned form reads it back through `OwnedSnapshot`.
        let decoded: OwnedSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(decoded.snapshot(), &owned.snapshot());
        let restored = Meter::restore(&owned_policy, decoded.snapshot()).unwrap();
        assert_eq!(restored.snapshot(), owned.snapshot());
        assert_eq!(serde_json::to_string(&decoded).unwrap(), text);
        let seq = r#"[1,"0000000000000000",[5],[6]]"#;
        let decoded: OwnedSnapshot = serde_json::from_str(seq).unwrap();
        assert_eq!(
            (
                decoded.snapshot().dim_count(),
                decoded.snapshot().reserved()[0]
            ),
            (1, 6)
        );
    }

    #[test]
    fn owned_snapshot_arrays_are_bounded_at_max_dims_and_must_match() {
        let array = |n: usize| format!("[{}]", vec!["0"; n].join(","));
        let text = |spent: &str, reserved: &str| {
            format!(
                r#"{{"version":1,"policy":"00000000000000ff","spent":{spent},"reserved":{reserved}}}"#
            )
        };
        for n in [1, 2, MAX_DIMS] {
            let decoded: OwnedSnapshot = serde_json::from_str(&text(&array(n), &array(n))).unwrap();
            assert_eq!(decoded.snapshot().dim_count(), n);
        }
        let refused = [
            (text(&array(0), &array(0)), "invalid length 0"),
            (
                text(&array(MAX_DIMS + 1), &array(MAX_DIMS + 1)),
                "invalid length 33",
            ),
            (
                text(&array(2), &array(3)),
                "as many reserved amounts as spent amounts",
            ),
            (text(&array(3), &array(2)), "invalid length 2"),
            (text("[1,-1]", &array(2)), "invalid value"),
            (
                r#"[1,"00000000000000ff",[1],[1],[1]]"#.to_owned(),
                "invalid length 5",
            ),
        ];
        for (json, expected) in refused {
            let error = serde_json::from_str::<OwnedSnapshot>(&json)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{json}: {error}");
        }
        // The const form still takes exactly N amounts.
        let two = serde_json::from_str::<Snapshot<3>>(&text(&array(2), &array(2)));
        assert!(
            two.unwrap_err()
                .to_string()
                .contains("expected an array of 3 unsigned integers")
        );
    }
}
