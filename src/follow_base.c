/* follow_base.c - see follow_base.h */
#include "autoconf.h"

#include "follow_base.h"

#include <stdlib.h>
#include <string.h>

#include "backup_run.h"
#include "host.h"
#include "lock.h"
#include "log.h"
#include "logcat.h"
#include "util.h"

/* Where the base being taken stands; the follower and the backup thread
 * hand it to each other under mu. */
enum fb_state {
	FB_IDLE,     /* none */
	FB_STARTING, /* the backup thread runs up to its pipeline */
	FB_OPEN,     /* the pipeline's out is the follower's to write */
	FB_ENDING,   /* base_end told the thread to commit or abort */
	FB_DONE      /* backup_run returned */
};

struct follow_base {
	struct cairn_log_out out; /* first: what follow() is given */
	struct follow_base_conf conf;
	struct cairn_log_out *lw_out; /* the logwriter's record() and idle() */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum fb_state state;
	pthread_t thread;
	struct cairn_out *set_out; /* the pipeline's, while FB_OPEN */
	int end_rc;                /* base_end's rc, for the pipeline */
	int exit_code;             /* backup_run's */
	char id[BACKUP_ID_LEN + 1];
	struct cairn_log_pos from; /* where the log was lost */
};

/* Wait while the state is s; the new one. */
static enum fb_state
fb_wait_while(struct follow_base *fb, enum fb_state s)
{
	enum fb_state now;
	pthread_mutex_lock(&fb->mu);
	while (fb->state == s)
		pthread_cond_wait(&fb->cv, &fb->mu);
	now = fb->state;
	pthread_mutex_unlock(&fb->mu);
	return now;
}

static void
fb_state_said(struct follow_base *fb, const char *state)
{
	if (fb->conf.on_state)
		fb->conf.on_state(fb->conf.userdata, state);
}

/* The follower's error detail, for follow()'s return. */
static void
fb_error(struct follow_base *fb, char *detail)
{
	cairn_ctx *ctx = &fb->conf.source->ctx;
	free(ctx->error);
	ctx->error = detail;
}

/* ------------------------------------------------------ the backup thread */

/* The pipeline's source stream (struct backup_request.backup), on the
 * backup thread: hand out to the follower, wait for base_end. */
static int
fb_backup(void *ud, struct instance *src, struct cairn_out *out)
{
	struct follow_base *fb = ud;
	int rc;
	/* as op_backup: host->stat and host->log_position count for the set */
	src->ctx.in_backup = 1;
	src->ctx.has_log[0] = src->ctx.has_log[1] = 0;
	pthread_mutex_lock(&fb->mu);
	fb->set_out = out;
	fb->state = FB_OPEN;
	pthread_cond_broadcast(&fb->cv);
	while (fb->state == FB_OPEN)
		pthread_cond_wait(&fb->cv, &fb->mu);
	fb->set_out = NULL;
	rc = fb->end_rc;
	pthread_mutex_unlock(&fb->mu);
	src->ctx.in_backup = 0;
	return rc;
}

static void *
fb_thread(void *arg)
{
	struct follow_base *fb = arg;
	struct backup_args a = {.source = fb->conf.source, .backup = fb_backup, .backup_ud = fb};
	int code;
	strvec_push(&a.only, fb->conf.source->name);
	code = backup_run(fb->conf.c, fb->conf.job, &a, fb->id);
	strvec_free(&a.only);
	pthread_mutex_lock(&fb->mu);
	fb->exit_code = code;
	fb->state = FB_DONE;
	pthread_cond_broadcast(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

/* The backup thread is done: join it, release the job's lock (backup_run
 * leaves it in c->lockfd) and the base mutex. */
static void
fb_join(struct follow_base *fb)
{
	pthread_join(fb->thread, NULL);
	unlock_job(fb->conf.c->lockfd);
	fb->conf.c->lockfd = -1;
	if (fb->conf.backup_mutex)
		pthread_mutex_unlock(fb->conf.backup_mutex);
	fb->state = FB_IDLE;
}

/* ---------------------------------------------------------- base_begin */

/* The base could not start (backup_run returned before its pipeline):
 * the code for follow() to return. */
static int
fb_not_started(struct follow_base *fb)
{
	const char *name = fb->conf.source->name;
	int code = fb->exit_code;
	fb_join(fb);
	if (code == CAIRN_EXIT_LOCKED) {
		log_warn(
		        "source %s: another run holds the lock of job %s, so the full copy its link sends cannot be stored now; cairn follow takes the new full backup over a connection of its own once the lock is free",
		        name, fb->conf.job->name);
		return CAIRN_E_LOGLOST;
	}
	fb_error(
	        fb,
	        xasprintf(
	                "the new full backup of source %s from its own link could not be started (see above)",
	                name));
	return CAIRN_E_IO;
}

static int
fb_begin(struct cairn_log_out *o, struct cairn_out **out)
{
	struct follow_base *fb = (struct follow_base *)o;
	const char *name = fb->conf.source->name;
	char when[40];
	int e;
	*out = NULL;
	if (fb->state != FB_IDLE) {
		log_error(
		        "source %s: its plugin began a new full backup while one was open; fix the plugin",
		        name);
		return CAIRN_E_UNSUPPORTED;
	}
	/* what was received before the loss is stored first */
	if (logwriter_commit(fb->conf.lw))
		return CAIRN_E_RETRYABLE; /* said; follow() again after the last stored */
	if (fb->conf.backup_mutex && pthread_mutex_trylock(fb->conf.backup_mutex)) {
		log_warn(
		        "source %s: another source of job %s is taking its new full backup; cairn follow takes this one's over a connection of its own once that one is done",
		        name, fb->conf.job->name);
		return CAIRN_E_LOGLOST;
	}
	fb->from = *logwriter_committed(fb->conf.lw);
	log_time_format(fb->from.time_ms, when, sizeof(when));
	log_error(
	        "source %s: its change log no longer holds what follows position %s (%s); its own link sends a full copy of its data instead, stored now as a new full backup of source %s; the changes from then until it are lost to point-in-time recovery",
	        name, fb->from.text, when, name);
	fb_state_said(fb, "backing up");
	fb->id[0] = '\0';
	fb->state = FB_STARTING;
	if ((e = pthread_create(&fb->thread, NULL, fb_thread, fb)) != 0) {
		fb->state = FB_IDLE;
		if (fb->conf.backup_mutex)
			pthread_mutex_unlock(fb->conf.backup_mutex);
		fb_error(fb,
		         xasprintf("cannot start a thread for the new full backup of source %s: %s",
		                   name, strerror(e)));
		return CAIRN_E_NOMEM;
	}
	if (fb_wait_while(fb, FB_STARTING) != FB_OPEN)
		return fb_not_started(fb);
	*out = fb->set_out;
	return 0;
}

/* ------------------------------------------------------------ base_end */

/* The set is stored as id: the gap up to pos, and on from there. */
static int
fb_gap(struct follow_base *fb, const struct cairn_log_pos *pos)
{
	const char *name = fb->conf.source->name;
	char when[40], *reason;
	int rc;
	log_time_format(fb->from.time_ms, when, sizeof(when));
	reason = xasprintf(
	        "the change log no longer held what followed %s when cairn follow asked for it; the source's own link sent full backup %s instead",
	        fb->from.text, fb->id);
	rc = logwriter_gap(fb->conf.lw, pos, fb->id, reason);
	log_error("source %s: gap in its log from %s (%s) to %s, the new full backup %s; %s", name,
	          fb->from.text, when, pos->text, fb->id,
	          rc ? "no sink took the gap record: see above" : "recorded in the job's sinks");
	free(reason);
	fb_state_said(fb, "following");
	return 0;
}

static int
fb_end(struct cairn_log_out *o, int rc, const struct cairn_log_pos *pos)
{
	struct follow_base *fb = (struct follow_base *)o;
	struct instance *src = fb->conf.source;
	if (fb->state != FB_OPEN) {
		log_error(
		        "source %s: its plugin ended a new full backup it had not begun; fix the plugin",
		        src->name);
		return CAIRN_E_UNSUPPORTED;
	}
	if (!rc && (!pos || !log_pos_valid(pos))) {
		log_error(
		        "source %s: its plugin ended its new full backup at a position whose text is not 1 to 95 printable characters without space; the backup is not kept (fix the plugin)",
		        src->name);
		rc = CAIRN_E_CORRUPT;
	}
	if (!rc) { /* the dump is consistent at pos: START and END */
		src->ctx.log[CAIRN_LOG_AT_START] = src->ctx.log[CAIRN_LOG_AT_END] = *pos;
		src->ctx.has_log[CAIRN_LOG_AT_START] = src->ctx.has_log[CAIRN_LOG_AT_END] = 1;
	}
	pthread_mutex_lock(&fb->mu);
	fb->end_rc = rc;
	fb->state = FB_ENDING;
	pthread_cond_broadcast(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
	fb_wait_while(fb, FB_ENDING);
	fb_join(fb);
	if (rc) {
		log_warn("source %s: the new full backup from its link was not kept (%s)",
		         src->name, status_str(rc));
		fb_state_said(fb, "following");
		return 0;
	}
	if (!fb->id[0]) {
		fb_error(
		        fb,
		        xasprintf(
		                "no sink stored the new full backup of source %s from its own link (see above)",
		                src->name));
		return CAIRN_E_IO;
	}
	return fb_gap(fb, pos);
}

/* ------------------------------------------------------ record and idle */

static int
fb_record(struct cairn_log_out *o, const void *buf, size_t len, const struct cairn_log_pos *pos)
{
	struct follow_base *fb = (struct follow_base *)o;
	if (fb->state != FB_IDLE) {
		log_error(
		        "source %s: its plugin gave a log record while its new full backup was open; fix the plugin",
		        fb->conf.source->name);
		return CAIRN_E_UNSUPPORTED;
	}
	return fb->lw_out->record(fb->lw_out, buf, len, pos);
}

static int
fb_idle(struct cairn_log_out *o, const struct cairn_log_pos *pos)
{
	struct follow_base *fb = (struct follow_base *)o;
	if (fb->state != FB_IDLE) /* the segment waits: the log goes on after the base */
		return cancel_signal ? CAIRN_E_CANCELLED : 0;
	return fb->lw_out->idle(fb->lw_out, pos);
}

/* ------------------------------------------------------------------ api */

struct follow_base *
follow_base_new(const struct follow_base_conf *conf)
{
	struct follow_base *fb = xcalloc(1, sizeof(*fb));
	fb->out.struct_size = sizeof(fb->out);
	fb->out.record = fb_record;
	fb->out.idle = fb_idle;
	fb->out.base_begin = fb_begin;
	fb->out.base_end = fb_end;
	fb->conf = *conf;
	fb->lw_out = logwriter_out(conf->lw);
	pthread_mutex_init(&fb->mu, NULL);
	pthread_cond_init(&fb->cv, NULL);
	return fb;
}

struct cairn_log_out *
follow_base_out(struct follow_base *fb)
{
	return &fb->out;
}

void
follow_base_close(struct follow_base *fb)
{
	if (!fb || fb->state != FB_OPEN)
		return;
	log_error(
	        "source %s: its plugin returned from follow() with its new full backup still open; the backup is not kept (fix the plugin)",
	        fb->conf.source->name);
	fb_end(&fb->out, CAIRN_E_UNSUPPORTED, NULL);
}

void
follow_base_free(struct follow_base *fb)
{
	if (!fb)
		return;
	follow_base_close(fb);
	pthread_mutex_destroy(&fb->mu);
	pthread_cond_destroy(&fb->cv);
	free(fb);
}
