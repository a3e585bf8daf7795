/* version.h — what this binary is: version, git revision, build date, and the
 * versions of the libraries it runs with. */
#ifndef ACME_VERSION_H
#define ACME_VERSION_H

const char *acme_version(void);     /* "0.1.0" */
const char *acme_git_rev(void);     /* short hash or "unknown" */
const char *acme_build_date(void);  /* ISO-8601 UTC */
/* Library versions, one "name version" per call; NULL past the end. */
const char *acme_library_version(int i, char *buf, int n);

#endif
