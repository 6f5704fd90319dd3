-- Crash-interrupted attempts are counted apart from failures (issue 11, defect 7): the same column as
-- migrations/postgres/0005_interruptions.sql. See that file for the rule.
ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0 CHECK (interruptions >= 0);
