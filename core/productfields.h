/* productfields.h — what a valid product is: field names, limits and the validators
 * shared by the CSV import (core/csvimport.c) and `products create/update`.
 *
 * One product has five fields. Each validator takes the raw bytes of one value
 * (any bytes, not NUL-terminated, may contain NULs) and either returns 0 with
 * the normalised value or -1 with a one-line, lowercase message in err (code
 * ACME_E_DATA) that names the field, e.g. `price "12,5" is not a number`.
 * Callers add the context (`import: line 1042: `, `products create: `).
 *
 * Rules (see the limits below):
 *   every field   no NUL byte; valid UTF-8 (no overlong forms, no surrogates,
 *                 nothing above U+10FFFF, no truncated sequence)
 *   sku           surrounding whitespace trimmed; required; at most
 *                 PRODUCT_SKU_MAX bytes; no control characters (C0, DEL, C1)
 *   name          surrounding whitespace trimmed; required; at most
 *                 PRODUCT_NAME_MAX bytes; no control characters
 *   description   kept verbatim; empty means no description (NULL); at most
 *                 PRODUCT_DESCRIPTION_MAX bytes; tab, CR and LF are the only
 *                 control characters allowed
 *   active        surrounding whitespace trimmed; true/false, t/f, yes/no,
 *                 y/n, 1/0 in any case; empty means true
 *   price         surrounding whitespace trimmed; plain decimal notation with
 *                 a point: `12`, `12.5`, `12.50`, `.5`, `12.` (no sign, no
 *                 exponent, no thousands separators, no currency symbol);
 *                 at most 2 decimal places (more are accepted only when they
 *                 are zeros: `12.500`); at most PRODUCT_PRICE_INT_DIGITS digits
 *                 before the point, i.e. fits NUMERIC(12,2); `-0` is 0; empty
 *                 means no price (NULL)
 *
 * Limits are in bytes of UTF-8, which is what PostgreSQL's varchar(n) would
 * not do (it counts characters): the schema should use text with CHECK
 * (octet_length(...) <= n) or simply trust these validators.
 */
#ifndef ACME_PRODUCTFIELDS_H
#define ACME_PRODUCTFIELDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PRODUCT_SKU_MAX          64      /* bytes, after trimming */
#define PRODUCT_NAME_MAX         255     /* bytes, after trimming */
#define PRODUCT_DESCRIPTION_MAX  10000   /* bytes */
#define PRODUCT_PRICE_INT_DIGITS 10      /* digits before the point: NUMERIC(12,2) */
#define PRODUCT_PRICE_MAX_CENTS  INT64_C(999999999999)   /* 9999999999.99 */
#define PRODUCT_PRICE_TEXT_MAX   16      /* "9999999999.99" plus NUL, rounded up */

/* X(id, name) — the fields, in their canonical order. */
#define PRODUCT_FIELDS(X)       \
	X(SKU,         "sku")         \
	X(NAME,        "name")        \
	X(DESCRIPTION, "description") \
	X(ACTIVE,      "active")      \
	X(PRICE,       "price")

enum product_field {
#define X(id, name) PRODUCT_##id,
	PRODUCT_FIELDS(X)
#undef X
	PRODUCT__NFIELDS
};

/* Bit masks of fields, for "which columns does this source supply". */
#define PRODUCT_F(field) (1u << (field))
#define PRODUCT_F_REQUIRED (PRODUCT_F(PRODUCT_SKU) | PRODUCT_F(PRODUCT_NAME))
#define PRODUCT_FIELD_NAMES "sku, name, description, active, price"

/* "sku" for PRODUCT_SKU; a static string. */
const char *product_field_name(enum product_field f);
/* The field called name[0..len): surrounding whitespace ignored, any case.
 * Returns 0, or -1 when there is no such field (err is not touched). */
int product_field_lookup(const char *name, size_t len, enum product_field *out);

/* A validated text value: points into the caller's input (NOT NUL-terminated);
 * ptr is NULL when the value is absent (empty description). */
struct product_text {
	const char *ptr;
	size_t len;
};

struct product_price {
	bool is_null;                         /* empty: no price */
	int64_t cents;                        /* 1250 for "12.5" */
	char text[PRODUCT_PRICE_TEXT_MAX];    /* normalised "12.50"; "" when null */
};

int product_validate_sku(const char *s, size_t len, struct product_text *out,
                         struct acme_err *err);
int product_validate_name(const char *s, size_t len, struct product_text *out,
                          struct acme_err *err);
int product_validate_description(const char *s, size_t len, struct product_text *out,
                                 struct acme_err *err);
int product_validate_active(const char *s, size_t len, bool *out, struct acme_err *err);
int product_validate_price(const char *s, size_t len, struct product_price *out,
                           struct acme_err *err);

/* One validated product as the import hands it to its consumer. Every string
 * is NUL-terminated and valid UTF-8 without NULs; the pointers are owned by
 * the producer and valid only for the duration of the callback. */
struct product_row {
	const char *sku;          /* trimmed, non-empty */
	size_t sku_len;
	const char *name;         /* trimmed, non-empty */
	size_t name_len;
	const char *description;  /* NULL: no description (empty or no column) */
	size_t description_len;
	bool active;              /* true when empty or no column */
	const char *price;        /* normalised "12.50"; NULL: no price */
	int64_t price_cents;      /* meaningful when price is not NULL */
	unsigned present;         /* PRODUCT_F() bits of the fields the source supplies */
};

/* Text checks shared with the importer, for columns it does not interpret.
 *
 * product_utf8_valid_len: length of the longest valid UTF-8 prefix of s (len
 * when all of it is valid). Strict: overlong forms, UTF-16 surrogates
 * (U+D800..U+DFFF), code points above U+10FFFF and truncated sequences are
 * invalid. NUL bytes count as valid here; check them separately.
 *
 * product_check_text: -1 with `WHAT contains a NUL byte (byte N)` or
 * `WHAT is not valid UTF-8 (byte N)`; byte offsets are 1-based. */
size_t product_utf8_valid_len(const char *s, size_t len);
int product_check_text(const char *what, const char *s, size_t len, struct acme_err *err);

#endif
