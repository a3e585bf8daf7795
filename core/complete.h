/* complete.h — values from the database for shell completion (and the TUI's
 * prompts): SKUs, product, webhook, delivery and job ids starting with what
 * was typed. One cheap indexed query each; a completion must never hang or
 * print, so the connection has a one-second connect and statement timeout,
 * never starts the dev stack, and every failure offers nothing. */
#ifndef ACME_COMPLETE_H
#define ACME_COMPLETE_H
#include "core/config.h"

enum complete_kind {
	COMPLETE_SKU,          /* SKUs; after "id:" ids as id:N; after "sku:" SKUs as sku:X */
	COMPLETE_PRODUCT_ID,   /* product ids (--id N) */
	COMPLETE_WEBHOOK,      /* webhook ids */
	COMPLETE_DELIVERY,     /* webhook delivery ids, newest first */
	COMPLETE_JOB,          /* job ids, newest first */
};

/* Load the configuration as cf says, connect, and call fn with each
 * candidate starting with prefix, as the shell should offer it. Returns the
 * number offered, or -1 when anything failed (nothing is reported). */
int complete_values(const struct config_flags *cf, enum complete_kind kind, const char *prefix,
		    void (*fn)(void *arg, const char *value), void *arg);

#endif
