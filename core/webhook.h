/* webhook.h — outgoing webhooks: endpoints, their settings, the delivery log,
 * and the two job types that deliver events (DESIGN.md section 8, issue 7).
 *
 * The path of an event:
 *
 *   a change commits with its outbox row (core/outbox.c)
 *     -> the worker's supervisor relays it to one `event.dispatch` job
 *        (queue webhooks, payload {"event_id": "evt_N", "type", "created_at", "data"})
 *     -> webhook_dispatch_run(): builds the JSON body ONCE and inserts one
 *        webhook_deliveries row per enabled endpoint subscribed to the type
 *        (or to "*"); idempotent through the unique (webhook_id, event_id)
 *        index, so a re-run adds nothing; then wakes a deliverer
 *     -> webhook_deliver_run() (job type `webhook.deliver`, core/whdeliver.c):
 *        claims due deliveries, at most max_in_flight_per_endpoint in flight
 *        per endpoint across all workers, sends them concurrently with
 *        libcurl's multi interface, logs every attempt, and schedules
 *        retries; while it runs it also takes the queue's next jobs itself,
 *        so new events reach fast endpoints while a slow one is in flight.
 *     -> every minute, webhook_sweep_run() (job type `webhook.sweep`,
 *        core/whsweep.c; housekeeping runs it too) makes claims of
 *        deliverers that died due again and wakes a deliverer when anything
 *        is due, so a lost wake-up or hand-over delays a delivery, never
 *        strands it.
 *
 * A delivery row carries the event's id as the Standard Webhooks
 * `webhook-id` and the exact body bytes; every attempt and every redelivery
 * sends those bytes under that id (core/whsig.h signs them).
 *
 * Settings come from the [webhooks] section of the config file; see
 * struct webhook_settings and acmectl.conf(5).
 *
 * Functions return 0 (or a count) or -1 with err set. Every string in the
 * structs below is owned by the struct.
 */
#ifndef ACME_WEBHOOK_H
#define ACME_WEBHOOK_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/call.h"
#include "core/config.h"
#include "core/err.h"
#include "core/jobtypes.h"
#include "core/queue.h"

/* ---- events ---------------------------------------------------------------- */

#define WEBHOOK_EVENT_TEST "webhook.test"
/* The event types endpoints may subscribe to. */
extern const char *const webhook_event_names[];   /* NULL-terminated */
/* The patterns they may subscribe to instead: "*" (every event) and
 * "FAMILY.*" (every event whose name starts with "FAMILY."): "product.*",
 * "import.*". The dispatcher (core/whdeliver.c) matches the same way. */
extern const char *const webhook_event_patterns[];   /* NULL-terminated */
/* An event name or a pattern (webhook.test included: callers keep it out
 * of subscriptions). */
bool webhook_event_known(const char *name);
/* Add the subscriptions named in text (separated by any of seps) to the
 * NULL-terminated list *events of *n (owned; may start NULL/0), each checked
 * (webhook_event_known; webhook.test is refused: it goes to one endpoint) and
 * without repeats. 0, or -1 with ACME_E_USAGE naming the unknown event and
 * listing the known ones (the list keeps what was added before). */
int webhook_events_add(const char *text, const char *seps, char ***events, size_t *n,
		       struct acme_err *err);
/* Does a subscription (name or pattern) take events of this type? */
bool webhook_event_matches(const char *subscription, const char *type);

/* ---- settings ([webhooks] in the config file) ------------------------------------ */

#define WEBHOOK_RETRIES_MAX 32

struct webhook_settings {
	long long connect_timeout_ms;          /* connect_timeout = 5s */
	long long timeout_ms;                  /* timeout = 15s (the whole request) */
	long long retry_ms[WEBHOOK_RETRIES_MAX];  /* retry_schedule = 5s,5m,30m,2h,5h,10h,10h */
	int nretries;
	long long max_retry_after_ms;          /* max_retry_after = 1d: a longer Retry-After is cut */
	int disable_after_failures;            /* disable_after_failures = 20 consecutive failed attempts */
	long long disable_after_ms;            /* disable_after = 1d of failing without a success */
	bool allow_private;                    /* allow_private = false */
	int max_in_flight;                     /* max_in_flight = 500 per deliverer */
	int max_in_flight_per_endpoint;        /* max_in_flight_per_endpoint = 50, all workers */
	long long rotate_grace_ms;             /* rotate_grace = 1d */
	int response_excerpt_max;              /* response_excerpt_max = 4096 bytes kept */
	bool production;                       /* from env: the guard is on unless allow_private */
};

/* Defaults, then the [webhooks] entries of cfg (may be NULL: defaults, not
 * production). An unknown key or a bad value is ACME_E_CONFIG naming the
 * file and line. */
int webhook_settings_load(const struct config *cfg, struct webhook_settings *s,
			  struct acme_err *err);
/* Is the outgoing-request guard on for an endpoint? */
bool webhook_guard_on(const struct webhook_settings *s, bool endpoint_allows_private);
/* Parse "250ms", "30s", "5m", "2h", "1d" (a bare number is seconds). 0 / -1. */
int webhook_parse_duration(const char *s, long long *ms);

/* Check a URL for an endpoint: http or https only, a host, at most 2048
 * bytes. With guard, a host that is an IP literal
 * of a non-public class is refused at once (ACME_E_REFUSED); names are
 * checked when the request connects. ACME_E_DATA otherwise. */
int webhook_check_url(const char *url, bool guard, struct acme_err *err);

/* ---- delivery outcomes (pure; core/whdeliver.c and tests) ------------------------ */

enum webhook_outcome {
	WEBHOOK_SUCCEEDED,      /* 2xx */
	WEBHOOK_RETRY,          /* 5xx, 408, 429, timeout, connection or DNS error */
	WEBHOOK_FAIL,           /* other 4xx, 3xx (not followed), refused by the guard */
	WEBHOOK_GONE,           /* 410: fail and disable the endpoint */
};
/* status: the HTTP status (0 when none arrived); transport: 0 = the request
 * completed, 1 = a transient transport error, 2 = a permanent one. */
enum webhook_outcome webhook_outcome_of(long status, int transport);
const char *webhook_outcome_name(enum webhook_outcome o);
/* The delay before the attempt after failed attempt number `attempt`
 * (1-based): the schedule's entry, or Retry-After when that is longer (cut
 * at max_retry_after); -1 when the schedule is used up. */
long long webhook_retry_delay_ms(const struct webhook_settings *s, int attempt,
				 long long retry_after_ms);
/* Does this failure disable the endpoint? failures counts this one. */
bool webhook_should_disable(const struct webhook_settings *s, int failures, long long failing_ms);

/* ---- endpoints ------------------------------------------------------------------- */

struct webhook {
	long long id;
	char *url;
	char **events;
	size_t nevents;
	char *description;             /* NULL when none */
	bool enabled, allow_private;
	char *disabled_reason, *disabled_at;
	char *rotation_ends_at;        /* the previous secret still signs until then; NULL */
	int consecutive_failures;
	char *failing_since;
	bool tested;                   /* last_test_* are set */
	char *last_test_at;
	int last_test_status;          /* 0 = no response */
	int last_test_latency_ms;      /* -1 = none */
	char *last_test_error;
	char *last_test_excerpt;       /* bytes as received (may hold invalid UTF-8) */
	size_t last_test_excerpt_len;
	char *created_at, *updated_at;
};
void webhook_release(struct webhook *w);
void webhooks_free(struct webhook *w, size_t n);

/* Every endpoint by id. Returns the count or -1. */
int webhook_list(PGconn *db, struct webhook **out, struct acme_err *err);
/* Non-blocking webhook_list() for a screen (core/call.h): _start sends the
 * statement and returns at once; when the call is done (or to abandon it)
 * _finish gives what webhook_list() gives, or -1 with err (ACME_E_TEMPFAIL
 * when deadline_ms, <= 0: none, passed). */
int webhook_list_start(struct pgcall *call, PGconn *db, long deadline_ms, struct acme_err *err);
int webhook_list_finish(struct pgcall *call, struct webhook **out, struct acme_err *err);
/* One endpoint; ACME_E_NOT_FOUND when there is none. */
int webhook_get(PGconn *db, long long id, struct webhook *out, struct acme_err *err);

/* What add and edit change; NULL / -1 = leave as it is (add: default). */
struct webhook_spec {
	const char *url;
	const char *const *events;     /* checked names; "*" allowed */
	size_t nevents;
	const char *description;       /* "" clears it */
	int enabled;                   /* 0 / 1 / -1 */
	int allow_private;             /* 0 / 1 / -1 */
	const char *secret;            /* add only: canonical "whsec_..." */
};

/* The command that changes an endpoint, for the audit log: environment and
 * the words ("webhooks add"). */
struct webhook_actor {
	const char *environment;
	const char *command;
};

/* Each of these runs in one transaction with its audit row. */
int webhook_add(PGconn *db, const struct webhook_actor *who, const struct webhook_spec *spec,
		long long *id, struct acme_err *err);
int webhook_edit(PGconn *db, const struct webhook_actor *who, long long id,
		 const struct webhook_spec *spec, struct acme_err *err);
int webhook_delete(PGconn *db, const struct webhook_actor *who, long long id,
		   struct acme_err *err);
/* Enable (clears the reason and the failure count) or disable with reason
 * (pending deliveries are cancelled). *changed = the state changed. */
int webhook_set_enabled(PGconn *db, const struct webhook_actor *who, long long id, bool enabled,
			const char *reason, bool *changed, struct acme_err *err);
/* Disable an endpoint on the deliverer's own authority (410 Gone, the
 * failure threshold) with reason, cancelling what waits for it; no audit row
 * (nobody ran a command). *changed = it was enabled until now. */
int webhook_disable_auto(PGconn *db, long long id, const char *reason, bool *changed,
			 struct acme_err *err);
/* A new secret (canonical); the old one keeps signing for grace_ms. The
 * grace end goes to ends_at (ISO text, 40 bytes; may be NULL). */
int webhook_rotate_secret(PGconn *db, const struct webhook_actor *who, long long id,
			  const char *secret, long long grace_ms, char *ends_at,
			  struct acme_err *err);

/* Send a webhook.test event to one endpoint (enabled or not) through the
 * outbox, the worker and the real delivery path. event_id gets "evt_N"
 * (64 bytes). */
int webhook_test(PGconn *db, long long id, char *event_id, struct acme_err *err);

/* ---- deliveries ------------------------------------------------------------------- */

/* A delivery's status, as the webhook_deliveries.status column spells it
 * (delivery_status_name): waiting (pending, or retrying after a failed
 * attempt), claimed by a deliverer (delivering), or final (succeeded,
 * failed, cancelled). */
enum delivery_status {
	DELIVERY_PENDING, DELIVERY_DELIVERING, DELIVERY_RETRYING, DELIVERY_SUCCEEDED,
	DELIVERY_FAILED, DELIVERY_CANCELLED, DELIVERY__COUNT
};
const char *delivery_status_name(enum delivery_status s);
/* 0 / -1 for a word that is not a status (*out untouched). */
int delivery_status_parse(const char *s, enum delivery_status *out);
bool delivery_status_is_final(enum delivery_status s);

struct webhook_delivery {
	long long id, webhook_id, redelivery_of;   /* 0 = not a redelivery */
	char *event_id, *event_type, *status;      /* status: its name, as stored */
	enum delivery_status state;                /* the same, to compare */
	int attempts;
	char *next_attempt_at, *last_error, *created_at, *delivered_at, *updated_at;
	int last_status_code;          /* of the last attempt; 0 = none */
	int last_latency_ms;           /* -1 = none */
	char *last_excerpt;            /* of the last attempt */
	size_t last_excerpt_len;
	char *url;                     /* the endpoint's */
	char *body;                    /* webhook_delivery_get() only */
	size_t body_len;
	bool relayed;                  /* webhook_find_test(): the outbox row was relayed */
};
void webhook_delivery_release(struct webhook_delivery *d);
void webhook_deliveries_free(struct webhook_delivery *d, size_t n);

struct webhook_attempt {
	int attempt;
	char *started_at;
	char *request_headers;         /* JSON text */
	int status_code;               /* 0 = none */
	int latency_ms;                /* -1 = none */
	char *remote_addr, *response_headers, *error;
	char *excerpt;
	size_t excerpt_len;
};
void webhook_attempts_free(struct webhook_attempt *a, size_t n);

#define WEBHOOK_STATUSES "pending|delivering|retrying|succeeded|failed|cancelled"
struct webhook_delivery_filter {
	long long webhook_id;          /* 0 = every endpoint */
	const char *status, *event_type;
	long limit;
	long long after;               /* a page's next cursor: only deliveries older than it */
};
/* Newest first, at most f->limit. *next (may be NULL) gets the cursor of
 * the next page (f->after), or 0 when this is the last one. Returns the
 * count or -1. */
int webhook_deliveries(PGconn *db, const struct webhook_delivery_filter *f,
		       struct webhook_delivery **out, long long *next, struct acme_err *err);
/* Non-blocking webhook_deliveries(), as webhook_list_start/_finish; _finish
 * takes the filter the call was started with (its strings are copied by
 * _start). */
int webhook_deliveries_start(struct pgcall *call, PGconn *db,
			     const struct webhook_delivery_filter *f, long deadline_ms,
			     struct acme_err *err);
int webhook_deliveries_finish(struct pgcall *call, const struct webhook_delivery_filter *f,
			      struct webhook_delivery **out, long long *next, struct acme_err *err);
/* One delivery with its body and its attempts (oldest first). */
int webhook_delivery_get(PGconn *db, long long id, struct webhook_delivery *d,
			 struct webhook_attempt **attempts, size_t *nattempts, struct acme_err *err);
/* Non-blocking form of the attempts of webhook_delivery_get() (oldest
 * first), for a screen: _start sends the statement; _finish (also to
 * abandon the call) gives the count, or -1 with err. */
int webhook_attempts_start(struct pgcall *call, PGconn *db, long long delivery_id,
			   long deadline_ms, struct acme_err *err);
int webhook_attempts_finish(struct pgcall *call, struct webhook_attempt **attempts,
			    size_t *nattempts, struct acme_err *err);
/* The delivery of a test event (webhook_test): 0 with *d, or -1 with
 * ACME_E_NOT_FOUND while it does not exist yet (d->relayed says whether the
 * event left the outbox). */
int webhook_find_test(PGconn *db, long long webhook_id, const char *event_id,
		      struct webhook_delivery *d, struct acme_err *err);
/* Send a delivery again: a new row with the same event id and body,
 * pointing at the original. Refused (ACME_E_REFUSED) for a disabled endpoint
 * or a delivery still in progress. */
int webhook_redeliver(PGconn *db, const struct webhook_actor *who, long long id,
		      long long *new_id, struct acme_err *err);

/* Enqueue a `webhook.deliver` job on q (id may be NULL for a new one) so a
 * deliverer picks up due deliveries now, or after delay_ms. */
int webhook_wake(PGconn *db, struct queue *q, const char *id, long long delay_ms,
		 struct acme_err *err);

/* ---- the sweep (core/whsweep.c) ------------------------------------------------- */

/* Claims that expired (their deliverer stopped before recording: kill -9, a
 * crash, a lost connection): due again now with the attempt kept as counted
 * (*retried), or failed when the retry schedule is used up or it was a test
 * (*given_up). Claims that have not expired are never touched. Logs a
 * warning when it finds any. Either count pointer may be NULL. */
int webhook_recover_claims(PGconn *db, const struct webhook_settings *s, long long *retried,
			   long long *given_up, struct acme_err *err);

struct webhook_sweep_result {
	long long recovered;           /* expired claims made due again */
	long long given_up;            /* expired claims failed: no attempt left */
	long long due;                 /* deliveries due now (after recovery) */
	bool woken;                    /* a deliverer was enqueued for them */
};
/* Recover expired claims, then, when any delivery is due, wake a deliverer
 * on q with job id wake_id (NULL: a new one). Run periodically, so that
 * neither a deliverer that died nor a lost wake-up leaves a delivery
 * waiting. */
int webhook_sweep(PGconn *db, struct queue *q, const struct webhook_settings *s,
		  const char *wake_id, struct webhook_sweep_result *out, struct acme_err *err);
/* The sweep for a job (webhook.sweep, housekeeping): settings from the
 * loaded configuration, the wake-up's id derived from run's job id, and
 * *result = {"recovered", "given_up", "due", "woken"} (caller owns it). */
int webhook_sweep_job(struct job_run *run, json_t **result, struct acme_err *err);

#endif
