/* err.h — the one error type of libacme.
 *
 * Core functions return 0 (or a pointer) on success and -1 (or NULL) on failure,
 * filling a caller-supplied struct acme_err. The code says what kind of failure
 * it was and maps to exactly one process exit status (DESIGN.md section 11);
 * the message is lowercase, names the thing and says what to do. Core never
 * prints or exits: cmd/main.c turns the error into a message and an exit code.
 */
#ifndef ACME_ERR_H
#define ACME_ERR_H

#include <stdarg.h>
#include <stdbool.h>

/* X(name, exit status, description) — the exit codes are defined here, once. */
#define ACME_ERR_MAP(X)                                                       \
	X(OK,          0,  "success")                                         \
	X(FAILURE,     1,  "failure")                                         \
	X(USAGE,       2,  "usage error")                                     \
	X(NOT_FOUND,   3,  "not found")                                       \
	X(REFUSED,     4,  "refused or cancelled")                            \
	X(DATA,        65, "bad input data")                                  \
	X(UNAVAILABLE, 69, "service unavailable")                             \
	X(TEMPFAIL,    75, "temporary failure; retrying is safe")            \
	X(CONFIG,      78, "configuration error")

enum acme_code {
#define X(name, status, desc) ACME_E_##name,
	ACME_ERR_MAP(X)
#undef X
	ACME_E__COUNT
};

/* A longer message is cut to fit, between two UTF-8 characters. */
#define ACME_ERR_MSG_MAX 1024

struct acme_err {
	enum acme_code code;
	bool transient;          /* retrying later may succeed (refused, starting up) */
	char msg[ACME_ERR_MSG_MAX];
};

/* Set code and message; always returns -1 so callers can `return acme_err_set(...)`. */
int acme_err_set(struct acme_err *err, enum acme_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int acme_err_vset(struct acme_err *err, enum acme_code code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Prepend "prefix: " to an existing message (adds context while unwinding). */
int acme_err_prefix(struct acme_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void acme_err_clear(struct acme_err *err);

int acme_exit_status(enum acme_code code);
const char *acme_code_name(enum acme_code code);         /* "NOT_FOUND" */
const char *acme_code_description(enum acme_code code);  /* "not found" */

#endif
