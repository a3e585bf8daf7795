-- 0001_initial.sql — the whole schema of the first release (DESIGN.md section 5).
--
-- An applied migration is never edited: later changes are new files
-- (0002_..., 0003_...). The file runs in one transaction with its history row;
-- the part after the "acmectl:down" marker line reverts it (see acmectl-migrate(1)).
--
-- Conventions for the code that uses these tables:
--   * timestamps are timestamptz; writers set updated_at = now() themselves
--     (no triggers: they would cost every row of a 500,000-row import);
--   * ids people type are bigint identities; job ids are text so callers can
--     choose them (idempotent enqueue);
--   * bytes that come from outside and may not be valid UTF-8 (staged files,
--     rejected rows, HTTP responses) are bytea, so storing them cannot fail.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---- products ----------------------------------------------------------------
-- sku_lower is the SKU compared case-insensitively: unique, in the "C"
-- collation so comparisons are bytewise and a btree serves prefix searches
-- (sku_lower LIKE 'abc%'). Upserts use ON CONFLICT (sku_lower). Keyset
-- pagination sorts by (key, id); sorting by SKU uses sku_lower alone (unique).
CREATE TABLE products (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku         text NOT NULL,
    sku_lower   text COLLATE "C" GENERATED ALWAYS AS (lower(sku)) STORED,
    name        text NOT NULL,
    description text,
    price       numeric(12,2),
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_sku_not_blank CHECK (btrim(sku) <> ''),
    CONSTRAINT products_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT products_price_not_negative CHECK (price IS NULL OR price >= 0),
    CONSTRAINT products_sku_lower_key UNIQUE (sku_lower)
);
-- substring search (ILIKE '%text%') on name and description
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_description_trgm_idx ON products USING gin (description gin_trgm_ops);
-- keyset pagination by (sort key, id)
CREATE INDEX products_name_id_idx ON products (name, id);
CREATE INDEX products_price_id_idx ON products (price, id);
CREATE INDEX products_created_at_id_idx ON products (created_at, id);
CREATE INDEX products_updated_at_id_idx ON products (updated_at, id);

-- ---- jobs --------------------------------------------------------------------
-- The durable history of every job; Redis holds the live queue state and this
-- row mirrors it. lease_token is checked here before a job commits its effects.
CREATE TABLE jobs (
    id               text PRIMARY KEY,
    type             text NOT NULL,
    queue            text NOT NULL DEFAULT 'default',
    state            text NOT NULL DEFAULT 'queued',
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 3,
    lease_token      text,
    progress         jsonb,
    result           jsonb,
    error            text,
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    scheduled_at     timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    cancel_requested boolean NOT NULL DEFAULT false,
    -- bumped by every transition in Redis; the mirror applies only newer
    -- versions, so late, repeated or batched writes never move a row back
    version          bigint NOT NULL DEFAULT 0,
    CONSTRAINT jobs_id_not_blank CHECK (id <> '' AND length(id) <= 200),
    CONSTRAINT jobs_state_check CHECK (state IN ('scheduled', 'queued', 'running', 'retrying',
                                                 'succeeded', 'failed', 'dead', 'cancelled')),
    CONSTRAINT jobs_attempts_check CHECK (attempts >= 0 AND max_attempts >= 1)
);
CREATE INDEX jobs_state_created_at_idx ON jobs (state, created_at);
CREATE INDEX jobs_type_created_at_idx ON jobs (type, created_at);
CREATE INDEX jobs_created_at_idx ON jobs (created_at DESC, id DESC);
-- retention: purge finished jobs older than a cutoff
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;

-- ---- uploads -----------------------------------------------------------------
-- Staged import files live in PostgreSQL so the CLI and the workers share no
-- filesystem. The bytes are in uploads_chunks, one row per fixed-size chunk,
-- so writing and reading stream with bounded memory. size and sha256 are set
-- when staging completes (completed_at). Removed by retention.
CREATE TABLE uploads (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id       text REFERENCES jobs (id) ON DELETE CASCADE,
    filename     text,
    size         bigint NOT NULL DEFAULT 0,
    sha256       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    CONSTRAINT uploads_size_check CHECK (size >= 0),
    CONSTRAINT uploads_sha256_check CHECK (sha256 IS NULL OR sha256 ~ '^[0-9a-f]{64}$')
);
CREATE INDEX uploads_job_id_idx ON uploads (job_id);
CREATE INDEX uploads_created_at_idx ON uploads (created_at);

CREATE TABLE uploads_chunks (
    upload_id bigint NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    seq       integer NOT NULL,
    data      bytea NOT NULL,
    PRIMARY KEY (upload_id, seq),
    CONSTRAINT uploads_chunks_seq_check CHECK (seq >= 0)
);
-- CSV is written once and read once: no compression, stored out of line
ALTER TABLE uploads_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- ---- import_errors -----------------------------------------------------------
-- Rows an import rejected: physical line number in the file, the column (NULL
-- for whole-row problems such as a wrong column count), the reason, and a
-- capped excerpt of the row's bytes exactly as read.
CREATE TABLE import_errors (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      text NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    line        bigint NOT NULL,
    column_name text,
    message     text NOT NULL,
    raw         bytea,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX import_errors_job_id_line_idx ON import_errors (job_id, line);

-- ---- webhooks ----------------------------------------------------------------
-- Endpoints. During a secret rotation previous_secret keeps signing beside
-- secret until previous_secret_expires_at. last_test_* is the outcome of the
-- latest `webhooks test`.
CREATE TABLE webhooks (
    id                         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                        text NOT NULL,
    events                     text[] NOT NULL DEFAULT '{*}',
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    description                text,
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    disabled_at                timestamptz,
    allow_private              boolean NOT NULL DEFAULT false,
    consecutive_failures       integer NOT NULL DEFAULT 0,
    failing_since              timestamptz,
    last_test_at               timestamptz,
    last_test_status_code      integer,
    last_test_latency_ms       integer,
    last_test_error            text,
    last_test_response_excerpt bytea,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_url_check CHECK (url ~* '^https?://'),
    CONSTRAINT webhooks_events_not_empty CHECK (cardinality(events) > 0),
    CONSTRAINT webhooks_failures_check CHECK (consecutive_failures >= 0)
);
CREATE INDEX webhooks_events_idx ON webhooks USING gin (events);

-- One row per (endpoint, event). event_id is the Standard Webhooks
-- `webhook-id`: stable across retries and redeliveries, so receivers can
-- deduplicate. body holds the JSON exactly as signed and sent on every
-- attempt. A redelivery is a new row pointing at the original; the partial
-- unique index makes the outbox relay's insert idempotent.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    body            bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    redelivery_of   bigint REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivering', 'retrying',
                                                                 'succeeded', 'failed', 'cancelled')),
    CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0)
);
CREATE UNIQUE INDEX webhook_deliveries_event_key ON webhook_deliveries (webhook_id, event_id)
    WHERE redelivery_of IS NULL;
CREATE INDEX webhook_deliveries_webhook_created_idx ON webhook_deliveries (webhook_id, created_at);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying');
-- The deliverer's claim walks each endpoint's due deliveries in order and
-- counts its deliveries in flight (the per-endpoint cap); both stay small
-- however long the log grows.
CREATE INDEX webhook_deliveries_endpoint_due_idx ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_delivering_idx ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE status = 'delivering';
CREATE INDEX webhook_deliveries_event_id_idx ON webhook_deliveries (event_id);
CREATE INDEX webhook_deliveries_created_at_idx ON webhook_deliveries (created_at);

-- Every attempt of a delivery: the request headers sent (timestamp and
-- signature change per attempt) and what came back (status, headers such as
-- Retry-After, a capped excerpt of the body, or the error).
CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          integer NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    request_headers  jsonb,
    status_code      integer,
    latency_ms       integer,
    remote_addr      text,
    response_headers jsonb,
    response_excerpt bytea,
    error            text,
    CONSTRAINT webhook_attempts_attempt_key UNIQUE (delivery_id, attempt),
    CONSTRAINT webhook_attempts_attempt_check CHECK (attempt >= 1)
);

-- ---- outbox ------------------------------------------------------------------
-- Events written in the same transaction as the change that caused them; the
-- worker relays unrelayed rows (relayed_at IS NULL) into Redis exactly once.
-- Ids are not commit-ordered: relays scan the partial index, not "id > last".
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    relayed_at timestamptz
);
CREATE INDEX outbox_unrelayed_idx ON outbox (id) WHERE relayed_at IS NULL;
CREATE INDEX outbox_relayed_at_idx ON outbox (relayed_at) WHERE relayed_at IS NOT NULL;

-- ---- audit_log ---------------------------------------------------------------
-- Who (OS user, host), what (command, target, details), when and where
-- (environment) for every destructive or configuration-changing command.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    os_user     text NOT NULL,
    host        text NOT NULL,
    environment text NOT NULL,
    command     text NOT NULL,
    target      text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- acmectl:down
-- Everything above, in reverse order. pg_trgm stays installed: it may have
-- been there before this migration, and other objects may use it.
DROP TABLE IF EXISTS audit_log;
DROP TABLE IF EXISTS outbox;
DROP TABLE IF EXISTS webhook_attempts;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS webhooks;
DROP TABLE IF EXISTS import_errors;
DROP TABLE IF EXISTS uploads_chunks;
DROP TABLE IF EXISTS uploads;
DROP TABLE IF EXISTS jobs;
DROP TABLE IF EXISTS products;
