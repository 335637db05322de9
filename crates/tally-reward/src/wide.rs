//! Exact 192-bit products and quotients for shares (`u64 × u128 / u128`).

/// `a × b` as a 192-bit value `(high, low)` = `high · 2^64 + low`, ordered
/// lexicographically.
#[must_use]
pub(crate) fn mul(a: u128, b: u64) -> (u128, u64) {
    let b = u128::from(b);
    let a_lo = a & u128::from(u64::MAX);
    let a_hi = a >> 64;
    let lo = a_lo * b; // < 2^128: both factors < 2^64
    let hi = a_hi * b; // <= (2^64 - 1)^2
    // hi + (lo >> 64) <= (2^64 - 1)^2 + 2^64 - 1 < 2^128: no overflow.
    let high = hi + (lo >> 64);
    (high, lo as u64)
}

/// `floor(n / d)` and `n mod d` for a 192-bit `n = (high, low)` whose
/// quotient fits in 64 bits (`high < d`); `None` when it does not or
/// `d == 0`.
#[must_use]
pub(crate) fn div(n: (u128, u64), d: u128) -> Option<(u64, u128)> {
    let (high, low) = n;
    if d == 0 || high >= d {
        return None;
    }
    if high >> 64 == 0 {
        // The whole numerator fits in 128 bits.
        let n = (high << 64) | u128::from(low);
        return Some(((n / d) as u64, n % d));
    }
    // Binary long division over the 64 low bits; `r < d` throughout.
    let mut r = high;
    let mut q = 0u64;
    for bit in (0..64).rev() {
        let carry = r >> 127;
        r = (r << 1) | u128::from((low >> bit) & 1);
        if carry == 1 || r >= d {
            r = r.wrapping_sub(d);
            q |= 1 << bit;
        }
    }
    Some((q, r))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reference(a: u128, b: u64, d: u128) -> Option<(u64, u128)> {
        // Schoolbook on base-2^32 digits, independent of `mul`/`div`.
        let digits = |mut v: u128| {
            let mut out = [0u64; 4];
            for o in &mut out {
                *o = (v & 0xffff_ffff) as u64;
                v >>= 32;
            }
            out
        };
        let (ad, bd) = (digits(a), digits(u128::from(b)));
        let mut prod = [0u64; 8];
        for i in 0..4 {
            let mut carry = 0u64;
            for j in 0..4 {
                let t = prod[i + j] + ad[i] * bd[j] + carry;
                prod[i + j] = t & 0xffff_ffff;
                carry = t >> 32;
            }
            prod[i + 4] += carry;
        }
        // Long division bit by bit over the 256-bit product.
        let mut r: u128 = 0;
        let mut q: u128 = 0;
        for i in (0..256).rev() {
            let bit = (prod[i / 32] >> (i % 32)) & 1;
            let top = r >> 127;
            r = (r << 1) | u128::from(bit);
            q <<= 1;
            if top == 1 || r >= d {
                r = r.wrapping_sub(d);
                q |= 1;
                if i >= 64 {
                    return None;
                }
            }
        }
        Some((q as u64, r))
    }

    #[test]
    fn wide_division_matches_a_schoolbook_reference() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u128;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let a = next() >> (next() % 128);
            let b = (next() >> (next() % 64 + 64)) as u64;
            let d = (next() >> (next() % 128)).max(1);
            assert_eq!(div(mul(a, b), d), reference(a, b, d), "{a} {b} {d}");
        }
        let edge = [0, 1, u128::from(u64::MAX), u128::MAX >> 1, u128::MAX];
        for &a in &edge {
            for &b in &[0, 1, u64::MAX] {
                for &d in &[1, 2, u128::from(u64::MAX), u128::MAX >> 1, u128::MAX] {
                    assert_eq!(div(mul(a, b), d), reference(a, b, d), "{a} {b} {d}");
                }
            }
        }
    }
}
