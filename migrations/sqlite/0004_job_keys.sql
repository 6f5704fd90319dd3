-- Issue 13: the job row carries the result key decided at intake (see migrations/postgres/0004_job_keys.sql for
-- the rule). Applied before 0005 on a new database and after 0006 on one migrated earlier, so it touches only
-- columns that exist since 0001. SQLite cannot add NOT NULL to a column; triggers refuse a missing key instead.
UPDATE jobs SET result_key = 'results/' || content_sha256 || '/' || config_hash || '.json' WHERE result_key IS NULL;

CREATE TRIGGER jobs_result_key_insert BEFORE INSERT ON jobs WHEN NEW.result_key IS NULL
BEGIN
    SELECT RAISE(ABORT, 'jobs.result_key is required (decided at intake)');
END;

CREATE TRIGGER jobs_result_key_update BEFORE UPDATE OF result_key ON jobs WHEN NEW.result_key IS NULL
BEGIN
    SELECT RAISE(ABORT, 'jobs.result_key is required (decided at intake)');
END;
