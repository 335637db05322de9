-- tally-wallet's store, version 1. Amounts are decimal TEXT (a Cashu amount
-- may be 2^63, past SQLite's INTEGER); records the wallet only reads back
-- whole are JSON TEXT.
CREATE TABLE keysets (
    id TEXT PRIMARY KEY,
    mint TEXT NOT NULL,
    info TEXT NOT NULL,
    keys TEXT
) STRICT;
CREATE INDEX keysets_mint ON keysets (mint);

CREATE TABLE counters (
    keyset_id TEXT PRIMARY KEY,
    next INTEGER NOT NULL CHECK (next >= 0)
) STRICT;

CREATE TABLE proofs (
    y TEXT PRIMARY KEY,
    mint TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('unspent', 'reserved', 'pending', 'spent')),
    operation TEXT,
    proof TEXT NOT NULL
) STRICT;
CREATE INDEX proofs_mint_state ON proofs (mint, state);
CREATE INDEX proofs_operation ON proofs (operation);

CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('prepared', 'sent', 'done', 'failed')),
    record TEXT NOT NULL
) STRICT;
CREATE INDEX operations_state ON operations (state);

CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL
) STRICT;

CREATE TABLE history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT NOT NULL
) STRICT;
