/* state.c - see state.h */
#include "autoconf.h"

#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h" /* cancel_signal */
#include "json.h"
#include "log.h"
#include "util.h"

static const char *const status_names[] = {
        [RUN_NONE] = "none", [RUN_OK] = "ok", [RUN_PARTIAL] = "partial", [RUN_FAILED] = "failed"};

const char *
run_status_name(enum run_status s)
{
	return s <= RUN_FAILED ? status_names[s] : "none";
}

char *
state_path(const char *state_dir, const char *job)
{
	return xasprintf("%s/status/%s.json", state_dir, job);
}

void
state_free(struct job_state *st)
{
	for (size_t i = 0; i < st->n; i++) {
		free(st->v[i].name);
		free(st->v[i].run.error);
		free(st->v[i].verify.detail);
		free(st->v[i].restore_test.detail);
	}
	free(st->v);
	memset(st, 0, sizeof(*st));
}

const struct state_sink *
state_find(const struct job_state *st, const char *sink)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->v[i].name, sink) == 0)
			return &st->v[i];
	return NULL;
}

struct state_sink *
state_sink_add(struct job_state *st, const char *sink)
{
	struct state_sink *s = (struct state_sink *)state_find(st, sink);
	if (s)
		return s;
	st->v = xrealloc(st->v, (st->n + 1) * sizeof(*st->v));
	s = &st->v[st->n++];
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(sink);
	return s;
}

static void
copy_id(char dst[BACKUP_ID_LEN + 1], const char *id)
{
	time_t t;
	/* only real ids: the text lands in JSON and on terminals */
	if (id && backup_id_parse(id, &t) == 0)
		memcpy(dst, id, BACKUP_ID_LEN + 1);
	else
		dst[0] = '\0';
}

void
state_set_run(struct state_sink *s, enum run_status status, const char *id, const char *error,
              time_t started, time_t finished)
{
	free(s->run.error);
	s->run.status = status;
	copy_id(s->run.id, id);
	s->run.error = error && status != RUN_OK ? xstrdup(error) : NULL;
	s->run.started = started;
	s->run.finished = finished;
	if (status == RUN_OK) {
		s->last_ok = finished;
		s->partial = s->failed = 0;
	} else if (status == RUN_PARTIAL) {
		s->partial++;
	} else if (status == RUN_FAILED) {
		s->failed++;
	}
}

void
state_set_test(struct state_sink *s, int restore_test, const char *id, int ok, const char *detail,
               time_t when)
{
	struct state_test *t = restore_test ? &s->restore_test : &s->verify;
	free(t->detail);
	t->time = when;
	copy_id(t->id, id);
	t->ok = ok != 0;
	t->detail = !ok && detail ? xstrdup(detail) : NULL;
}

/* ------------------------------------------------------------ JSON */

json_t *
state_test_json(const struct state_test *t)
{
	if (!t->time)
		return json_null();
	return json_pack("{s:o, s:s, s:b, s:o}", "time", json_time_or_null(t->time), "id", t->id,
	                 "ok", t->ok, "detail", json_string_or_null(t->detail));
}

static json_t *
state_to_json(const char *job, const struct job_state *st)
{
	json_t *sinks = json_object();
	for (size_t i = 0; i < st->n; i++) {
		const struct state_sink *s = &st->v[i];
		json_t *run = json_null();
		if (s->run.status != RUN_NONE)
			run = json_pack("{s:s, s:s, s:o, s:o, s:o}", "status",
			                run_status_name(s->run.status), "id", s->run.id, "error",
			                json_string_or_null(s->run.error), "started",
			                json_time_or_null(s->run.started), "finished",
			                json_time_or_null(s->run.finished));
		json_object_set_new(sinks, s->name,
		                    json_pack("{s:o, s:o, s:I, s:I, s:o, s:o}", "run", run,
		                              "last_ok", json_time_or_null(s->last_ok),
		                              "partial_since_ok", (json_int_t)s->partial,
		                              "failed_since_ok", (json_int_t)s->failed, "verify",
		                              state_test_json(&s->verify), "restore_test",
		                              state_test_json(&s->restore_test)));
	}
	return json_pack("{s:i, s:s, s:o}", "format", STATE_FORMAT, "job", job, "sinks", sinks);
}

/* Field readers: each returns 0, or -1 with *why naming the field. */
static int
get_time(json_t *o, const char *key, time_t *t, char **why)
{
	json_t *v = json_object_get(o, key);
	*t = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || iso8601_parse(json_string_value(v), t) || *t <= 0) {
		*why = xasprintf("\"%s\" is not a time", key);
		return -1;
	}
	return 0;
}

static int
get_id(json_t *o, const char *key, char id[BACKUP_ID_LEN + 1], char **why)
{
	json_t *v = json_object_get(o, key);
	time_t t;
	id[0] = '\0';
	if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
		return 0;
	if (!json_is_string(v) || backup_id_parse(json_string_value(v), &t)) {
		*why = xasprintf("\"%s\" is not a backup id", key);
		return -1;
	}
	memcpy(id, json_string_value(v), BACKUP_ID_LEN + 1);
	return 0;
}

static int
get_text(json_t *o, const char *key, char **out, char **why)
{
	json_t *v = json_object_get(o, key);
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		*why = xasprintf("\"%s\" is not text", key);
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
get_count(json_t *o, const char *key, unsigned *out, char **why)
{
	json_t *v = json_object_get(o, key);
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 1000000000) {
		*why = xasprintf("\"%s\" is not a count", key);
		return -1;
	}
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int
parse_test(json_t *o, struct state_test *t, char **why)
{
	json_t *ok;
	if (!o || json_is_null(o))
		return 0;
	ok = json_object_get(o, "ok");
	if (!json_is_object(o) || !json_is_boolean(ok)) {
		*why = xstrdup("a test result lacks \"ok\"");
		return -1;
	}
	t->ok = json_is_true(ok);
	if (get_time(o, "time", &t->time, why) || get_id(o, "id", t->id, why) ||
	    get_text(o, "detail", &t->detail, why))
		return -1;
	if (!t->time) {
		*why = xstrdup("a test result lacks its \"time\"");
		return -1;
	}
	return 0;
}

static int
parse_sink(json_t *o, struct state_sink *s, char **why)
{
	json_t *run = json_object_get(o, "run");
	if (!json_is_object(o)) {
		*why = xstrdup("a sink's entry is not an object");
		return -1;
	}
	if (run && !json_is_null(run)) {
		json_t *st = json_object_get(run, "status");
		const char *word = json_is_string(st) ? json_string_value(st) : "";
		s->run.status = RUN_NONE;
		for (int k = RUN_OK; k <= RUN_FAILED; k++)
			if (strcmp(word, status_names[k]) == 0)
				s->run.status = (enum run_status)k;
		if (!json_is_object(run) || s->run.status == RUN_NONE) {
			*why = xstrdup("a run's \"status\" is not ok, partial or failed");
			return -1;
		}
		if (get_id(run, "id", s->run.id, why) ||
		    get_text(run, "error", &s->run.error, why) ||
		    get_time(run, "started", &s->run.started, why) ||
		    get_time(run, "finished", &s->run.finished, why))
			return -1;
	}
	return get_time(o, "last_ok", &s->last_ok, why) ||
	                       get_count(o, "partial_since_ok", &s->partial, why) ||
	                       get_count(o, "failed_since_ok", &s->failed, why) ||
	                       parse_test(json_object_get(o, "verify"), &s->verify, why) ||
	                       parse_test(json_object_get(o, "restore_test"), &s->restore_test, why)
	               ? -1
	               : 0;
}

int
state_parse(const char *buf, size_t len, const char *job, struct job_state *st, char **why)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr), *sinks, *fmt, *jname;
	const char *name;
	json_t *v;
	int rc = -1;

	memset(st, 0, sizeof(*st));
	if (!root) {
		*why = xasprintf("not JSON (%s at line %d)", jerr.text, jerr.line);
		return -1;
	}
	fmt = json_object_get(root, "format");
	jname = json_object_get(root, "job");
	sinks = json_object_get(root, "sinks");
	if (!json_is_object(root) || !json_is_integer(fmt)) {
		*why = xstrdup("no \"format\"");
		goto out;
	}
	if (json_integer_value(fmt) > STATE_FORMAT) {
		*why = xasprintf("format %lld is newer than this cairn's %d",
		                 (long long)json_integer_value(fmt), STATE_FORMAT);
		goto out;
	}
	if (!json_is_string(jname) || strcmp(json_string_value(jname), job) != 0) {
		*why = xasprintf("it is not the record of job %s", job);
		goto out;
	}
	if (!json_is_object(sinks)) {
		*why = xstrdup("no \"sinks\" object");
		goto out;
	}
	json_object_foreach(sinks, name, v)
	{
		if (!valid_name(name)) {
			*why = xstrdup("a sink's name is not a valid name");
			goto out;
		}
		if (parse_sink(v, state_sink_add(st, name), why))
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc)
		state_free(st);
	return rc;
}

/* Read at most max bytes of the regular file path without blocking on
 * anything else: 0, 1 when it does not exist, -1 with errno. */
static int
read_small(const char *path, size_t max, char **buf, size_t *len, int *too_big)
{
	struct stat st;
	size_t n = 0;
	char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	*too_big = 0;
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		*too_big = st.st_size > 0 && (size_t)st.st_size > max;
		close(fd);
		errno = EINVAL;
		return -1;
	}
	b = xmalloc(max + 1);
	for (;;) {
		ssize_t got = read(fd, b + n, max + 1 - n);
		if (got < 0 && errno == EINTR && !cancel_signal)
			continue;
		if (got < 0) {
			int e = errno;
			free(b);
			close(fd);
			errno = e;
			return -1;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			*too_big = 1;
			free(b);
			close(fd);
			errno = EFBIG;
			return -1;
		}
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int
state_load(const char *state_dir, const char *job, struct job_state *st, char **err)
{
	char *path = state_path(state_dir, job), *buf = NULL, *why = NULL;
	size_t len;
	int too_big, rc;

	memset(st, 0, sizeof(*st));
	rc = read_small(path, STATE_MAX_BYTES, &buf, &len, &too_big);
	if (rc == 1) {
		free(path);
		return 0;
	}
	if (rc < 0) {
		*err = too_big ? xasprintf(
		                         "%s is larger than %d KiB, so it is not cairn's record; remove it (the next backup writes a new one)",
		                         path, STATE_MAX_BYTES >> 10)
		               : xasprintf(
		                         "cannot read %s: %s; remove it if it is not a file (the next backup writes a new one)",
		                         path, strerror(errno));
		free(path);
		return -1;
	}
	rc = state_parse(buf, len, job, st, &why);
	free(buf);
	if (rc) {
		*err = xasprintf("%s is damaged: %s; remove it (the next backup writes a new one)",
		                 path, why);
		free(why);
	}
	free(path);
	return rc ? -1 : 0;
}

/* The status directory, made 0700 when missing. */
static char *
status_dir(const char *state_dir, char **err)
{
	char *dir = path_join(state_dir, "status");
	if (mkdir_p(dir, 0700) != 0) {
		*err = xasprintf(
		        "cannot create %s: %s; set state_dir in [cairn] to a writable directory",
		        dir, strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}

int
state_save(const char *state_dir, const char *job, const struct job_state *st, char **err)
{
	char *dir = status_dir(state_dir, err), *path, *text, *doc, *tmp = NULL;
	enum atomic_step step;
	json_t *j;
	int rc;

	if (!dir)
		return -1;
	path = state_path(state_dir, job);
	j = state_to_json(job, st);
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	doc = xasprintf("%s\n", text);
	rc = write_file_atomic(path, NULL, doc, strlen(doc), 0600, &step, &tmp);
	if (rc && step == ATOMIC_CREATE)
		*err = xasprintf("cannot create a file in %s: %s", dir, strerror(errno));
	else if (rc)
		*err = xasprintf("cannot write %s: %s", step == ATOMIC_WRITE ? tmp : path,
		                 strerror(errno));
	free(doc);
	free(text);
	free(tmp);
	free(path);
	free(dir);
	return rc;
}

int
state_update(const char *state_dir, const char *job, void (*fn)(struct job_state *st, void *ud),
             void *ud, char **err)
{
	char *dir = status_dir(state_dir, err), *lockpath, *lerr = NULL;
	struct job_state st;
	int fd, rc;

	if (!dir)
		return -1;
	/* a lock of the record alone: verify runs without the job's lock,
	 * and two runs recording at once must not lose an update */
	lockpath = xasprintf("%s/.%s.lock", dir, job);
	free(dir);
	fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*err = xasprintf("cannot open %s: %s", lockpath, strerror(errno));
		free(lockpath);
		return -1;
	}
	while ((rc = flock(fd, LOCK_EX)) != 0 && errno == EINTR && !cancel_signal)
		;
	if (rc != 0) {
		*err = xasprintf("cannot lock %s: %s", lockpath, strerror(errno));
		close(fd);
		free(lockpath);
		return -1;
	}
	free(lockpath);
	if (state_load(state_dir, job, &st, &lerr)) {
		log_warn("%s", lerr);
		free(lerr);
	}
	fn(&st, ud);
	rc = state_save(state_dir, job, &st, err);
	state_free(&st);
	close(fd);
	return rc;
}
