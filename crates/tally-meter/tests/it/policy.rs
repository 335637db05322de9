//! Policy construction: every error, every bound at the bound and one past,
//! const construction, lookups, and the fingerprint's golden vector.
//!
//! Every validation case also runs through `OwnedPolicy::new` (see `new`),
//! which must accept exactly what `Policy::new` accepts, with the same
//! fingerprint, and refuse the rest with the same error.

use tally_meter::{
    DimSpec, Error, MAX_DIMS, MAX_NAME_BYTES, MAX_WARN_LEVELS, Meter, OwnedPolicy, Policy, Verdict,
};

/// `Policy::new`, after checking that `OwnedPolicy::new` decides alike: the
/// same error, or a policy with the same fingerprint and declarations.
fn new<const N: usize>(specs: [DimSpec; N]) -> Result<Policy<N>, Error> {
    let fixed = Policy::new(specs);
    match (&fixed, OwnedPolicy::new(&specs)) {
        (Ok(fixed), Ok(owned)) => {
            assert_eq!(owned.fingerprint(), fixed.fingerprint());
            assert_eq!(owned.dim_count(), N);
            let owned_dims: Vec<_> = owned
                .dims()
                .map(|(d, s)| (d, s.name(), s.limit()))
                .collect();
            let fixed_dims: Vec<_> = fixed
                .dims()
                .map(|(d, s)| (d, s.name(), s.limit()))
                .collect();
            assert_eq!(owned_dims, fixed_dims);
        }
        (Err(fixed), Err(owned)) => assert_eq!(owned, *fixed),
        (fixed, owned) => panic!("the forms disagree: {fixed:?} and {owned:?}"),
    }
    fixed
}

const NAMES: [&str; 33] = [
    "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14",
    "d15", "d16", "d17", "d18", "d19", "d20", "d21", "d22", "d23", "d24", "d25", "d26", "d27",
    "d28", "d29", "d30", "d31", "d32",
];

fn specs<const N: usize>() -> [DimSpec; N] {
    core::array::from_fn(|i| DimSpec::new(NAMES[i], 1))
}

fn dim_of<const N: usize>(policy: &Policy<N>, index: usize) -> tally_meter::Dim {
    policy.dim_at(index).unwrap()
}

const AGENT: Policy<3> = match Policy::new([
    DimSpec::new("tokens", 100_000)
        .warn_at(50_000)
        .warn_at(80_000),
    DimSpec::new("millis", 30_000).warn_at(27_000),
    DimSpec::new("calls", 50),
]) {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

const CALLS: tally_meter::Dim = match AGENT.dim("calls") {
    Some(dim) => dim,
    None => panic!("no calls"),
};

#[test]
fn a_policy_is_built_in_const_context_and_is_copy() {
    let copy = AGENT;
    let again = AGENT;
    assert_eq!(copy, again);
    assert_eq!(CALLS.index(), 2);
    assert_eq!(AGENT.limit(CALLS), Some(50));
    let tokens = AGENT.dim("tokens").unwrap();
    assert_eq!(AGENT.warn_levels(tokens), Some(&[50_000, 80_000][..]));
    assert_eq!(AGENT.name(tokens), Some("tokens"));
    assert_eq!(AGENT.spec(tokens).map(DimSpec::limit), Some(100_000));
    let names: Vec<_> = AGENT.dims().map(|(d, s)| (d.index(), s.name())).collect();
    assert_eq!(names, [(0, "tokens"), (1, "millis"), (2, "calls")]);
}

#[test]
fn lookups_by_name_are_exact_and_by_index_are_bounded() {
    assert_eq!(AGENT.dim("Tokens"), None);
    assert_eq!(AGENT.dim("token"), None);
    assert_eq!(AGENT.dim("tokens "), None);
    assert_eq!(AGENT.dim(""), None);
    assert_eq!(AGENT.dim_at(2), Some(CALLS));
    assert_eq!(AGENT.dim_at(3), None);
    assert_eq!(AGENT.dim_at(usize::MAX), None);
    // A handle from a larger policy is not in a smaller one.
    let big = new(specs::<5>()).unwrap();
    let fifth = dim_of(&big, 4);
    assert_eq!(AGENT.limit(fifth), None);
    assert_eq!(AGENT.name(fifth), None);
    assert_eq!(AGENT.warn_levels(fifth), None);
}

#[test]
fn dimension_count_is_bounded_at_max_dims() {
    assert_eq!(MAX_DIMS, 32);
    assert_eq!(new::<0>([]), Err(Error::NoDims));
    assert!(new(specs::<1>()).is_ok());
    let full = new(specs::<32>()).unwrap();
    assert_eq!(dim_of(&full, 31).index(), 31);
    assert_eq!(full.dim_at(32), None);
    assert_eq!(new(specs::<33>()), Err(Error::TooManyDims));
}

#[test]
fn names_are_bounded_and_restricted() {
    assert_eq!(MAX_NAME_BYTES, 32);
    let longest = "abcdefghijklmnopqrstuvwxyz_.-019";
    assert_eq!(longest.len(), MAX_NAME_BYTES);
    assert!(new([DimSpec::new(longest, 1)]).is_ok());
    let too_long = "abcdefghijklmnopqrstuvwxyz_.-0199";
    assert_eq!(too_long.len(), MAX_NAME_BYTES + 1);
    let first = |r: Result<Policy<1>, Error>| r.err();
    let invalid = Some(Error::InvalidName {
        dim: dim_of(&AGENT, 0),
    });
    assert_eq!(first(new([DimSpec::new(too_long, 1)])), invalid);
    for bad in ["", " ", "a b", "tök", "a\"b", "a\nb", "a/b", "a:b", "\u{0}"] {
        assert_eq!(first(new([DimSpec::new(bad, 1)])), invalid, "{bad:?}");
    }
    for good in ["a", "A", "0", "usd_micros", "gpu.seconds", "x-y", "-", "."] {
        assert!(new([DimSpec::new(good, 1)]).is_ok(), "{good:?}");
    }
}

#[test]
fn zero_limit_is_refused_and_one_and_max_are_accepted() {
    let second = dim_of(&AGENT, 1);
    let zero = new([DimSpec::new("a", 1), DimSpec::new("b", 0)]);
    assert_eq!(zero, Err(Error::ZeroLimit { dim: second }));
    assert!(new([DimSpec::new("a", 1)]).is_ok());
    assert!(new([DimSpec::new("a", u64::MAX)]).is_ok());
}

#[test]
fn warn_levels_must_be_below_the_limit() {
    let a = dim_of(&AGENT, 0);
    let at = new([DimSpec::new("a", 100).warn_at(100)]);
    assert_eq!(at, Err(Error::WarnNotBelowLimit { dim: a }));
    let above = new([DimSpec::new("a", 100).warn_at(101)]);
    assert_eq!(above, Err(Error::WarnNotBelowLimit { dim: a }));
    let max = new([DimSpec::new("a", 100).warn_at(u64::MAX)]);
    assert_eq!(max, Err(Error::WarnNotBelowLimit { dim: a }));
    let later = new([DimSpec::new("a", 100).warn_at(10).warn_at(100)]);
    assert_eq!(later, Err(Error::WarnNotBelowLimit { dim: a }));
    assert!(new([DimSpec::new("a", 100).warn_at(99)]).is_ok());
    assert!(new([DimSpec::new("a", 100).warn_at(0)]).is_ok());
    assert!(new([DimSpec::new("a", u64::MAX).warn_at(u64::MAX - 1)]).is_ok());
}

#[test]
fn warn_levels_must_strictly_increase() {
    let a = dim_of(&AGENT, 0);
    let repeated = new([DimSpec::new("a", 100).warn_at(10).warn_at(10)]);
    assert_eq!(repeated, Err(Error::WarnNotIncreasing { dim: a }));
    let decreasing = new([DimSpec::new("a", 100).warn_at(20).warn_at(10)]);
    assert_eq!(decreasing, Err(Error::WarnNotIncreasing { dim: a }));
    let ok = new([DimSpec::new("a", 100).warn_at(0).warn_at(1).warn_at(99)]);
    assert_eq!(ok.unwrap().warn_levels(a), Some(&[0, 1, 99][..]));
}

#[test]
fn warn_levels_are_bounded_at_max_warn_levels() {
    assert_eq!(MAX_WARN_LEVELS, 4);
    let a = dim_of(&AGENT, 0);
    let four = DimSpec::new("a", 100)
        .warn_at(1)
        .warn_at(2)
        .warn_at(3)
        .warn_at(4);
    assert_eq!(four.warn_levels(), &[1, 2, 3, 4]);
    assert!(new([four]).is_ok());
    let five = four.warn_at(5);
    assert_eq!(five.warn_levels(), &[1, 2, 3, 4]);
    assert_eq!(new([five]), Err(Error::TooManyWarnLevels { dim: a }));
    let many = (0..1000).fold(DimSpec::new("a", 10_000), |s, l| s.warn_at(l));
    assert_eq!(new([many]), Err(Error::TooManyWarnLevels { dim: a }));
}

#[test]
fn duplicate_names_are_refused_naming_the_later_dimension() {
    let dup = new([
        DimSpec::new("a", 1),
        DimSpec::new("b", 1),
        DimSpec::new("a", 2),
    ]);
    assert_eq!(
        dup,
        Err(Error::DuplicateName {
            dim: dim_of(&AGENT, 2)
        })
    );
}

#[test]
fn the_first_problem_in_documented_order_is_reported() {
    let (a, b) = (dim_of(&AGENT, 0), dim_of(&AGENT, 1));
    // Dimension order first: `a`'s problem wins over `b`'s.
    let both = new([DimSpec::new("a", 0), DimSpec::new("", 1)]);
    assert_eq!(both, Err(Error::ZeroLimit { dim: a }));
    // Within a dimension: name, zero limit, count, order, below limit.
    let name_and_zero = new([DimSpec::new("a", 1), DimSpec::new("", 0)]);
    assert_eq!(name_and_zero, Err(Error::InvalidName { dim: b }));
    let zero_and_warn = new([DimSpec::new("a", 0).warn_at(5)]);
    assert_eq!(zero_and_warn, Err(Error::ZeroLimit { dim: a }));
    let five = (1..=5).fold(DimSpec::new("a", 3), |s, l| s.warn_at(l));
    assert_eq!(new([five]), Err(Error::TooManyWarnLevels { dim: a }));
    let order_and_limit = new([DimSpec::new("a", 3).warn_at(9).warn_at(1)]);
    assert_eq!(order_and_limit, Err(Error::WarnNotIncreasing { dim: a }));
}

/// The documented encoding, recomputed independently.
fn reference_fingerprint(dims: &[(&str, u64, &[u64])]) -> u64 {
    let mut bytes = b"tally/meter/policy/v1".to_vec();
    bytes.extend((dims.len() as u64).to_le_bytes());
    for (name, limit, warns) in dims {
        bytes.extend((name.len() as u64).to_le_bytes());
        bytes.extend(name.as_bytes());
        bytes.extend(limit.to_le_bytes());
        bytes.extend((warns.len() as u64).to_le_bytes());
        for w in *warns {
            bytes.extend(w.to_le_bytes());
        }
    }
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn fingerprint_matches_the_golden_vector_and_the_documented_encoding() {
    let expected = reference_fingerprint(&[
        ("tokens", 100_000, &[50_000, 80_000]),
        ("millis", 30_000, &[27_000]),
        ("calls", 50, &[]),
    ]);
    assert_eq!(AGENT.fingerprint(), expected);
    assert_eq!(AGENT.fingerprint(), GOLDEN_AGENT_FINGERPRINT);
}

/// Pinned: changing the encoding must change this constant and the snapshot
/// version.
const GOLDEN_AGENT_FINGERPRINT: u64 = 0x86f8_ec00_8cba_b213;

#[test]
fn fingerprint_changes_with_every_part_of_the_policy() {
    let base = new([DimSpec::new("a", 10).warn_at(5), DimSpec::new("b", 7)]).unwrap();
    let variants = [
        new([DimSpec::new("c", 10).warn_at(5), DimSpec::new("b", 7)]),
        new([DimSpec::new("a", 11).warn_at(5), DimSpec::new("b", 7)]),
        new([DimSpec::new("a", 10).warn_at(4), DimSpec::new("b", 7)]),
        new([DimSpec::new("a", 10), DimSpec::new("b", 7)]),
        new([
            DimSpec::new("a", 10).warn_at(5),
            DimSpec::new("b", 7).warn_at(1),
        ]),
        new([DimSpec::new("b", 7), DimSpec::new("a", 10).warn_at(5)]),
    ];
    for variant in variants {
        assert_ne!(variant.unwrap().fingerprint(), base.fingerprint());
    }
    // Name/limit boundaries cannot be shifted into each other.
    let ab = new([DimSpec::new("ab", 1)]).unwrap();
    let a = new([DimSpec::new("a", 1)]).unwrap();
    assert_ne!(ab.fingerprint(), a.fingerprint());
}

#[test]
fn a_const_policy_drives_a_meter() {
    let mut meter = Meter::new(&AGENT);
    assert_eq!(meter.charge(CALLS, 50), Ok(Verdict::Continue));
    assert_eq!(meter.charge(CALLS, 1), Ok(Verdict::Exhausted(CALLS)));
}
