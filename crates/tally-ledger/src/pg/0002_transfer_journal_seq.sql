-- The journal record (tally_journal.seq) of the batch that created each
-- transfer: a locator for inclusion proofs. NULL for transfers created
-- before this migration (they are not proved). The proof itself is checked
-- against the record's payload, so a wrong locator fails closed.
ALTER TABLE tally_transfers ADD COLUMN journal_seq BIGINT;
