/* importsubmit.c — submit an import: stage the file, record and queue the
 * job (see import_submit in import.h). The worker's side is core/import.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/import.h"
#include "core/job.h"
#include "core/jobtypes.h"
#include "core/queue.h"
#include "core/recode.h"
#include "core/upload.h"
#include "core/xalloc.h"

static ssize_t recode_reader(void *user, void *buf, size_t len, struct acme_err *err)
{
	return recode_read(user, buf, len, err);
}

int import_submit(PGconn *db, redisContext *rc, const char *prefix, struct import_submit *s,
		  struct acme_err *err)
{
	struct upload_info up;
	struct queue q;
	bool have_q = false;
	struct queue_job job = { 0 };
	char *payload = NULL;
	int status = -1;

	/* 1. the file into uploads, as UTF-8 */
	struct recode *r = recode_new(s->fd, (enum recode_encoding)s->enc, s->what, err);
	if (!r)
		return -1;
	if (upload_stage_from(db, recode_reader, r, s->what, s->progress, s->progress_arg, &up,
			      err) < 0) {
		acme_err_prefix(err, "import");
		goto out;
	}
	s->invalid_utf8 = recode_invalid_utf8(r, &s->bad_line, &s->bad_byte, &s->cp1252);
	s->upload_id = up.id;
	s->size = up.size;
	snprintf(s->sha256, sizeof(s->sha256), "%s", up.sha256);

	/* 2. the job: its row, then the queue */
	s->params->upload_id = up.id;
	json_t *pj = import_payload_new(s->params);
	payload = json_dumps(pj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(pj);
	struct queue_spec spec = { 0 };
	spec.type = IMPORT_JOB_TYPE;
	spec.payload = payload;
	if (jobtype_fill_spec(&spec, err) < 0)
		goto out;
	if (queue_init(&q, rc, prefix, err) < 0)
		goto out;
	have_q = true;
	if (job_enqueue(db, &q, &spec, NULL, &job, &s->existed, err) < 0)
		goto out;
	s->job_id = xstrdup(job.id);
	s->queue = xstrdup(job.queue ? job.queue : IMPORT_QUEUE);
	struct acme_err lerr;
	if (upload_link_job(db, up.id, job.id, &lerr) < 0)
		snprintf(s->link_warning, sizeof(s->link_warning), "upload %lld is not linked to job "
			 "%s: %s", up.id, job.id, lerr.msg);
	status = 0;
out:
	recode_free(r);
	if (have_q)
		queue_release(&q);
	queue_job_release(&job);
	free(payload);
	return status;
}

void import_submit_release(struct import_submit *s)
{
	free(s->job_id);
	free(s->queue);
	s->job_id = s->queue = NULL;
}
