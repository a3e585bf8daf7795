/* test_netguard.c — the outgoing-request guard's address classifier, range by
 * range, at both edges of every range, in every IPv6 form that carries an
 * IPv4 address, and through sockaddrs as libcurl hands them over.
 * Regression guard: ::ffff:127.0.0.1 and 169.254.169.254 must never be
 * "public" (SSRF to localhost and to cloud metadata). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/netguard.h"

static enum netguard_class text_class(const char *s)
{
	enum netguard_class c = NETGUARD__COUNT;
	if (netguard_classify_text(s, &c) < 0) {
		fprintf(stderr, "not an IP literal: %s\n", s);
		fail();
	}
	return c;
}

#define CHECK(s, want) do {                                                         \
	enum netguard_class got_ = text_class(s);                                   \
	if (got_ != (want)) {                                                       \
		fprintf(stderr, "%s: got %s, want %s\n", (s), netguard_class_name(got_), \
			netguard_class_name(want));                                 \
		fail();                                                     \
	}                                                                   \
} while (0)

static void test_v4_ranges(void **state)
{
	(void)state;
	/* each special range: its first and last address, and the neighbours outside */
	static const struct { const char *first, *last, *before, *after; enum netguard_class c; } r[] = {
		{ "0.0.0.0", "0.255.255.255", NULL, "1.0.0.0", NETGUARD_UNSPECIFIED },
		{ "10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0", NETGUARD_PRIVATE },
		{ "100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0", NETGUARD_CGNAT },
		{ "127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0", NETGUARD_LOOPBACK },
		{ "169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0",
		  NETGUARD_LINK_LOCAL },
		{ "172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0", NETGUARD_PRIVATE },
		{ "192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0", NETGUARD_RESERVED },
		{ "192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0", NETGUARD_RESERVED },
		{ "192.88.99.0", "192.88.99.255", "192.88.98.255", "192.88.100.0", NETGUARD_RESERVED },
		{ "192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0", NETGUARD_PRIVATE },
		{ "198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0", NETGUARD_RESERVED },
		{ "198.51.100.0", "198.51.100.255", "198.51.99.255", "198.51.101.0", NETGUARD_RESERVED },
		{ "203.0.113.0", "203.0.113.255", "203.0.112.255", "203.0.114.0", NETGUARD_RESERVED },
		{ "224.0.0.0", "239.255.255.255", "223.255.255.255", NULL, NETGUARD_MULTICAST },
		{ "240.0.0.0", "255.255.255.254", NULL, NULL, NETGUARD_RESERVED },
		{ "255.255.255.255", "255.255.255.255", NULL, NULL, NETGUARD_BROADCAST },
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		CHECK(r[i].first, r[i].c);
		CHECK(r[i].last, r[i].c);
		if (r[i].before)
			CHECK(r[i].before, NETGUARD_PUBLIC);
		if (r[i].after)
			CHECK(r[i].after, NETGUARD_PUBLIC);
	}
	CHECK("169.254.169.254", NETGUARD_LINK_LOCAL);    /* cloud metadata */
	CHECK("8.8.8.8", NETGUARD_PUBLIC);
	CHECK("1.1.1.1", NETGUARD_PUBLIC);
	CHECK("93.184.216.34", NETGUARD_PUBLIC);
	CHECK("223.255.255.255", NETGUARD_PUBLIC);
}

/* Every IPv4 address with a given first octet falls in one class unless a
 * range starts inside it: sweep the second octet of every first octet. */
static void test_v4_sweep(void **state)
{
	(void)state;
	for (uint32_t a = 0; a < 256; a++)
		for (uint32_t b = 0; b < 256; b++) {
			uint32_t ip = (a << 24) | (b << 16) | 0x0101;
			enum netguard_class c = netguard_classify_v4(ip);
			enum netguard_class want = NETGUARD_PUBLIC;
			if (a == 0)
				want = NETGUARD_UNSPECIFIED;
			else if (a == 10)
				want = NETGUARD_PRIVATE;
			else if (a == 100 && b >= 64 && b <= 127)
				want = NETGUARD_CGNAT;
			else if (a == 127)
				want = NETGUARD_LOOPBACK;
			else if (a == 169 && b == 254)
				want = NETGUARD_LINK_LOCAL;
			else if (a == 172 && b >= 16 && b <= 31)
				want = NETGUARD_PRIVATE;
			else if (a == 192 && b == 168)
				want = NETGUARD_PRIVATE;
			else if (a == 198 && (b == 18 || b == 19))
				want = NETGUARD_RESERVED;
			else if (a >= 224 && a <= 239)
				want = NETGUARD_MULTICAST;
			else if (a >= 240)
				want = NETGUARD_RESERVED;
			if (c != want) {
				fprintf(stderr, "%u.%u.1.1: got %s, want %s\n", a, b, netguard_class_name(c),
					netguard_class_name(want));
				fail();
			}
		}
}

/* Other spellings of IPv4 addresses that resolvers and curl accept. */
static void test_v4_spellings(void **state)
{
	(void)state;
	CHECK("127.1", NETGUARD_LOOPBACK);
	CHECK("2130706433", NETGUARD_LOOPBACK);
	CHECK("0x7f000001", NETGUARD_LOOPBACK);
	CHECK("0177.0.0.1", NETGUARD_LOOPBACK);
	CHECK("0", NETGUARD_UNSPECIFIED);
	CHECK("10.1", NETGUARD_PRIVATE);
	CHECK("0xa9.0xfe.0xa9.0xfe", NETGUARD_LINK_LOCAL);
	/* Regression (found by tests/fuzz/fuzz_netguard.c): a literal longer
	 * than the copy buffer, here with leading zeros the resolver reads as
	 * 127.0.0.1, was "not an IP literal" */
	CHECK("0000000000000000000000000000000000000000000000000000000000000000177.0.0.1",
	      NETGUARD_LOOPBACK);
	enum netguard_class c;
	assert_int_equal(netguard_classify_text("example.com", &c), -1);
	assert_int_equal(netguard_classify_text("localhost", &c), -1);
	assert_int_equal(netguard_classify_text("", &c), -1);
	assert_int_equal(netguard_classify_text("[]", &c), -1);
	assert_int_equal(netguard_classify_text("1.2.3.4 ", &c), -1);
}

static void test_v6(void **state)
{
	(void)state;
	CHECK("::", NETGUARD_UNSPECIFIED);
	CHECK("::1", NETGUARD_LOOPBACK);
	CHECK("[::1]", NETGUARD_LOOPBACK);
	CHECK("::2", NETGUARD_UNSPECIFIED);                   /* IPv4-compatible 0.0.0.2, "this network" */
	CHECK("fe80::1", NETGUARD_LINK_LOCAL);
	CHECK("fe80::1%eth0", NETGUARD_LINK_LOCAL);
	CHECK("febf:ffff::1", NETGUARD_LINK_LOCAL);
	CHECK("fec0::1", NETGUARD_PRIVATE);
	CHECK("fc00::1", NETGUARD_PRIVATE);
	CHECK("fd12:3456:789a::1", NETGUARD_PRIVATE);
	CHECK("fbff:ffff::1", NETGUARD_RESERVED);              /* just below fc00::/7, outside 2000::/3 */
	CHECK("ff02::1", NETGUARD_MULTICAST);
	CHECK("ff05::1:3", NETGUARD_MULTICAST);
	CHECK("100::1", NETGUARD_RESERVED);                    /* discard-only */
	CHECK("2001:db8::1", NETGUARD_RESERVED);               /* documentation */
	CHECK("3fff::1", NETGUARD_RESERVED);
	CHECK("2001::1", NETGUARD_RESERVED);                   /* Teredo */
	CHECK("2001:2::1", NETGUARD_RESERVED);                 /* benchmarking */
	CHECK("2001:4860:4860::8888", NETGUARD_PUBLIC);
	CHECK("2606:4700:4700::1111", NETGUARD_PUBLIC);
	CHECK("2a00:1450:4001:81c::200e", NETGUARD_PUBLIC);
	CHECK("3ffe::1", NETGUARD_PUBLIC);                     /* inside 2000::/3, not special */
	CHECK("4000::1", NETGUARD_RESERVED);                   /* outside 2000::/3 */
	CHECK("1fff::1", NETGUARD_RESERVED);
}

/* The IPv6 forms that carry an IPv4 address are judged by that address. */
static void test_v6_embedded_v4(void **state)
{
	(void)state;
	/* IPv4-mapped */
	CHECK("::ffff:127.0.0.1", NETGUARD_LOOPBACK);
	CHECK("[::ffff:127.0.0.1]", NETGUARD_LOOPBACK);
	CHECK("::ffff:7f00:1", NETGUARD_LOOPBACK);
	CHECK("0:0:0:0:0:ffff:7f00:0001", NETGUARD_LOOPBACK);
	CHECK("::ffff:10.0.0.1", NETGUARD_PRIVATE);
	CHECK("::ffff:169.254.169.254", NETGUARD_LINK_LOCAL);
	CHECK("::ffff:100.64.0.1", NETGUARD_CGNAT);
	CHECK("::ffff:0.0.0.0", NETGUARD_UNSPECIFIED);
	CHECK("::ffff:224.0.0.1", NETGUARD_MULTICAST);
	CHECK("::ffff:8.8.8.8", NETGUARD_PUBLIC);
	/* IPv4-compatible (deprecated): never public */
	CHECK("::127.0.0.1", NETGUARD_LOOPBACK);
	CHECK("::10.0.0.1", NETGUARD_PRIVATE);
	CHECK("::8.8.8.8", NETGUARD_RESERVED);
	/* IPv4-translated */
	CHECK("::ffff:0:127.0.0.1", NETGUARD_LOOPBACK);
	CHECK("::ffff:0:8.8.8.8", NETGUARD_RESERVED);
	/* NAT64 */
	CHECK("64:ff9b::127.0.0.1", NETGUARD_LOOPBACK);
	CHECK("64:ff9b::a9fe:a9fe", NETGUARD_LINK_LOCAL);
	CHECK("64:ff9b::8.8.8.8", NETGUARD_PUBLIC);
	CHECK("64:ff9b:1::8.8.8.8", NETGUARD_PRIVATE);
	/* 6to4 */
	CHECK("2002:7f00:1::1", NETGUARD_LOOPBACK);
	CHECK("2002:c0a8:101::1", NETGUARD_PRIVATE);
	CHECK("2002:a9fe:a9fe::", NETGUARD_LINK_LOCAL);
	CHECK("2002:808:808::1", NETGUARD_PUBLIC);
}

/* As libcurl's open-socket callback sees them. */
static void test_sockaddr(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	char buf[64];
	(void)state;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(80);
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_int_equal(netguard_classify((struct sockaddr *)&s4, sizeof(s4)), NETGUARD_LOOPBACK);
	netguard_addr_text((struct sockaddr *)&s4, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	inet_pton(AF_INET, "93.184.216.34", &s4.sin_addr);
	assert_int_equal(netguard_classify((struct sockaddr *)&s4, sizeof(s4)), NETGUARD_PUBLIC);
	/* a short length is not trusted */
	assert_int_equal(netguard_classify((struct sockaddr *)&s4, 4), NETGUARD_RESERVED);

	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	assert_int_equal(netguard_classify((struct sockaddr *)&s6, sizeof(s6)), NETGUARD_LOOPBACK);
	netguard_addr_text((struct sockaddr *)&s6, buf, sizeof(buf));
	assert_string_equal(buf, "::ffff:127.0.0.1");
	inet_pton(AF_INET6, "2606:4700:4700::1111", &s6.sin6_addr);
	assert_int_equal(netguard_classify((struct sockaddr *)&s6, sizeof(s6)), NETGUARD_PUBLIC);

	struct sockaddr un = { .sa_family = AF_UNIX };
	assert_int_equal(netguard_classify(&un, sizeof(un)), NETGUARD_RESERVED);
	assert_int_equal(netguard_classify(NULL, 0), NETGUARD_RESERVED);
}

static void test_names_and_policy(void **state)
{
	(void)state;
	assert_true(netguard_allowed(NETGUARD_PUBLIC));
	for (int c = 0; c < NETGUARD__COUNT; c++) {
		assert_non_null(netguard_class_name((enum netguard_class)c));
		if (c != NETGUARD_PUBLIC)
			assert_false(netguard_allowed((enum netguard_class)c));
	}
	assert_string_equal(netguard_class_name(NETGUARD_LOOPBACK), "loopback");
	assert_string_equal(netguard_class_name(NETGUARD__COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_ranges),
		cmocka_unit_test(test_v4_sweep),
		cmocka_unit_test(test_v4_spellings),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_v6_embedded_v4),
		cmocka_unit_test(test_sockaddr),
		cmocka_unit_test(test_names_and_policy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
