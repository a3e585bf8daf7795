/* netguard.c — classify addresses for the outgoing-request guard; see
 * netguard.h. The ranges come from the IANA IPv4 and IPv6 special-purpose
 * address registries (RFC 6890 and its updates). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/netguard.h"

const char *netguard_class_name(enum netguard_class c)
{
	static const char *const names[] = {
#define X(k, s) s,
		NETGUARD_CLASSES(X)
#undef X
	};
	return (unsigned)c < NETGUARD__COUNT ? names[c] : "unknown";
}

/* addr in prefix/len (host order) */
static bool in4(uint32_t addr, uint32_t prefix, int len)
{
	uint32_t mask = len == 0 ? 0 : 0xffffffffu << (32 - len);
	return (addr & mask) == (prefix & mask);
}

#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))

enum netguard_class netguard_classify_v4(uint32_t a)
{
	static const struct {
		uint32_t prefix;
		int len;
		enum netguard_class c;
	} ranges[] = {
		{ V4(0, 0, 0, 0), 8, NETGUARD_UNSPECIFIED },      /* "this network"; 0.0.0.0 */
		{ V4(10, 0, 0, 0), 8, NETGUARD_PRIVATE },
		{ V4(100, 64, 0, 0), 10, NETGUARD_CGNAT },
		{ V4(127, 0, 0, 0), 8, NETGUARD_LOOPBACK },
		{ V4(169, 254, 0, 0), 16, NETGUARD_LINK_LOCAL },  /* cloud metadata lives here */
		{ V4(172, 16, 0, 0), 12, NETGUARD_PRIVATE },
		{ V4(192, 0, 0, 0), 24, NETGUARD_RESERVED },      /* IETF protocol assignments */
		{ V4(192, 0, 2, 0), 24, NETGUARD_RESERVED },      /* TEST-NET-1 */
		{ V4(192, 88, 99, 0), 24, NETGUARD_RESERVED },    /* 6to4 relay anycast */
		{ V4(192, 168, 0, 0), 16, NETGUARD_PRIVATE },
		{ V4(198, 18, 0, 0), 15, NETGUARD_RESERVED },     /* benchmarking */
		{ V4(198, 51, 100, 0), 24, NETGUARD_RESERVED },   /* TEST-NET-2 */
		{ V4(203, 0, 113, 0), 24, NETGUARD_RESERVED },    /* TEST-NET-3 */
		{ V4(224, 0, 0, 0), 4, NETGUARD_MULTICAST },
		{ V4(255, 255, 255, 255), 32, NETGUARD_BROADCAST },
		{ V4(240, 0, 0, 0), 4, NETGUARD_RESERVED },       /* after broadcast: it is inside */
	};
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (in4(a, ranges[i].prefix, ranges[i].len))
			return ranges[i].c;
	return NETGUARD_PUBLIC;
}

static uint32_t v4_at(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* An embedded IPv4 address decides, except that a public one inside a
 * deprecated or special form is still not a place webhooks go. */
static enum netguard_class embedded(uint32_t v4, enum netguard_class if_public)
{
	enum netguard_class c = netguard_classify_v4(v4);
	return c == NETGUARD_PUBLIC ? if_public : c;
}

enum netguard_class netguard_classify_v6(const unsigned char a[16])
{
	if (zero(a, 10)) {
		if (a[10] == 0xff && a[11] == 0xff)          /* ::ffff:a.b.c.d, IPv4-mapped */
			return embedded(v4_at(a + 12), NETGUARD_PUBLIC);
		if (a[10] == 0 && a[11] == 0) {
			if (zero(a + 12, 4))
				return NETGUARD_UNSPECIFIED;         /* :: */
			if (zero(a + 12, 3) && a[15] == 1)
				return NETGUARD_LOOPBACK;            /* ::1 */
			/* ::a.b.c.d, IPv4-compatible (deprecated, RFC 4291) */
			return embedded(v4_at(a + 12), NETGUARD_RESERVED);
		}
	}
	/* ::ffff:0:a.b.c.d, IPv4-translated (RFC 2765) */
	if (zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0)
		return embedded(v4_at(a + 12), NETGUARD_RESERVED);
	/* 64:ff9b::/96, NAT64 well-known prefix: reaches the IPv4 address inside */
	if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && zero(a + 4, 8))
		return embedded(v4_at(a + 12), NETGUARD_PUBLIC);
	/* 64:ff9b:1::/48, local-use NAT64 */
	if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1)
		return NETGUARD_PRIVATE;
	if (a[0] == 0xff)
		return NETGUARD_MULTICAST;                   /* ff00::/8 */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return NETGUARD_LINK_LOCAL;                  /* fe80::/10 */
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return NETGUARD_PRIVATE;                     /* fec0::/10, site-local (deprecated) */
	if ((a[0] & 0xfe) == 0xfc)
		return NETGUARD_PRIVATE;                     /* fc00::/7, unique local */
	if ((a[0] & 0xe0) != 0x20)
		return NETGUARD_RESERVED;                    /* outside 2000::/3: 100::/64 discard etc. */
	/* inside 2000::/3 */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return NETGUARD_RESERVED;                    /* 2001:db8::/32, documentation */
	if (a[0] == 0x20 && a[1] == 0x01 && (a[2] & 0xfe) == 0)
		return NETGUARD_RESERVED;                    /* 2001::/23: Teredo, benchmarking, ORCHID */
	if (a[0] == 0x20 && a[1] == 0x02)                /* 2002::/16, 6to4: 2002:AABB:CCDD:: */
		return embedded(v4_at(a + 2), NETGUARD_PUBLIC);
	if (a[0] == 0x3f && a[1] == 0xff && (a[2] & 0xf0) == 0)
		return NETGUARD_RESERVED;                    /* 3fff::/20, documentation (RFC 9637) */
	return NETGUARD_PUBLIC;
}

enum netguard_class netguard_classify(const struct sockaddr *sa, socklen_t len)
{
	if (!sa)
		return NETGUARD_RESERVED;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		return netguard_classify_v4(ntohl(s4->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		return netguard_classify_v6(s6->sin6_addr.s6_addr);
	}
	return NETGUARD_RESERVED;
}

int netguard_classify_text(const char *s, enum netguard_class *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = strlen(s);
	bool bracketed = n >= 2 && s[0] == '[' && s[n - 1] == ']';
	if (bracketed) {
		s++;
		n -= 2;
	}
	/* a zone id (fe80::1%eth0) does not change the class */
	const char *pct = memchr(s, '%', n);
	if (pct)
		n = (size_t)(pct - s);
	if (n == 0)
		return -1;
	/* inet_aton, not inet_pton: it also takes the forms resolvers and curl
	 * accept as IPv4 (127.1, 0x7f000001, 2130706433, 0177.0.0.1), and any
	 * number of leading zeros, so a long one is read in place, not cut to
	 * the buffer (found by tests/fuzz/fuzz_netguard.c: "0000...06" was "not
	 * an IP literal" although the resolver reads it as 0.0.0.6) */
	if (!bracketed && !pct && !strpbrk(s, ": \t") && inet_aton(s, &a4) == 1) {
		*out = netguard_classify_v4(ntohl(a4.s_addr));
		return 0;
	}
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!strpbrk(buf, ": \t") && inet_aton(buf, &a4) == 1) {
		*out = netguard_classify_v4(ntohl(a4.s_addr));
		return 0;
	}
	if (inet_pton(AF_INET6, buf, &a6) == 1) {
		*out = netguard_classify_v6(a6.s6_addr);
		return 0;
	}
	return -1;
}

void netguard_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	buf[0] = '\0';
	if (!sa || len == 0)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
			  (socklen_t)len);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
			  (socklen_t)len);
	else
		snprintf(buf, len, "(address family %d)", sa->sa_family);
}
