-- Rows sealed at rest (`--at-rest-key-file`): a sealed signed policy is its
-- plaintext (at most 1 MiB) plus a 32-byte header and a 16-byte tag per
-- 64 KiB chunk (17 chunks): at most 1,048,880 bytes.
ALTER TABLE reward_policies DROP CONSTRAINT reward_policies_signed_check;
ALTER TABLE reward_policies ADD CONSTRAINT reward_policies_signed_check
    CHECK (octet_length(signed) <= 1048880);
