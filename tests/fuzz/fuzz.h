/* fuzz.h — what every libFuzzer target under tests/fuzz/ shares: CHECK(),
 * which aborts with the failed condition so libFuzzer saves the input as a
 * crash, and fuzz_str(), a NUL-terminated copy of the input.
 *
 * A target checks the promises its module's header makes (round trips,
 * invariants, agreement between two ways of doing the same thing), not only
 * that nothing crashes. See HACKING.md, "How to add a fuzz target".
 */
#ifndef ACME_FUZZ_H
#define ACME_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* data[0..size) as a NUL-terminated string (cut at the first NUL). Caller frees. */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* Is the message one line of text? Error messages end up in logs and on
 * terminals: no control characters except tab. */
static inline int fuzz_one_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return 0;
	return 1;
}

#endif
