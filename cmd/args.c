/* args.c — table-driven option parsing shared by every command.
 *
 * Options may come anywhere after the command name (and before "--"); the
 * tables searched are the verb's, the command's and the global ones. Values are
 * checked here (numbers in range, durations well-formed) so commands can trust
 * what args_get()/args_int() give them.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/args.h"
#include "core/xalloc.h"

bool args_has(const struct args *a, const char *name)
{
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->optv[i]->name, name) == 0)
			return true;
	return false;
}

const char *args_get(const struct args *a, const char *name)
{
	for (int i = a->nopt - 1; i >= 0; i--)
		if (strcmp(a->optv[i]->name, name) == 0)
			return a->valv[i];
	return NULL;
}

long long args_int(const struct args *a, const char *name, long long def)
{
	const char *v = args_get(a, name);
	if (!v)
		return def;
	for (int i = a->nopt - 1; i >= 0; i--)
		if (strcmp(a->optv[i]->name, name) == 0 && a->optv[i]->type == OPT_DURATION) {
			long long ms = def;
			parse_duration_ms(v, &ms);
			return ms;
		}
	return strtoll(v, NULL, 10);
}

int args_all(const struct args *a, const char *name, const char ***out)
{
	int n = 0;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->optv[i]->name, name) == 0)
			n++;
	/* valv holds every value in order; gather pointers into a scratch array
	 * kept at the end of optv's allocation would be clever; keep it simple */
	const char **vals = xcalloc((size_t)n + 1, sizeof(char *));
	n = 0;
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->optv[i]->name, name) == 0)
			vals[n++] = a->valv[i];
	free(((struct args *)a)->scratch);
	((struct args *)a)->scratch = vals;
	*out = vals;
	return n;
}

void args_release(struct args *a)
{
	for (int i = 0; i < a->nopt; i++)
		free(a->valv[i]);
	free(a->valv);
	free(a->optv);
	free(a->argv);
	free(a->scratch);
	memset(a, 0, sizeof(*a));
}

const struct opt *opt_lookup_long(const struct opt *const *tables, const char *name, size_t len)
{
	for (int t = 0; tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++)
			if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
				return o;
	return NULL;
}

size_t args_distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), row[65];
	if (la > 64 || lb > 64)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j], sub = prev + (a[i - 1] != b[j - 1]);
			size_t del = row[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			prev = cur;
		}
	}
	return row[lb];
}

/* "unknown option --limt; did you mean --limit?": the nearest visible long
 * option within two edits, or one the typed name starts. */
static int unknown_long(const struct opt *const *tables, const char *name, size_t len,
			struct acme_err *err)
{
	const struct opt *best = NULL;
	size_t bestd = 3;
	for (int t = 0; tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++) {
			if (o->flags & OPT_HIDDEN)
				continue;
			size_t d = args_distance(name, len, o->name);
			if (len >= 3 && strncmp(o->name, name, len) == 0)
				d = 1;
			if (d < bestd) {
				bestd = d;
				best = o;
			}
		}
	if (best)
		return acme_err_set(err, ACME_E_USAGE, "unknown option --%.*s; did you mean --%s?",
				    (int)len, name, best->name);
	return acme_err_set(err, ACME_E_USAGE, "unknown option --%.*s", (int)len, name);
}

static const struct opt *lookup_short(const struct opt *const *tables, char c)
{
	for (int t = 0; tables[t]; t++)
		for (const struct opt *o = tables[t]; o->name; o++)
			if (o->shortname == c)
				return o;
	return NULL;
}

static int check_value(const struct opt *o, const char *v, struct acme_err *err)
{
	char *end;
	if (o->type == OPT_INT) {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || !*v || *end)
			return acme_err_set(err, ACME_E_USAGE, "--%s: \"%s\" is not a whole number",
					    o->name, v);
		if ((o->min || o->max) && (n < o->min || n > o->max))
			return acme_err_set(err, ACME_E_USAGE, "--%s: %lld is out of range (%lld-%lld)",
					    o->name, n, o->min, o->max);
		if (!o->min && !o->max && n < 0)
			return acme_err_set(err, ACME_E_USAGE, "--%s: %lld must not be negative",
					    o->name, n);
	} else if (o->type == OPT_DURATION) {
		long long ms;
		if (parse_duration_ms(v, &ms) < 0)
			return acme_err_set(err, ACME_E_USAGE, "--%s: \"%s\" is not a duration "
					    "(examples: 500ms, 30s, 5m, 2h, 1d)", o->name, v);
		if ((o->min || o->max) && (ms < o->min || ms > o->max))
			return acme_err_set(err, ACME_E_USAGE, "--%s: %s is out of range", o->name, v);
	} else if (o->type == OPT_STRING && o->complete && strchr(o->complete, '|') &&
		   !(o->flags & OPT_HIDDEN)) {
		/* a fixed set of choices */
		size_t vl = strlen(v);
		for (const char *c = o->complete; *c;) {
			size_t n = strcspn(c, "|");
			if (n == vl && strncmp(c, v, n) == 0)
				return 0;
			c += n + (c[n] == '|');
		}
		return acme_err_set(err, ACME_E_USAGE, "--%s: \"%s\" is not one of %s", o->name, v,
				    o->complete);
	}
	return 0;
}

static void add_opt(struct args *a, const struct opt *o, const char *v)
{
	a->optv = xrealloc(a->optv, (size_t)(a->nopt + 1) * sizeof(*a->optv));
	a->valv = xrealloc(a->valv, (size_t)(a->nopt + 1) * sizeof(*a->valv));
	a->optv[a->nopt] = o;
	a->valv[a->nopt] = v ? xstrdup(v) : NULL;
	a->nopt++;
}

static void add_arg(struct args *a, char *s)
{
	a->argv = xrealloc(a->argv, (size_t)(a->argc + 2) * sizeof(char *));
	a->argv[a->argc++] = s;
	a->argv[a->argc] = NULL;
}

int args_parse(struct args *a, int argc, char **argv, const struct opt *const *tables,
	       bool stop_at_first_positional, int *consumed, struct acme_err *err)
{
	bool dashdash = false;
	int i;
	for (i = 0; i < argc; i++) {
		char *s = argv[i];
		if (dashdash || s[0] != '-' || s[1] == '\0') {
			if (stop_at_first_positional)
				break;
			add_arg(a, s);
			continue;
		}
		if (strcmp(s, "--") == 0) {
			if (stop_at_first_positional) {
				i++;
				break;
			}
			dashdash = true;
			continue;
		}
		if (s[1] == '-') {
			const char *name = s + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct opt *o = opt_lookup_long(tables, name, len);
			if (!o)
				return unknown_long(tables, name, len, err);
			if (o->type == OPT_FLAG) {
				if (eq)
					return acme_err_set(err, ACME_E_USAGE, "--%s takes no value", o->name);
				add_opt(a, o, NULL);
				continue;
			}
			const char *v = eq ? eq + 1 : NULL;
			if (!v) {
				if (i + 1 >= argc)
					return acme_err_set(err, ACME_E_USAGE, "--%s needs a value (%s)",
							    o->name, o->argname ? o->argname : "VALUE");
				v = argv[++i];
			}
			if (check_value(o, v, err) < 0)
				return -1;
			add_opt(a, o, v);
			continue;
		}
		/* short options, possibly bundled: -qv, -ojson, -o json */
		for (const char *c = s + 1; *c; c++) {
			const struct opt *o = lookup_short(tables, *c);
			if (!o)
				return acme_err_set(err, ACME_E_USAGE, "unknown option -%c", *c);
			if (o->type == OPT_FLAG) {
				add_opt(a, o, NULL);
				continue;
			}
			const char *v = c[1] ? c + 1 : NULL;
			if (!v) {
				if (i + 1 >= argc)
					return acme_err_set(err, ACME_E_USAGE, "-%c needs a value (%s)",
							    o->shortname, o->argname ? o->argname : "VALUE");
				v = argv[++i];
			}
			if (check_value(o, v, err) < 0)
				return -1;
			add_opt(a, o, v);
			break;
		}
	}
	if (consumed)
		*consumed = i;
	return 0;
}
