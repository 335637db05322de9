#!/usr/bin/env python3
"""Golden vectors of tally-cashu's NUT-20 quote keys
(`tally_cashu::nuts::nut13::quote_key`), computed independently with the
standard library: the BIP-39 seed by PBKDF2-HMAC-SHA512 (2048 rounds, salt
"mnemonic" + passphrase), then

    key = HMAC-SHA256(seed, b"tally/nut20/quote-key/v1" || nonce) mod n

with n the secp256k1 group order. Writes one line per case:
`<mnemonic>|<passphrase>|<nonce hex>|<key hex>`.
"""
import hashlib
import hmac

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
DOMAIN = b"tally/nut20/quote-key/v1"

CASES = [
    ("half depart obvious quality work element tank gorilla view sugar picture humble", "", bytes(32)),
    ("half depart obvious quality work element tank gorilla view sugar picture humble", "", bytes(range(32))),
    ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
     "TREZOR", bytes([0xFF] * 32)),
]

for mnemonic, passphrase, nonce in CASES:
    seed = hashlib.pbkdf2_hmac("sha512", mnemonic.encode(), ("mnemonic" + passphrase).encode(), 2048)
    digest = hmac.new(seed, DOMAIN + nonce, hashlib.sha256).digest()
    key = int.from_bytes(digest, "big") % N
    assert key != 0
    print(f"{mnemonic}|{passphrase}|{nonce.hex()}|{key:064x}")
