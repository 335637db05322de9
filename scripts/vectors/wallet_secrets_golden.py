#!/usr/bin/env python3
"""Golden vectors of tally-wallet's secrets file (crates/tally-wallet/src/secrets.rs),
computed independently: Argon2id from argon2-cffi, XChaCha20-Poly1305 from
pycryptodome, the line format written out here from its documentation.

    tally-wallet-seed/v1 <m_kib> <t> <p> <salt hex> <nonce hex> <ciphertext+tag hex>\\n

key = Argon2id v0x13 (passphrase, salt, t, m_kib, p, 32 bytes); the AEAD's
associated data is the line up to and including the space before the
ciphertext. Writes one case per block: name, passphrase (hex), plaintext,
then the file line.
"""
from argon2.low_level import Type, hash_secret_raw
from Crypto.Cipher import ChaCha20_Poly1305

MAGIC = "tally-wallet-seed/v1"

CASES = [
    (
        "twelve_words",
        b"correct horse battery staple",
        "half depart obvious quality work element tank gorilla view sugar picture humble",
        (256, 2, 1),
        bytes(range(16)),
        bytes(range(100, 124)),
    ),
    (
        "empty_passphrase_two_lanes",
        b"",
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        (64, 1, 2),
        bytes([0xA5] * 16),
        bytes([0x5A] * 24),
    ),
    (
        "unicode_passphrase",
        "pässwörd ✓".encode(),
        "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote",
        (512, 3, 1),
        bytes(range(200, 216)),
        bytes(range(24)),
    ),
]


def seal(passphrase, plaintext, params, salt, nonce):
    m_kib, t, p = params
    key = hash_secret_raw(passphrase, salt, time_cost=t, memory_cost=m_kib,
                          parallelism=p, hash_len=32, type=Type.ID, version=19)
    header = f"{MAGIC} {m_kib} {t} {p} {salt.hex()} {nonce.hex()} "
    cipher = ChaCha20_Poly1305.new(key=key, nonce=nonce)  # 24-byte nonce: XChaCha20
    cipher.update(header.encode())
    ct, tag = cipher.encrypt_and_digest(plaintext.encode())
    return header + (ct + tag).hex()


for name, passphrase, plaintext, params, salt, nonce in CASES:
    print(name)
    print(passphrase.hex())
    print(plaintext)
    print(seal(passphrase, plaintext, params, salt, nonce))
