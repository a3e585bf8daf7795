-- TEMPORARY: replaced by the migrate branch
-- Stand-in for the jobs and outbox tables only, so the queue branch can be
-- built and tested before `acmectl migrate` exists. Do not edit; do not merge.
CREATE TABLE jobs (
	id text PRIMARY KEY,
	type text NOT NULL,
	queue text NOT NULL,
	state text NOT NULL CHECK (state IN ('scheduled','queued','running','retrying','succeeded','failed','dead','cancelled')),
	payload jsonb NOT NULL DEFAULT '{}',
	attempts int NOT NULL DEFAULT 0,
	max_attempts int NOT NULL DEFAULT 3,
	lease_token text,
	progress jsonb,
	result jsonb,
	error text,
	created_by text,
	created_at timestamptz NOT NULL DEFAULT now(),
	scheduled_at timestamptz,
	started_at timestamptz,
	finished_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now(),
	cancel_requested boolean NOT NULL DEFAULT false
);

CREATE TABLE outbox (
	id bigserial PRIMARY KEY,
	event_type text NOT NULL,
	payload jsonb NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT now(),
	relayed_at timestamptz
);
