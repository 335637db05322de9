-- The decision log, its checkpoints and its policies are append-only: an
-- UPDATE, DELETE or TRUNCATE is refused (the head row, updated by every
-- append, is not). An owner of the tables can still disable the triggers:
-- the rows' hash chain, the signed checkpoints and a saved checkpoint's
-- consistency proof catch what follows.
CREATE FUNCTION decide_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tally: % on % is refused: the table is append-only', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER decide_log_append_only BEFORE UPDATE OR DELETE ON decide_log
    FOR EACH ROW EXECUTE FUNCTION decide_append_only();
CREATE TRIGGER decide_log_no_truncate BEFORE TRUNCATE ON decide_log
    FOR EACH STATEMENT EXECUTE FUNCTION decide_append_only();
CREATE TRIGGER decide_checkpoints_append_only BEFORE UPDATE OR DELETE ON decide_checkpoints
    FOR EACH ROW EXECUTE FUNCTION decide_append_only();
CREATE TRIGGER decide_checkpoints_no_truncate BEFORE TRUNCATE ON decide_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION decide_append_only();
CREATE TRIGGER decide_policies_append_only BEFORE UPDATE OR DELETE ON decide_policies
    FOR EACH ROW EXECUTE FUNCTION decide_append_only();
CREATE TRIGGER decide_policies_no_truncate BEFORE TRUNCATE ON decide_policies
    FOR EACH STATEMENT EXECUTE FUNCTION decide_append_only();
