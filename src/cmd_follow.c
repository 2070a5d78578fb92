/* cmd_follow.c - cairn follow JOB [--source NAME]: archive the change log
 * of every source of the job that has one (ABI 1.4 follow), cut into
 * segments in every sink of the job (logwriter.c), until SIGTERM/SIGINT.
 *
 * One thread per source: follow() blocks inside the plugin (a tailable
 * cursor's await, a replication stream's read) and the ABI has no
 * non-blocking form of it, so a poll loop could not serve two sources.
 * The sink instances are shared, one call at a time (a mutex); the base
 * backups one at a time (another).
 *
 * Locks: the state directory's flock JOB@follow and each sink's lock()
 * under the same name, which no job can have ('@' is no name character):
 * a second follower of the job, from any host or state_dir sharing a
 * store, gets exit 5.  Never the job's own (backup) lock, except for the
 * moments a new full backup of a source is taken, as `backup --source`
 * would.
 *
 * The run record, STATE_DIR/status/JOB@follow.json: per source its state,
 * position, last segment and last error, for status. */
#include "autoconf.h"

#include "cmd.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup_run.h"
#include "crypt.h"
#include "follow_base.h"
#include "follow_start.h"
#include "host.h"
#include "lock.h"
#include "log.h"
#include "logcat.h"
#include "logwriter.h"

#define FOLLOW_LOCK_SUFFIX "@follow"
#define FOLLOW_BACKOFF_MAX 60 /* seconds */
#define FOLLOW_LOCKED_WAIT 10 /* seconds between tries of a busy job lock */
#define FOLLOW_RECORD_FORMAT 1

struct follow_run;

/* One source being followed. */
struct follower {
	struct follow_run *run;
	struct instance *src;
	struct logwriter *lw;
	struct follow_base *fb; /* lw's out, with base_begin/base_end */
	pthread_t thread;
	int started;
	int rc; /* its exit code */
	/* for the run record, under record_mutex: what its thread saw last */
	const char *state;
	char *error;
	time_t error_at;
	struct cairn_log_pos at;
	uint64_t segments;
	char last[LOGSEG_NAME_MAX];
};

struct follow_run {
	struct cli *c;
	const struct cfg_job *job;
	struct strvec only; /* --source */
	char *lockname;     /* JOB@follow */
	int lockfd;
	struct instance **sinks;
	cairn_sink_lock **locks;
	size_t nsinks;
	struct follower *f;
	size_t nf;
	pthread_mutex_t sink_mutex, backup_mutex, record_mutex;
	volatile sig_atomic_t stop; /* a follower failed: all stop */
	char host[256];
	time_t started;
	/* the job's (crypt_recipients_load): its segments are encrypted */
	struct age_recipients *recipients;
};

/* ------------------------------------------------------------ record */

static char *
record_path(const struct follow_run *r)
{
	return xasprintf("%s/status/%s" FOLLOW_LOCK_SUFFIX ".json", r->c->cfg->state_dir,
	                 r->job->name);
}

static void
json_time(json_t *o, const char *key, time_t t)
{
	char buf[32];
	iso8601_format_utc(t, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

static json_t *
follower_json(const struct follower *f)
{
	json_t *o = json_object();
	json_object_set_new(o, "plugin", json_string(f->src->lp->name));
	json_object_set_new(o, "state", json_string(f->state ? f->state : "starting"));
	if (f->at.text[0])
		json_object_set_new(o, "position", log_pos_to_json(&f->at));
	json_object_set_new(o, "segments", json_integer((json_int_t)f->segments));
	if (f->last[0])
		json_object_set_new(o, "last_segment", json_string(f->last));
	if (f->error) {
		json_object_set_new(o, "error", json_string(f->error));
		json_time(o, "error_at", f->error_at);
	}
	return o;
}

/* Write the run record; exit_code < 0 while running.  A failure is a
 * warning, never the follower's. */
static void
record_save(struct follow_run *r, int exit_code)
{
	json_t *j = json_object(), *srcs = json_object();
	char *path = record_path(r), *dir = path_dirname(path), *text, *line;
	pthread_mutex_lock(&r->record_mutex);
	json_object_set_new(j, "format", json_integer(FOLLOW_RECORD_FORMAT));
	json_object_set_new(j, "kind", json_string("cairn-follow"));
	json_object_set_new(j, "job", json_string(r->job->name));
	json_object_set_new(j, "host", json_string(r->host));
	json_object_set_new(j, "pid", json_integer((json_int_t)getpid()));
	json_time(j, "started", r->started);
	json_time(j, "updated", time(NULL));
	json_object_set_new(j, "running", json_boolean(exit_code < 0));
	if (exit_code >= 0)
		json_object_set_new(j, "exit_code", json_integer(exit_code));
	for (size_t i = 0; i < r->nf; i++)
		if (r->f[i].lw)
			json_object_set_new(srcs, r->f[i].src->name, follower_json(&r->f[i]));
	json_object_set_new(j, "sources", srcs);
	text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	line = xasprintf("%s\n", text ? text : "{}");
	free(text);
	if (mkdir_p(dir, 0700) != 0 ||
	    write_file_atomic(path, NULL, line, strlen(line), 0600, NULL, NULL) != 0)
		log_warn("cannot write the run record %s: %s", path, strerror(errno));
	pthread_mutex_unlock(&r->record_mutex);
	free(line);
	free(dir);
	free(path);
}

/* The follower's state, and its error (NULL: keep the last one). */
static void
set_state(struct follower *f, const char *state, const char *error)
{
	pthread_mutex_lock(&f->run->record_mutex);
	f->state = state;
	if (error) {
		free(f->error);
		f->error = xstrdup(error);
		f->error_at = time(NULL);
	}
	f->at = *logwriter_committed(f->lw);
	f->segments = logwriter_segments(f->lw);
	memcpy(f->last, logwriter_last_segment(f->lw), sizeof(f->last));
	pthread_mutex_unlock(&f->run->record_mutex);
	record_save(f->run, -1);
}

/* After each segment stored: the record shows the new position. */
static void
on_commit(void *ud)
{
	struct follower *f = ud;
	set_state(f, f->state, NULL);
}

/* A new base from the source's own link (follow_base.c) says its state. */
static void
base_state(void *ud, const char *state)
{
	set_state(ud, state, NULL);
}

/* ------------------------------------------------------------ waiting */

static int
stopping(const struct follow_run *r)
{
	return cancel_signal || r->stop;
}

/* Sleep secs, or less when the run is being stopped. */
static void
nap(const struct follow_run *r, int secs)
{
	for (int i = 0; i < secs * 10 && !stopping(r); i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* ----------------------------------------------------- new full backup */

/* A new full backup of f's source (a set of it alone, as backup --source
 * makes), taken under the job's lock (waited for while a backup of the
 * job runs): 0 with id and its START position, or an exit code. */
static int
take_base(struct follower *f, char id[BACKUP_ID_LEN + 1], struct cairn_log_pos *start)
{
	struct follow_run *r = f->run;
	struct backup_args a = {0};
	char *err = NULL;
	int rc, said = 0;
	set_state(f, "backing up", NULL);
	strvec_push(&a.only, f->src->name);
	pthread_mutex_lock(&r->backup_mutex);
	for (;;) {
		log_info("source %s: taking a full backup of it to follow its log from",
		         f->src->name);
		rc = backup_run(r->c, r->job, &a, id);
		unlock_job(r->c->lockfd);
		r->c->lockfd = -1;
		if (rc != CAIRN_EXIT_LOCKED || stopping(r))
			break;
		if (!said++)
			log_info("source %s: waiting for the run of job %s that holds its lock",
			         f->src->name, r->job->name);
		nap(r, FOLLOW_LOCKED_WAIT);
	}
	pthread_mutex_unlock(&r->backup_mutex);
	strvec_free(&a.only);
	if (!id[0])
		return rc ? rc : CAIRN_EXIT_FAILED;
	pthread_mutex_lock(&r->sink_mutex);
	rc = follow_base_start(r->sinks, r->nsinks, r->job->name, id, f->src->name, start, &err);
	pthread_mutex_unlock(&r->sink_mutex);
	if (rc) {
		log_error("%s", err);
		free(err);
		return CAIRN_EXIT_FAILED;
	}
	return 0;
}

/* follow() said the log lost what follows the committed position: say so
 * loudly, take a new base, record the gap up to it in every sink, go on
 * from it. */
static int
log_lost(struct follower *f, const char *detail)
{
	struct cairn_log_pos from = *logwriter_committed(f->lw), start;
	char id[BACKUP_ID_LEN + 1] = "", when[40], *reason;
	int rc;
	log_time_format(from.time_ms, when, sizeof(when));
	log_error(
	        "source %s: its change log no longer holds what follows position %s (%s): %s; the changes from then until a new full backup are lost to point-in-time recovery; taking a new full backup of source %s now",
	        f->src->name, from.text, when, detail, f->src->name);
	set_state(f, "log lost", detail);
	if ((rc = take_base(f, id, &start)))
		return rc;
	reason = xasprintf(
	        "the change log no longer held what followed %s when cairn follow asked for it (%s); full backup %s was taken after it",
	        from.text, detail, id);
	rc = logwriter_gap(f->lw, &start, id, reason);
	log_error("source %s: gap in its log from %s (%s) to %s, the new full backup %s; %s",
	          f->src->name, from.text, when, start.text, id,
	          rc ? "no sink took the gap record: see above" : "recorded in the job's sinks");
	free(reason);
	return 0;
}

/* ----------------------------------------------------------- following */

/* Where f starts: after the newest committed segment in any sink; else
 * after the START of the newest set holding the source; else after a new
 * full backup.  0 or an exit code. */
static int
find_start(struct follower *f)
{
	struct follow_run *r = f->run;
	struct follow_start fs;
	struct cairn_log_pos start;
	char id[BACKUP_ID_LEN + 1] = "";
	int rc = 0;
	follow_start_find(r->sinks, r->nsinks, r->job->name, f->src->name, &fs);
	if (fs.found) {
		logwriter_start(f->lw, &fs.to, fs.base);
		for (size_t i = 0; i < r->nsinks; i++)
			if (fs.has[i] &&
			    (fs.at[i].lsn != fs.to.lsn || fs.at[i].time_ms != fs.to.time_ms))
				logwriter_sink_behind(f->lw, i, &fs.at[i]);
		log_info("source %s: following its log from %s (after the newest segment stored)",
		         f->src->name, fs.to.text);
	} else if (follow_base_find(r->sinks, r->nsinks, r->job->name, f->src->name, id, &start)) {
		logwriter_start(f->lw, &start, id);
		log_info("source %s: following its log from %s, where full backup %s began",
		         f->src->name, start.text, id);
	} else if (!(rc = take_base(f, id, &start))) {
		logwriter_start(f->lw, &start, id);
		log_info("source %s: following its log from %s, where the new full backup %s began",
		         f->src->name, start.text, id);
	}
	follow_start_free(&fs);
	return rc;
}

/* After follow() returned rc with detail and what it received was
 * committed (or no sink took it: store_failed): -1 to follow again after
 * *wait seconds, else the exit code to end with. */
static int
after_follow(struct follower *f, int rc, int store_failed, const char *detail, int *backoff,
             int *wait)
{
	const char *name = f->src->name;
	*wait = *backoff;
	if (store_failed) {
		/* said by the writer; the open segment is dropped and the
		 * source asked again for what follows the last one stored */
		logwriter_start(f->lw, logwriter_committed(f->lw), NULL);
		log_warn("source %s: following again after %s in %d s, when a sink may take it",
		         name, logwriter_committed(f->lw)->text, *backoff);
		set_state(f, "retrying", "no sink took the last log segment");
	} else if (rc == CAIRN_E_RETRYABLE || rc == 0) {
		log_warn("source %s: %s; following again after %s in %d s", name,
		         rc ? detail : "its follow() returned without being stopped",
		         logwriter_committed(f->lw)->text, *backoff);
		set_state(f, "retrying", rc ? detail : "follow() returned");
	} else if (rc == CAIRN_E_LOGLOST) {
		int lrc = log_lost(f, detail);
		*backoff = 1;
		*wait = 0;
		if (lrc && stopping(f->run))
			return 0; /* the stop cut its full backup short: the next run finds the loss */
		return lrc ? lrc : -1;
	} else {
		log_error("source %s: %s; cairn follow stops", name, detail);
		set_state(f, "failed", detail);
		return exit_for(rc);
	}
	*backoff = *backoff * 2 > FOLLOW_BACKOFF_MAX ? FOLLOW_BACKOFF_MAX : *backoff * 2;
	return -1;
}

/* Follow one source until the run stops: an exit code. */
static int
follow_loop(struct follower *f)
{
	struct follow_run *r = f->run;
	int backoff = 1, rc;
	if ((rc = find_start(f)))
		return stopping(r) ? 0 : rc; /* a stop cut its full backup short */
	while (!stopping(r)) {
		uint64_t before = logwriter_segments(f->lw);
		int wait, next, crc, failed;
		char *detail;
		set_state(f, "following", NULL);
		rc = op_follow(f->src, logwriter_committed(f->lw), follow_base_out(f->fb));
		follow_base_close(f->fb);
		detail = xstrdup(instance_error(f->src, rc));
		/* what was received is committed first: a retry resumes after
		 * it, a stop keeps it */
		failed = logwriter_store_failed(f->lw);
		crc = failed ? 0 : logwriter_commit(f->lw);
		if (stopping(r)) {
			free(detail);
			if (crc || failed)
				return CAIRN_EXIT_FAILED; /* said; the next run takes up from the store */
			break;
		}
		if (logwriter_segments(f->lw) > before)
			backoff = 1; /* it worked for a while */
		next = after_follow(f, rc, failed || crc, detail, &backoff, &wait);
		free(detail);
		if (next >= 0)
			return next;
		nap(r, wait);
	}
	set_state(f, "stopped", NULL);
	return 0;
}

static void *
follow_thread(void *arg)
{
	struct follower *f = arg;
	f->rc = follow_loop(f);
	if (f->rc && !cancel_signal)
		f->run->stop = 1; /* one failed: the others commit and stop */
	return NULL;
}
/* ------------------------------------------------------------- setup */

const struct option follow_options[] = {{"source", required_argument, NULL, 's'},
                                        {NULL, 0, NULL, 0}};

static int
parse_options(struct follow_run *r, int argc, char **argv)
{
	int opt;
	while ((opt = getopt_long(argc, argv, "s:", follow_options, NULL)) != -1) {
		switch (opt) {
		case 's': strvec_push(&r->only, optarg); break;
		default: return usage_error("follow: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("follow takes one JOB");
	return 0;
}

/* The sources to follow: every source of the job that can, or those of
 * --source (each must be able to). */
static int
make_followers(struct follow_run *r)
{
	const struct cfg_job *job = r->job;
	int rc = 0;
	for (size_t i = 0; i < r->only.n; i++)
		if (!strvec_contains(&job->sources, r->only.v[i])) {
			log_error("job %s has no source named \"%s\"", job->name, r->only.v[i]);
			return CAIRN_EXIT_USAGE;
		}
	r->f = xcalloc(job->sources.n ? job->sources.n : 1, sizeof(*r->f));
	for (size_t i = 0; i < job->sources.n && !rc; i++) {
		struct instance *src = NULL;
		struct strvec none = {0};
		if (r->only.n && !strvec_contains(&r->only, job->sources.v[i]))
			continue;
		if ((rc = make_source(r->c, job->sources.v[i], &none, SET_BACKUP, &src, NULL)))
			break;
		if (!op_can_follow(src)) {
			if (r->only.n) {
				log_error(
				        "%s has no change log to follow (its plugin has no follow op); follow a source that has one, e.g. mongo",
				        src->ctx.label);
				rc = CAIRN_EXIT_USAGE;
			}
			instance_destroy(src);
			continue;
		}
		r->f[r->nf].run = r;
		r->f[r->nf++].src = src;
	}
	if (!rc && !r->nf) {
		log_error(
		        "job %s has no source with a change log to follow (none of its plugins has a follow op); cairn follow has nothing to do",
		        job->name);
		rc = CAIRN_EXIT_CONFIG;
	}
	return rc;
}

/* The state directory's lock and every sink's, under JOB@follow. */
static int
lock_follow(struct follow_run *r)
{
	char *err = NULL;
	int busy, rc;
	r->lockname = xasprintf("%s" FOLLOW_LOCK_SUFFIX, r->job->name);
	r->lockfd = lock_job(r->c->cfg->state_dir, r->lockname, &busy, &err);
	if (r->lockfd < 0) {
		if (busy)
			log_error(
			        "job %s is already being followed by another cairn follow on this host (state_dir %s); a job has one follower at a time",
			        r->job->name, r->c->cfg->state_dir);
		else
			log_error("%s", err);
		free(err);
		return busy ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_FAILED;
	}
	if ((rc = make_sinks(r->c, r->job, NULL, &r->sinks, &r->nsinks)))
		return rc;
	r->locks = xcalloc(r->nsinks ? r->nsinks : 1, sizeof(*r->locks));
	for (size_t i = 0; i < r->nsinks; i++) {
		rc = sink_lock(r->sinks[i], r->lockname, &r->locks[i], &err);
		if (rc == CAIRN_E_LOCKED) {
			log_error(
			        "%s; job %s is already being followed from another host or state_dir",
			        err, r->job->name);
			free(err);
			return CAIRN_EXIT_LOCKED;
		}
		if (rc) {
			log_error("%s", err);
			free(err);
			return exit_for(rc);
		}
	}
	return 0;
}

static int
start_writers(struct follow_run *r)
{
	char *kerr = NULL;
	if (crypt_recipients_load(r->job, &r->recipients, &kerr)) {
		log_error("%s; job %s is not followed and nothing was written", kerr, r->job->name);
		free(kerr);
		return CAIRN_EXIT_CONFIG;
	}
	for (size_t i = 0; i < r->nf; i++) {
		struct logwriter_conf conf = {.job = r->job,
		                              .source = r->f[i].src,
		                              .sinks = r->sinks,
		                              .nsinks = r->nsinks,
		                              .sink_mutex = &r->sink_mutex,
		                              .host = r->host,
		                              .recipients = r->recipients,
		                              .stop = &r->stop,
		                              .on_commit = on_commit,
		                              .userdata = &r->f[i]};
		char *err = NULL;
		if (!(r->f[i].lw = logwriter_new(&conf, &err))) {
			log_error("%s", err);
			free(err);
			return CAIRN_EXIT_PLUGIN;
		}
		struct follow_base_conf bconf = {.c = r->c,
		                                 .job = r->job,
		                                 .source = r->f[i].src,
		                                 .lw = r->f[i].lw,
		                                 .backup_mutex = &r->backup_mutex,
		                                 .on_state = base_state,
		                                 .userdata = &r->f[i]};
		r->f[i].fb = follow_base_new(&bconf);
	}
	return 0;
}

/* Run the followers, one thread each; the first failure's exit code. */
static int
run_followers(struct follow_run *r)
{
	int rc = 0;
	for (size_t i = 0; i < r->nf; i++) {
		int e = pthread_create(&r->f[i].thread, NULL, follow_thread, &r->f[i]);
		if (e != 0) {
			log_error("cannot start a thread to follow source %s: %s",
			          r->f[i].src->name, strerror(e));
			r->stop = 1;
			rc = CAIRN_EXIT_FAILED;
			break;
		}
		r->f[i].started = 1;
	}
	for (size_t i = 0; i < r->nf; i++)
		if (r->f[i].started) {
			pthread_join(r->f[i].thread, NULL);
			if (!rc)
				rc = r->f[i].rc;
		}
	return rc;
}

static void
run_free(struct follow_run *r)
{
	for (size_t i = 0; i < r->nf; i++) {
		follow_base_free(r->f[i].fb);
		logwriter_free(r->f[i].lw);
		instance_destroy(r->f[i].src);
		free(r->f[i].error);
	}
	free(r->f);
	for (size_t i = 0; r->locks && i < r->nsinks; i++)
		sink_unlock(r->sinks[i], r->locks[i]);
	free(r->locks);
	free_instances(r->sinks, r->nsinks);
	unlock_job(r->lockfd);
	free(r->lockname);
	strvec_free(&r->only);
	pthread_mutex_destroy(&r->sink_mutex);
	pthread_mutex_destroy(&r->backup_mutex);
	pthread_mutex_destroy(&r->record_mutex);
	age_recipients_free(r->recipients);
}

int
cmd_follow(struct cli *c, int argc, char **argv)
{
	struct follow_run r = {.c = c, .lockfd = -1, .started = time(NULL)};
	int rc;
	pthread_mutex_init(&r.sink_mutex, NULL);
	pthread_mutex_init(&r.backup_mutex, NULL);
	pthread_mutex_init(&r.record_mutex, NULL);
	gethostname(r.host, sizeof(r.host) - 1);
	if ((rc = parse_options(&r, argc, argv)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &r.job)) || (rc = make_followers(&r)) ||
	    (rc = lock_follow(&r)) || (rc = start_writers(&r)))
		goto out;
	log_info("following the change logs of job %s: %zu source%s into %zu sink%s", r.job->name,
	         r.nf, r.nf == 1 ? "" : "s", r.nsinks, r.nsinks == 1 ? "" : "s");
	record_save(&r, -1);
	rc = run_followers(&r);
	if (!rc && cancel_signal)
		log_info(
		        "cairn follow of job %s stopped by a signal; every segment received is stored",
		        r.job->name);
	record_save(&r, rc);
out:
	run_free(&r);
	return rc;
}
