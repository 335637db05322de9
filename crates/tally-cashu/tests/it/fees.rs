//! NUT-02 fee and split arithmetic never creates or loses a unit.

use proptest::prelude::*;
use tally_cashu::fees::{self, Denominations, fee_for_count, input_fee, plan_swap, split_with_fee};
use tally_cashu::{Amount, Error};

fn sum(v: &[Amount]) -> u128 {
    v.iter().map(|a| u128::from(a.value())).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn split_sums_to_the_amount(amount in any::<u64>()) {
        let parts = Denominations::powers_of_two().split(Amount::new(amount)).unwrap();
        prop_assert_eq!(sum(&parts), u128::from(amount));
        prop_assert_eq!(parts.len(), amount.count_ones() as usize);
        prop_assert!(parts.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn split_with_limited_denominations_sums_or_refuses(
        amount in 0u64..100_000,
        mut denoms in proptest::collection::vec(1u64..500, 1..6),
    ) {
        denoms.push(1);
        let d = Denominations::new(denoms.into_iter().map(Amount::new)).unwrap();
        match d.split(Amount::new(amount)) {
            Ok(parts) => prop_assert_eq!(sum(&parts), u128::from(amount)),
            Err(e) => prop_assert!(matches!(e, Error::LimitExceeded { .. }), "{:?}", e),
        }
    }

    #[test]
    fn input_fee_is_the_ceiling_of_the_ppk_sum(ppks in proptest::collection::vec(0u64..5_000, 0..50)) {
        let total: u64 = ppks.iter().sum();
        let fee = input_fee(ppks.iter().copied()).unwrap().value();
        prop_assert!(fee * 1000 >= total);
        prop_assert!(fee * 1000 < total + 1000);
    }

    #[test]
    fn fee_split_covers_the_target_with_the_smallest_total(
        target in 1u64..20_000,
        ppk in 0u64..3_000,
    ) {
        let d = Denominations::powers_of_two();
        let split = split_with_fee(Amount::new(target), ppk, &d).unwrap();
        let total = split.total().unwrap().value();
        prop_assert_eq!(split.fee, fee_for_count(split.outputs.len(), ppk).unwrap());
        prop_assert!(total - split.fee.value() >= target);
        // Minimal: no smaller total works (brute force below it).
        for t in target..total {
            let fee = fee_for_count(t.count_ones() as usize, ppk).unwrap().value();
            prop_assert!(t < target + fee, "total {t} would already work");
        }
    }

    #[test]
    fn swap_plans_conserve_value(
        inputs_total in 0u64..1_000_000,
        input_fee in 0u64..100,
        send in 0u64..1_000_000,
        receiver_ppk in proptest::option::of(0u64..2_000),
    ) {
        let d = Denominations::powers_of_two();
        match plan_swap(Amount::new(inputs_total), Amount::new(input_fee), Amount::new(send), receiver_ppk, &d) {
            Ok(plan) => {
                prop_assert_eq!(
                    sum(&plan.send) + sum(&plan.change) + u128::from(input_fee),
                    u128::from(inputs_total)
                );
                prop_assert!(sum(&plan.send) >= u128::from(send));
            }
            Err(Error::InsufficientAmount { .. }) => {
                let send_total = match receiver_ppk {
                    Some(ppk) => split_with_fee(Amount::new(send), ppk, &d).unwrap().total().unwrap().value(),
                    None => send,
                };
                prop_assert!(u128::from(inputs_total) < u128::from(input_fee) + u128::from(send_total));
            }
            Err(e) => prop_assert!(false, "unexpected {e:?}"),
        }
    }
}

#[test]
fn nut02_fee_example() {
    // 100 ppk: 1..=10 inputs cost 1, 11..=20 cost 2.
    assert_eq!(fee_for_count(1, 100).unwrap(), Amount::new(1));
    assert_eq!(fee_for_count(10, 100).unwrap(), Amount::new(1));
    assert_eq!(fee_for_count(11, 100).unwrap(), Amount::new(2));
    assert_eq!(fee_for_count(0, 100).unwrap(), Amount::ZERO);
    assert!(matches!(
        input_fee([u64::MAX, 1]),
        Err(Error::AmountOverflow)
    ));
    assert!(matches!(
        fee_for_count(2, u64::MAX),
        Err(Error::AmountOverflow)
    ));
}

#[test]
fn splitting_the_largest_amounts() {
    let d = Denominations::powers_of_two();
    let parts = d.split(Amount::new(u64::MAX)).unwrap();
    assert_eq!(parts.len(), 64);
    assert_eq!(parts.last(), Some(&Amount::MAX_DENOMINATION));
    // Covering u64::MAX plus a fee overflows: refused, not wrapped.
    assert!(matches!(
        split_with_fee(Amount::new(u64::MAX), 1000, &d),
        Err(Error::AmountOverflow)
    ));
    assert!(Denominations::new([Amount::ZERO]).is_err());
    assert!(Denominations::new([]).is_err());
    assert!(matches!(
        Denominations::new([Amount::new(2)])
            .unwrap()
            .split(Amount::new(3)),
        Err(Error::UnsplittableAmount)
    ));
}

#[test]
fn fee_split_steps_are_bounded() {
    let d = Denominations::powers_of_two();
    // 65 535 units per input: the first total that works is 65 536, found at
    // the last permitted step.
    let at_bound = split_with_fee(Amount::ONE, 65_535_000, &d).unwrap();
    assert_eq!(at_bound.outputs, [Amount::new(65_536)]);
    assert_eq!(fees::MAX_FEE_SPLIT_STEPS, 65_536);
    // 65 536 units per input: the answer (131 072) is past the bound.
    assert!(matches!(
        split_with_fee(Amount::ONE, 65_536_000, &d),
        Err(Error::UnsplittableAmount)
    ));
}
