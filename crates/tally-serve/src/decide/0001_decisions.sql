-- The decision log's tables (tally-serve, component `tally-serve/decisions`):
-- one log for every `tally serve` process over the database.

-- The head: the number of rows, the chain's last hash, the log's random id
-- (the chain's genesis and the checkpoints' origin) and the checkpoint
-- verifier key every process must sign with. One row, locked by each
-- append (`UPDATE … RETURNING`), so appends are one serial order.
CREATE TABLE decide_head (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    size BIGINT NOT NULL CHECK (size >= 0),
    head BYTEA NOT NULL CHECK (octet_length(head) = 32),
    log_id BYTEA NOT NULL CHECK (octet_length(log_id) = 32),
    vkey TEXT NOT NULL CHECK (length(vkey) BETWEEN 1 AND 1024)
);

-- The rows: a decision (tally-decide's canonical record) then its owner
-- record, chained (`hash` over seq, `prev` and `payload`). `request` is
-- the owner record's request identity (also in its payload): a retry of
-- the same request finds it instead of appending again.
CREATE TABLE decide_log (
    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
    prev BYTEA NOT NULL CHECK (octet_length(prev) = 32),
    payload TEXT NOT NULL CHECK (octet_length(payload) <= 1048576),
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    request BYTEA UNIQUE CHECK (octet_length(request) = 32)
);

-- Signed checkpoints (C2SP notes) of the first `size` rows, stored once.
CREATE TABLE decide_checkpoints (
    size BIGINT PRIMARY KEY CHECK (size >= 0),
    note TEXT NOT NULL CHECK (octet_length(note) BETWEEN 1 AND 65536)
);

-- Stored decision policies, by digest, never replaced: numbered
-- 1..=POLICIES_MAX (n <= 1024), so the bound holds in the database.
CREATE TABLE decide_policies (
    digest TEXT PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
    policy BYTEA NOT NULL CHECK (octet_length(policy) <= 33554432),
    n INTEGER NOT NULL UNIQUE CHECK (n >= 1 AND n <= 1024)
);
