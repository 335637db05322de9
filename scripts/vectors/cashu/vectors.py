"""Independent test vectors for tally-cashu (see README.md in this directory)."""

import base64
import hashlib
import json
import pathlib

import cbor2
import coincurve

ROOT = pathlib.Path(__file__).resolve().parents[3]
VECTORS = ROOT / "crates" / "tally-cashu" / "tests" / "vectors"
SPECS = json.loads((VECTORS / "nut28.json").read_text())
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def legacy_keyset_id(keys):
    """Pre-V1 NUT-02: base64(SHA-256(concatenated hex of the keys by amount))[:12]."""
    ordered = [keys[a] for a in sorted(keys, key=int)]
    digest = hashlib.sha256("".join(ordered).encode("utf-8")).digest()
    return base64.b64encode(digest).decode()[:12]


def v1_keyset_id(keys):
    ordered = [bytes.fromhex(keys[a]) for a in sorted(keys, key=int)]
    return "00" + hashlib.sha256(b"".join(ordered)).hexdigest()[:14]


def keysets():
    out = []
    nut01 = json.loads((VECTORS / "nut01_keysets.json").read_text())["valid"]
    nut02 = json.loads((VECTORS / "nut02_keysets.json").read_text())["v1"]
    seen = set()
    for keys in nut01 + [entry["keys"] for entry in nut02]:
        if v1_keyset_id(keys) in seen:
            continue
        seen.add(v1_keyset_id(keys))
        legacy = legacy_keyset_id(keys)
        # NUT-13 V1 derivation of a legacy id (Nutshell's backwards-compatible
        # path): the base64-decoded id, big-endian, modulo 2^31 - 1.
        nut13_int = int.from_bytes(base64.b64decode(legacy, validate=True), "big") % (2**31 - 1)
        out.append({"keys": keys, "v1_id": v1_keyset_id(keys), "legacy_id": legacy,
                    "legacy_nut13_int": nut13_int})
    for entry in nut02:
        assert v1_keyset_id(entry["keys"]) == entry["id"], "V1 derivation disagrees with NUT-02"
    return out


def x_of_product(scalar_hex, point_hex):
    point = coincurve.PublicKey(bytes.fromhex(point_hex))
    return point.multiply(bytes.fromhex(scalar_hex)).format(compressed=True)[1:]


def blinding_scalar(zx, slot):
    for extra in (b"", b"\xff"):
        r = int.from_bytes(hashlib.sha256(b"Cashu_P2BK_v1" + zx + bytes([slot]) + extra).digest(), "big")
        if 1 <= r < N:
            return r
    raise ValueError("no blinding scalar")


def blind(point_hex, r):
    point = coincurve.PublicKey(bytes.fromhex(point_hex))
    tweak = coincurve.PrivateKey(r.to_bytes(32, "big")).public_key
    return coincurve.PublicKey.combine_keys([point, tweak]).format(compressed=True).hex()


def derive(p_hex, e_pub_hex, slot, blinded_hex):
    """The receiver's signing key for a slot, or None if the slot is not its."""
    p = int(p_hex, 16)
    natural = coincurve.PrivateKey(bytes.fromhex(p_hex)).public_key.format(compressed=True)
    r = blinding_scalar(x_of_product(p_hex, e_pub_hex), slot)
    r_point = coincurve.PrivateKey(r.to_bytes(32, "big")).public_key.format(compressed=True)
    negated_r = bytes([r_point[0] ^ 1]) + r_point[1:]
    unblinded = coincurve.PublicKey.combine_keys(
        [coincurve.PublicKey(bytes.fromhex(blinded_hex)), coincurve.PublicKey(negated_r)]
    ).format(compressed=True)
    if unblinded[1:] != natural[1:]:
        return None
    k = (p + r) % N if unblinded[0] == natural[0] else (-p + r) % N
    return k.to_bytes(32, "big").hex()


def p2bk():
    e = "0101010101010101010101010101010101010101010101010101010101010101"
    receivers = {
        "data": "0202020202020202020202020202020202020202020202020202020202020202",
        "pubkeys": "0303030303030303030303030303030303030303030303030303030303030303",
        "refund": "0404040404040404040404040404040404040404040404040404040404040404",
    }
    e_pub = coincurve.PrivateKey(bytes.fromhex(e)).public_key.format(compressed=True).hex()
    slots = []
    for slot, (role, secret) in enumerate(receivers.items()):
        public = coincurve.PrivateKey(bytes.fromhex(secret)).public_key.format(compressed=True).hex()
        r = blinding_scalar(x_of_product(e, public), slot)
        slots.append({"role": role, "slot": slot, "secret_key": secret, "public_key": public,
                      "blinded": blind(public, r)})
    for entry in slots:
        entry["derived"] = [derive(entry["secret_key"], e_pub, s["slot"], s["blinded"]) for s in slots]
    return {"e": e, "E": e_pub, "slots": slots}


def tokens():
    proof = SPECS["proof"]
    v4_proof = {
        "a": proof["amount"],
        "s": proof["secret"],
        "c": bytes.fromhex(proof["C"]),
        "d": {k: bytes.fromhex(proof["dleq"][k]) for k in ("e", "s", "r")},
        "pe": bytes.fromhex(proof["p2pk_e"]),
    }
    v4 = {"t": [{"i": bytes.fromhex(proof["id"]), "p": [v4_proof]}],
          "m": "http://localhost:3338", "u": "sat"}
    v4_text = "cashuB" + base64.urlsafe_b64encode(cbor2.dumps(v4)).decode().rstrip("=")
    v3_proof = {"amount": proof["amount"], "id": proof["id"], "secret": proof["secret"],
                "C": proof["C"], "dleq": {k: proof["dleq"][k] for k in ("e", "s", "r")},
                "p2pk_e": proof["p2pk_e"]}
    v3 = {"token": [{"mint": "http://localhost:3338", "proofs": [v3_proof]}], "unit": "sat"}
    v3_text = "cashuA" + base64.urlsafe_b64encode(json.dumps(v3, separators=(",", ":")).encode()).decode()
    return {"v4": v4_text, "v3": v3_text}


print(json.dumps({"keysets": keysets(), "p2bk": p2bk(), "tokens": tokens()}, indent=1))
