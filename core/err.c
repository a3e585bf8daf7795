/* err.c — the error type shared by all of libacme; see err.h.
 *
 * Messages are cut to fit their buffer between two UTF-8 characters, never
 * in the middle of one: a message often ends up in the jobs table, and
 * PostgreSQL refuses text that ends in half a character. */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/utf8.h"

/* buf holds what vsnprintf wrote; n is what it returned (the untruncated
 * length): drop half a character left at the end of a cut. */
static void fix_cut(char *buf, size_t size, int n)
{
	if (n >= 0 && (size_t)n < size)
		return;
	size_t len = strlen(buf);
	buf[utf8_trim_partial(buf, len)] = '\0';
}

static const struct {
	const char *name;
	int status;
	const char *desc;
} codes[] = {
#define X(name, status, desc) { #name, status, desc },
	ACME_ERR_MAP(X)
#undef X
};

int acme_err_vset(struct acme_err *err, enum acme_code code, const char *fmt, va_list ap)
{
	if (!err)
		return -1;
	err->code = code;
	err->transient = false;
	fix_cut(err->msg, sizeof(err->msg), vsnprintf(err->msg, sizeof(err->msg), fmt, ap));
	/* libpq and hiredis messages end in a newline; keep ours one line */
	size_t n = strlen(err->msg);
	while (n > 0 && (err->msg[n - 1] == '\n' || err->msg[n - 1] == ' '))
		err->msg[--n] = '\0';
	return -1;
}

int acme_err_set(struct acme_err *err, enum acme_code code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	acme_err_vset(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int acme_err_prefix(struct acme_err *err, const char *fmt, ...)
{
	char prefix[256], old[ACME_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return -1;
	va_start(ap, fmt);
	fix_cut(prefix, sizeof(prefix), vsnprintf(prefix, sizeof(prefix), fmt, ap));
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	fix_cut(err->msg, sizeof(err->msg),
		snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old));
	return -1;
}

void acme_err_clear(struct acme_err *err)
{
	err->code = ACME_E_OK;
	err->transient = false;
	err->msg[0] = '\0';
}

int acme_exit_status(enum acme_code code)
{
	return (unsigned)code < ACME_E__COUNT ? codes[code].status : 1;
}

const char *acme_code_name(enum acme_code code)
{
	return (unsigned)code < ACME_E__COUNT ? codes[code].name : "FAILURE";
}

const char *acme_code_description(enum acme_code code)
{
	return (unsigned)code < ACME_E__COUNT ? codes[code].desc : "failure";
}
