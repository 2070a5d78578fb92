/* fuzz_logseg.c - libFuzzer target: a log segment's manifest (SEG.json)
 * and a gap record (SEG.gap) are read from the sink, which is untrusted
 * (src/logcat.c).  Parse any bytes as both, once where they say they lie
 * (so the checks past the place are reached) and once elsewhere; the
 * first 75 bytes as a segment name; and what parses must write back to
 * JSON that parses the same: a manifest cairn believes, cairn can
 * rewrite (prune, copy). */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "logcat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The job, source and segment the JSON says, or "" each. */
static void
claimed(const char *buf, size_t len, char **job, char **source, char **seg)
{
	json_t *root = json_loadb(buf, len, 0, NULL);
	const char *j = "", *s = "", *n = "";
	json_unpack(root, "{s?s, s?s, s?s}", "job", &j, "source", &s, "segment", &n);
	*job = xstrdup(j);
	*source = xstrdup(s);
	*seg = xstrdup(n);
	json_decref(root);
}

static void
segment(const char *buf, size_t len, const char *job, const char *source, const char *name)
{
	struct log_segment s, again;
	char *err = NULL;
	if (logseg_parse(buf, len, job, source, name, &s, &err)) {
		free(err);
		return;
	}
	char *text = logseg_to_json(job, &s);
	if (logseg_parse(text, strlen(text), job, source, name, &again, &err))
		abort(); /* believed once, refused when written back */
	if (again.from.lsn != s.from.lsn || again.to.time_ms != s.to.time_ms ||
	    again.records != s.records || strcmp(again.object, s.object) != 0 ||
	    again.nindex != s.nindex ||
	    (s.nindex && memcmp(again.index, s.index, s.nindex * sizeof(*s.index)) != 0))
		abort();
	logseg_clear(&again);
	logseg_clear(&s);
	free(text);
}

static void
gap(const char *buf, size_t len, const char *job, const char *source, const char *name)
{
	struct log_gap g, again;
	char *err = NULL;
	if (loggap_parse(buf, len, job, source, name, &g, &err)) {
		free(err);
		return;
	}
	char *text = loggap_to_json(job, source, &g);
	if (loggap_parse(text, strlen(text), job, source, name, &again, &err))
		abort();
	if (again.from.lsn != g.from.lsn || strcmp(again.reason, g.reason) != 0)
		abort();
	loggap_clear(&again);
	loggap_clear(&g);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	char name[LOGSEG_NAME_MAX], *job, *source, *seg;
	struct cairn_log_pos f, t;
	if (size >= LOGSEG_NAME_LEN) {
		memcpy(name, buf, LOGSEG_NAME_LEN);
		name[LOGSEG_NAME_LEN] = '\0';
		if (logseg_name_parse(name, &f, &t) == 0) {
			char back[LOGSEG_NAME_MAX];
			logseg_name(&f, &t, back);
			if (strcmp(back, name) != 0)
				abort(); /* a name parses only in its one spelling */
		}
	}
	claimed(buf, size, &job, &source, &seg);
	segment(buf, size, job, source, seg);
	gap(buf, size, job, source, seg);
	segment(buf, size, "daily", "db", seg);
	free(job);
	free(source);
	free(seg);
	return 0;
}
