/* followsrc - a test source with a change log (ABI 1.4), so the core's
 * `cairn follow`, `restore --at` and `verify` of logs can be tested
 * without a database server.
 *
 * Its "database" is the text file `log` (key), which the test appends
 * lines to, one each:
 *
 *   LSN TIME_MS WORDS...   a change record: lsn (decimal, growing) and
 *                          time (ms since the epoch, never going back);
 *                          the record's bytes are the whole line with
 *                          its '\n', so a segment is such lines
 *   idle LSN TIME_MS       the log stood there, no change (out->idle)
 *   retry LSN              follow() from before LSN returns
 *                          CAIRN_E_RETRYABLE once (per process) when it
 *                          reaches this line (the server went away)
 *   fail LSN               follow() from before LSN fails there with
 *                          CAIRN_E_AUTH
 *   lost LSN               the log no longer holds what lies at or
 *                          before LSN: follow() from an older position
 *                          returns CAIRN_E_LOGLOST at once; with
 *                          `link_base = yes` on a host with base_begin
 *                          (ABI 1.5) it writes the dump (as backup()
 *                          does) into base_begin's out instead, ends it
 *                          at the last record's position and follows on
 *                          after it
 *   linkcut                the first such dump of the process is cut
 *                          after one record: base_end(CAIRN_E_RETRYABLE),
 *                          and follow() returns that
 *
 * `calls = FILE`: backup() appends "backup", a dump over the link "link"
 * (or "link-cut") to FILE, so a test sees which was taken.
 *
 * backup() writes every record line of the file as it stands (the dump)
 * and tells log_position START (and END with `consistent = yes`) = the
 * last record's position.  restore() writes the dump into `target`
 * (refused when it is not empty, unless forced).  replay() restores the
 * base, then appends every record of the segments with lsn > after and
 * time <= until to `target`; CAIRN_REPLAY_PARSE checks every line;
 * CAIRN_REPLAY_TEST counts.  A position's text is "lsn:N".  The file is
 * read again from the start on every call (a test's log is small), and
 * while it has nothing new follow() calls idle(NULL) every 20 ms. */
#include <cairn/plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct cairn_host *host;

struct fsrc {
	cairn_ctx *ctx;
	char *log, *target;
	int consistent, link_base;
	char *calls;
	long retried; /* the byte offset of the last `retry` line acted on, + 1 */
	int cut;      /* a `linkcut` was acted on */
};

static const struct cairn_key fsrc_keys[] = {
        {"log", CAIRN_KEY_PATH, CAIRN_KEY_REQUIRED, NULL, "the log file the test writes"},
        {"target", CAIRN_KEY_PATH, 0, NULL, "the file restore and replay write"},
        {"consistent", CAIRN_KEY_BOOL, 0, "no", "backup() also tells its END position"},
        {"link_base", CAIRN_KEY_BOOL, 0, "no", "a lost log: the dump over base_begin (ABI 1.5)"},
        {"calls", CAIRN_KEY_PATH, 0, NULL, "a file each dump is noted in"},
        {NULL, 0, 0, NULL, NULL},
};

static int
fsrc_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	const struct cairn_value *t = cairn_config_get(cfg, "target");
	const struct cairn_value *calls = cairn_config_get(cfg, "calls");
	struct fsrc *s = calloc(1, sizeof(*s));
	if (!s)
		return CAIRN_E_NOMEM;
	s->ctx = c;
	s->log = strdup(cairn_config_get(cfg, "log")->text);
	s->target = t && t->set ? strdup(t->text) : NULL;
	s->consistent = (int)cairn_config_get(cfg, "consistent")->i;
	s->link_base = (int)cairn_config_get(cfg, "link_base")->i;
	s->calls = calls && calls->set ? strdup(calls->text) : NULL;
	*i = s;
	return 0;
}

static void
fsrc_destroy(void *i)
{
	struct fsrc *s = i;
	free(s->log);
	free(s->target);
	free(s->calls);
	free(s);
}

static const char *
fsrc_ext(void *i)
{
	(void)i;
	return "txt";
}

static const char *
fsrc_log_ext(void *i)
{
	(void)i;
	return "log";
}

/* A record line "LSN TIME ..." into pos; 0, or -1 when it is none. */
static int
parse_record(const char *line, struct cairn_log_pos *pos)
{
	unsigned long long lsn;
	long long t;
	int n = 0;
	if (sscanf(line, "%llu %lld%n", &lsn, &t, &n) != 2 || !n ||
	    (line[n] != ' ' && line[n] != '\n' && line[n]))
		return -1;
	memset(pos, 0, sizeof(*pos));
	pos->lsn = lsn;
	pos->time_ms = t;
	snprintf(pos->text, sizeof(pos->text), "lsn:%llu", lsn);
	return 0;
}

static int
parse_idle(const char *line, struct cairn_log_pos *pos)
{
	unsigned long long lsn;
	long long t;
	if (sscanf(line, "idle %llu %lld", &lsn, &t) != 2)
		return -1;
	memset(pos, 0, sizeof(*pos));
	pos->lsn = lsn;
	pos->time_ms = t;
	snprintf(pos->text, sizeof(pos->text), "lsn:%llu", lsn);
	return 0;
}

static FILE *
open_log(struct fsrc *s)
{
	FILE *fp = fopen(s->log, "re");
	if (!fp)
		host->set_error(s->ctx, "cannot open %s: %s", s->log, strerror(errno));
	return fp;
}

/* Note a dump in the `calls` file. */
static void
note_call(struct fsrc *s, const char *what)
{
	FILE *fp = s->calls ? fopen(s->calls, "ae") : NULL;
	if (fp) {
		fprintf(fp, "%s\n", what);
		fclose(fp);
	}
}

/* Write every record line of the file as it stands into o (at most max
 * of them), *last the last one's position (lsn 0 now for none), and
 * stat "records". */
static int
write_dump(struct fsrc *s, struct cairn_out *o, struct cairn_log_pos *last, long max)
{
	struct cairn_log_pos pos = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0, have = 0;
	long count = 0;
	FILE *fp = open_log(s);
	if (!fp)
		return CAIRN_E_IO;
	memset(last, 0, sizeof(*last));
	while (!rc && count < max && (n = getline(&line, &cap, fp)) > 0)
		if (line[n - 1] == '\n' && !parse_record(line, &pos)) {
			rc = o->write(o, line, (size_t)n);
			*last = pos;
			have = 1;
			count++;
		}
	free(line);
	fclose(fp);
	if (rc)
		return rc;
	if (!have) { /* an empty log stands at 0 */
		last->time_ms = (int64_t)time(NULL) * 1000;
		snprintf(last->text, sizeof(last->text), "lsn:0");
	}
	host->stat(s->ctx, "records", count);
	return 0;
}

static int
fsrc_backup(void *i, struct cairn_out *o)
{
	struct fsrc *s = i;
	struct cairn_log_pos last;
	int rc = write_dump(s, o, &last, LONG_MAX);
	if (rc)
		return rc;
	note_call(s, "backup");
	if (CAIRN_HOST_HAS(host, log_position) && host->log_position) {
		host->log_position(s->ctx, CAIRN_LOG_AT_START, &last);
		if (s->consistent)
			host->log_position(s->ctx, CAIRN_LOG_AT_END, &last);
	}
	return 0;
}

/* Has the file a `linkcut` line? */
static int
has_linkcut(struct fsrc *s)
{
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	FILE *fp = open_log(s);
	if (!fp)
		return 0;
	while (!found && getline(&line, &cap, fp) > 0)
		found = strcmp(line, "linkcut\n") == 0;
	free(line);
	fclose(fp);
	return found;
}

/* The log was lost: the dump over the follower's own link (ABI 1.5).
 * 1 with *after its position to follow on from, or a code. */
static int
link_base(struct fsrc *s, struct cairn_log_out *out, uint64_t *after)
{
	struct cairn_out *o;
	struct cairn_log_pos last;
	int cut = !s->cut && has_linkcut(s), rc, erc;
	if ((rc = out->base_begin(out, &o)))
		return rc;
	rc = write_dump(s, o, &last, cut ? 1 : LONG_MAX);
	if (!rc && cut) {
		s->cut = 1;
		host->set_error(s->ctx, "the test cut the link inside the dump");
		rc = CAIRN_E_RETRYABLE;
	}
	note_call(s, cut ? "link-cut" : "link");
	erc = out->base_end(out, rc, &last);
	if (rc || erc)
		return rc ? rc : erc;
	*after = last.lsn;
	return 1;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* from's lsn, read from its text as a real source would. */
static uint64_t
from_lsn(const struct cairn_log_pos *from)
{
	unsigned long long v = 0;
	if (from && sscanf(from->text, "lsn:%llu", &v) != 1)
		v = from->lsn;
	return v;
}

/* One pass over the file from the start: lines past *done (bytes) are
 * new.  Returns 1 to go on waiting, or a code for follow() to return. */
static int
follow_pass(struct fsrc *s, uint64_t *after, long *done, struct cairn_log_out *out, int first)
{
	uint64_t from = *after;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct cairn_log_pos pos;
	unsigned long long at;
	int rc = 0;
	FILE *fp = open_log(s);
	if (!fp)
		return CAIRN_E_IO;
	/* a lost log is found before anything is followed */
	for (; first && (n = getline(&line, &cap, fp)) > 0;)
		if (sscanf(line, "lost %llu", &at) == 1 && *after < at) {
			if (s->link_base && CAIRN_LOG_OUT_HAS(out, base_begin) && out->base_begin &&
			    out->base_end) {
				if ((rc = link_base(s, out, after)) != 1)
					break;
				continue; /* the dump's, then on after it */
			}
			free(line);
			fclose(fp);
			host->set_error(s->ctx,
			                "the log no longer holds lsn %llu (lost up to %llu)",
			                (unsigned long long)from, at);
			return CAIRN_E_LOGLOST;
		}
	rc = rc == 1 ? 0 : rc;
	rewind(fp);
	for (long off = 0; !rc && (n = getline(&line, &cap, fp)) > 0; off = ftell(fp)) {
		if (line[n - 1] != '\n')
			break; /* a line the test is still writing */
		if (off < *done)
			continue;
		*done = ftell(fp);
		if (sscanf(line, "retry %llu", &at) == 1 && *after < at && s->retried < off + 1) {
			s->retried = off + 1;
			host->set_error(s->ctx, "the test said retry");
			rc = CAIRN_E_RETRYABLE;
		} else if (sscanf(line, "fail %llu", &at) == 1 && *after < at) {
			host->set_error(s->ctx, "the test said fail");
			rc = CAIRN_E_AUTH;
		} else if (!parse_record(line, &pos) && pos.lsn > *after) {
			rc = out->record(out, line, (size_t)n, &pos);
			*after = pos.lsn;
		} else if (!parse_idle(line, &pos) && pos.lsn >= *after) {
			rc = out->idle(out, &pos);
		}
	}
	free(line);
	fclose(fp);
	return rc ? rc : 1;
}

static int
fsrc_follow(void *i, const struct cairn_log_pos *from, struct cairn_log_out *out)
{
	struct fsrc *s = i;
	uint64_t after = from_lsn(from);
	long done = 0;
	int first = 1;
	for (;;) {
		int rc = follow_pass(s, &after, &done, out, first);
		first = 0;
		if (rc != 1)
			return rc;
		if ((rc = out->idle(out, NULL)))
			return rc;
		sleep_ms(20);
	}
}

static int
fsrc_restore(void *i, struct cairn_in *in, unsigned flags)
{
	struct fsrc *s = i;
	char buf[4096];
	ssize_t n;
	FILE *fp;
	if (!s->target)
		return host->set_error(s->ctx, "no target = key"), CAIRN_E_CONFIG;
	fp = fopen(s->target, "ae");
	if (!fp)
		return host->set_error(s->ctx, "cannot open %s", s->target), CAIRN_E_IO;
	if (ftell(fp) > 0 && !(flags & CAIRN_RESTORE_FORCE)) {
		fclose(fp);
		host->set_error(s->ctx, "%s is not empty", s->target);
		return CAIRN_E_EXISTS;
	}
	if (flags & CAIRN_RESTORE_FORCE) {
		fclose(fp);
		fp = fopen(s->target, "we");
		if (!fp)
			return CAIRN_E_IO;
	}
	while ((n = in->read(in, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, fp);
	if (fclose(fp) != 0 && n == 0)
		return CAIRN_E_IO;
	return n < 0 ? (int)n : 0;
}

/* Apply one segment's lines; stops (*stop) at the first past until. */
static int
replay_segment(struct fsrc *s, struct cairn_log_replay *rp, struct cairn_in *in, FILE *fp,
               int64_t *records, int *stop)
{
	char buf[4096], *line = NULL;
	size_t have = 0, cap = 0;
	ssize_t n;
	int rc = 0;
	while (!rc && (n = in->read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n && !rc; k++) {
			struct cairn_log_pos pos;
			if (have + 2 > cap) {
				char *nl = realloc(line, cap = cap ? 2 * cap : 4096);
				if (!nl) {
					rc = CAIRN_E_NOMEM;
					break;
				}
				line = nl;
			}
			line[have++] = buf[k];
			if (buf[k] != '\n')
				continue;
			line[have] = '\0';
			have = 0;
			if (parse_record(line, &pos)) {
				host->set_error(s->ctx, "not a record: %.40s", line);
				rc = CAIRN_E_CORRUPT;
				break;
			}
			(*records)++;
			if ((rp->flags & CAIRN_REPLAY_PARSE) || *stop || pos.lsn <= rp->after.lsn)
				continue;
			if (pos.time_ms > rp->until_ms)
				*stop = 1;
			else if (fp)
				fputs(line, fp);
		}
	}
	free(line);
	if (rc)
		return rc;
	if (n < 0)
		return (int)n;
	if (have)
		return host->set_error(s->ctx, "a segment ends inside a record"), CAIRN_E_CORRUPT;
	return 0;
}

static int __attribute__((unused)) fsrc_replay(void *i, struct cairn_log_replay *rp)
{
	struct fsrc *s = i;
	struct cairn_in *in;
	FILE *fp = NULL;
	int64_t records = 0;
	int rc = 0, stop = 0;
	if (!(rp->flags & (CAIRN_REPLAY_PARSE | CAIRN_REPLAY_TEST))) {
		if ((rc = fsrc_restore(i, rp->base, rp->restore_flags)))
			return rc;
		if (!(fp = fopen(s->target, "ae")))
			return host->set_error(s->ctx, "cannot open %s", s->target), CAIRN_E_IO;
	}
	while (!rc && (rc = rp->next(rp, &in)) == 1)
		rc = replay_segment(s, rp, in, fp, &records, &stop);
	if (fp && fclose(fp) != 0 && !rc)
		rc = CAIRN_E_IO;
	host->stat(s->ctx, "records", records);
	return rc;
}

static const struct cairn_source_ops fsrc_ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = fsrc_create,
        .destroy = fsrc_destroy,
        .file_extension = fsrc_ext,
        .backup = fsrc_backup,
        .restore = fsrc_restore,
        .log_extension = fsrc_log_ext,
        .follow = fsrc_follow,
#ifndef FOLLOWSRC_HALF /* followhalf: follow without replay, refused */
        .replay = fsrc_replay,
#endif
};

static const struct cairn_plugin followsrc = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
#ifdef FOLLOWSRC_HALF
        .name = "followhalf",
#else
        .name = "followsrc",
#endif
        .version = "1.0",
        .kind = CAIRN_KIND_SOURCE,
        .description = "a test source with a change log read from a file",
        .keys = fsrc_keys,
        .source = &fsrc_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *h)
{
	host = h;
	return &followsrc;
}
