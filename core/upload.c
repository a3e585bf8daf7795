/* upload.c — staging files into PostgreSQL chunk by chunk; see upload.h. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/db.h"
#include "core/upload.h"
#include "core/xalloc.h"

/* Fill buf from fd as far as possible (pipes return short reads). */
static ssize_t read_full(int fd, unsigned char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static ssize_t fd_read(void *user, void *buf, size_t len, struct acme_err *err)
{
	struct { int fd; const char *what; } *src = user;
	ssize_t n = read_full(src->fd, buf, len);
	if (n < 0)
		acme_err_set(err, ACME_E_DATA, "%s: read error: %s", src->what, strerror(errno));
	return n;
}

int upload_stage(PGconn *db, int fd, const char *what, upload_progress_fn progress, void *user,
		 struct upload_info *out, struct acme_err *err)
{
	struct { int fd; const char *what; } src = { fd, what };
	return upload_stage_from(db, fd_read, &src, what, progress, user, out, err);
}

/* Fill buf from rd as far as it goes. */
static ssize_t reader_full(upload_read_fn rd, void *rd_user, unsigned char *buf, size_t n,
			   struct acme_err *err)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = rd(rd_user, buf + got, n - got, err);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int upload_stage_from(PGconn *db, upload_read_fn rd, void *rd_user, const char *what,
		      upload_progress_fn progress, void *user, struct upload_info *out,
		      struct acme_err *err)
{
	unsigned char *buf = xmalloc(UPLOAD_CHUNK_SIZE);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	PGresult *res = NULL;
	bool in_tx = false;
	int rc = -1;
	char idtext[24], seqtext[24], sizetext[24];

	memset(out, 0, sizeof(*out));
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		acme_err_set(err, ACME_E_FAILURE, "sha256: cannot initialise");
		goto out;
	}
	if (db_begin(db, NULL, err) < 0)
		goto out;
	in_tx = true;
	const char *p1[1] = { what };
	res = db_exec(db, err, "INSERT INTO uploads (filename) VALUES ($1) RETURNING id", 1, p1);
	if (!res)
		goto out;
	out->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(idtext, sizeof(idtext), "%lld", out->id);
	PQclear(res);
	res = NULL;

	for (;;) {
		ssize_t n = reader_full(rd, rd_user, buf, UPLOAD_CHUNK_SIZE, err);
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (out->size + n > UPLOAD_MAX_SIZE) {
			acme_err_set(err, ACME_E_DATA, "%s: larger than the %lld GiB limit", what,
				     UPLOAD_MAX_SIZE >> 30);
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
		snprintf(seqtext, sizeof(seqtext), "%lld", out->chunks);
		const char *params[3] = { idtext, seqtext, (const char *)buf };
		const int lengths[3] = { 0, 0, (int)n };
		const int formats[3] = { 0, 0, 1 };
		res = PQexecParams(db, "INSERT INTO uploads_chunks (upload_id, seq, data) "
				   "VALUES ($1, $2, $3)", 3, NULL, params, lengths, formats, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(db, res, err, "staging %s", what);
			goto out;
		}
		PQclear(res);
		res = NULL;
		out->size += n;
		out->chunks++;
		if (progress)
			progress(user, out->size);
		if ((size_t)n < UPLOAD_CHUNK_SIZE)
			break;
	}
	if (out->size == 0) {
		acme_err_set(err, ACME_E_DATA, "%s: the file is empty; a CSV needs at least a header row",
			     what);
		goto out;
	}
	unsigned char digest[32];
	unsigned int dlen = 0;
	EVP_DigestFinal_ex(md, digest, &dlen);
	for (unsigned i = 0; i < dlen; i++)
		snprintf(out->sha256 + 2 * i, 3, "%02x", digest[i]);
	snprintf(sizetext, sizeof(sizetext), "%lld", out->size);
	const char *p2[3] = { idtext, sizetext, out->sha256 };
	if (db_cmd(db, err, "UPDATE uploads SET size = $2, sha256 = $3, completed_at = now() "
		   "WHERE id = $1", 3, p2) < 0)
		goto out;
	if (db_commit(db, err) < 0)
		goto out;
	in_tx = false;
	rc = 0;
out:
	if (in_tx)
		db_rollback(db);
	PQclear(res);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

int upload_link_job(PGconn *db, long long upload_id, const char *job_id, struct acme_err *err)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", upload_id);
	const char *params[2] = { id, job_id };
	return db_cmd(db, err, "UPDATE uploads SET job_id = $2 WHERE id = $1", 2, params);
}

int upload_get(PGconn *db, long long upload_id, struct upload_info *out, struct acme_err *err)
{
	char id[24];
	snprintf(id, sizeof(id), "%lld", upload_id);
	const char *params[1] = { id };
	PGresult *res = db_exec(db, err, "SELECT u.size, u.sha256, (SELECT count(*) FROM uploads_chunks c "
				"WHERE c.upload_id = u.id) FROM uploads u WHERE u.id = $1 AND "
				"u.completed_at IS NOT NULL", 1, params);
	if (!res)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return acme_err_set(err, ACME_E_NOT_FOUND, "upload %lld does not exist (it may have been "
				    "removed by retention)", upload_id);
	}
	memset(out, 0, sizeof(*out));
	out->id = upload_id;
	out->size = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(out->sha256, sizeof(out->sha256), "%s", PQgetvalue(res, 0, 1));
	out->chunks = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return 0;
}

int upload_read_chunk(PGconn *db, long long upload_id, long long seq, unsigned char **data,
		      size_t *len, struct acme_err *err)
{
	char id[24], sq[24];
	snprintf(id, sizeof(id), "%lld", upload_id);
	snprintf(sq, sizeof(sq), "%lld", seq);
	const char *params[2] = { id, sq };
	/* binary result: the bytes as stored, no hex round trip */
	PGresult *res = PQexecParams(db, "SELECT data FROM uploads_chunks WHERE upload_id = $1 AND seq = $2",
				     2, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(db, res, err, "reading upload %lld", upload_id);
		PQclear(res);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	*len = (size_t)PQgetlength(res, 0, 0);
	*data = xmalloc(*len ? *len : 1);
	memcpy(*data, PQgetvalue(res, 0, 0), *len);
	PQclear(res);
	return 1;
}
