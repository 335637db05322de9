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
  transfers at now=3000: 100..135: 2 -> 1, amount id - 99, code 1, user_data_64 = id
                         for odd ids, user_data_128 = 2^100 for id 100  ok  ts 3000..3035
  taken at checkpoint seq 4, offset 777; every transfer journaled in record 3.

Format version 2: the transfers are compact records (LEB128 integers, the
timestamp and journal record as zigzag differences from the first record of
each block of 32); 40 transfers make two blocks.

    python3 scripts/vectors/ledger_snapshot.py > crates/tally-ledger/tests/vectors/snapshot_v2.hex

(needs the `blake3` package: python3 -m venv v && v/bin/pip install blake3)
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


def leb128(v):
    """Unsigned LEB128, minimal."""
    assert 0 <= v <= U128
    out = bytearray()
    while True:
        low = v & 0x7F
        v >>= 7
        if v == 0:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def zigzag(v):
    """Signed to unsigned: 0, -1, 1, -2 -> 0, 1, 2, 3."""
    return 2 * v if v >= 0 else -2 * v - 1


ACCOUNT_INDEX = {1: 0, 2: 1}  # accounts in timestamp order


def transfer(prev_id, base_ts, base_seq, id_, dr, cr, amount, pending_id, ud128, ud64, ud32, timeout,
             code, flags, ts, seq):
    optional = [pending_id, ud128, ud64, ud32, timeout]
    mask = sum(1 << i for i, v in enumerate(optional) if v != 0)
    body = bytes([mask]) + b"".join(
        leb128(v) for v in [
            id_ - prev_id, ACCOUNT_INDEX[dr], ACCOUNT_INDEX[cr], amount, flags, code,
            zigzag(ts - base_ts), zigzag(seq - base_seq),
        ]
    ) + b"".join(leb128(v) for v in optional if v != 0)
    assert len(body) < 256
    return bytes([len(body)]) + body


def balance(ts, dp, dpo, cp, cpo):
    return struct.pack("<Q", ts) + u128(dp) + u128(dpo) + u128(cp) + u128(cpo)


# (id, dr, cr, amount, pending_id, ud128, ud64, ud32, timeout, code, flags, ts, seq), by id.
rows = [
    (5, 2, 1, 1, 0, 0, 0, 0, 0, 1, 0, 2003, 3),
    (10, 2, 1, 100, 0, 0, 0, 0, 0, 1, 0, 2000, 3),
    (11, 1, 2, 30, 0, 0, 0, 0, 5, 5, TRANSFER_PENDING, 2001, 3),
    # The post takes the pending transfer's accounts, ledger and code.
    (13, 1, 2, 20, 11, 0, 0, 0, 0, 5, TRANSFER_POST, 2002, 3),
] + [
    (i, 2, 1, i - 99, 0, (1 << 100) if i == 100 else 0, i if i % 2 else 0, 0, 0, 1, 0,
     3000 + i - 100, 3)
    for i in range(100, 136)
]
transfers = []
prev = 0
for pos, row in enumerate(rows):
    if pos % 32 == 0:
        base_ts, base_seq = 0, 0
    transfers.append(transfer(prev, base_ts, base_seq, *row))
    if pos % 32 == 0:
        base_ts, base_seq = row[11], row[12]
    prev = row[0]

second = sum(i - 99 for i in range(100, 136))
accounts = [
    # Account 1 after everything: 20 posted debits, 101 + the second batch posted credits.
    account(1, 0, 20, 0, 101 + second, 0xABC, 0, 0, 7, 10, ACCOUNT_HISTORY | ACCOUNT_DMNEC, 1000),
    account(2, 0, 101 + second, 0, 20, 0, 0, 0, 7, 10, 0, 1001),
]
pending = [u128(11) + bytes([1]) + u128(20)]
failed = [u128(12) + bytes([EXCEEDS_CREDITS])]
# Each account's transfers, as positions, in timestamp order: 10, 11, 13, 5, then 100..135.
order = [1, 2, 3, 0] + list(range(4, 40))
lists = [
    u128(account_id) + struct.pack("<Q", len(order)) + struct.pack("<%dI" % len(order), *order)
    for account_id in (1, 2)
]
balances = [
    balance(2000, 0, 0, 0, 100),
    balance(2001, 30, 0, 0, 100),
    balance(2002, 0, 20, 0, 100),
    balance(2003, 0, 20, 0, 101),
]
credits = 101
for i in range(100, 136):
    credits += i - 99
    balances.append(balance(3000 + i - 100, 0, 20, 0, credits))
history = [u128(1) + struct.pack("<Q", len(balances)) + b"".join(balances)]

clock = 3035
transfer_bytes = sum(len(t) for t in transfers)
header = b"TALLYSNP" + struct.pack(
    "<IIQQQQQQQQQQ", 2, 0, clock, 4, 777,
    len(accounts), len(transfers), transfer_bytes, len(pending), len(failed), len(lists),
    len(history),
)
assert len(header) == 96
content = header + b"".join(accounts + transfers + pending + failed + lists + history)
snapshot = content + blake3.blake3(content).digest()
print(snapshot.hex())
