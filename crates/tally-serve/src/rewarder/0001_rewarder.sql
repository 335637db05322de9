-- The rewarder's tables (tally-serve, component `tally-serve/rewarder`):
-- every rule that must hold between `tally serve` processes sharing the
-- database is a constraint here, so two processes racing get one winner.

-- Content-addressed blobs: stored once, the CID (of the bytes, computed by
-- the server before the insert) is the key; at most BLOB_MAX bytes (the
-- server's cap, checked before the insert and again when read).
CREATE TABLE reward_blobs (
    cid TEXT PRIMARY KEY CHECK (length(cid) BETWEEN 1 AND 128),
    bytes BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Signed policies, by the CID of the policy's canonical bytes, stored once.
CREATE TABLE reward_policies (
    cid TEXT PRIMARY KEY CHECK (length(cid) BETWEEN 1 AND 128),
    signed BYTEA NOT NULL CHECK (octet_length(signed) <= 1048576),
    created_ms BIGINT NOT NULL
);

-- Accepted runs: one per epoch (the key), one run key and one manifest per
-- run, and one chain: every manifest links to an accepted one
-- (`previous_cid`, a foreign key), no two link to the same one (unique),
-- and exactly one links to none (the partial unique index).
CREATE TABLE reward_runs (
    epoch TEXT PRIMARY KEY CHECK (length(epoch) BETWEEN 1 AND 128),
    run_key TEXT NOT NULL UNIQUE,
    manifest_cid TEXT NOT NULL UNIQUE,
    previous_cid TEXT UNIQUE REFERENCES reward_runs (manifest_cid),
    run BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX reward_runs_one_first ON reward_runs ((previous_cid IS NULL))
    WHERE previous_cid IS NULL;

-- Quarantined runs (the last per epoch): never signed, never settled.
CREATE TABLE reward_quarantine (
    epoch TEXT PRIMARY KEY CHECK (length(epoch) BETWEEN 1 AND 128),
    record BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Measurements paid, by their key, and the epoch that paid them (claimed
-- in the transaction that accepts the run).
CREATE TABLE reward_snapshots (
    snapshot TEXT PRIMARY KEY CHECK (length(snapshot) = 64),
    epoch TEXT NOT NULL
);

-- Settlement: submissions of a run's intents, each counted before it is
-- sent (bounded by MAX_LEDGER_EMITS_PER_RUN in one conditional upsert).
CREATE TABLE reward_settlements (
    run_key TEXT PRIMARY KEY REFERENCES reward_runs (run_key),
    emits BIGINT NOT NULL CHECK (emits >= 0),
    settled BOOLEAN NOT NULL
);

-- The seal key's public half, recorded by the first process: a process
-- with another seal key serves no rewarder route.
CREATE TABLE reward_seal_key (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    public_key BYTEA NOT NULL CHECK (octet_length(public_key) = 32)
);
