/* version.c — build identity; the Makefile passes ACME_VERSION, ACME_GIT_REV
 * and ACME_BUILD_DATE for this file only. */
#include <csv.h>
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <ncurses.h>
#include <openssl/crypto.h>
#include <stdio.h>

#include "core/version.h"

#ifndef ACME_VERSION
#define ACME_VERSION "0.0.0"
#endif
#ifndef ACME_GIT_REV
#define ACME_GIT_REV "unknown"
#endif
#ifndef ACME_BUILD_DATE
#define ACME_BUILD_DATE "unknown"
#endif

const char *acme_version(void) { return ACME_VERSION; }
const char *acme_git_rev(void) { return ACME_GIT_REV; }
const char *acme_build_date(void) { return ACME_BUILD_DATE; }

const char *acme_library_version(int i, char *buf, int n)
{
	int v;
	switch (i) {
	case 0:
		v = PQlibVersion();
		snprintf(buf, (size_t)n, "libpq %d.%d", v / 10000, v % 10000);
		return buf;
	case 1:
		snprintf(buf, (size_t)n, "hiredis %d.%d.%d", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
		return buf;
	case 2:
		snprintf(buf, (size_t)n, "jansson %s", jansson_version_str());
		return buf;
	case 3:
		snprintf(buf, (size_t)n, "libcurl %s", curl_version_info(CURLVERSION_NOW)->version);
		return buf;
	case 4:
		snprintf(buf, (size_t)n, "openssl %s", OpenSSL_version(OPENSSL_VERSION_STRING));
		return buf;
	case 5:
		snprintf(buf, (size_t)n, "libcsv %d.%d.%d", CSV_MAJOR, CSV_MINOR, CSV_RELEASE);
		return buf;
	case 6:
		snprintf(buf, (size_t)n, "%s", curses_version());
		return buf;
	default:
		return NULL;
	}
}
