#!/usr/bin/env python3
"""Golden vectors of tally-token, computed independently of the crate.

Written from the format documented in crates/tally-token/src/lib.rs and
crates/tally-token/src/caveat.rs, with Python's standard `hmac`, `hashlib`,
`struct` and `base64` only. It shares no code with the crate.

Prints one vector a line, `name value`, in the form that
crates/tally-token/tests/vectors/token_golden.txt pins:

    python3 scripts/vectors/token_golden.py > crates/tally-token/tests/vectors/token_golden.txt
"""

import base64
import hashlib
import hmac
import struct

VERSION = 0x01
PREFIX = "tally1."

SCOPES = [
    "ledger.read",
    "ledger.write",
    "budget.reserve",
    "rewarder.run",
    "rewarder.inspect",
    "decide.run",
    "audit.read",
    "admin",
]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def caveat(kind, body):
    assert len(body) <= 128
    return bytes([kind, len(body)]) + body


def tenant(t):
    return caveat(0x01, t.encode())


def scopes(*names):
    bits = 0
    for n in names:
        bits |= 1 << SCOPES.index(n)
    return caveat(0x02, struct.pack(">H", bits))


def methods(*names):
    bits = 0
    for n in names:
        bits |= 1 << METHODS.index(n)
    return caveat(0x03, bytes([bits]))


def path_prefix(p):
    return caveat(0x04, p.encode())


def not_before(t):
    return caveat(0x05, struct.pack(">Q", t))


def expiry(t):
    return caveat(0x06, struct.pack(">Q", t))


def max_amount(a):
    return caveat(0x07, a.to_bytes(16, "big"))


def epoch_id(e):
    return caveat(0x08, e.encode())


def mac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).digest()


def mint(root, epoch, token_id, caveats):
    header = bytes([VERSION]) + struct.pack(">I", epoch) + token_id
    tags = [mac(root, header)]
    for c in caveats:
        tags.append(mac(tags[-1], c))
    binary = header + bytes([len(caveats)]) + b"".join(caveats) + tags[-1]
    return tags, binary


def text(binary):
    return PREFIX + base64.urlsafe_b64encode(binary).decode()


def emit(name, root, epoch, token_id, caveats):
    tags, binary = mint(root, epoch, token_id, caveats)
    for i, tag in enumerate(tags):
        print(f"{name}.tag{i} {tag.hex()}")
    print(f"{name}.hex {binary.hex()}")
    print(f"{name}.text {text(binary)}")


def main():
    root = bytes(range(32))
    token_id = bytes(range(0x10, 0x20))
    print(f"root_key {root.hex()}")
    print(f"token_id {token_id.hex()}")
    emit("bare", root, 1, token_id, [])
    full = [
        tenant("acme"),
        scopes("ledger.read", "ledger.write", "budget.reserve"),
        methods("GET", "POST"),
        path_prefix("/v1/ledger"),
        not_before(1_800_000_000),
        expiry(1_800_003_600),
        max_amount(1_000_000),
        epoch_id("2026-12"),
    ]
    emit("full", root, 7, token_id, full)
    # Attenuated by a holder: one more scope caveat (intersection) and a
    # maximum amount near u128::MAX.
    attenuated = full + [scopes("ledger.read"), max_amount((1 << 128) - 1)]
    emit("attenuated", root, 7, token_id, attenuated)
    # The largest epoch and every scope, every method.
    emit(
        "edges",
        bytes([0xFF] * 32),
        0xFFFFFFFF,
        bytes([0xAB] * 16),
        [scopes(*SCOPES), methods(*METHODS), path_prefix("/"), tenant("t" * 128)],
    )


if __name__ == "__main__":
    main()
