/* fuzz_netguard.c — libFuzzer target for the outgoing-request guard
 * (core/netguard.h).
 *
 * The first byte picks the form: raw IPv4 (4 bytes), raw IPv6 (16 bytes) or
 * text. Checked, as netguard.h promises:
 *   - every IPv6 form carrying an IPv4 address (mapped ::ffff:a.b.c.d,
 *     translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is
 *     judged by the IPv4 address inside: never public when it is not;
 *   - only addresses in 2000::/3 (or one of those forms holding a public
 *     IPv4 address) are public;
 *   - the sockaddr, binary and text forms of one address agree: the text
 *     netguard_addr_text() prints classifies like the address, with or
 *     without [brackets];
 *   - for text, whatever the system's own numeric parser (getaddrinfo with
 *     AI_NUMERICHOST, what a connection would use) reads as an address,
 *     netguard_classify_text() reads too, with the same class: a spelling
 *     that slips past the guard is a server-side request forgery.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>

#include "core/netguard.h"
#include "tests/fuzz/fuzz.h"

static uint32_t v4_at(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static enum netguard_class via_sockaddr6(const unsigned char a[16])
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	memcpy(sa.sin6_addr.s6_addr, a, 16);
	return netguard_classify((const struct sockaddr *)&sa, sizeof(sa));
}

/* The class the text of sa gives back. */
static void check_text_round_trip(const struct sockaddr *sa, enum netguard_class want)
{
	char text[INET6_ADDRSTRLEN], br[INET6_ADDRSTRLEN + 2];
	enum netguard_class c;
	netguard_addr_text(sa, text, sizeof(text));
	CHECK(text[0] != '\0');
	CHECK(netguard_classify_text(text, &c) == 0 && c == want);
	snprintf(br, sizeof(br), "[%s]", text);
	CHECK(netguard_classify_text(br, &c) == 0 && c == want);
}

static void fuzz_v6(const unsigned char a[16])
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char translated[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0 };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0 };
	enum netguard_class c = netguard_classify_v6(a);
	bool embedded = false;

	CHECK((unsigned)c < NETGUARD__COUNT);
	CHECK(via_sockaddr6(a) == c);
	/* a non-public IPv4 address inside keeps its class; a public one may be
	 * refused all the same (the translated form is reserved) */
	if (!memcmp(a, mapped, 12) || !memcmp(a, translated, 12) || !memcmp(a, nat64, 12)) {
		enum netguard_class c4 = netguard_classify_v4(v4_at(a + 12));
		CHECK(c == c4 || (c4 == NETGUARD_PUBLIC && c == NETGUARD_RESERVED));
		embedded = true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		enum netguard_class c4 = netguard_classify_v4(v4_at(a + 2));
		CHECK(c == c4 || (c4 == NETGUARD_PUBLIC && c == NETGUARD_RESERVED));
		embedded = true;
	}
	if (c == NETGUARD_PUBLIC && !embedded)
		CHECK((a[0] & 0xe0) == 0x20 ||
		      /* IPv4-compatible ::a.b.c.d, judged by its IPv4 address */
		      (!memcmp(a, mapped, 10) && a[10] == 0 && a[11] == 0 &&
		       netguard_classify_v4(v4_at(a + 12)) == NETGUARD_PUBLIC));
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	memcpy(sa.sin6_addr.s6_addr, a, 16);
	check_text_round_trip((const struct sockaddr *)&sa, c);
}

static void fuzz_v4(uint32_t addr)
{
	enum netguard_class c = netguard_classify_v4(addr);
	unsigned char a6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct sockaddr_in sa = { .sin_family = AF_INET };

	CHECK((unsigned)c < NETGUARD__COUNT);
	sa.sin_addr.s_addr = htonl(addr);
	CHECK(netguard_classify((const struct sockaddr *)&sa, sizeof(sa)) == c);
	check_text_round_trip((const struct sockaddr *)&sa, c);
	a6[12] = (unsigned char)(addr >> 24);
	a6[13] = (unsigned char)(addr >> 16);
	a6[14] = (unsigned char)(addr >> 8);
	a6[15] = (unsigned char)addr;
	CHECK(netguard_classify_v6(a6) == c);
	/* well-known ranges, whatever the table says */
	if ((addr >> 24) == 127)
		CHECK(c == NETGUARD_LOOPBACK);
	if ((addr >> 24) == 10 || (addr >> 20) == 0xac1 || (addr >> 16) == 0xc0a8)
		CHECK(c == NETGUARD_PRIVATE);
	if ((addr >> 16) == 0xa9fe)
		CHECK(c == NETGUARD_LINK_LOCAL);
}

static void fuzz_text(const char *s)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST, .ai_family = AF_UNSPEC };
	struct addrinfo *res = NULL;
	enum netguard_class c;
	int mine = netguard_classify_text(s, &c);

	if (mine == 0)
		CHECK((unsigned)c < NETGUARD__COUNT);
	if (getaddrinfo(s, NULL, &hints, &res) != 0 || !res)
		return;
	CHECK(mine == 0);
	CHECK(c == netguard_classify(res->ai_addr, res->ai_addrlen));
	freeaddrinfo(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		if (size >= 5)
			fuzz_v4(v4_at(data + 1));
		break;
	case 1:
		if (size >= 17)
			fuzz_v6(data + 1);
		break;
	case 2:
		if (size <= 128) {
			char *s = fuzz_str(data + 1, size - 1);
			fuzz_text(s);
			free(s);
		}
		break;
	}
	return 0;
}
