#!/usr/bin/env python3
"""Golden vectors of tally-reward, computed independently of the crate.

Everything here is written from the documentation of the formats
(crates/tally-reward/src: cid.rs, manifest.rs, settle.rs, merkle.rs and the
distribution rule of compute.rs), with Python's `blake3` bindings, the
standard library's base32 and Python's unbounded integers. It shares no code
with the crate.

Prints one vector a line, `name value`, in the form that
crates/tally-reward/tests/vectors/reward_golden.txt pins:

    python3 scripts/vectors/reward_golden.py > crates/tally-reward/tests/vectors/reward_golden.txt

(see scripts/vectors/README.md for the environment).
"""

import base64
import struct
import sys

import blake3

U64 = (1 << 64) - 1


def derive_key(context, material):
    return blake3.blake3(material, derive_key_context=context).digest()


def keyed_hash(key, data):
    return blake3.blake3(data, key=key).digest()


def u64le(n):
    return struct.pack("<Q", n)


def length_prefixed(data):
    return u64le(len(data)) + data


# --- Content ids: CIDv1, raw codec (0x55), BLAKE3 multihash (0x1e), 32 bytes.


def cid_bytes(content):
    return bytes([0x01, 0x55, 0x1E, 0x20]) + blake3.blake3(content).digest()


def cid_text(content):
    return "b" + base64.b32encode(cid_bytes(content)).decode().lower().rstrip("=")


# --- Run keys and transfer ids.


def run_key(epoch, inputs_cid, policy_cid, engine):
    material = b"".join(
        length_prefixed(part)
        for part in [epoch.encode(), inputs_cid, policy_cid, engine.encode()]
    )
    return derive_key("tally/reward/run/v1", material)


def transfer_id(run_key_bytes, role, account):
    digest = derive_key(
        "tally/reward/transfer/v1",
        run_key_bytes + bytes([role]) + length_prefixed(account.encode()),
    )
    return "%032x" % int.from_bytes(digest[:16], "little")


def ledger_account_id(account):
    digest = derive_key(
        "tally/reward/ledger-account/v1", length_prefixed(account.encode())
    )
    return "%032x" % int.from_bytes(digest[:16], "little")


# --- Merkle tree over payouts (RFC 6962 shape, BLAKE3 keyed hashes).


def merkle_key(kind):
    return derive_key("tally/reward/merkle/%s/v1" % kind, b"")


def merkle_root(payouts):
    if not payouts:
        return keyed_hash(merkle_key("empty"), b"")
    leaf_key, node_key = merkle_key("leaf"), merkle_key("node")
    leaves = [
        keyed_hash(leaf_key, length_prefixed(account.encode()) + u64le(amount))
        for account, amount in payouts
    ]

    def tree(hashes):
        if len(hashes) == 1:
            return hashes[0]
        k = 1
        while 2 * k < len(hashes):
            k *= 2
        return keyed_hash(node_key, tree(hashes[:k]) + tree(hashes[k:]))

    return tree(leaves)


# --- The distribution rule (compute.rs), with unbounded integers.


def tiebreak(epoch, account):
    return derive_key(
        "tally/reward/tiebreak/v1",
        length_prefixed(epoch.encode()) + length_prefixed(account.encode()),
    )


def distribute(pool, cap, min_payout, epoch, scores):
    """`scores`: {account: score}. Largest-remainder rounding. Returns
    (payouts in account order, residual)."""
    amounts = {a: 0 for a in scores}
    total = sum(scores.values())
    residual = 0
    if total == 0 or pool == 0:
        return [], pool
    remaining, uncapped = pool, total
    capped = set()
    if cap is not None:
        # Largest score first (ties by id): an account whose exact share
        # remaining * s / uncapped exceeds the cap gets the cap and leaves.
        for a in sorted((a for a in scores if scores[a] > 0), key=lambda a: (-scores[a], a)):
            if uncapped == 0 or remaining * scores[a] <= cap * uncapped:
                break
            amounts[a] = cap
            capped.add(a)
            remaining -= cap
            uncapped -= scores[a]
    if uncapped == 0:
        residual += remaining
    else:
        remainders = []
        given = 0
        for a, s in scores.items():
            if s == 0 or a in capped:
                continue
            q, r = divmod(remaining * s, uncapped)
            amounts[a] = q
            given += q
            if r > 0:
                remainders.append((r, a))
        left = remaining - given
        remainders.sort(key=lambda ra: (-ra[0], tiebreak(epoch, ra[1]), ra[1]))
        for _, a in remainders[:left]:
            amounts[a] += 1
    payouts = []
    for a in sorted(amounts):
        if 0 < amounts[a] < min_payout:
            residual += amounts[a]
        elif amounts[a] > 0:
            payouts.append((a, amounts[a]))
    assert sum(x for _, x in payouts) + residual == pool
    return payouts, residual


def payouts_jcs(payouts):
    return (
        "["
        + ",".join('{"account":"%s","amount":%d}' % p for p in payouts)
        + "]"
    ).encode()


def generated(n, seed):
    """The tests' deterministic scores: xorshift64, some zero."""
    x, out = seed, []
    for _ in range(n):
        x ^= (x << 13) & U64
        x ^= x >> 7
        x ^= (x << 17) & U64
        out.append(0 if x % 17 == 0 else x % 1_000_000)
    return out


def epoch_vectors(name, n, seed, pool, cap, min_payout):
    # Accounts a0000, a0001, … each with one counter weighted 10,000 bps.
    scores = {"a%04d" % i: s * 10_000 for i, s in enumerate(generated(n, seed))}
    payouts, residual = distribute(pool, cap, min_payout, "e1", scores)
    return [
        (name + ".payouts_cid", cid_text(payouts_jcs(payouts))),
        (name + ".payouts_root", merkle_root(payouts).hex()),
        (name + ".residual", residual),
        (name + ".capped", sum(1 for _, x in payouts if x == cap)),
        (name + ".payees", len(payouts)),
    ]


def vectors():
    rk = bytes(range(32))
    out = [
        ("cid.empty", cid_text(b"")),
        ("cid.abc", cid_text(b"abc")),
        (
            "run_key",
            run_key("2026-w47", cid_bytes(b"in"), cid_bytes(b"pol"), "tally-reward/0.1.0").hex(),
        ),
        ("transfer_id.payout.alice", transfer_id(rk, 0, "alice")),
        ("transfer_id.residual.treasury", transfer_id(rk, 1, "treasury")),
        ("ledger_account.alice", ledger_account_id("alice")),
        ("ledger_account.pool:test", ledger_account_id("pool:test")),
        ("merkle.root.3", merkle_root([("alice", 5), ("bob", 7), ("carol", 11)]).hex()),
        ("merkle.root.empty", merkle_root([]).hex()),
    ]
    out += epoch_vectors("medium", 1_000, 0x9E3779B97F4A7C15, 123_456_789, 200_000, 25)
    out += epoch_vectors("large", 50_000, 0x2545F4914F6CDD1D, 10_000_000_000, 300_000, 3)
    return out


def main():
    sys.stdout.write(
        "# tally-reward golden vectors: written by scripts/vectors/reward_golden.py, do not edit.\n"
    )
    for name, value in vectors():
        sys.stdout.write("%s %s\n" % (name, value))


if __name__ == "__main__":
    main()
