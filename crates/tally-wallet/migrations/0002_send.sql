-- tally-wallet's store, version 2: proofs given out in a token and not yet
-- redeemed ('sent'), and the tokens themselves. SQLite cannot change a CHECK
-- constraint in place, so the proofs table is rebuilt (inside the
-- migration's transaction).
CREATE TABLE proofs_v2 (
    y TEXT PRIMARY KEY,
    mint TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('unspent', 'reserved', 'pending', 'sent', 'spent')),
    operation TEXT,
    proof TEXT NOT NULL
) STRICT;
INSERT INTO proofs_v2 (y, mint, amount, state, operation, proof)
    SELECT y, mint, amount, state, operation, proof FROM proofs;
DROP TABLE proofs;
ALTER TABLE proofs_v2 RENAME TO proofs;
CREATE INDEX proofs_mint_state ON proofs (mint, state);
CREATE INDEX proofs_operation ON proofs (operation);

CREATE TABLE sent_tokens (
    id TEXT PRIMARY KEY,
    mint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('preparing', 'unredeemed', 'redeemed', 'reclaimed', 'abandoned')),
    record TEXT NOT NULL
) STRICT;
CREATE INDEX sent_tokens_mint_state ON sent_tokens (mint, state);
