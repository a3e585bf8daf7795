/* migrate_parse.c — the pure half of migrations: reading migration files
 * (embedded or from a test directory), normalising and hashing them,
 * splitting them into up and down parts and into statements. Nothing here
 * touches a database; tests/unit/test_migrate.c covers it. See migrate.h for
 * the file format.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/migrate.h"
#include "core/migrate_data.h"
#include "core/xalloc.h"

/* ---- normalising and hashing ---------------------------------------------------- */

char *migrate_normalise(const char *data, size_t len, size_t *outlen)
{
	char *out = xmalloc(len + 1);
	size_t i = 0, n = 0;

	if (len >= 3 && (unsigned char)data[0] == 0xEF && (unsigned char)data[1] == 0xBB &&
	    (unsigned char)data[2] == 0xBF)
		i = 3;
	for (; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		out[n++] = data[i];
	}
	out[n] = '\0';
	if (outlen)
		*outlen = n;
	return out;
}

void migrate_checksum(const char *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;
	char *norm = migrate_normalise(data, len, &n);

	if (EVP_Digest(norm, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		mdlen = 0;     /* cannot happen with a working libcrypto */
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = i < mdlen ? hex[md[i] >> 4] : '0';
		out[2 * i + 1] = i < mdlen ? hex[md[i] & 15] : '0';
	}
	out[64] = '\0';
	free(norm);
}

/* ---- names and versions ----------------------------------------------------------- */

static int parse_digits(const char *s, size_t n, int *out)
{
	long long v = 0;
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > MIGRATE_VERSION_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int migrate_parse_version(const char *s, int *version)
{
	size_t n = strspn(s, "0123456789");
	if (s[n] != '\0' && s[n] != '_')
		return -1;
	return parse_digits(s, n, version);
}

int migrate_parse_filename(const char *file, int *version, char **name, struct acme_err *err)
{
	size_t len = strlen(file);
	size_t nd = strspn(file, "0123456789");
	const char *nm = file + nd + 1;

	if (len < 5 || strcmp(file + len - 4, ".sql") != 0 || file[nd] != '_' ||
	    parse_digits(file, nd, version) < 0)
		goto bad;
	size_t nl = (size_t)(file + len - 4 - nm);
	if (nl == 0)
		goto bad;
	for (size_t i = 0; i < nl; i++)
		if (!islower((unsigned char)nm[i]) && !isdigit((unsigned char)nm[i]) && nm[i] != '_' &&
		    nm[i] != '-')
			goto bad;
	*name = xstrndup(nm, nl);
	return 0;
bad:
	return acme_err_set(err, ACME_E_DATA, "migration file name \"%s\" is not NNNN_name.sql "
			    "(a version from 1 to %d, then lowercase letters, digits, '_' or '-')",
			    file, MIGRATE_VERSION_MAX);
}

/* ---- up and down parts ------------------------------------------------------------- */

/* If the line [p, p + n) is a "-- acmectl:" directive, return its canonical
 * form's length class: 1 down, 2 no-transaction, -1 unknown; 0 if not one. */
static int directive(const char *p, size_t n)
{
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
		n--;
	if (n < 2 || p[0] != '-' || p[1] != '-')
		return 0;
	size_t i = 2;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (n - i < 8 || strncasecmp(p + i, "acmectl:", 8) != 0)
		return 0;
	if (n == strlen(MIGRATE_DOWN_MARKER) && memcmp(p, MIGRATE_DOWN_MARKER, n) == 0)
		return 1;
	if (n == strlen(MIGRATE_NO_TX_MARKER) && memcmp(p, MIGRATE_NO_TX_MARKER, n) == 0)
		return 2;
	return -1;
}

int migrate_split(const char *text, char **up, char **down, bool *up_no_tx, bool *down_no_tx,
		  int *down_line, struct acme_err *err)
{
	const char *p = text;
	const char *down_start = NULL;
	size_t up_len = strlen(text);
	int line = 1, marker = 0;

	*up = *down = NULL;
	*up_no_tx = *down_no_tx = false;
	*down_line = 0;
	for (;;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		int d = directive(p, n);
		if (d == 1) {
			if (marker)
				return acme_err_set(err, ACME_E_DATA, "line %d: a second \"%s\" line (the "
						    "first is on line %d)", line, MIGRATE_DOWN_MARKER, marker);
			marker = line;
			up_len = (size_t)(p - text);
			down_start = eol ? eol + 1 : p + n;
		} else if (d == 2) {
			if (line == 1)
				*up_no_tx = true;
			else if (marker && line == marker + 1)
				*down_no_tx = true;
			else
				return acme_err_set(err, ACME_E_DATA, "line %d: \"%s\" must be the first "
						    "line of the file, or the line right after \"%s\"",
						    line, MIGRATE_NO_TX_MARKER, MIGRATE_DOWN_MARKER);
		} else if (d < 0) {
			return acme_err_set(err, ACME_E_DATA, "line %d: unknown directive \"%.*s\"; the "
					    "only ones are \"%s\" and \"%s\", written exactly so", line,
					    (int)(n > 60 ? 60 : n), p, MIGRATE_DOWN_MARKER,
					    MIGRATE_NO_TX_MARKER);
		}
		if (!eol)
			break;
		p = eol + 1;
		line++;
	}
	*up = xstrndup(text, up_len);
	if (down_start) {
		*down = xstrdup(down_start);
		*down_line = marker + 1;
	}
	return 0;
}

/* ---- statements --------------------------------------------------------------------- */

static bool ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Skip a quoted section starting at p (on the opening quote). backslash: E''
 * strings, where a backslash escapes the next byte. Counts newlines. */
static const char *skip_quoted(const char *p, char q, bool backslash, int *line)
{
	for (p++; *p; p++) {
		if (*p == '\n')
			(*line)++;
		if (backslash && *p == '\\' && p[1]) {
			if (p[1] == '\n')
				(*line)++;
			p++;
			continue;
		}
		if (*p == q) {
			if (p[1] == q) {
				p++;
				continue;
			}
			return p + 1;
		}
	}
	return p;
}

/* At p == '$': the length of a dollar-quote tag ("$$", "$body$"), or 0. */
static size_t dollar_tag(const char *p)
{
	size_t i = 1;
	if (p[1] == '$')
		return 2;
	if (!ident_start((unsigned char)p[1]))
		return 0;
	while (p[i] && p[i] != '$' && ident_char((unsigned char)p[i]))
		i++;
	return p[i] == '$' ? i + 1 : 0;
}

static void add_stmt(struct sql_stmt **v, size_t *n, size_t *alloc, const char *sql,
		     const char *start, const char *end, int line)
{
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (end == start)
		return;
	if (*n == *alloc) {
		*alloc = *alloc ? *alloc * 2 : 16;
		*v = xrealloc(*v, *alloc * sizeof(**v));
	}
	(*v)[(*n)++] = (struct sql_stmt){ (size_t)(start - sql), (size_t)(end - start), line };
}

/*
 * A small scanner in the spirit of psql's: it only needs to know where
 * statements end. Semicolons end a statement at parenthesis depth 0, outside
 * quotes, comments and dollar quoting. SQL-standard function bodies
 * (CREATE FUNCTION ... BEGIN ATOMIC ... END) contain semicolons without any
 * quoting; like psql we track BEGIN/CASE/END depth only in statements that
 * start with CREATE [OR REPLACE] FUNCTION|PROCEDURE.
 */
size_t sql_split(const char *sql, struct sql_stmt **out)
{
	struct sql_stmt *v = NULL;
	size_t n = 0, alloc = 0;
	const char *p = sql, *start = NULL;
	int line = 1, start_line = 0, paren = 0, begin_depth = 0, nident = 0;
	char idents[4] = { 0 };

	while (*p) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n') {
			line++;
			p++;
			continue;
		}
		if (isspace(c)) {
			p++;
			continue;
		}
		if (c == '-' && p[1] == '-') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (c == '/' && p[1] == '*') {
			int depth = 1;
			for (p += 2; *p && depth > 0; p++) {
				if (*p == '\n')
					line++;
				else if (*p == '/' && p[1] == '*')
					depth++, p++;
				else if (*p == '*' && p[1] == '/')
					depth--, p++;
			}
			continue;
		}
		if (!start) {
			start = p;
			start_line = line;
		}
		if (c == ';' && paren == 0 && begin_depth == 0) {
			add_stmt(&v, &n, &alloc, sql, start, p, start_line);
			start = NULL;
			nident = 0;
			memset(idents, 0, sizeof(idents));
			p++;
			continue;
		}
		if (c == '\'') {
			p = skip_quoted(p, '\'', false, &line);
		} else if (c == '"') {
			p = skip_quoted(p, '"', false, &line);
		} else if (c == '$') {
			size_t tl = dollar_tag(p);
			if (!tl) {
				p++;
				continue;
			}
			const char *body = p + tl;
			const char *close = body;
			for (;;) {
				close = strchr(close, '$');
				if (!close || strncmp(close, p, tl) == 0)
					break;
				close++;
			}
			const char *end = close ? close + tl : body + strlen(body);
			for (const char *q = p; q < end; q++)
				if (*q == '\n')
					line++;
			p = end;
		} else if (c == '(') {
			paren++;
			p++;
		} else if (c == ')') {
			if (paren > 0)
				paren--;
			p++;
		} else if (ident_start(c)) {
			const char *w = p;
			while (ident_char((unsigned char)*p))
				p++;
			size_t wl = (size_t)(p - w);
			/* E'...' is an escape string: backslashes escape */
			if (wl == 1 && (*w == 'E' || *w == 'e') && *p == '\'') {
				p = skip_quoted(p, '\'', true, &line);
				continue;
			}
			static const char *const marks[] = { "create", "function", "procedure", "or",
							     "replace" };
			if (nident < 4) {
				for (size_t i = 0; i < 5; i++)
					if (wl == strlen(marks[i]) && strncasecmp(w, marks[i], wl) == 0)
						idents[nident] = marks[i][0];
			}
			nident++;
			bool in_routine = idents[0] == 'c' &&
				(idents[1] == 'f' || idents[1] == 'p' ||
				 (idents[1] == 'o' && idents[2] == 'r' &&
				  (idents[3] == 'f' || idents[3] == 'p')));
			if (in_routine && paren == 0) {
				if (wl == 5 && strncasecmp(w, "begin", 5) == 0)
					begin_depth++;
				else if (wl == 4 && strncasecmp(w, "case", 4) == 0 && begin_depth >= 1)
					begin_depth++;
				else if (wl == 3 && strncasecmp(w, "end", 3) == 0 && begin_depth > 0)
					begin_depth--;
			}
		} else {
			p++;
		}
	}
	if (start)
		add_stmt(&v, &n, &alloc, sql, start, p, start_line);
	*out = v;
	return n;
}

/* ---- one file ----------------------------------------------------------------------- */

void migration_release(struct migration *m)
{
	free(m->name);
	free(m->file);
	free(m->raw);
	free(m->up);
	free(m->down);
	memset(m, 0, sizeof(*m));
}

/* Statements that would break our own transaction handling. */
static bool is_tx_control(const char *s, size_t len)
{
	static const char *const words[] = { "begin", "start", "commit", "end", "rollback", "abort" };
	size_t wl = 0;
	while (wl < len && isalpha((unsigned char)s[wl]))
		wl++;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (wl == strlen(words[i]) && strncasecmp(s, words[i], wl) == 0)
			return true;
	return false;
}

static int check_part(const char *file, const char *part, int first_line, bool no_tx,
		      const char *which, struct acme_err *err)
{
	struct sql_stmt *st = NULL;
	size_t n = sql_split(part, &st);
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		if (is_tx_control(part + st[i].off, st[i].len)) {
			rc = acme_err_set(err, ACME_E_DATA, "%s: line %d: \"%.*s\" is not allowed: each "
					  "migration part runs in its own transaction (or, with \"%s\", "
					  "outside one); remove it", file, first_line + st[i].line - 1,
					  (int)(st[i].len > 40 ? 40 : st[i].len), part + st[i].off,
					  MIGRATE_NO_TX_MARKER);
			goto out;
		}
	if (no_tx && n != 1)
		rc = acme_err_set(err, ACME_E_DATA, "%s: the %s part runs outside a transaction (\"%s\") "
				  "and must hold exactly one statement, but it holds %zu; put each "
				  "statement in a migration of its own", file, which,
				  MIGRATE_NO_TX_MARKER, n);
out:
	free(st);
	return rc;
}

int migration_parse(struct migration *m, const char *file, const char *data, size_t len,
		    struct acme_err *err)
{
	char *norm = NULL;

	memset(m, 0, sizeof(*m));
	if (len > MIGRATE_FILE_MAX)
		return acme_err_set(err, ACME_E_DATA, "%s: larger than %u bytes", file, MIGRATE_FILE_MAX);
	if (memchr(data, '\0', len))
		return acme_err_set(err, ACME_E_DATA, "%s: holds a NUL byte; migrations are SQL text",
				    file);
	if (migrate_parse_filename(file, &m->version, &m->name, err) < 0)
		return -1;
	m->file = xstrdup(file);
	m->raw = xstrndup(data, len);
	m->rawlen = len;
	migrate_checksum(data, len, m->checksum);
	norm = migrate_normalise(data, len, NULL);
	if (migrate_split(norm, &m->up, &m->down, &m->up_no_tx, &m->down_no_tx, &m->down_line,
			  err) < 0) {
		acme_err_prefix(err, "%s", file);
		goto fail;
	}
	m->up_line = 1;
	if (check_part(file, m->up, m->up_line, m->up_no_tx, "up", err) < 0)
		goto fail;
	if (m->down && check_part(file, m->down, m->down_line, m->down_no_tx, "down", err) < 0)
		goto fail;
	free(norm);
	return 0;
fail:
	free(norm);
	migration_release(m);
	return -1;
}

/* ---- sets --------------------------------------------------------------------------- */

static int by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

static int set_finish(struct migration_set *set, struct acme_err *err)
{
	qsort(set->v, set->n, sizeof(*set->v), by_version);
	for (size_t i = 1; i < set->n; i++)
		if (set->v[i].version == set->v[i - 1].version)
			return acme_err_set(err, ACME_E_DATA, "%s and %s have the same version %04d; "
					    "give one of them a new number", set->v[i - 1].file,
					    set->v[i].file, set->v[i].version);
	return 0;
}

static void set_add(struct migration_set *set, struct migration *m)
{
	set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
	set->v[set->n++] = *m;
}

int migration_set_load_embedded(struct migration_set *set, struct acme_err *err)
{
	memset(set, 0, sizeof(*set));
	set->source = xstrdup("embedded");
	for (size_t i = 0; i < acme_migration_files_count; i++) {
		const struct migration_file *f = &acme_migration_files[i];
		struct migration m;
		if (migration_parse(&m, f->name, f->data, f->size, err) < 0)
			goto fail;
		set_add(set, &m);
	}
	if (set_finish(set, err) < 0)
		goto fail;
	return 0;
fail:
	migration_set_release(set);
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path, size_t *len, struct acme_err *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	struct stat sb;

	if (!f) {
		acme_err_set(err, ACME_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &sb) < 0 || sb.st_size < 0 || (size_t)sb.st_size > MIGRATE_FILE_MAX) {
		acme_err_set(err, ACME_E_DATA, "%s: not a regular file of at most %u bytes", path,
			     MIGRATE_FILE_MAX);
		goto out;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		acme_err_set(err, ACME_E_CONFIG, "cannot read %s: %s", path, strerror(errno));
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[*len] = '\0';
out:
	fclose(f);
	return buf;
}

int migration_set_load_dir(struct migration_set *set, const char *dir, struct acme_err *err)
{
	DIR *d = NULL;
	char **names = NULL;
	size_t nnames = 0;
	struct dirent *de;
	int rc = -1;

	memset(set, 0, sizeof(*set));
	set->source = xstrdup(dir);
	d = opendir(dir);
	if (!d) {
		acme_err_set(err, ACME_E_CONFIG, "ACME_MIGRATIONS_DIR %s: %s", dir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && strcmp(de->d_name + l - 4, ".sql") == 0 && de->d_name[0] != '.') {
			names = xrealloc(names, (nnames + 1) * sizeof(*names));
			names[nnames++] = xstrdup(de->d_name);
		}
	}
	qsort(names, nnames, sizeof(*names), cmp_str);
	for (size_t i = 0; i < nnames; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		size_t len = 0;
		char *data = read_file(path, &len, err);
		free(path);
		if (!data)
			goto out;
		struct migration m;
		int prc = migration_parse(&m, names[i], data, len, err);
		free(data);
		if (prc < 0)
			goto out;
		set_add(set, &m);
	}
	rc = set_finish(set, err);
out:
	if (d)
		closedir(d);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (rc < 0)
		migration_set_release(set);
	return rc;
}

int migration_set_load(struct migration_set *set, const struct config *cfg, struct acme_err *err)
{
	const char *env = config_get(cfg, CFG_ENV);
	const char *dir = getenv("ACME_MIGRATIONS_DIR");
	if (env && strcmp(env, ENV_TEST) == 0 && dir && dir[0])
		return migration_set_load_dir(set, dir, err);
	return migration_set_load_embedded(set, err);
}

void migration_set_release(struct migration_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		migration_release(&set->v[i]);
	free(set->v);
	free(set->source);
	memset(set, 0, sizeof(*set));
}

const struct migration *migration_set_find(const struct migration_set *set, int version)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].version == version)
			return &set->v[i];
	return NULL;
}

int migration_set_head(const struct migration_set *set)
{
	return set->n ? set->v[set->n - 1].version : 0;
}
