/* args.h — the option parser behind struct opt tables (cmd/args.c). */
#ifndef ACME_ARGS_H
#define ACME_ARGS_H
#include "cmd/cmd.h"

/* Parse argv[0..argc) against the NULL-terminated list of tables, appending to
 * a. With stop_at_first_positional, stops at the first non-option (its index
 * in *consumed); otherwise positionals are collected into a->argv. */
int args_parse(struct args *a, int argc, char **argv, const struct opt *const *tables,
	       bool stop_at_first_positional, int *consumed, struct acme_err *err);
void args_release(struct args *a);
const struct opt *opt_lookup_long(const struct opt *const *tables, const char *name, size_t len);

/* Levenshtein distance of a[0..la) and b (99 for words over 64 bytes): the
 * did-you-mean of unknown commands and options. */
size_t args_distance(const char *a, size_t la, const char *b);

#endif
