/* restore_record.c - see restore_record.h */
#include "autoconf.h"

#include "restore_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "host.h" /* status_str */
#include "timeutil.h"
#include "util.h"

char *
restore_record_path(const char *state_dir, const char *job)
{
	return xasprintf("%s/status/%s.restore.json", state_dir, job);
}

void
restore_record_begin(struct restore_record *r, const char *job, time_t started)
{
	memset(r, 0, sizeof(*r));
	r->job = job;
	r->started = started;
	r->sources = json_array();
}

/* "ok", "interrupted" (a signal), "failed", as the record says it. */
static const char *
result_word(int rc)
{
	return rc == 0 ? "ok" : rc == CAIRN_E_CANCELLED ? "interrupted" : "failed";
}

static json_t *
str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

void
restore_record_source(struct restore_record *r, const char *name, const char *id, int rc,
                      const char *error, const json_t *stats)
{
	json_t *o = json_pack("{s:s, s:o, s:s, s:o, s:o}", "name", name, "set", str_or_null(id),
	                      "result", result_word(rc), "error",
	                      str_or_null(rc && !error ? status_str(rc) : error), "stats",
	                      stats ? json_deep_copy(stats) : json_object());
	json_array_append_new(r->sources, o);
}

void
restore_record_skipped(struct restore_record *r, const char *name, const char *id)
{
	json_array_append_new(r->sources,
	                      json_pack("{s:s, s:o, s:s, s:n, s:o}", "name", name, "set",
	                                str_or_null(id), "result", "not restored", "error", "stats",
	                                json_object()));
}

/* The run's result from its exit code: 130 and 143 are a signal's. */
static const char *
exit_word(int exit_code)
{
	return exit_code == 0                         ? "ok"
	       : exit_code == 130 || exit_code == 143 ? "interrupted"
	                                              : "failed";
}

json_t *
restore_record_json(const struct restore_record *r, int exit_code, time_t finished)
{
	char started[32], ended[32];
	iso8601_format_utc(r->started, started, sizeof(started));
	iso8601_format_utc(finished, ended, sizeof(ended));
	return json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:i, s:O}", "format",
	                 RESTORE_RECORD_FORMAT, "job", r->job, "started", started, "finished",
	                 ended, "sink", str_or_null(r->sink), "set", str_or_null(r->id), "from",
	                 str_or_null(r->from), "result", exit_word(exit_code), "exit", exit_code,
	                 "sources", r->sources);
}

int
restore_record_save(const char *state_dir, const struct restore_record *r, int exit_code,
                    char **err)
{
	char *path = restore_record_path(state_dir, r->job), *dir = path_dirname(path), *text;
	json_t *j = restore_record_json(r, exit_code, time(NULL));
	int rc = -1;
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!text)
		abort();
	char *line = xasprintf("%s\n", text);
	free(text);
	if (mkdir_p(dir, 0700) != 0)
		*err = xasprintf(
		        "cannot create %s: %s; set state_dir in [cairn] to a writable directory",
		        dir, strerror(errno));
	else if (write_file_atomic(path, NULL, line, strlen(line), 0600, NULL, NULL) != 0)
		*err = xasprintf("cannot write %s: %s", path, strerror(errno));
	else
		rc = 0;
	free(line);
	free(dir);
	free(path);
	return rc;
}

void
restore_record_free(struct restore_record *r)
{
	json_decref(r->sources);
	memset(r, 0, sizeof(*r));
}
