#!/usr/bin/env python3
"""Golden vector of a tally-ledger snapshot, computed independently of the crate.

Written from the format table in crates/tally-ledger/src/snapshot.rs and the
ledger's documented semantics (TigerBeetle's: timestamps max(clock + 1, now)
per applied event, two-phase transfers, state-dependent failures remembered),
with Python's struct module and the `blake3` bindings. It shares no code with
the crate.

The state is the one these batches leave (crates/tally-ledger/tests/it/snapshot.rs
applies them to a `Ledger` and compares its snapshot with this one):

  accounts at now=1000: 1 (ledger 7, code 10, history | debits_must_not_exceed_credits,
                        user_data_128 = 0xabc), 2 (ledger 7, code 10)
  transfers at now=2000:
    10: 2 -> 1, 100, code 1                      ok        ts 2000
    11: 1 -> 2, 30, pending, timeout 5 s, code 5 ok        ts 2001
    12: 1 -> 2, 500, code 1                      exceeds_credits (remembered)
    13: post 11 with amount 20                   ok        ts 2002
     5: 2 -> 1, 1, code 1                        ok        ts 2003 (an id below the others)
  taken at checkpoint seq 4, offset 777; every transfer journaled in record 3.

    python3 scripts/vectors/ledger_snapshot.py > crates/tally-ledger/tests/vectors/snapshot_v1.hex
"""

import struct

import blake3

U128 = (1 << 128) - 1


def u128(v):
    assert 0 <= v <= U128
    return v.to_bytes(16, "little")


# Flags (bit positions from the crate's documented flag sets).
ACCOUNT_HISTORY = 1 << 3
ACCOUNT_DMNEC = 1 << 1
TRANSFER_PENDING = 1 << 1
TRANSFER_POST = 1 << 2

# The transient results in their snapshot order: exceeds_credits is index 4.
EXCEEDS_CREDITS = 4


def account(id_, dp, dpo, cp, cpo, ud128, ud64, ud32, ledger, code, flags, ts):
    return (
        u128(id_) + u128(dp) + u128(dpo) + u128(cp) + u128(cpo) + u128(ud128)
        + struct.pack("<QIIHHQI", ud64, ud32, ledger, code, flags, ts, 0)
    )


def transfer(id_, dr, cr, amount, pending_id, ud128, ud64, ud32, timeout, ledger, code, flags, ts, seq):
    return (
        u128(id_) + u128(dr) + u128(cr) + u128(amount) + u128(pending_id) + u128(ud128)
        + struct.pack("<QIIIHHQQ", ud64, ud32, timeout, ledger, code, flags, ts, seq)
    )


def balance(ts, dp, dpo, cp, cpo):
    return struct.pack("<Q", ts) + u128(dp) + u128(dpo) + u128(cp) + u128(cpo)


accounts = [
    # Account 1 after everything: 20 posted debits, 101 posted credits.
    account(1, 0, 20, 0, 101, 0xABC, 0, 0, 7, 10, ACCOUNT_HISTORY | ACCOUNT_DMNEC, 1000),
    account(2, 0, 101, 0, 20, 0, 0, 0, 7, 10, 0, 1001),
]
# Sorted by id: 5, 10, 11, 13 are positions 0, 1, 2, 3.
transfers = [
    transfer(5, 2, 1, 1, 0, 0, 0, 0, 0, 7, 1, 0, 2003, 3),
    transfer(10, 2, 1, 100, 0, 0, 0, 0, 0, 7, 1, 0, 2000, 3),
    transfer(11, 1, 2, 30, 0, 0, 0, 0, 5, 7, 5, TRANSFER_PENDING, 2001, 3),
    # The post takes the pending transfer's accounts, ledger and code.
    transfer(13, 1, 2, 20, 11, 0, 0, 0, 0, 7, 5, TRANSFER_POST, 2002, 3),
]
pending = [u128(11) + bytes([1]) + u128(20)]
failed = [u128(12) + bytes([EXCEEDS_CREDITS])]
# Each account's transfers, as positions, in timestamp order: 10, 11, 13, 5.
lists = [
    u128(account_id) + struct.pack("<Q", 4) + struct.pack("<4I", 1, 2, 3, 0)
    for account_id in (1, 2)
]
history = [
    u128(1) + struct.pack("<Q", 4)
    + balance(2000, 0, 0, 0, 100)
    + balance(2001, 30, 0, 0, 100)
    + balance(2002, 0, 20, 0, 100)
    + balance(2003, 0, 20, 0, 101)
]

clock = 2003
header = b"TALLYSNP" + struct.pack(
    "<IIQQQQQQQQQ", 1, 0, clock, 4, 777,
    len(accounts), len(transfers), len(pending), len(failed), len(lists), len(history),
)
assert len(header) == 88
content = header + b"".join(accounts + transfers + pending + failed + lists + history)
snapshot = content + blake3.blake3(content).digest()
print(snapshot.hex())
