-- Crash-interrupted attempts are counted apart from failures (issue 11, defect 7). A job whose worker died (its
-- lease expired: SIGKILL, OOM kill, node loss, pod eviction) is reclaimed without spending one of its
-- `max_attempts`; `interruptions` counts those reclaims instead, against a separate allowance the claim statement
-- is given (rythmiq_db::MAX_INTERRUPTIONS). Repeated evictions no longer dead-letter good work, and a document that
-- kills its worker every time still ends, as 'interrupted', once the allowance is spent.
ALTER TABLE jobs ADD COLUMN interruptions integer NOT NULL DEFAULT 0 CHECK (interruptions >= 0);
