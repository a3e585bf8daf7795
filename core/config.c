/* config.c — load the effective configuration: defaults, then the config file
 * (top level, then [env.NAME]), then the environment, then flags. Each value
 * remembers where it came from so `acmectl config show` can say so. */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <libpq-fe.h>

#include "core/config.h"
#include "core/devstack.h"
#include "core/log.h"
#include "core/secretbox.h"
#include "core/strbuf.h"
#include "core/url.h"
#include "core/xalloc.h"

static const struct {
	const char *key, *envvar, *def;
	unsigned flags;
} keys[] = {
#define X(id, key, envvar, def, flags) { key, envvar, def, flags },
	CONFIG_KEYS(X)
#undef X
};

/* Config file values are at most this long; secrets read from files too. */
#define VALUE_MAX 4096

const char *config_key_name(enum config_key k) { return keys[k].key; }
const char *config_key_envvar(enum config_key k) { return keys[k].envvar; }
unsigned config_key_flags(enum config_key k) { return keys[k].flags; }

const char *config_source_name(enum config_source s)
{
	static const char *const names[] = { "default", "file", "env", "flag", "dev stack" };
	return names[s];
}

static void set_value(struct config_value *cv, const char *value, enum config_source src,
		      char *origin /* consumed */)
{
	free(cv->value);
	free(cv->origin);
	cv->value = value ? xstrdup(value) : NULL;
	cv->source = src;
	cv->origin = origin;
}

/* Read a secret from a file: the whole file, trailing newlines removed. */
static char *read_secret_file(const char *path, const char *what, struct acme_err *err)
{
	FILE *f = fopen(path, "r");
	char buf[VALUE_MAX + 2];
	if (!f) {
		acme_err_set(err, ACME_E_CONFIG, "%s: cannot read %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (secretbox_check_private(fileno(f), path, what, err) < 0) {
		fclose(f);
		return NULL;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		acme_err_set(err, ACME_E_CONFIG, "%s: cannot read %s", what, path);
		return NULL;
	}
	if (n > VALUE_MAX) {
		acme_err_set(err, ACME_E_CONFIG, "%s: %s is longer than %d bytes", what, path, VALUE_MAX);
		return NULL;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n == 0) {
		acme_err_set(err, ACME_E_CONFIG, "%s: %s is empty", what, path);
		return NULL;
	}
	return xstrdup(buf);
}

/* ---- the config file ------------------------------------------------------ */

struct file_state {
	struct config *cfg;
	const char *path;
	FILE *f;
	int lineno;            /* counted by our reader: Debian's inih gives no line numbers */
	bool too_long;         /* stop: line too_long_line is longer than max_line */
	int too_long_line;
	int nul_line;          /* stop: this line holds a NUL byte (0: none) */
	int max_line;
	char *section;         /* the current section's whole name (owned) */
	const char *env;       /* NULL on the first pass (which only looks for env=) */
	struct acme_err *err;
	bool failed;
	bool checked_private;  /* the file holds a password and was found private */
};

static int find_key(const char *name, bool *is_file_variant)
{
	size_t n = strlen(name);
	*is_file_variant = false;
	for (int k = 0; k < CFG__COUNT; k++) {
		if (strcmp(name, keys[k].key) == 0)
			return k;
		size_t kl = strlen(keys[k].key);
		if ((keys[k].flags & CFG_HAS_FILE) && n == kl + 5 &&
		    strncmp(name, keys[k].key, kl) == 0 && strcmp(name + kl, "_file") == 0) {
			*is_file_variant = true;
			return k;
		}
	}
	return -1;
}

static bool section_is_extra(const char *section)
{
	/* sections read by later modules (schedules, worker, webhooks) */
	return strncmp(section, "schedule.", 9) == 0 || strcmp(section, "worker") == 0 ||
	       strcmp(section, "webhooks") == 0;
}

static int file_handler(void *user, const char *section, const char *name, const char *value)
{
	struct file_state *st = user;
	int lineno = st->lineno;
	bool file_variant;
	int k;

	if (st->failed)
		return 0;
	if (st->section && strncmp(st->section, section, strlen(section)) == 0)
		section = st->section;      /* inih's copy may be cut short */
	if (section[0] && strncmp(section, "env.", 4) != 0 && !section_is_extra(section)) {
		acme_err_set(st->err, ACME_E_CONFIG,
			     "%s:%d: unknown section [%s]; expected [env.NAME], [worker], [webhooks] "
			     "or [schedule.NAME]", st->path, lineno, section);
		goto fail;
	}
	if (section_is_extra(section)) {
		if (!st->env)
			return 1;       /* stored on the second pass only */
		struct config *cfg = st->cfg;
		cfg->extra = xrealloc(cfg->extra, (cfg->nextra + 1) * sizeof(*cfg->extra));
		cfg->extra[cfg->nextra++] = (struct config_entry){
			xstrdup(section), xstrdup(name), xstrdup(value), xstrdup(st->path), lineno };
		return 1;
	}
	if (strncmp(section, "env.", 4) == 0) {
		const char *e = section + 4;
		if (strcmp(e, ENV_DEVELOPMENT) && strcmp(e, ENV_TEST) && strcmp(e, ENV_PRODUCTION)) {
			acme_err_set(st->err, ACME_E_CONFIG,
				     "%s:%d: unknown environment [env.%s]; expected development, test "
				     "or production", st->path, lineno, e);
			goto fail;
		}
	}
	k = find_key(name, &file_variant);
	if (k < 0) {
		acme_err_set(st->err, ACME_E_CONFIG, "%s:%d: unknown key \"%s\"%s%s%s", st->path,
			     lineno, name, section[0] ? " in [" : "", section, section[0] ? "]" : "");
		goto fail;
	}
	if (k == CFG_ENV && section[0]) {
		acme_err_set(st->err, ACME_E_CONFIG, "%s:%d: \"env\" belongs at the top of the file, "
			     "not in [%s]", st->path, lineno, section);
		goto fail;
	}
	if (strlen(value) > VALUE_MAX) {
		acme_err_set(st->err, ACME_E_CONFIG, "%s:%d: value of \"%s\" is longer than %d bytes",
			     st->path, lineno, name, VALUE_MAX);
		goto fail;
	}
	/* A file that holds a password must be private, whichever environment's
	 * section holds it (checked on the second pass, once). */
	if (st->env && !file_variant && (keys[k].flags & CFG_SECRET) && !st->checked_private) {
		char *shown = url_redact(value);
		bool holds = strcmp(shown, value) != 0;
		free(shown);
		if (holds) {
			if (secretbox_check_private(fileno(st->f), st->path, "config file", st->err) < 0)
				goto fail;
			st->checked_private = true;
		}
	}
	if (!st->env) {                 /* first pass: env only */
		if (k == CFG_ENV)
			set_value(&st->cfg->v[k], value, SRC_FILE, xasprintf("%s:%d", st->path, lineno));
		return 1;
	}
	if (k == CFG_ENV)
		return 1;
	/* second pass: top level, then the selected [env.NAME] (later lines win,
	 * and an env section wins over the top level whatever the order) */
	if (section[0] && strcmp(section + 4, st->env) != 0)
		return 1;
	struct config_value *cv = &st->cfg->v[k];
	if (!section[0] && cv->source == SRC_FILE && cv->origin && strstr(cv->origin, "[env."))
		return 1;
	char *origin = xasprintf("%s:%d%s%s%s", st->path, lineno, section[0] ? " [" : "",
				 section, section[0] ? "]" : "");
	if (file_variant) {
		char *what = xasprintf("%s:%d: %s", st->path, lineno, name);
		char *secret = read_secret_file(value, what, st->err);
		free(what);
		if (!secret) {
			free(origin);
			goto fail;
		}
		set_value(cv, secret, SRC_FILE, origin);
		free(secret);
	} else {
		set_value(cv, value, SRC_FILE, origin);
	}
	return 1;
fail:
	st->failed = true;
	return 0;
}

/* inih's reader callback: one whole line per call, counted.
 *
 * A line longer than inih's buffer is an error naming it, whatever it holds
 * (a comment too): inih would read its first part as a line and its tail as
 * the next. The length is checked on the line as it is in the file, before
 * the blanks are dropped below, and reading stops there, so neither part is
 * parsed at all.
 *
 * inih also cuts section names to 49 bytes without a word, which would turn
 * two long [schedule.NAME] sections into one; the reader keeps the whole name
 * of the current section for file_handler instead. */
static char *read_line(char *str, int num, void *stream)
{
	struct file_state *st = stream;
	size_t n = 0, max = (size_t)num - 1;
	int c = EOF;

	if (st->too_long || st->nul_line)
		return NULL;
	/* byte by byte, not fgets(): a NUL byte would hide how much fgets()
	 * read, and the tail of a long line holding one was parsed as a line
	 * of its own (found by tests/fuzz/fuzz_config.c) */
	while ((c = getc(st->f)) != EOF && c != '\n') {
		if (c == '\0') {
			st->nul_line = st->lineno + 1;
			return NULL;
		}
		if (n == max) {
			st->too_long = true;
			st->too_long_line = st->lineno + 1;
			st->max_line = (int)max;
			return NULL;
		}
		str[n++] = (char)c;
	}
	if (c == EOF && n == 0)
		return NULL;
	str[n] = '\0';
	st->lineno++;
	/* inih reads an indented line as a continuation of the previous value;
	 * people indent keys under sections, so drop leading blanks */
	size_t lead = strspn(str, " \t");
	if (lead) {
		memmove(str, str + lead, n - lead + 1);
		n -= lead;
	}
	const char *close = str[0] == '[' ? strchr(str, ']') : NULL;
	if (close) {
		free(st->section);
		st->section = xstrndup(str + 1, (size_t)(close - str - 1));
	}
	return str;
}

static int parse_file(struct config *cfg, const char *path, const char *env, struct acme_err *err)
{
	struct file_state st = { cfg, path, NULL, 0, false, 0, 0, 0, NULL, env, err, false, false };
	st.f = fopen(path, "r");
	if (!st.f)
		return acme_err_set(err, ACME_E_CONFIG, "%s: cannot open: %s", path, strerror(errno));
	int rc = ini_parse_stream(read_line, &st, file_handler, &st);
	fclose(st.f);
	free(st.section);
	if (st.failed)
		return -1;
	if (st.nul_line)
		return acme_err_set(err, ACME_E_CONFIG, "%s:%d: the line holds a NUL byte; a config "
				    "file is text", path, st.nul_line);
	if (st.too_long)
		return acme_err_set(err, ACME_E_CONFIG, "%s:%d: the line is too long (the limit is %d "
				    "bytes); put long values such as URLs in a file named by a *_file key",
				    path, st.too_long_line, st.max_line);
	if (rc == -2)
		return acme_err_set(err, ACME_E_CONFIG, "%s: out of memory while parsing", path);
	if (rc > 0)
		return acme_err_set(err, ACME_E_CONFIG, "%s:%d: syntax error; expected \"key = value\" "
				    "or \"[section]\"", path, rc);
	if (rc != 0)
		return acme_err_set(err, ACME_E_CONFIG, "%s: cannot parse", path);
	return 0;
}

static char *default_config_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	struct stat sb;
	char *p = NULL;

	if (xdg && xdg[0] == '/')
		p = xasprintf("%s/acmectl/config", xdg);
	else if (home && home[0])
		p = xasprintf("%s/.config/acmectl/config", home);
	if (p && stat(p, &sb) == 0)
		return p;
	free(p);
	if (stat("/etc/acmectl/config", &sb) == 0)
		return xstrdup("/etc/acmectl/config");
	return NULL;
}

/* ---- loading --------------------------------------------------------------- */

static int load_env_var(struct config *cfg, int k, struct acme_err *err)
{
	const char *val = getenv(keys[k].envvar);
	if (keys[k].flags & CFG_HAS_FILE) {
		char fvar[64];
		snprintf(fvar, sizeof(fvar), "%s_FILE", keys[k].envvar);
		const char *fpath = getenv(fvar);
		if (fpath && fpath[0]) {
			if (val && val[0])
				return acme_err_set(err, ACME_E_CONFIG, "both %s and %s are set; "
						    "unset one of them", keys[k].envvar, fvar);
			char *secret = read_secret_file(fpath, fvar, err);
			if (!secret)
				return -1;
			set_value(&cfg->v[k], secret, SRC_ENV, xasprintf("env %s (%s)", fvar, fpath));
			free(secret);
			return 0;
		}
	}
	if (val && val[0])
		set_value(&cfg->v[k], val, SRC_ENV, xasprintf("env %s", keys[k].envvar));
	return 0;
}

static int load(struct config *cfg, const struct config_flags *flags, struct acme_err *err);

static const struct config *current;

const struct config *config_current(void)
{
	return current;
}

int config_load(struct config *cfg, const struct config_flags *flags, struct acme_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	if (load(cfg, flags, err) < 0) {
		config_release(cfg);
		return -1;
	}
	current = cfg;
	return 0;
}

static int load(struct config *cfg, const struct config_flags *flags, struct acme_err *err)
{
	for (int k = 0; k < CFG__COUNT; k++)
		if (keys[k].def)
			set_value(&cfg->v[k], keys[k].def, SRC_DEFAULT, xstrdup("default"));

	if (flags && flags->config_file) {
		cfg->file = xstrdup(flags->config_file);
		cfg->file_explicit = true;
	} else if (getenv("ACME_CONFIG") && getenv("ACME_CONFIG")[0]) {
		cfg->file = xstrdup(getenv("ACME_CONFIG"));
		cfg->file_explicit = true;
	} else {
		cfg->file = default_config_path();
	}

	/* Which environment? flag > ACME_ENV > file > default. The file is read
	 * twice: first for env=, then for the values of that environment. */
	if (cfg->file && parse_file(cfg, cfg->file, NULL, err) < 0)
		return -1;
	if (load_env_var(cfg, CFG_ENV, err) < 0)
		return -1;
	if (flags && flags->env)
		set_value(&cfg->v[CFG_ENV], flags->env, SRC_FLAG, xstrdup("flag --env"));
	if (cfg->file && parse_file(cfg, cfg->file, cfg->v[CFG_ENV].value, err) < 0)
		return -1;

	for (int k = 0; k < CFG__COUNT; k++)
		if (k != CFG_ENV && load_env_var(cfg, k, err) < 0)
			return -1;
	if (flags && flags->log_level)
		set_value(&cfg->v[CFG_LOG_LEVEL], flags->log_level, SRC_FLAG,
			  xstrdup("flag -q/-v"));

	/* derived defaults */
	if (!cfg->v[CFG_REDIS_PREFIX].value) {
		char *p = xasprintf("acme:%s:", cfg->v[CFG_ENV].value);
		set_value(&cfg->v[CFG_REDIS_PREFIX], p, SRC_DEFAULT, xstrdup("default (acme:<env>:)"));
		free(p);
	}
	if (strcmp(cfg->v[CFG_ENV].value, ENV_DEVELOPMENT) == 0 &&
	    (!cfg->v[CFG_DATABASE_URL].value || !cfg->v[CFG_REDIS_URL].value)) {
		struct devstack ds;
		if (devstack_init(&ds, cfg->v[CFG_DEV_DIR].value, err) < 0) {
			devstack_release(&ds);
			return -1;
		}
		if (!cfg->v[CFG_DEV_DIR].value)
			set_value(&cfg->v[CFG_DEV_DIR], ds.dir, SRC_DEFAULT, xstrdup("default"));
		if (!cfg->v[CFG_DATABASE_URL].value) {
			char *u = devstack_database_url(&ds);
			set_value(&cfg->v[CFG_DATABASE_URL], u, SRC_DEVSTACK,
				  xasprintf("dev stack (%s)", ds.dir));
			free(u);
		}
		if (!cfg->v[CFG_REDIS_URL].value) {
			char *u = devstack_redis_url(&ds);
			set_value(&cfg->v[CFG_REDIS_URL], u, SRC_DEVSTACK,
				  xasprintf("dev stack (%s)", ds.dir));
			free(u);
		}
		/* the dev stack's key seals webhook secrets, as production's must */
		if (!cfg->v[CFG_SECRET_KEY_FILE].value && cfg->v[CFG_DATABASE_URL].source == SRC_DEVSTACK)
			set_value(&cfg->v[CFG_SECRET_KEY_FILE], ds.key_file, SRC_DEVSTACK,
				  xasprintf("dev stack (%s)", ds.dir));
		devstack_release(&ds);
	}
	return 0;
}

void config_release(struct config *cfg)
{
	if (current == cfg)
		current = NULL;
	for (int k = 0; k < CFG__COUNT; k++) {
		free(cfg->v[k].value);
		free(cfg->v[k].origin);
	}
	for (size_t i = 0; i < cfg->nextra; i++) {
		free(cfg->extra[i].section);
		free(cfg->extra[i].key);
		free(cfg->extra[i].value);
		free(cfg->extra[i].file);
	}
	free(cfg->extra);
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- access and validation -------------------------------------------------- */

const char *config_get(const struct config *cfg, enum config_key k)
{
	return cfg->v[k].value;
}

char *config_display_value(const struct config *cfg, enum config_key k)
{
	const char *v = cfg->v[k].value;
	if (!v)
		return xstrdup("");
	if (keys[k].flags & CFG_SECRET)
		return url_redact(v);
	return xstrdup(v);
}

bool config_is_production(const struct config *cfg)
{
	return strcmp(cfg->v[CFG_ENV].value, ENV_PRODUCTION) == 0;
}

bool config_uses_devstack(const struct config *cfg)
{
	return cfg->v[CFG_DATABASE_URL].source == SRC_DEVSTACK ||
	       cfg->v[CFG_REDIS_URL].source == SRC_DEVSTACK;
}

int config_connect_timeout(const struct config *cfg)
{
	const char *v = cfg->v[CFG_CONNECT_TIMEOUT].value;
	int n = v ? atoi(v) : 5;
	return n > 0 ? n : 5;
}

size_t config_extra_count(const struct config *cfg) { return cfg->nextra; }
const struct config_entry *config_extra(const struct config *cfg, size_t i) { return &cfg->extra[i]; }

static int invalid(const struct config *cfg, int k, struct acme_err *err, const char *why)
{
	char *shown = config_display_value(cfg, (enum config_key)k);
	acme_err_set(err, ACME_E_CONFIG, "%s \"%s\" (from %s): %s", keys[k].key, shown,
		     cfg->v[k].origin ? cfg->v[k].origin : "default", why);
	free(shown);
	return -1;
}

int config_bool(const char *v)
{
	if (!v)
		return -1;
	if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		return 1;
	if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off"))
		return 0;
	return -1;
}

int config_validate(const struct config *cfg, struct acme_err *err)
{
	const char *env = cfg->v[CFG_ENV].value;
	enum log_level ll;
	enum log_format lf;
	char *end;

	if (strcmp(env, ENV_DEVELOPMENT) && strcmp(env, ENV_TEST) && strcmp(env, ENV_PRODUCTION))
		return invalid(cfg, CFG_ENV, err, "expected development, test or production");
	if (log_level_parse(cfg->v[CFG_LOG_LEVEL].value, &ll) < 0)
		return invalid(cfg, CFG_LOG_LEVEL, err, "expected error, warning, info or debug");
	if (log_format_parse(cfg->v[CFG_LOG_FORMAT].value, &lf) < 0)
		return invalid(cfg, CFG_LOG_FORMAT, err, "expected text or json");
	long t = strtol(cfg->v[CFG_CONNECT_TIMEOUT].value, &end, 10);
	if (*end || t < 1 || t > 3600)
		return invalid(cfg, CFG_CONNECT_TIMEOUT, err, "expected whole seconds from 1 to 3600");

	const char *db = cfg->v[CFG_DATABASE_URL].value;
	if (!db)
		return acme_err_set(err, ACME_E_CONFIG, "DATABASE_URL is not set; the %s environment "
				    "needs it (or DATABASE_URL_FILE, or database_url in the config file)", env);
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(db, &perr);
	if (!opts) {
		char why[512];
		snprintf(why, sizeof(why), "not a valid PostgreSQL URL or conninfo: %s",
			 perr ? perr : "out of memory");
		PQfreemem(perr);
		return invalid(cfg, CFG_DATABASE_URL, err, why);
	}
	PQconninfoFree(opts);

	const char *rurl = cfg->v[CFG_REDIS_URL].value;
	if (!rurl)
		return acme_err_set(err, ACME_E_CONFIG, "REDIS_URL is not set; the %s environment "
				    "needs it (or REDIS_URL_FILE, or redis_url in the config file)", env);
	struct redis_url ru;
	if (redis_url_parse(rurl, &ru, err) < 0)
		return acme_err_prefix(err, "redis_url (from %s)", cfg->v[CFG_REDIS_URL].origin);
	bool tls = ru.tls, url_insecure = ru.tls_insecure == 1;
	redis_url_release(&ru);
	const char *ins = cfg->v[CFG_REDIS_TLS_INSECURE].value;
	if (ins && config_bool(ins) < 0)
		return invalid(cfg, CFG_REDIS_TLS_INSECURE, err, "expected 1 or 0 (true or false)");
	static const enum config_key tls_keys[] = { CFG_REDIS_TLS_CA, CFG_REDIS_TLS_CERT,
		CFG_REDIS_TLS_KEY, CFG_REDIS_TLS_SERVER_NAME, CFG_REDIS_TLS_INSECURE };
	for (size_t i = 0; i < sizeof(tls_keys) / sizeof(tls_keys[0]); i++)
		if (cfg->v[tls_keys[i]].value && !tls)
			return invalid(cfg, tls_keys[i], err, "applies to TLS connections only, "
				       "and REDIS_URL is not rediss://");
	if (!strcmp(env, ENV_PRODUCTION) && tls && (url_insecure || (ins && config_bool(ins) == 1)))
		return acme_err_set(err, ACME_E_CONFIG, "redis TLS: tls_insecure turns off "
				    "certificate verification and is refused in production; give "
				    "the CA file instead (redis_tls_ca, or tls_ca= in REDIS_URL)");

	const char *prefix = cfg->v[CFG_REDIS_PREFIX].value;
	if (!prefix[0] || strlen(prefix) > 64 || strpbrk(prefix, " \t\r\n{}"))
		return invalid(cfg, CFG_REDIS_PREFIX, err,
			       "expected 1-64 characters without spaces or braces");
	return 0;
}
