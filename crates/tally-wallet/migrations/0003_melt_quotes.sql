-- tally-wallet's store, version 3: melt quotes (NUT-05), stored when the mint
-- gives them so that a melt can be resumed by its quote id after a crash.
-- Keyed by mint and id (one mint cannot overwrite another's quote); seq
-- orders them for listing; the record is the quote as JSON.
CREATE TABLE melt_quotes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    mint TEXT NOT NULL,
    id TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (mint, id)
) STRICT;
