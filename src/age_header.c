/* age_header.c - the age header as the spec writes it: the version line,
 * stanzas ("-> TYPE ARGS" and a base64 body in lines of 64 columns, the
 * last one shorter), "--- " and the MAC.  The parser is strict: anything
 * else is refused. */
#include "autoconf.h"

#include "age_internal.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void
age_buf_add(struct age_buf *b, const void *p, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void
age_buf_str(struct age_buf *b, const char *s)
{
	age_buf_add(b, s, strlen(s));
}

void
age_stanza_write(struct age_buf *b, const char *type, const char *const *args, size_t nargs,
                 const uint8_t *body, size_t bodylen)
{
	char *enc = xmalloc(age_b64_len(bodylen) + 1);
	size_t i, n;

	age_buf_str(b, "-> ");
	age_buf_str(b, type);
	for (i = 0; i < nargs; i++) {
		age_buf_str(b, " ");
		age_buf_str(b, args[i]);
	}
	age_buf_str(b, "\n");
	age_b64_encode(body, bodylen, enc);
	n = strlen(enc);
	/* full lines of 64, then a shorter one (empty when n % 64 == 0) */
	for (i = 0; i + 64 <= n; i += 64) {
		age_buf_add(b, enc + i, 64);
		age_buf_str(b, "\n");
	}
	age_buf_add(b, enc + i, n - i);
	age_buf_str(b, "\n");
	free(enc);
}

void
age_header_free(struct age_header *h)
{
	size_t i, j;

	for (i = 0; i < h->n; i++) {
		for (j = 0; j < h->st[i].nargs; j++)
			free(h->st[i].args[j]);
		free(h->st[i].args);
		free(h->st[i].type);
		free(h->st[i].body);
	}
	free(h->st);
	memset(h, 0, sizeof(*h));
}

/* The next line of [*pos, len) without its LF; -1 when there is no LF. */
static int
next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);

	if (nl == NULL)
		return -1;
	*line = buf + *pos;
	*n = (size_t)(nl - *line);
	*pos += *n + 1;
	return 0;
}

/* "-> " then arguments of VCHARs split by single spaces. */
static int
parse_args(const char *line, size_t n, struct age_stanza *st)
{
	size_t i = 3, start;

	if (n <= 3 || memcmp(line, "-> ", 3) != 0)
		return -1;
	while (i <= n) {
		start = i;
		while (i < n && line[i] != ' ') {
			if (line[i] < 33 || line[i] > 126)
				return -1;
			i++;
		}
		if (i == start)
			return -1; /* an empty argument: two spaces, or one at the end */
		if (st->type == NULL) {
			st->type = xstrndup(line + start, i - start);
		} else {
			st->args = xrealloc(st->args, (st->nargs + 1) * sizeof(*st->args));
			st->args[st->nargs++] = xstrndup(line + start, i - start);
		}
		i++;
	}
	return 0;
}

/* The body lines after a stanza's first line, into st->body. */
static int
parse_body(const char *buf, size_t len, size_t *pos, struct age_stanza *st, const char **why)
{
	struct age_buf b64 = {0};
	const char *line;
	size_t n, cap;
	int rc = -1;

	for (;;) {
		if (next_line(buf, len, pos, &line, &n) < 0) {
			*why = "a stanza without its body";
			goto out;
		}
		if (n > 64) {
			*why = "a stanza body line longer than 64 columns";
			goto out;
		}
		age_buf_add(&b64, line, n);
		if (n < 64)
			break;
	}
	cap = b64.n * 3 / 4 + 1;
	st->body = xmalloc(cap);
	if (age_b64_decode(b64.p ? b64.p : "", b64.n, st->body, cap, &st->bodylen) < 0) {
		*why = "a stanza body that is not canonical unpadded base64";
		goto out;
	}
	rc = 0;
out:
	free(b64.p);
	return rc;
}

static int
parse_mac(const char *line, size_t n, struct age_header *h, const char **why)
{
	size_t got = 0;

	if (n != 4 + 43 || memcmp(line, "--- ", 4) != 0 ||
	    age_b64_decode(line + 4, 43, h->mac, sizeof(h->mac), &got) < 0 || got != 32) {
		*why = "a malformed MAC line (\"--- \" and 43 base64 characters)";
		return -1;
	}
	return 0;
}

int
age_header_parse(const char *buf, size_t len, struct age_header *h, const char **why)
{
	const char *line;
	size_t n, pos = 0;

	memset(h, 0, sizeof(*h));
	if (next_line(buf, len, &pos, &line, &n) < 0 || n != strlen(AGE_VERSION_LINE) ||
	    memcmp(line, AGE_VERSION_LINE, n) != 0) {
		*why = "not an age-encryption.org/v1 header";
		return -1;
	}
	for (;;) {
		size_t start = pos;
		struct age_stanza *st;

		if (next_line(buf, len, &pos, &line, &n) < 0) {
			*why = "a header without its MAC line";
			goto bad;
		}
		if (n >= 3 && memcmp(line, "---", 3) == 0) {
			h->mac_off = start + 3;
			if (parse_mac(line, n, h, why) < 0)
				goto bad;
			if (pos != len) {
				*why = "bytes after the MAC line in the header";
				goto bad;
			}
			return 0;
		}
		h->st = xrealloc(h->st, (h->n + 1) * sizeof(*h->st));
		st = &h->st[h->n++];
		memset(st, 0, sizeof(*st));
		if (parse_args(line, n, st) < 0) {
			*why = "a header line that is neither a stanza (\"-> \") nor the MAC (\"--- \")";
			goto bad;
		}
		if (parse_body(buf, len, &pos, st, why) < 0)
			goto bad;
	}
bad:
	age_header_free(h);
	return -1;
}
