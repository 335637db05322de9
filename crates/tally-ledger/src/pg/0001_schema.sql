-- tally-ledger on PostgreSQL, schema version 1.
--
-- Values are exact: 128-bit ids and balances are NUMERIC(39, 0), 64-bit
-- values (timestamps, user_data_64) NUMERIC(20, 0), each bounded by a
-- domain to the Rust type's range. The database itself enforces id
-- uniqueness (primary keys), the account flags' balance limits (CHECK
-- constraints), and that the journal and the applied history are never
-- edited (triggers).

CREATE DOMAIN tally_u128 AS NUMERIC(39, 0)
    CHECK (VALUE >= 0 AND VALUE <= 340282366920938463463374607431768211455);
CREATE DOMAIN tally_id AS NUMERIC(39, 0)
    CHECK (VALUE > 0 AND VALUE < 340282366920938463463374607431768211455);
CREATE DOMAIN tally_u64 AS NUMERIC(20, 0)
    CHECK (VALUE >= 0 AND VALUE <= 18446744073709551615);
CREATE DOMAIN tally_u32 AS BIGINT CHECK (VALUE >= 0 AND VALUE <= 4294967295);
CREATE DOMAIN tally_u16 AS INTEGER CHECK (VALUE >= 0 AND VALUE <= 65535);

-- One row: the ledger's clock (the last timestamp assigned), the number of
-- batches journaled and the journal's head hash. Every batch updates this
-- row first, so batches are applied one after another in one order, the
-- journal's (see docs/ARCHITECTURE.md, "The ledger on PostgreSQL").
CREATE TABLE tally_clock (
    singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last tally_u64 NOT NULL,
    batches BIGINT NOT NULL CHECK (batches >= 0),
    head BYTEA NOT NULL CHECK (octet_length(head) = 32),
    journal_id BYTEA NOT NULL CHECK (octet_length(journal_id) = 16)
);

CREATE TABLE tally_accounts (
    id tally_id PRIMARY KEY,
    debits_pending tally_u128 NOT NULL,
    debits_posted tally_u128 NOT NULL,
    credits_pending tally_u128 NOT NULL,
    credits_posted tally_u128 NOT NULL,
    user_data_128 tally_u128 NOT NULL,
    user_data_64 tally_u64 NOT NULL,
    user_data_32 tally_u32 NOT NULL,
    ledger tally_u32 NOT NULL CHECK (ledger > 0),
    code tally_u16 NOT NULL CHECK (code > 0),
    flags tally_u16 NOT NULL CHECK (flags < 16 AND flags & 6 <> 6),
    timestamp tally_u64 NOT NULL UNIQUE,
    -- Bumped by every balance change: writes are conditional on it.
    version BIGINT NOT NULL CHECK (version >= 0),
    CONSTRAINT debits_must_not_exceed_credits
        CHECK (flags & 2 = 0 OR debits_pending + debits_posted <= credits_posted),
    CONSTRAINT credits_must_not_exceed_debits
        CHECK (flags & 4 = 0 OR credits_pending + credits_posted <= debits_posted)
);

CREATE TABLE tally_transfers (
    id tally_id PRIMARY KEY,
    -- No foreign keys to tally_accounts: a referential check per row was
    -- the largest cost of a batch's write. The engine checks that both
    -- accounts exist within the batch's serial order, accounts are never
    -- deleted (trigger below), and `verify` checks every transfer.
    debit_account_id tally_id NOT NULL,
    credit_account_id tally_id NOT NULL,
    amount tally_u128 NOT NULL,
    pending_id tally_u128 NOT NULL,
    user_data_128 tally_u128 NOT NULL,
    user_data_64 tally_u64 NOT NULL,
    user_data_32 tally_u32 NOT NULL,
    timeout tally_u32 NOT NULL,
    ledger tally_u32 NOT NULL CHECK (ledger > 0),
    code tally_u16 NOT NULL CHECK (code > 0),
    flags tally_u16 NOT NULL CHECK (flags < 64),
    timestamp tally_u64 NOT NULL UNIQUE,
    CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX tally_transfers_by_debit ON tally_transfers (debit_account_id, timestamp);
CREATE INDEX tally_transfers_by_credit ON tally_transfers (credit_account_id, timestamp);

-- Where each pending transfer stands; changed at most once, from 'pending'.
CREATE TABLE tally_pending (
    id tally_id PRIMARY KEY REFERENCES tally_transfers (id),
    state TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    posted_amount tally_u128 CHECK ((state = 'posted') = (posted_amount IS NOT NULL)),
    expires_at tally_u64
);
CREATE INDEX tally_pending_due ON tally_pending (expires_at, id)
    WHERE state = 'pending' AND expires_at IS NOT NULL;

-- Ids that failed for a reason that depends on the state: they stay failed.
CREATE TABLE tally_failed (
    id tally_id PRIMARY KEY,
    result TEXT NOT NULL
);

-- Balances after each transfer or expiry, for accounts with the history flag.
CREATE TABLE tally_history (
    account_id tally_id NOT NULL,
    timestamp tally_u64 NOT NULL,
    debits_pending tally_u128 NOT NULL,
    debits_posted tally_u128 NOT NULL,
    credits_pending tally_u128 NOT NULL,
    credits_posted tally_u128 NOT NULL,
    PRIMARY KEY (account_id, timestamp)
);

-- The journal: one record per batch (the file journal's JSON record), each
-- bound to its predecessor by a SHA-256 chain from the journal's random id.
CREATE TABLE tally_journal (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    prev BYTEA NOT NULL CHECK (octet_length(prev) = 32),
    payload TEXT NOT NULL,
    hash BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    -- Which process wrote it (informational: not covered by the chain).
    writer TEXT NOT NULL
);

-- Signed checkpoints: C2SP signed notes over the Merkle root of the first
-- `size` journal records.
CREATE TABLE tally_checkpoints (
    size BIGINT PRIMARY KEY CHECK (size > 0),
    note TEXT NOT NULL
);

-- The durability barrier: a batch commits asynchronously (so the clock row
-- is not held while its commit is flushed), then, before its results are
-- returned, its writer commits one row here synchronously: that flushes the
-- write-ahead log up to a point after the batch's commit record. One row
-- per server process, so writers do not wait for each other here.
CREATE TABLE tally_flush (
    backend INTEGER PRIMARY KEY,
    commits BIGINT NOT NULL
);

-- Applied history is append-only: an UPDATE, DELETE or TRUNCATE is refused
-- (an owner can still drop the triggers: `verify` catches what follows).
CREATE FUNCTION tally_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tally: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER tally_journal_append_only BEFORE UPDATE OR DELETE ON tally_journal
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_journal_no_truncate BEFORE TRUNCATE ON tally_journal
    FOR EACH STATEMENT EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_transfers_append_only BEFORE UPDATE OR DELETE ON tally_transfers
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_transfers_no_truncate BEFORE TRUNCATE ON tally_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_failed_append_only BEFORE UPDATE OR DELETE ON tally_failed
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_history_append_only BEFORE UPDATE OR DELETE ON tally_history
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_checkpoints_append_only BEFORE UPDATE OR DELETE ON tally_checkpoints
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_accounts_no_delete BEFORE DELETE ON tally_accounts
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
CREATE TRIGGER tally_pending_no_delete BEFORE DELETE ON tally_pending
    FOR EACH ROW EXECUTE FUNCTION tally_append_only();
