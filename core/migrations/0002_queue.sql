-- 0002_queue: what the job queue needs on top of the jobs table of 0001.
--
-- version: every state transition in Redis bumps the job's version (a field of
-- its hash); the PostgreSQL mirror applies an update only when it carries a
-- newer version, so mirror writes may arrive late, twice or batched without
-- ever moving a row backwards (core/job.c).
--
-- The indexes serve `acmectl jobs list` (newest first, optionally by state or
-- type) and `acmectl jobs purge --older-than` (finished jobs by age) on tables
-- of millions of rows.
ALTER TABLE jobs ADD COLUMN version bigint NOT NULL DEFAULT 0;
CREATE INDEX jobs_created_at_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_state_created_at_idx ON jobs (state, created_at DESC);
CREATE INDEX jobs_type_created_at_idx ON jobs (type, created_at DESC);
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- acmectl:down
DROP INDEX jobs_finished_at_idx;
DROP INDEX jobs_type_created_at_idx;
DROP INDEX jobs_state_created_at_idx;
DROP INDEX jobs_created_at_idx;
ALTER TABLE jobs DROP COLUMN version;
