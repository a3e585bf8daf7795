/* config.h — the effective configuration and where each value came from.
 *
 * Precedence: command-line flags > environment > config file > built-in
 * defaults (DESIGN.md section 4). The config file is INI (inih): keys at the
 * top level apply to every environment, keys in [env.NAME] only to NAME and
 * win over the top level. Secrets (URLs holding passwords) may come from a
 * file named by a *_FILE variable or a *_file key. In development with no
 * DATABASE_URL / REDIS_URL the dev stack's sockets are used.
 *
 * Files that hold secrets must be private (core/secretbox.h,
 * secretbox_check_private: 0600, or 0640 when root owns them): a config file
 * that sets a URL with a password, and every *_FILE / *_file secret file; the
 * key file of secret_key_file (read by core/whsecret.h, not here) too.
 *
 * To add a setting: add a line to CONFIG_KEYS, document it in
 * man/acmectl.conf.5, and (if it needs checking) extend config_validate().
 */
#ifndef ACME_CONFIG_H
#define ACME_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "core/err.h"

/* flags */
#define CFG_SECRET    0x1  /* value holds a secret: shown redacted */
#define CFG_HAS_FILE  0x2  /* NAME_FILE env variable and name_file key accepted */

/* X(id, file key, environment variable, default, flags) */
#define CONFIG_KEYS(X)                                                                   \
	X(ENV,             "env",             "ACME_ENV",             "development", 0)  \
	X(DATABASE_URL,    "database_url",    "DATABASE_URL",         NULL, CFG_SECRET | CFG_HAS_FILE) \
	X(REDIS_URL,       "redis_url",       "REDIS_URL",            NULL, CFG_SECRET | CFG_HAS_FILE) \
	X(REDIS_PREFIX,    "redis_prefix",    "ACME_REDIS_PREFIX",    NULL, 0)           \
	X(REDIS_TLS_CA,    "redis_tls_ca",    "ACME_REDIS_TLS_CA",    NULL, 0)           \
	X(REDIS_TLS_CERT,  "redis_tls_cert",  "ACME_REDIS_TLS_CERT",  NULL, 0)           \
	X(REDIS_TLS_KEY,   "redis_tls_key",   "ACME_REDIS_TLS_KEY",   NULL, 0)           \
	X(REDIS_TLS_SERVER_NAME, "redis_tls_server_name", "ACME_REDIS_TLS_SERVER_NAME", NULL, 0) \
	X(REDIS_TLS_INSECURE, "redis_tls_insecure", "ACME_REDIS_TLS_INSECURE", NULL, 0)  \
	X(LOG_LEVEL,       "log_level",       "ACME_LOG_LEVEL",       "info", 0)         \
	X(LOG_FORMAT,      "log_format",      "ACME_LOG_FORMAT",      "text", 0)         \
	X(CONNECT_TIMEOUT, "connect_timeout", "ACME_CONNECT_TIMEOUT", "5", 0)            \
	X(DEV_DIR,         "dev_dir",         "ACME_DEV_DIR",         NULL, 0)           \
	X(SECRET_KEY_FILE, "secret_key_file", "ACME_SECRET_KEY_FILE", NULL, 0)

enum config_key {
#define X(id, key, envvar, def, flags) CFG_##id,
	CONFIG_KEYS(X)
#undef X
	CFG__COUNT
};

enum config_source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_FLAG, SRC_DEVSTACK };

struct config_value {
	char *value;              /* NULL = unset */
	enum config_source source;
	char *origin;             /* human-readable: "env DATABASE_URL", "/etc/acmectl/config:12" */
};

/* A raw entry from a section this module does not interpret ([schedule.NAME]
 * and friends); later modules read them through config_section_*(). */
struct config_entry {
	char *section, *key, *value, *file;
	int line;
};

struct config {
	struct config_value v[CFG__COUNT];
	char *file;                    /* the config file read, or NULL */
	bool file_explicit;            /* given by --config */
	struct config_entry *extra;
	size_t nextra;
};

/* What the command line says; NULL fields are not given. */
struct config_flags {
	const char *env;
	const char *config_file;
	const char *log_level;
};

/* Environments. */
#define ENV_DEVELOPMENT "development"
#define ENV_TEST        "test"
#define ENV_PRODUCTION  "production"

/* Load everything; fails (ACME_E_CONFIG) on an unreadable or malformed file
 * (naming file and line), an unknown key or section, or an unreadable *_FILE.
 * Values are not checked for sense here: see config_validate(). */
int config_load(struct config *cfg, const struct config_flags *flags, struct acme_err *err);
void config_release(struct config *cfg);

/* Check every value makes sense (env name, levels, URLs parse, required URLs
 * present outside development). Reports the first problem. */
int config_validate(const struct config *cfg, struct acme_err *err);

const char *config_get(const struct config *cfg, enum config_key k);  /* NULL if unset */
const char *config_key_name(enum config_key k);
const char *config_key_envvar(enum config_key k);
unsigned config_key_flags(enum config_key k);
const char *config_source_name(enum config_source s);
/* The value as it may be shown: secrets redacted; "" when unset. Caller frees. */
char *config_display_value(const struct config *cfg, enum config_key k);
bool config_is_production(const struct config *cfg);
bool config_uses_devstack(const struct config *cfg);
int config_connect_timeout(const struct config *cfg);  /* seconds */
/* 1 for 1/true/yes/on, 0 for 0/false/no/off (any case), -1 otherwise. */
int config_bool(const char *v);

/* The configuration this process loaded last (cmd/main.c's, inherited by
 * the worker's children), for code far from the command line that needs
 * settings: job handlers such as the webhook deliverer. NULL before a load. */
const struct config *config_current(void);

/* Raw entries of sections like [schedule.NAME], in file order. */
size_t config_extra_count(const struct config *cfg);
const struct config_entry *config_extra(const struct config *cfg, size_t i);

#endif
