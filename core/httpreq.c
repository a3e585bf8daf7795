/* httpreq.c — strict HTTP/1.1 request-head parsing; see httpreq.h. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/httpreq.h"
#include "core/xalloc.h"

void httpreq_release(struct httpreq *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->headers);
	free(r->target);
	memset(r, 0, sizeof(*r));
}

const char *httpreq_header(const struct httpreq *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

/* RFC 9110 tchar */
static bool is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Where the head ends: just past the empty line. Bare LF line ends are
 * accepted (RFC 9112 allows recipients to). 0 when not found yet. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int bad(int code, const char *reason, int *status, const char **why)
{
	*status = code;
	*why = reason;
	return HTTPREQ_BAD;
}

/* One line of [p, end) without its line end; advances *p. */
static size_t next_line(const char **p, const char *end, const char **line)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	const char *stop = nl ? nl : end;
	*line = *p;
	size_t n = (size_t)(stop - *p);
	if (n && (*p)[n - 1] == '\r')
		n--;
	*p = nl ? nl + 1 : end;
	return n;
}

int httpreq_parse(struct httpreq *r, const char *buf, size_t len, long long body_max,
		  size_t *head_len, int *status, const char **why)
{
	memset(r, 0, sizeof(*r));
	/* skip empty lines before a request (RFC 9112 section 2.2) */
	size_t lead = 0;
	while (lead < len && (buf[lead] == '\r' || buf[lead] == '\n') && lead < 8)
		lead++;
	if (len - lead >= 4 && memcmp(buf + lead, "PRI ", 4) == 0)
		return bad(505, "HTTP/2 is not supported; send HTTP/1.1", status, why);
	size_t hend = head_end(buf + lead, len - lead);
	if (!hend) {
		if (len > HTTPREQ_HEAD_MAX)
			return bad(431, "request head too large", status, why);
		return HTTPREQ_INCOMPLETE;
	}
	if (lead + hend > HTTPREQ_HEAD_MAX)
		return bad(431, "request head too large", status, why);
	const char *p = buf + lead, *end = buf + lead + hend, *line;
	size_t n = next_line(&p, end, &line);

	/* request line: METHOD SP target SP HTTP/1.x */
	const char *sp1 = memchr(line, ' ', n);
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line + n - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || (size_t)(sp1 - line) >= sizeof(r->method))
		return bad(400, "malformed request line", status, why);
	for (const char *c = line; c < sp1; c++)
		if (!is_tchar((unsigned char)*c))
			return bad(400, "malformed method", status, why);
	for (const char *c = sp1 + 1; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return bad(400, "malformed request target", status, why);
	const char *ver = sp2 + 1;
	size_t vlen = (size_t)(line + n - ver);
	if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1'))
		return bad(505, "only HTTP/1.0 and HTTP/1.1 are supported", status, why);
	memcpy(r->method, line, (size_t)(sp1 - line));
	r->method[sp1 - line] = '\0';
	r->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	r->minor = ver[7] - '0';
	r->keep_alive = r->minor == 1;

	bool have_length = false;
	while (p < end) {
		n = next_line(&p, end, &line);
		if (n == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t')
			goto refuse_fold;
		const char *colon = memchr(line, ':', n);
		if (!colon || colon == line)
			goto refuse_field;
		for (const char *c = line; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				goto refuse_field;   /* also "Name : value", a smuggling shape */
		const char *v = colon + 1, *vend = line + n;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		/* field-value (RFC 9110 5.5): visible ASCII, SP, HTAB and obs-text
		 * (0x80-0xFF, which UTF-8 is made of); control bytes are refused.
		 * Compared as unsigned: a signed char puts 0x80-0xFF below 0x20. */
		for (const unsigned char *c = (const unsigned char *)v;
		     c < (const unsigned char *)vend; c++)
			if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
				goto refuse_field;
		if (r->nheaders == HTTPREQ_HEADERS_MAX) {
			httpreq_release(r);
			return bad(431, "too many header fields", status, why);
		}
		r->headers = xrealloc(r->headers, (r->nheaders + 1) * sizeof(*r->headers));
		struct httpreq_header *h = &r->headers[r->nheaders++];
		h->name = xstrndup(line, (size_t)(colon - line));
		h->value = xstrndup(v, (size_t)(vend - v));

		if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
			httpreq_release(r);
			return bad(501, "Transfer-Encoding is not supported; send Content-Length",
				   status, why);
		}
		if (strcasecmp(h->name, "Content-Length") == 0) {
			char *e;
			const char *s = h->value;
			if (!isdigit((unsigned char)s[0]) || strlen(s) > 18)
				goto refuse_length;
			long long cl = strtoll(s, &e, 10);
			if (*e)
				goto refuse_length;
			if (have_length && cl != r->content_length)
				goto refuse_length;
			have_length = true;
			r->content_length = cl;
		}
		if (strcasecmp(h->name, "Connection") == 0) {
			if (strcasestr(h->value, "close"))
				r->keep_alive = false;
			else if (strcasestr(h->value, "keep-alive"))
				r->keep_alive = true;
		}
	}
	if (r->content_length > body_max) {
		httpreq_release(r);
		return bad(413, "request body too large", status, why);
	}
	*head_len = lead + hend;
	return HTTPREQ_DONE;

refuse_fold:
	httpreq_release(r);
	return bad(400, "obsolete header line folding", status, why);
refuse_field:
	httpreq_release(r);
	return bad(400, "malformed header field", status, why);
refuse_length:
	httpreq_release(r);
	return bad(400, "invalid or conflicting Content-Length", status, why);
}

const char *httpreq_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Status";
	}
}
