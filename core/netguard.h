/* netguard.h — the outgoing-request guard: which addresses a webhook request
 * may connect to (issue 7, item 4).
 *
 * Webhook URLs are typed by operators and, in a multi-tenant future, by
 * customers; a URL that reaches 127.0.0.1:6379 or the cloud metadata service
 * at 169.254.169.254 turns the worker into a proxy into our own network
 * (server-side request forgery). The guard classifies the address a socket is
 * about to connect to, after DNS resolution, so a name that resolves to a
 * private address (or is rebound to one between a check and the connection)
 * is caught too. core/whdeliver.c calls it from libcurl's open-socket
 * callback; `webhooks add` calls it on IP literals to fail early.
 *
 * Only NETGUARD_PUBLIC is allowed while the guard is on. IPv6 forms that
 * carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
 * ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) are judged by the IPv4 address inside, so ::ffff:127.0.0.1 is
 * loopback, not "some IPv6 address". Everything outside IPv6 global unicast
 * (2000::/3) that is not named below is NETGUARD_RESERVED.
 *
 * Pure functions, no allocation; safe to call from any callback.
 */
#ifndef ACME_NETGUARD_H
#define ACME_NETGUARD_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* X(constant, name used in messages) */
#define NETGUARD_CLASSES(X)                              \
	X(PUBLIC,      "public")                         \
	X(LOOPBACK,    "loopback")                       \
	X(PRIVATE,     "private")                        \
	X(LINK_LOCAL,  "link-local")                     \
	X(CGNAT,       "shared address space (CGNAT)")   \
	X(UNSPECIFIED, "unspecified")                    \
	X(MULTICAST,   "multicast")                      \
	X(BROADCAST,   "broadcast")                      \
	X(RESERVED,    "reserved or documentation")

enum netguard_class {
#define X(c, s) NETGUARD_##c,
	NETGUARD_CLASSES(X)
#undef X
	NETGUARD__COUNT
};

const char *netguard_class_name(enum netguard_class c);

/* An IPv4 address in host byte order (127.0.0.1 = 0x7f000001). */
enum netguard_class netguard_classify_v4(uint32_t addr);
/* An IPv6 address, 16 bytes in network order. */
enum netguard_class netguard_classify_v6(const unsigned char addr[16]);
/* A socket address: AF_INET or AF_INET6; any other family is RESERVED. */
enum netguard_class netguard_classify(const struct sockaddr *sa, socklen_t len);
/* An IP literal as text: "10.0.0.1", "::ffff:127.0.0.1", "[::1]" (brackets
 * allowed). 0 with *out set, or -1 when s is not an IP literal (a host name). */
int netguard_classify_text(const char *s, enum netguard_class *out);

/* May a request connect to an address of this class? */
static inline bool netguard_allowed(enum netguard_class c) { return c == NETGUARD_PUBLIC; }

/* The address as text without port ("192.0.2.1", "::1") into buf. */
void netguard_addr_text(const struct sockaddr *sa, char *buf, size_t len);

#endif
