/* complete.c — completion candidates from the database (see complete.h). */
#include <stdio.h>
#include <string.h>

#include "core/complete.h"
#include "core/db.h"
#include "core/job.h"
#include "core/products.h"

struct offer {
	void (*fn)(void *arg, const char *value);
	void *arg;
	const char *prefix;   /* filter (webhook and delivery ids) or NULL */
	const char *decorate; /* prepended ("id:") or NULL */
	int n;
};

static void offer(void *arg, const char *value)
{
	struct offer *o = arg;
	char buf[512];
	if (o->prefix && strncmp(value, o->prefix, strlen(o->prefix)) != 0)
		return;
	if (o->decorate) {
		snprintf(buf, sizeof(buf), "%s%s", o->decorate, value);
		value = buf;
	}
	o->fn(o->arg, value);
	o->n++;
}

/* A SKU that itself reads as id:N or sku:X is offered as sku:SKU. */
static void offer_sku_ref(void *arg, const char *sku)
{
	struct offer *o = arg;
	bool ref = strncmp(sku, PRODUCTS_REF_ID, strlen(PRODUCTS_REF_ID)) == 0 ||
		   strncmp(sku, PRODUCTS_REF_SKU, strlen(PRODUCTS_REF_SKU)) == 0;
	o->decorate = ref ? PRODUCTS_REF_SKU : NULL;
	offer(o, sku);
}

static void no_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int webhook_ids(PGconn *db, bool deliveries, struct offer *o, struct acme_err *err)
{
	const char *sql = deliveries ?
		"SELECT id FROM webhook_deliveries ORDER BY id DESC LIMIT 500" :
		"SELECT id FROM webhooks ORDER BY id LIMIT 500";
	PGresult *res = db_exec(db, err, sql, 0, NULL);
	if (!res)
		return -1;
	for (int i = 0; i < PQntuples(res); i++)
		offer(o, PQgetvalue(res, i, 0));
	PQclear(res);
	return 0;
}

int complete_values(const struct config_flags *cf, enum complete_kind kind, const char *prefix,
		    void (*fn)(void *arg, const char *value), void *arg)
{
	struct config cfg;
	struct acme_err err = { 0 };
	struct offer o = { fn, arg, NULL, NULL, 0 };
	int rc = -1;
	if (config_load(&cfg, cf, &err) < 0)
		return -1;
	const char *url = config_get(&cfg, CFG_DATABASE_URL);
	PGconn *db = url ? db_connect_url(url, 1, "acmectl-complete", &err) : NULL;
	if (!db)
		goto out;
	PQsetNoticeProcessor(db, no_notices, NULL);
	PQclear(PQexec(db, "SET statement_timeout = 1000"));
	switch (kind) {
	case COMPLETE_SKU:
		if (strncmp(prefix, PRODUCTS_REF_ID, strlen(PRODUCTS_REF_ID)) == 0) {
			o.decorate = PRODUCTS_REF_ID;
			rc = products_complete_ids(db, prefix + strlen(PRODUCTS_REF_ID), offer, &o, &err);
		} else if (strncmp(prefix, PRODUCTS_REF_SKU, strlen(PRODUCTS_REF_SKU)) == 0) {
			rc = products_complete_skus(db, prefix + strlen(PRODUCTS_REF_SKU), offer_sku_ref,
						    &o, &err);
		} else {
			rc = products_complete_skus(db, prefix, offer_sku_ref, &o, &err);
		}
		break;
	case COMPLETE_PRODUCT_ID:
		rc = products_complete_ids(db, prefix, offer, &o, &err);
		break;
	case COMPLETE_WEBHOOK:
	case COMPLETE_DELIVERY:
		o.prefix = prefix;
		rc = webhook_ids(db, kind == COMPLETE_DELIVERY, &o, &err);
		break;
	case COMPLETE_JOB:
		rc = job_recent_ids(db, prefix, 50, offer, &o, &err);
		break;
	}
	PQfinish(db);
out:
	config_release(&cfg);
	return rc < 0 ? -1 : o.n;
}
