/* logcat.c - see logcat.h: segment names, positions in text and JSON,
 * segment manifests and gap records.  The listing of a sink's logs and
 * the chains are logcat_load.c's. */
#include "autoconf.h"

#include "logcat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h" /* CRYPT_AGE, CRYPT_EXT */
#include "json.h"  /* json_strings */
#include "values.h"

/* Times a name or a manifest can say: 1970-01-01 to 9999-12-31, to the
 * millisecond (four-digit years, as the fixed-width names need). */
#define LOG_TIME_MAX INT64_C(253402300799999)
#define LOGSEG_TIME_LEN 20 /* "20261207T142800.123Z" */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

struct civil {
	int y, mo, d, h, mi, s, ms;
};

static void
civil_from_ms(int64_t ms, struct civil *c)
{
	int64_t z = ms / 86400000, rest = ms % 86400000;
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	c->d = (int)(doy - (153 * mp + 2) / 5 + 1);
	c->mo = (int)(mp < 10 ? mp + 3 : mp - 9);
	c->y = (int)((int64_t)yoe + era * 400 + (c->mo <= 2));
	c->h = (int)(rest / 3600000);
	c->mi = (int)(rest / 60000 % 60);
	c->s = (int)(rest / 1000 % 60);
	c->ms = (int)(rest % 1000);
}

static int64_t
clamp_time(int64_t ms)
{
	return ms < 0 ? 0 : ms > LOG_TIME_MAX ? LOG_TIME_MAX : ms;
}

void
log_time_format(int64_t ms, char *out, size_t len)
{
	struct civil c;
	if (ms < 0 || ms > LOG_TIME_MAX) {
		snprintf(out, len, "%s", ms == INT64_MAX ? "the end of the log" : "(no time)");
		return;
	}
	civil_from_ms(ms, &c);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.y, c.mo, c.d, c.h, c.mi, c.s,
	         c.ms);
}

/* The compact form of a time in a name: "20261207T142800.123Z". */
static void
name_time(int64_t ms, char out[LOGSEG_TIME_LEN + 1])
{
	struct civil c;
	civil_from_ms(clamp_time(ms), &c);
	snprintf(out, LOGSEG_TIME_LEN + 1, "%04d%02d%02dT%02d%02d%02d.%03dZ", c.y, c.mo, c.d, c.h,
	         c.mi, c.s, c.ms);
}

/* n decimal digits at s, into *v: 0, or -1. */
static int
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Fields of a civil time into milliseconds, refusing what no calendar
 * has (month 13, 31 April, hour 24, second 60): 0, or -1. */
static int
civil_to_ms(const struct civil *c, int64_t *ms)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (c->y % 4 == 0 && c->y % 100 != 0) || c->y % 400 == 0;
	if (c->y < 1970 || c->mo < 1 || c->mo > 12 || c->d < 1 ||
	    c->d > mdays[c->mo - 1] + (c->mo == 2 && leap) || c->h > 23 || c->mi > 59 || c->s > 59)
		return -1;
	*ms = (days_from_civil(c->y, (unsigned)c->mo, (unsigned)c->d) * 86400 + c->h * 3600 +
	       c->mi * 60 + c->s) *
	              1000 +
	      c->ms;
	return 0;
}

/* "20261207T142800.123Z" exactly: 0 with *ms, or -1. */
static int
parse_name_time(const char *s, int64_t *ms)
{
	struct civil c;
	if (digits(s, 4, &c.y) || digits(s + 4, 2, &c.mo) || digits(s + 6, 2, &c.d) ||
	    s[8] != 'T' || digits(s + 9, 2, &c.h) || digits(s + 11, 2, &c.mi) ||
	    digits(s + 13, 2, &c.s) || s[15] != '.' || digits(s + 16, 3, &c.ms) || s[19] != 'Z')
		return -1;
	return civil_to_ms(&c, ms);
}

/* "2026-12-07T14:28:00.123Z" exactly: 0 with *ms, or -1. */
static int
parse_log_time(const char *s, int64_t *ms)
{
	struct civil c;
	if (strlen(s) != 24 || digits(s, 4, &c.y) || s[4] != '-' || digits(s + 5, 2, &c.mo) ||
	    s[7] != '-' || digits(s + 8, 2, &c.d) || s[10] != 'T' || digits(s + 11, 2, &c.h) ||
	    s[13] != ':' || digits(s + 14, 2, &c.mi) || s[16] != ':' || digits(s + 17, 2, &c.s) ||
	    s[19] != '.' || digits(s + 20, 3, &c.ms) || s[23] != 'Z')
		return -1;
	return civil_to_ms(&c, ms);
}

/* 16 lowercase hex digits exactly: 0 with *v, or -1. */
static int
parse_lsn(const char *s, size_t n, uint64_t *v)
{
	*v = 0;
	if (n != 16)
		return -1;
	for (size_t i = 0; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v << 4 | (uint64_t)d;
	}
	return 0;
}

void
logseg_name(const struct cairn_log_pos *from, const struct cairn_log_pos *to,
            char out[LOGSEG_NAME_MAX])
{
	char a[LOGSEG_TIME_LEN + 1], b[LOGSEG_TIME_LEN + 1];
	name_time(from->time_ms, a);
	name_time(to->time_ms, b);
	snprintf(out, LOGSEG_NAME_MAX, "%s-%s-%016" PRIx64 "-%016" PRIx64, a, b, from->lsn,
	         to->lsn);
}

int
logseg_name_parse(const char *name, struct cairn_log_pos *from, struct cairn_log_pos *to)
{
	struct cairn_log_pos f = {0}, t = {0};
	const char *s = name;
	if (strlen(name) != LOGSEG_NAME_LEN || parse_name_time(s, &f.time_ms) ||
	    s[LOGSEG_TIME_LEN] != '-' || parse_name_time(s + LOGSEG_TIME_LEN + 1, &t.time_ms) ||
	    s[2 * LOGSEG_TIME_LEN + 1] != '-')
		return -1;
	s += 2 * LOGSEG_TIME_LEN + 2;
	if (parse_lsn(s, 16, &f.lsn) || s[16] != '-' || parse_lsn(s + 17, 16, &t.lsn))
		return -1;
	*from = f;
	*to = t;
	return 0;
}

/* --- positions in JSON --- */

/* The text of a position: up to CAIRN_LOG_POS_MAX - 1 printable ASCII
 * characters, no space (empty only when not known). */
static int
valid_pos_text(const char *s)
{
	size_t n = strlen(s);
	if (n >= CAIRN_LOG_POS_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return 0;
	return 1;
}

json_t *
log_pos_to_json(const struct cairn_log_pos *p)
{
	char lsn[17], when[32];
	snprintf(lsn, sizeof(lsn), "%016" PRIx64, p->lsn);
	log_time_format(clamp_time(p->time_ms), when, sizeof(when));
	return json_pack("{s:s, s:s, s:s}", "lsn", lsn, "time", when, "pos",
	                 valid_pos_text(p->text) ? p->text : "");
}

int
log_pos_from_json(const json_t *j, struct cairn_log_pos *p)
{
	const char *lsn, *when, *text;
	struct cairn_log_pos r = {0};
	if (json_unpack((json_t *)j, "{s:s, s:s, s:s}", "lsn", &lsn, "time", &when, "pos", &text) !=
	            0 ||
	    parse_lsn(lsn, strlen(lsn), &r.lsn) || parse_log_time(when, &r.time_ms) ||
	    !valid_pos_text(text))
		return -1;
	memcpy(r.text, text, strlen(text) + 1);
	*p = r;
	return 0;
}

/* --- manifests --- */

static json_t *
created_json(time_t t)
{
	char buf[32];
	iso8601_format_utc(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
index_to_json(const struct log_segment *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->nindex && i < LOGSEG_INDEX_MAX; i++) {
		char lsn[17];
		snprintf(lsn, sizeof(lsn), "%016" PRIx64, s->index[i].lsn);
		json_array_append_new(a, json_pack("[I, s]", (json_int_t)s->index[i].time_ms, lsn));
	}
	return a;
}

char *
logseg_to_json(const char *job, const struct log_segment *s)
{
	json_t *o = json_pack(
	        "{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:s}",
	        "format", LOGSEG_FORMAT, "kind", "cairn-log-segment", "cairn_version",
	        PACKAGE_VERSION, "job", job, "source", s->source ? s->source : "", "plugin",
	        s->plugin ? s->plugin : "", "plugin_version",
	        s->plugin_version ? s->plugin_version : "", "host", s->host ? s->host : "",
	        "segment", s->name, "object", s->object ? s->object : "", "compression",
	        s->compression ? s->compression : "none", "raw_bytes", (json_int_t)s->raw_bytes,
	        "stored_bytes", (json_int_t)s->stored_bytes, "sha256", s->sha256, "records",
	        (json_int_t)s->records, "base", s->base);
	if (!o)
		abort();
	if (s->encryption)
		json_object_set_new(o, "encryption", json_string(s->encryption));
	if (s->encryption && s->recipients.n && s->recipients.n <= LOGSEG_MAX_RECIPIENTS) {
		json_t *a = json_array();
		for (size_t i = 0; i < s->recipients.n; i++)
			json_array_append_new(a, json_string(s->recipients.v[i]));
		json_object_set_new(o, "recipients", a);
	}
	json_object_set_new(o, "from", log_pos_to_json(&s->from));
	if (s->records) {
		json_object_set_new(o, "first", log_pos_to_json(&s->first));
		json_object_set_new(o, "last", log_pos_to_json(&s->last));
	}
	json_object_set_new(o, "to", log_pos_to_json(&s->to));
	json_object_set_new(o, "created", created_json(s->created));
	json_object_set_new(o, "stats", s->stats ? json_incref(s->stats) : json_object());
	if (s->records && s->nindex)
		json_object_set_new(o, "index", index_to_json(s));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		abort();
	char *r = xasprintf("%s\n", text);
	free(text);
	return r;
}

/* Load buf as a JSON object of the kind, format at most LOGSEG_FORMAT:
 * the root, or NULL with *err. */
static json_t *
load_kind(const char *buf, size_t len, const char *kind, char **err)
{
	json_error_t je;
	json_t *root;
	const char *k;
	int format;
	if (len > LOGSEG_MAX_BYTES) {
		*err = xasprintf("it is %zu bytes, more than the limit of %u", len,
		                 LOGSEG_MAX_BYTES);
		return NULL;
	}
	if (!(root = json_loadb(buf, len, 0, &je))) {
		*err = xasprintf("not valid JSON (line %d: %s)", je.line, je.text);
		return NULL;
	}
	if (json_unpack_ex(root, &je, 0, "{s:i, s:s}", "format", &format, "kind", &k) != 0 ||
	    strcmp(k, kind) != 0) {
		*err = xasprintf("not a %s: %s", kind, je.text[0] ? je.text : "another kind");
		json_decref(root);
		return NULL;
	}
	if (format > LOGSEG_FORMAT || format < 1) {
		*err = xasprintf(
		        "%s format %d is not one this cairn understands (%d); upgrade cairn", kind,
		        format, LOGSEG_FORMAT);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Does the record say this job, source and name, with from and to as
 * the name has them?  0, or -1 with *err. */
static int
check_place(json_t *root, const char *job, const char *source, const char *name,
            struct cairn_log_pos *from, struct cairn_log_pos *to, char **err)
{
	const char *j, *src, *seg;
	struct cairn_log_pos nf, nt;
	if (json_unpack(root, "{s:s, s:s, s:s}", "job", &j, "source", &src, "segment", &seg) != 0) {
		*err = xstrdup("it lacks job, source or segment");
		return -1;
	}
	if (strcmp(j, job) != 0 || strcmp(src, source) != 0 || strcmp(seg, name) != 0) {
		char *a = str_escape(j), *b = str_escape(src), *c = str_escape(seg);
		*err = xasprintf(
		        "it describes segment %s of source %s of job %s, not %s of source %s of job %s where it lies",
		        c, b, a, name, source, job);
		free(a);
		free(b);
		free(c);
		return -1;
	}
	if (logseg_name_parse(name, &nf, &nt) ||
	    log_pos_from_json(json_object_get(root, "from"), from) ||
	    log_pos_from_json(json_object_get(root, "to"), to)) {
		*err = xstrdup("bad from or to position");
		return -1;
	}
	if (nf.lsn != from->lsn || nf.time_ms != from->time_ms || nt.lsn != to->lsn ||
	    nt.time_ms != to->time_ms) {
		*err = xstrdup("its from and to positions disagree with its name");
		return -1;
	}
	return 0;
}

/* Is rest "EXT" (compression none) or "EXT.COMP" with the compression's
 * suffix, then ".age" when encrypted (crypt.h), EXT a file extension
 * other than the manifest's and the gap's? */
static int
valid_object_rest(const char *rest, const char *compression, int encrypted)
{
	enum compression c;
	const char *cext;
	size_t n =
	        strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+");
	size_t tail = encrypted ? strlen(CRYPT_EXT) : 0, len = strlen(rest);
	if (parse_compression(compression, &c) || n < 1 || n > 32)
		return 0;
	if ((n == 4 && strncmp(rest, "json", 4) == 0) || (n == 3 && strncmp(rest, "gap", 3) == 0))
		return 0;
	if (len < n + tail || (tail && strcmp(rest + len - tail, CRYPT_EXT) != 0))
		return 0;
	len -= tail; /* what is left: EXT[.COMP] */
	cext = compression_ext(c);
	if (!cext)
		return len == n;
	return rest[n] == '.' && len == n + 1 + strlen(cext) &&
	       strncmp(rest + n + 1, cext, strlen(cext)) == 0;
}

/* "created": an ISO 8601 time from 1970 to 9999 (written back as it is
 * read, by prune or copy): 0, or -1. */
static int
parse_created(const char *text, time_t *t)
{
	return iso8601_parse(text, t) == 0 && *t >= 0 && (int64_t)*t <= LOG_TIME_MAX / 1000 ? 0
	                                                                                    : -1;
}

static int
valid_base(const char *base)
{
	time_t t;
	return !*base || (strlen(base) == BACKUP_ID_LEN && backup_id_parse(base, &t) == 0);
}

/* The positions of a manifest beyond its place: first and last when it
 * holds records, all in order.  0, or -1 with *err. */
static int
check_positions(json_t *root, struct log_segment *s, char **err)
{
	if (s->from.lsn > s->to.lsn || s->from.time_ms > s->to.time_ms) {
		*err = xstrdup("its to position lies before its from position");
		return -1;
	}
	if (!s->records)
		return 0;
	if (log_pos_from_json(json_object_get(root, "first"), &s->first) ||
	    log_pos_from_json(json_object_get(root, "last"), &s->last)) {
		*err = xstrdup("bad first or last position");
		return -1;
	}
	if (s->first.lsn <= s->from.lsn || s->first.lsn > s->last.lsn || s->last.lsn > s->to.lsn ||
	    s->first.time_ms < s->from.time_ms || s->first.time_ms > s->last.time_ms ||
	    s->last.time_ms > s->to.time_ms) {
		*err = xstrdup("its first and last records lie outside (from, to]");
		return -1;
	}
	return 0;
}

/* The optional index of a manifest whose positions are checked: 0 with
 * s->index, or -1 with *err. */
static int
check_index(json_t *root, struct log_segment *s, char **err)
{
	json_t *a = json_object_get(root, "index"), *e;
	size_t i, n;
	if (!a || json_is_null(a))
		return 0;
	n = json_is_array(a) ? json_array_size(a) : 0;
	if (!json_is_array(a) || n > LOGSEG_INDEX_MAX || n > s->records) {
		*err = xasprintf(
		        "its index is not a list of at most %d entries, one per record at most",
		        LOGSEG_INDEX_MAX);
		return -1;
	}
	s->index = n ? xcalloc(n, sizeof(*s->index)) : NULL;
	json_array_foreach(a, i, e)
	{
		json_int_t t;
		const char *lsn;
		struct log_index_entry *x = &s->index[i];
		if (json_unpack(e, "[I, s]", &t, &lsn) != 0 || json_array_size(e) != 2 ||
		    parse_lsn(lsn, strlen(lsn), &x->lsn)) {
			*err = xasprintf("its index entry %zu is not [time_ms, \"16 hex digits\"]",
			                 i);
			return -1;
		}
		x->time_ms = t;
		if (x->lsn <= s->from.lsn || x->lsn > s->to.lsn || t < s->from.time_ms ||
		    t > s->to.time_ms || (i && (x->lsn <= x[-1].lsn || t < x[-1].time_ms))) {
			*err = xasprintf(
			        "its index entry %zu lies outside (from, to] or before the entry ahead of it",
			        i);
			return -1;
		}
		s->nindex = i + 1;
	}
	return 0;
}

/* The optional "recipients" of an encrypted segment into s: at most
 * LOGSEG_MAX_RECIPIENTS public keys of at most 256 bytes.  0, or -1 with
 * *err. */
static int
unpack_recipients(json_t *root, struct log_segment *s, char **err)
{
	json_t *a = json_object_get(root, "recipients");
	size_t bad;
	if (!a || !json_strings(a, LOGSEG_MAX_RECIPIENTS, 256, &s->recipients, &bad))
		return 0;
	if (bad == SIZE_MAX)
		*err = xasprintf("its recipients are not a list of at most %d public keys",
		                 LOGSEG_MAX_RECIPIENTS);
	else
		*err = xasprintf("its recipient %zu is not a public key", bad);
	return -1;
}

/* The fields of a segment manifest into s (place checked).  0, or -1. */
static int
unpack_segment(json_t *root, const char *job, const char *source, const char *name,
               struct log_segment *s, char **err)
{
	json_error_t je; /* "index" is check_index's */
	const char *plugin, *pv = "", *host = "", *object, *comp, *sha, *base, *created;
	const char *enc = NULL;
	json_int_t raw, stored, records;
	json_t *stats = NULL;
	if (json_unpack_ex(root, &je, 0,
	                   "{s:s, s?s, s?s, s:s, s:s, s?s, s:I, s:I, s:s, s:I, s:s, s:s, s?o}",
	                   "plugin", &plugin, "plugin_version", &pv, "host", &host, "object",
	                   &object, "compression", &comp, "encryption", &enc, "raw_bytes", &raw,
	                   "stored_bytes", &stored, "sha256", &sha, "records", &records, "base",
	                   &base, "created", &created, "stats", &stats) != 0) {
		*err = xasprintf("not a cairn-log-segment: %s", je.text);
		return -1;
	}
	if (enc && strcmp(enc, CRYPT_AGE) != 0) {
		char *shown = str_escape(enc);
		*err = xasprintf("it names an encryption \"%s\" this cairn does not know", shown);
		free(shown);
		return -1;
	}
	if (strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 || raw < 0 || stored < 0 ||
	    records < 0 || (stats && !json_is_object(stats) && !json_is_null(stats)) ||
	    !valid_base(base) || parse_created(created, &s->created)) {
		*err = xstrdup("bad sha256, size, records, base, created or stats");
		return -1;
	}
	char *prefix = xasprintf("%s/%s/%s/%s.", job, LOG_DIR, source, name);
	size_t plen = strlen(prefix);
	int ok = strncmp(object, prefix, plen) == 0 &&
	         valid_object_rest(object + plen, comp, enc != NULL);
	free(prefix);
	if (!ok) {
		char *shown = str_escape(object);
		*err = xasprintf(
		        "it names object \"%s\", which is not this segment's (%s/%s/%s/%s.EXT[.COMP][.age] with its compression and encryption)",
		        shown, job, LOG_DIR, source, name);
		free(shown);
		return -1;
	}
	s->source = xstrdup(source);
	s->plugin = xstrdup(plugin);
	s->plugin_version = xstrdup(pv);
	s->host = xstrdup(host);
	s->object = xstrdup(object);
	s->compression = xstrdup(comp);
	s->encryption = enc ? xstrdup(enc) : NULL;
	if (unpack_recipients(root, s, err))
		return -1;
	s->raw_bytes = (uint64_t)raw;
	s->stored_bytes = (uint64_t)stored;
	s->records = (uint64_t)records;
	memcpy(s->sha256, sha, 65);
	memcpy(s->base, base, strlen(base) + 1);
	s->stats = json_is_object(stats) ? json_incref(stats) : NULL;
	return 0;
}

int
logseg_parse(const char *buf, size_t len, const char *job, const char *source, const char *name,
             struct log_segment *out, char **err)
{
	struct log_segment s;
	json_t *root = load_kind(buf, len, "cairn-log-segment", err);
	memset(&s, 0, sizeof(s));
	memset(out, 0, sizeof(*out));
	if (!root)
		return -1;
	if (strlen(name) >= LOGSEG_NAME_MAX ||
	    check_place(root, job, source, name, &s.from, &s.to, err) ||
	    unpack_segment(root, job, source, name, &s, err) || check_positions(root, &s, err) ||
	    check_index(root, &s, err)) {
		json_decref(root);
		logseg_clear(&s);
		return -1;
	}
	json_decref(root);
	memcpy(s.name, name, strlen(name) + 1);
	s.has_manifest = s.manifest_read = 1;
	*out = s;
	return 0;
}

void
logseg_clear(struct log_segment *s)
{
	free(s->source);
	free(s->plugin);
	free(s->plugin_version);
	free(s->host);
	free(s->object);
	free(s->compression);
	free(s->encryption);
	strvec_free(&s->recipients);
	json_decref(s->stats);
	free(s->index);
	memset(s, 0, sizeof(*s));
}

char *
loggap_to_json(const char *job, const char *source, const struct log_gap *g)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s}", "format", LOGSEG_FORMAT, "kind",
	                      "cairn-log-gap", "job", job, "source", source, "segment", g->name);
	if (!o)
		abort();
	json_object_set_new(o, "from", log_pos_to_json(&g->from));
	json_object_set_new(o, "to", log_pos_to_json(&g->to));
	json_object_set_new(o, "base", json_string(g->base));
	json_object_set_new(o, "reason", json_string(g->reason ? g->reason : ""));
	json_object_set_new(o, "created", created_json(g->created));
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		abort();
	char *r = xasprintf("%s\n", text);
	free(text);
	return r;
}

int
loggap_parse(const char *buf, size_t len, const char *job, const char *source, const char *name,
             struct log_gap *out, char **err)
{
	struct log_gap g;
	const char *base, *reason, *created;
	json_t *root = load_kind(buf, len, "cairn-log-gap", err);
	memset(&g, 0, sizeof(g));
	memset(out, 0, sizeof(*out));
	if (!root)
		return -1;
	if (strlen(name) >= LOGSEG_NAME_MAX ||
	    check_place(root, job, source, name, &g.from, &g.to, err)) {
		json_decref(root);
		return -1;
	}
	if (json_unpack(root, "{s:s, s:s, s:s}", "base", &base, "reason", &reason, "created",
	                &created) != 0 ||
	    !valid_base(base) || parse_created(created, &g.created)) {
		*err = xstrdup("not a cairn-log-gap: bad base, reason or created");
		json_decref(root);
		return -1;
	}
	memcpy(g.name, name, strlen(name) + 1);
	memcpy(g.base, base, strlen(base) + 1);
	g.reason = xstrdup(reason);
	json_decref(root);
	*out = g;
	return 0;
}

void
loggap_clear(struct log_gap *g)
{
	free(g->reason);
	memset(g, 0, sizeof(*g));
}
