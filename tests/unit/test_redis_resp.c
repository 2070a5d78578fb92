/*
 * test_redis_resp.c - the redis source's dump-stream parser (resp.c).
 *
 * The stream is untrusted (it comes from the sink), so every way of
 * breaking it must end in CAIRN_E_CORRUPT with a message that says
 * where, never in a crash or a command passed on that a cairn dump does
 * not hold.  A good stream must reach the server byte for byte, the
 * payload in pieces no larger than the reader's buffer, whatever size the
 * input's reads come in.
 */
#define _GNU_SOURCE
#include "../../plugins/redis/resp.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

/* ---------------------------------------------------------- streams */

/* struct buf and buf_add are testutil.h's */

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* One command as RESP: argc, then (pointer, length) pairs. */
static void
cmd(struct buf *b, int argc, ...)
{
	char head[32];
	va_list ap;
	snprintf(head, sizeof(head), "*%d\r\n", argc);
	buf_str(b, head);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++) {
		const char *p = va_arg(ap, const char *);
		size_t n = va_arg(ap, size_t);
		snprintf(head, sizeof(head), "$%zu\r\n", n);
		buf_str(b, head);
		buf_add(b, p, n);
		buf_str(b, "\r\n");
	}
	va_end(ap);
}

#define S(s) (s), strlen(s)

/* A cairn_in over memory, `chunk` bytes a read at most; at its end it
 * returns end_rc (0, or CAIRN_E_CORRUPT as ABI 1.1's late damage). */
struct memin {
	struct cairn_in in;
	const char *p;
	size_t len, pos, chunk;
	int end_rc;
};

static ssize_t
memin_read(struct cairn_in *self, void *dst, size_t len)
{
	struct memin *m = (struct memin *)self;
	size_t n = m->len - m->pos;
	if (n == 0)
		return m->end_rc;
	if (n > len)
		n = len;
	if (n > m->chunk)
		n = m->chunk;
	memcpy(dst, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void
memin_init(struct memin *m, const struct buf *b, size_t chunk)
{
	memset(m, 0, sizeof(*m));
	m->in.struct_size = sizeof(m->in);
	m->in.read = memin_read;
	m->p = b->p;
	m->len = b->len;
	m->chunk = chunk;
}

/* What a server would get. */
struct sink {
	struct buf got;
	size_t biggest; /* largest out() piece */
	int begins, drop_echo, fail_begin_at, fail_out_after;
};

static int
sink_begin(void *arg, const struct resp_cmd *c)
{
	struct sink *s = arg;
	s->begins++;
	if (s->fail_begin_at && s->begins == s->fail_begin_at)
		return CAIRN_E_IO;
	return !(s->drop_echo && c->kind == RESP_ECHO);
}

static int
sink_out(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;
	if (n > s->biggest)
		s->biggest = n;
	if (s->fail_out_after && s->got.len + n > (size_t)s->fail_out_after)
		return CAIRN_E_AUTH; /* any code: it must come back as it is */
	buf_add(&s->got, p, n);
	return 0;
}

/* Parse everything; the result of the first failing step, else 0. */
static int
parse_all(const struct buf *b, size_t chunk, struct sink *s, struct dump_count *d, char *err,
          size_t errsize)
{
	struct memin m;
	struct resp_in r;
	struct resp_cmd c = {0};
	struct resp_cb cb = {sink_begin, sink_out, s};
	int rc;

	memin_init(&m, b, chunk);
	assert_int_equal(resp_in_init_cairn(&r, &m.in), 0);
	dump_count_init(d);
	err[0] = '\0';
	while ((rc = resp_next(&r, &c, s ? &cb : NULL)) > 0)
		if ((rc = dump_count_add(d, &c))) {
			snprintf(err, errsize, "%s", d->err);
			break;
		}
	if (rc < 0 && r.err[0] && !err[0])
		snprintf(err, errsize, "%s", r.err);
	if (rc == 0 && (rc = dump_count_end(d, &r)))
		snprintf(err, errsize, "%s", d->err);
	resp_cmd_free(&c);
	resp_in_free(&r);
	return rc;
}

/* A payload as DUMP makes it: anything, at least 10 bytes. */
static void
payload(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (char)(seed >> 16);
	}
}

/* A dump of three keys in db 0 and 3, with binary bytes everywhere. */
static void
good_dump(struct buf *b, struct buf *want)
{
	char p1[40], p2[300];
	payload(p1, sizeof(p1), 1);
	payload(p2, sizeof(p2), 2);
	memcpy(p2, "\r\n*2\r\n$4\r\n", 10); /* RESP inside a payload is data */

	cmd(b, 2, S("SELECT"), S("0"));
	cmd(b, 5, S("RESTORE"), S("plain"), S("0"), p1, sizeof(p1), S("REPLACE"));
	cmd(b, 5, S("RESTORE"), "bin\0\r\nkey", (size_t)9, S("12345"), p2, sizeof(p2),
	    S("REPLACE"));
	cmd(b, 2, S("SELECT"), S("3"));
	cmd(b, 6, S("restore"), S("abs"), S("1893456000000"), p1, sizeof(p1), S("replace"),
	    S("ABSTTL"));
	buf_add(want, b->p, b->len);
	cmd(b, 2, S("ECHO"), S("cairn-dump-end keys=3 db0=2 db3=1"));
}

/* ------------------------------------------------------------ tests */

static void
test_good_stream_every_chunking(void **state)
{
	(void)state;
	struct buf b = {0}, want = {0};
	char err[512];
	good_dump(&b, &want);

	size_t chunks[] = {1, 2, 3, 7, 64, 65536};
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct sink s = {.drop_echo = 1};
		struct dump_count d;
		int rc = parse_all(&b, chunks[i], &s, &d, err, sizeof(err));
		if (rc)
			fail_msg("chunk %zu: %d %s", chunks[i], rc, err);
		assert_int_equal(d.keys, 3);
		assert_int_equal(d.ndb, 4);
		assert_int_equal(d.db_keys[0], 2);
		assert_int_equal(d.db_keys[3], 1);
		/* The server got every byte but the end mark, unchanged. */
		assert_int_equal(s.got.len, want.len);
		assert_memory_equal(s.got.p, want.p, want.len);
		assert_int_equal(s.begins, 6);
		dump_count_free(&d);
		free(s.got.p);
	}
	free(b.p);
	free(want.p);
}

/* What resp_next() says about each command. */
static void
test_command_fields(void **state)
{
	(void)state;
	struct buf b = {0}, want = {0};
	struct memin m;
	struct resp_in r;
	struct resp_cmd c = {0};

	good_dump(&b, &want);
	memin_init(&m, &b, 5);
	assert_int_equal(resp_in_init_cairn(&r, &m.in), 0);

	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.kind, RESP_SELECT);
	assert_int_equal(c.db, 0);
	assert_int_equal(c.offset, 0);

	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.kind, RESP_RESTORE);
	assert_int_equal(c.keylen, 5);
	assert_memory_equal(c.key, "plain", 5);
	assert_int_equal(c.ttl, 0);
	assert_int_equal(c.payload_len, 40);
	assert_true(c.replace);
	assert_false(c.absttl);

	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.keylen, 9);
	assert_memory_equal(c.key, "bin\0\r\nkey", 9);
	assert_int_equal(c.ttl, 12345);

	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.db, 3);
	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.kind, RESP_RESTORE);
	assert_true(c.absttl);
	assert_int_equal(c.ttl, 1893456000000LL);

	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.kind, RESP_ECHO);
	assert_string_equal(c.echo, "cairn-dump-end keys=3 db0=2 db3=1");
	assert_int_equal(resp_next(&r, &c, NULL), 0);
	assert_int_equal(r.offset, b.len);
	resp_cmd_free(&c);
	resp_in_free(&r);
	free(b.p);
	free(want.p);
}

/* A 20 MB payload and a 100 000-byte key pass through in pieces of at
 * most the buffer's size; only the key's head is kept. */
static void
test_big_values_stream(void **state)
{
	(void)state;
	size_t plen = 20u << 20, klen = 100000;
	char *p = malloc(plen), *k = malloc(klen);
	struct buf b = {0};
	struct sink s = {0};
	struct dump_count d;
	char err[512];
	assert_non_null(p);
	assert_non_null(k);
	payload(p, plen, 7);
	memset(k, 'k', klen);
	k[0] = 'K';

	cmd(&b, 5, S("RESTORE"), k, klen, S("0"), p, plen, S("REPLACE"));
	cmd(&b, 2, S("ECHO"), S("cairn-dump-end keys=1 db0=1"));
	assert_int_equal(parse_all(&b, 1 << 20, &s, &d, err, sizeof(err)), 0);
	assert_int_equal(s.got.len, b.len);
	assert_memory_equal(s.got.p, b.p, b.len);
	assert_true(s.biggest <= RESP_BUFSIZE);
	dump_count_free(&d);

	struct memin m;
	struct resp_in r;
	struct resp_cmd c = {0};
	memin_init(&m, &b, 1 << 20);
	assert_int_equal(resp_in_init_cairn(&r, &m.in), 0);
	assert_int_equal(resp_next(&r, &c, NULL), 1);
	assert_int_equal(c.keylen, klen);
	assert_int_equal(c.keykept, RESP_KEY_HEAD);
	assert_int_equal(c.key[0], 'K');
	assert_int_equal(c.payload_len, plen);
	resp_cmd_free(&c);
	resp_in_free(&r);
	free(s.got.p);
	free(b.p);
	free(p);
	free(k);
}

/* Each damaged stream, and what the message must say. */
static void
test_damage(void **state)
{
	(void)state;
	static const char pl[] = "0123456789abcdef";
	static const struct {
		const char *name, *text, *says;
	} cases[] = {
	        {"not an array", "+OK\r\n", "expected a command"},
	        {"inline command", "SELECT 0\r\n", "expected a command"},
	        {"zero arguments", "*0\r\n", "arguments"},
	        {"too many arguments", "*17\r\n", "arguments"},
	        {"negative count", "*-1\r\n", "arguments"},
	        {"leading zero count", "*02\r\n", "arguments"},
	        {"endless line", "*11111111111111111111111111111111111111111\r\n", "CRLF"},
	        {"LF only", "*2\n$6\r\nSELECT\r\n$1\r\n0\r\n", "CRLF"},
	        {"CR without LF", "*2\r$6\r\n", "CR without LF"},
	        {"other command", "*1\r\n$8\r\nFLUSHALL\r\n", "holds only SELECT, RESTORE"},
	        {"SET", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n", "holds only SELECT, RESTORE"},
	        {"SELECT arity", "*3\r\n$6\r\nSELECT\r\n$1\r\n0\r\n$1\r\n0\r\n", "holds only"},
	        {"name with NUL", "*2\r\n$7\r\nSELECT\0\r\n$1\r\n0\r\n", "holds only"},
	        {"long name", "*2\r\n$20\r\nSELECTSELECTSELECTSE\r\n", "at most 15"},
	        {"SELECT word", "*2\r\n$6\r\nSELECT\r\n$2\r\nxx\r\n", "SELECT of database \"xx\""},
	        {"SELECT big", "*2\r\n$6\r\nSELECT\r\n$5\r\n65537\r\n", "SELECT of database"},
	        {"SELECT sign", "*2\r\n$6\r\nSELECT\r\n$2\r\n-1\r\n", "SELECT of database"},
	        {"bulk nil", "*2\r\n$6\r\nSELECT\r\n$-1\r\n", "bulk string length"},
	        {"bulk huge", "*2\r\n$6\r\nSELECT\r\n$99999999999999999999\r\n", "bulk string"},
	        {"bulk not $", "*2\r\n$6\r\nSELECT\r\n:0\r\n", "bulk string length"},
	        {"no CRLF after bulk", "*2\r\n$6\r\nSELECTxx$1\r\n0\r\n", "not followed by CRLF"},
	        {"cut in count", "*2", "ends inside a line"},
	        {"cut in bulk", "*2\r\n$6\r\nSEL", "ends 3 bytes early"},
	        {"cut between args", "*2\r\n$6\r\nSELECT\r\n", "ends inside a command"},
	        {"ttl negative", "*4\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$2\r\n-5\r\n",
	         "a TTL of \"-5\""},
	        {"ttl word", "*4\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$3\r\nabc\r\n", "a TTL of"},
	        {"short payload", "*4\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$1\r\n0\r\n$3\r\nabc\r\n",
	         "payload of 3 bytes"},
	        {"RESTORE arity", "*3\r\n$7\r\nRESTORE\r\n", "holds only"},
	        {"ECHO other", "*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n", "not the dump's end mark"},
	        {"ECHO no count", "*2\r\n$4\r\nECHO\r\n$14\r\ncairn-dump-end\r\n",
	         "malformed end mark"},
	        {"ECHO wrong total", "*2\r\n$4\r\nECHO\r\n$21\r\ncairn-dump-end keys=1\r\n",
	         "says 1 keys in 0 databases, but the stream restores 0"},
	        {"ECHO db no keys", "*2\r\n$4\r\nECHO\r\n$27\r\ncairn-dump-end keys=0 db0=1\r\n",
	         "db0 holds 1 keys, but the stream restores 0"},
	        {"ECHO db zero", "*2\r\n$4\r\nECHO\r\n$27\r\ncairn-dump-end keys=0 db0=0\r\n",
	         "malformed end mark"},
	        {"ECHO junk", "*2\r\n$4\r\nECHO\r\n$25\r\ncairn-dump-end keys=0 foo\r\n",
	         "malformed end mark"},
	        {"no end mark", "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", "without its end mark"},
	        {"empty", "", "without its end mark"},
	        {"after the end",
	         "*2\r\n$4\r\nECHO\r\n$21\r\ncairn-dump-end keys=0\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0"
	         "\r\n",
	         "after the end mark"},
	        {"two end marks",
	         "*2\r\n$4\r\nECHO\r\n$21\r\ncairn-dump-end keys=0\r\n*2\r\n$4\r\nECHO\r\n$21\r\n"
	         "cairn-dump-end keys=0\r\n",
	         "after the end mark"},
	        {"garbage after the end", "*2\r\n$4\r\nECHO\r\n$21\r\ncairn-dump-end keys=0\r\nx",
	         "expected a command"},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = {0};
		struct dump_count d;
		/* the texts have NULs in places: their length is the literal's */
		buf_add(&b, cases[i].text, strlen(cases[i].text));
		if (!strcmp(cases[i].name, "name with NUL")) {
			b.len = 0;
			buf_add(&b, "*2\r\n$7\r\nSELECT\0\r\n$1\r\n0\r\n", 25);
		}
		for (size_t chunk = 1; chunk <= 4096; chunk *= 4096) {
			int rc = parse_all(&b, chunk, NULL, &d, err, sizeof(err));
			if (rc != CAIRN_E_CORRUPT || !strstr(err, cases[i].says))
				fail_msg("%s (reads of %zu): rc %d, \"%s\" wanted \"%s\"",
				         cases[i].name, chunk, rc, err, cases[i].says);
			dump_count_free(&d);
		}
		free(b.p);
	}

	/* An option a RESTORE does not have, and one given twice. */
	const char *opts[][2] = {{"FOO", NULL}, {"REPLACE", "REPLACE"}, {"IDLETIME", NULL}};
	for (size_t i = 0; i < 3; i++) {
		struct buf b = {0};
		struct dump_count d;
		if (opts[i][1])
			cmd(&b, 6, S("RESTORE"), S("k"), S("0"), S(pl), S(opts[i][0]),
			    S(opts[i][1]));
		else
			cmd(&b, 5, S("RESTORE"), S("k"), S("0"), S(pl), S(opts[i][0]));
		assert_int_equal(parse_all(&b, 3, NULL, &d, err, sizeof(err)), CAIRN_E_CORRUPT);
		assert_contains(err, "RESTORE with the option");
		dump_count_free(&d);
		free(b.p);
	}
}

/* Issue 16, found by fuzzing: a NUL inside a "*N" or "$N" line was kept
 * by the line reader and cut the number short for the parsers, so a
 * damaged stream passed; and an end mark that named one database twice
 * stood in for another it never checked. */
static void
test_nul_and_twice(void **state)
{
	(void)state;
	static const char pl[] = "0123456789abcdef";
	static const struct {
		const char *text;
		size_t len;
	} nul[] = {
	        {"*2\0junk\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", 28},
	        {"*2\r\n$6\0x\r\nSELECT\r\n$1\r\n0\r\n", 25},
	};
	char err[512];

	for (size_t i = 0; i < 2; i++) {
		struct buf b = {0};
		struct dump_count d;
		buf_add(&b, nul[i].text, nul[i].len);
		for (size_t chunk = 1; chunk <= 4096; chunk *= 4096) {
			assert_int_equal(parse_all(&b, chunk, NULL, &d, err, sizeof(err)),
			                 CAIRN_E_CORRUPT);
			assert_contains(err, "a NUL byte inside a line");
			dump_count_free(&d);
		}
		free(b.p);
	}

	struct buf b = {0};
	struct dump_count d;
	cmd(&b, 2, S("SELECT"), S("0"));
	cmd(&b, 4, S("RESTORE"), S("k"), S("0"), S(pl));
	cmd(&b, 2, S("SELECT"), S("3"));
	cmd(&b, 4, S("RESTORE"), S("k"), S("0"), S(pl));
	cmd(&b, 2, S("ECHO"), S("cairn-dump-end keys=2 db0=1 db0=1"));
	assert_int_equal(parse_all(&b, 3, NULL, &d, err, sizeof(err)), CAIRN_E_CORRUPT);
	assert_contains(err, "malformed end mark");
	dump_count_free(&d);
	free(b.p);
	/* the same stream with its true end mark passes */
	b = (struct buf){0};
	cmd(&b, 2, S("SELECT"), S("0"));
	cmd(&b, 4, S("RESTORE"), S("k"), S("0"), S(pl));
	cmd(&b, 2, S("SELECT"), S("3"));
	cmd(&b, 4, S("RESTORE"), S("k"), S("0"), S(pl));
	cmd(&b, 2, S("ECHO"), S("cairn-dump-end keys=2 db0=1 db3=1"));
	assert_int_equal(parse_all(&b, 3, NULL, &d, err, sizeof(err)), 0);
	dump_count_free(&d);
	free(b.p);
}

/* IDLETIME and FREQ take a number and are accepted. */
static void
test_restore_options(void **state)
{
	(void)state;
	static const char pl[] = "0123456789abcdef";
	struct buf b = {0};
	struct dump_count d;
	char err[512];

	cmd(&b, 8, S("RESTORE"), S("k"), S("0"), S(pl), S("IDLETIME"), S("10"), S("FREQ"), S("5"));
	cmd(&b, 2, S("ECHO"), S("cairn-dump-end keys=1 db0=1"));
	assert_int_equal(parse_all(&b, 3, NULL, &d, err, sizeof(err)), 0);
	dump_count_free(&d);
	free(b.p);

	b = (struct buf){0};
	cmd(&b, 6, S("RESTORE"), S("k"), S("0"), S(pl), S("FREQ"), S("x"));
	assert_int_equal(parse_all(&b, 3, NULL, &d, err, sizeof(err)), CAIRN_E_CORRUPT);
	assert_contains(err, "option with the value \"x\"");
	dump_count_free(&d);
	free(b.p);
}

/* begin() can drop a command or stop the parse, out() can fail, and the
 * input's own error (damage found at the end, ABI 1.1) comes back as is. */
static void
test_callbacks_and_input_errors(void **state)
{
	(void)state;
	struct buf b = {0}, want = {0};
	struct dump_count d;
	char err[512];
	good_dump(&b, &want);

	struct sink s = {.fail_begin_at = 2};
	assert_int_equal(parse_all(&b, 7, &s, &d, err, sizeof(err)), CAIRN_E_IO);
	dump_count_free(&d);
	/* only the first SELECT went out */
	assert_int_equal(s.got.len, 23);
	free(s.got.p);

	struct sink s2 = {.fail_out_after = 100};
	assert_int_equal(parse_all(&b, 7, &s2, &d, err, sizeof(err)), CAIRN_E_AUTH);
	dump_count_free(&d);
	free(s2.got.p);

	/* without drop_echo the end mark goes out too */
	struct sink s3 = {0};
	assert_int_equal(parse_all(&b, 7, &s3, &d, err, sizeof(err)), 0);
	assert_int_equal(s3.got.len, b.len);
	dump_count_free(&d);
	free(s3.got.p);

	struct memin m;
	struct resp_in r;
	struct resp_cmd c = {0};
	int rc;
	memin_init(&m, &b, 64);
	m.end_rc = CAIRN_E_CORRUPT;
	assert_int_equal(resp_in_init_cairn(&r, &m.in), 0);
	while ((rc = resp_next(&r, &c, NULL)) > 0)
		;
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_string_equal(r.err, ""); /* not the parser's finding */
	resp_cmd_free(&c);
	resp_in_free(&r);

	/* cut inside the payload: the input's code, not a parse error */
	memin_init(&m, &b, 64);
	m.len = 100;
	m.end_rc = CAIRN_E_IO;
	assert_int_equal(resp_in_init_cairn(&r, &m.in), 0);
	while ((rc = resp_next(&r, &c, NULL)) > 0)
		;
	assert_int_equal(rc, CAIRN_E_IO);
	resp_cmd_free(&c);
	resp_in_free(&r);
	free(b.p);
	free(want.p);
}

/* The end mark may be up to RESP_ECHO_MAX bytes, not one more. */
static void
test_end_mark_bound(void **state)
{
	(void)state;
	struct buf b = {0};
	struct dump_count d;
	char err[512];
	size_t n = RESP_ECHO_MAX + 1;
	char *e = malloc(n);
	assert_non_null(e);
	memset(e, ' ', n);
	memcpy(e, "cairn-dump-end", 14);
	cmd(&b, 2, S("ECHO"), e, n);
	assert_int_equal(parse_all(&b, 65536, NULL, &d, err, sizeof(err)), CAIRN_E_CORRUPT);
	assert_contains(err, "an argument of 1048577 bytes where at most 1048576 belong");
	dump_count_free(&d);
	free(b.p);
	free(e);
}

static void
test_numbers(void **state)
{
	(void)state;
	uint64_t u;
	int64_t i;

	assert_int_equal(resp_parse_u64("0", 10, &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(resp_parse_u64("10", 10, &u), 0);
	assert_int_equal(resp_parse_u64("11", 10, &u), -1);
	assert_int_equal(resp_parse_u64("", 10, &u), -1);
	assert_int_equal(resp_parse_u64("01", 10, &u), -1);
	assert_int_equal(resp_parse_u64("+1", 10, &u), -1);
	assert_int_equal(resp_parse_u64("18446744073709551615", UINT64_MAX, &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(resp_parse_u64("18446744073709551616", UINT64_MAX, &u), -1);
	assert_int_equal(resp_parse_i64("-2", &i), 0);
	assert_int_equal(i, -2);
	assert_int_equal(resp_parse_i64("-0", &i), -1);
	assert_int_equal(resp_parse_i64("-", &i), -1);
	assert_int_equal(resp_parse_i64("9223372036854775807", &i), 0);
	assert_int_equal(resp_parse_i64("9223372036854775808", &i), -1);
	assert_int_equal(resp_parse_i64("-9223372036854775808", &i), 0);
	assert_true(i == INT64_MIN);
}

static void
test_quote(void **state)
{
	(void)state;
	char q[64];

	resp_quote(q, sizeof(q), "a\"b\\c\n\0\xff", 8, 8);
	assert_string_equal(q, "a\\x22b\\x5cc\\x0a\\x00\\xff");
	resp_quote(q, sizeof(q), "user:1", 6, 1000);
	assert_string_equal(q, "user:1... (1000 bytes)");
	char longk[200];
	memset(longk, 'x', sizeof(longk));
	resp_quote(q, sizeof(q), longk, sizeof(longk), sizeof(longk));
	assert_true(strlen(q) < sizeof(q));
	assert_non_null(strstr(q, "..."));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_good_stream_every_chunking),
	        cmocka_unit_test(test_command_fields),
	        cmocka_unit_test(test_big_values_stream),
	        cmocka_unit_test(test_damage),
	        cmocka_unit_test(test_restore_options),
	        cmocka_unit_test(test_nul_and_twice),
	        cmocka_unit_test(test_callbacks_and_input_errors),
	        cmocka_unit_test(test_end_mark_bound),
	        cmocka_unit_test(test_numbers),
	        cmocka_unit_test(test_quote),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
