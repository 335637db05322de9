#!/usr/bin/env python3
"""Golden vectors of a reward manifest sealed twice: Ed25519 and ML-DSA-65.

Written from the documentation of the formats (crates/tally-reward/src/
manifest.rs "Seal" and "Post-quantum seal", crates/tally-keys/src/lib.rs and
ml_dsa.rs), with pycryptodome's Ed25519 (RFC 8032), dilithium-py's ML-DSA
(FIPS 204, a pure-Python implementation), Python's `blake3` bindings and the
standard library's JSON. It shares no code with the crates. The manifest is
made here from reward_golden.py's content ids and run key.

Both signatures are deterministic (Ed25519 always; ML-DSA with FIPS 204's
deterministic variant, rnd = 0^256), so the output is reproducible and the
Rust crate must produce the same bytes from the same seeds.

Prints one JSON document that crates/tally-reward/tests/vectors/
manifest_pq_golden.json pins:

    python3 scripts/vectors/reward_pq_golden.py > crates/tally-reward/tests/vectors/manifest_pq_golden.json

With `--verify FILE` it instead checks a sealed manifest FILE (as
`tally reward compute` or `tally serve` write it) with its ML-DSA seal
against the public key of seed 0x0b × 32 and the Ed25519 key of seed
0x07 × 32, and exits non-zero if either signature does not verify.
"""

import json
import sys

import blake3
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa
from dilithium_py.ml_dsa import ML_DSA_65

from reward_golden import cid_text, run_key

MANIFEST_DOMAIN = b"tally/reward/manifest/v1"
ED25519_SEED = bytes([0x07] * 32)
ML_DSA_SEED = bytes([0x0B] * 32)


def jcs(value):
    """RFC 8785 for the manifest's subset: ASCII keys and strings,
    integers, null; members sorted, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def ed25519_key_id(public):
    return blake3.blake3(public, derive_key_context="tally/reward/key-id/v1").digest()[:8].hex()


def ml_dsa_key_id(public):
    return blake3.blake3(public, derive_key_context="tally/keys/ml-dsa-65/key-id/v1").digest()[:8].hex()


def ed25519_keys():
    key = ECC.construct(curve="Ed25519", seed=ED25519_SEED)
    public = key.public_key().export_key(format="raw")
    return key, public


def manifest():
    inputs = cid_text(b"tally pq golden inputs")
    policy = cid_text(b"tally pq golden policy")
    epoch = "2026-w47"
    engine = "tally-reward/0.1.0"
    _, ed_public = ed25519_keys()
    # The run key of these CIDs (binary form: 0x01 0x55 0x1e 0x20 ‖ BLAKE3).
    raw = lambda content: bytes([0x01, 0x55, 0x1E, 0x20]) + blake3.blake3(content).digest()
    key = run_key(epoch, raw(b"tally pq golden inputs"), raw(b"tally pq golden policy"), engine)
    return {
        "schema": "tally/reward/manifest/v1",
        "epoch": epoch,
        "window": {"start": 1763337600, "end": 1763942400},
        "run_key": key.hex(),
        "inputs_cid": inputs,
        "policy_cid": policy,
        "policy_key_id": ed25519_key_id(ed_public),
        "previous": None,
        "engine": engine,
        "pool": 1000000,
        "funding_account": "pool:storage",
        "residual_sink": "treasury",
        "paid": 999990,
        "residual": 10,
        "payees": 3,
        "accounts": 4,
        "capped": 1,
        "below_minimum": 1,
        "rounding": "largest_remainder",
        "payouts_root": blake3.blake3(b"tally pq golden payouts root").hexdigest(),
        "payouts_cid": cid_text(b"tally pq golden payouts"),
    }


def signed_bytes(m):
    return MANIFEST_DOMAIN + b"\x00" + jcs(m)


def vectors():
    m = manifest()
    message = signed_bytes(m)
    ed_key, ed_public = ed25519_keys()
    ed_sig = eddsa.new(ed_key, "rfc8032").sign(message)
    pq_public, pq_secret = ML_DSA_65.key_derive(ML_DSA_SEED)
    pq_sig = ML_DSA_65.sign(pq_secret, message, ctx=b"", deterministic=True)
    assert ML_DSA_65.verify(pq_public, message, pq_sig, ctx=b"")
    sealed = {"manifest": m, "key_id": ed25519_key_id(ed_public), "signature": ed_sig.hex()}
    sealed_pq = dict(sealed)
    sealed_pq["pq"] = {
        "alg": "ml-dsa-65",
        "key_id": ml_dsa_key_id(pq_public),
        "signature": pq_sig.hex(),
    }
    return {
        "comment": "written by scripts/vectors/reward_pq_golden.py, do not edit",
        "ed25519_seed": ED25519_SEED.hex(),
        "ed25519_public": ed_public.hex(),
        "ml_dsa_seed": ML_DSA_SEED.hex(),
        "ml_dsa_public_file": "tally-ml-dsa-65-public-v1:" + pq_public.hex(),
        "ml_dsa_key_id": ml_dsa_key_id(pq_public),
        "manifest_jcs": jcs(m).decode(),
        "sealed_jcs": jcs(sealed).decode(),
        "sealed_pq_jcs": jcs(sealed_pq).decode(),
    }


def verify(path):
    with open(path, "rb") as f:
        sealed = json.loads(f.read())
    message = signed_bytes(sealed["manifest"])
    ed_key, ed_public = ed25519_keys()
    if sealed["key_id"] != ed25519_key_id(ed_public):
        sys.exit("the Ed25519 key id is not seed 0x07's")
    eddsa.new(ed_key.public_key(), "rfc8032").verify(message, bytes.fromhex(sealed["signature"]))
    pq = sealed.get("pq")
    if pq is None or pq["alg"] != "ml-dsa-65":
        sys.exit("no ML-DSA-65 seal")
    pq_public, _ = ML_DSA_65.key_derive(ML_DSA_SEED)
    if pq["key_id"] != ml_dsa_key_id(pq_public):
        sys.exit("the ML-DSA key id is not seed 0x0b's")
    if not ML_DSA_65.verify(pq_public, message, bytes.fromhex(pq["signature"]), ctx=b""):
        sys.exit("the ML-DSA-65 signature does not verify")
    print("verified: Ed25519 and ML-DSA-65 seals of manifest epoch", sealed["manifest"]["epoch"])


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--verify":
        verify(sys.argv[2])
        return
    print(json.dumps(vectors(), indent=2))


if __name__ == "__main__":
    main()
