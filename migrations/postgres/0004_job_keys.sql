-- Issue 13: the job row carries what intake decided, and the worker uses and verifies it. content_sha256 and
-- config_hash (the output config's fingerprint) are on the row since 0001; the result key was written only when
-- the job succeeded. From now on enqueue writes it too (rythmiq_types::intake::result_key), every claim hands all
-- three to the worker, and `complete` only accepts that key. Jobs already in the table get the key their hash and
-- fingerprint imply, by the layout of that function as of this migration.
--
-- This number was reserved before 0005 and 0006 landed, so a database migrated before it applies it last: it
-- touches only columns that exist since 0001, and works in either order.
UPDATE jobs SET result_key = 'results/' || content_sha256 || '/' || config_hash || '.json' WHERE result_key IS NULL;
ALTER TABLE jobs ALTER COLUMN result_key SET NOT NULL;
