/* migrate_data.h — the migration files compiled into the binary by
 * core/migrations/embed.sh. Each entry's bytes are NUL-terminated; size excludes
 * the terminator. The table is sorted by file name. */
#ifndef ACME_MIGRATE_DATA_H
#define ACME_MIGRATE_DATA_H
#include <stddef.h>

struct migration_file {
	const char *name;     /* "0001_initial.sql" */
	const char *data;     /* raw file bytes, static */
	size_t size;
};

extern const struct migration_file acme_migration_files[];
extern const size_t acme_migration_files_count;

#endif
