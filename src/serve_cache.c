/* serve_cache.c - see serve_cache.h */
#include "autoconf.h"

#include "serve_cache.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "state.h"
#include "util.h"

/* While a sink's first gather runs, a request waits this long for it, and
 * only in the first seconds after the start: a sink that never answers
 * must not slow every request down. */
#define FIRST_WAIT_MS 800
#define FIRST_WAIT_WINDOW_SECS 5
/* A sink thread with nothing to do looks at the clock this often. */
#define IDLE_WAKE_MS 1000

struct slot {
	struct serve_cache *sc;
	const struct cfg_job *job;
	const char *name; /* the sink's, from the configuration */
	char *load_error; /* its plugin could not be loaded: no thread */
	struct sink_status ss;
	char *state_error;  /* the job's state record is damaged */
	int have;           /* ss holds a completed gather */
	int busy;           /* a gather is running */
	time_t gathered;    /* when the last gather completed */
	time_t since;       /* when the running gather started */
	unsigned long seen; /* the demand count the last gather served */
	pthread_t th;
	int running;
};

struct serve_cache {
	struct plugin_registry *reg;
	const struct config *cfg;
	unsigned max_age;
	pthread_mutex_t mu;
	pthread_cond_t wake;    /* to the sink threads: stop, or fresh demand */
	pthread_cond_t updated; /* to waiting requests: a gather completed */
	unsigned long demand;   /* requests so far */
	int stop;
	struct timespec start; /* CLOCK_MONOTONIC */
	struct slot *v;
	size_t n;
};

static struct timespec
mono_after(unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Does the slot's sink need a gather now?  Under the lock. */
static int
due(const struct slot *sl, time_t now)
{
	if (!sl->have)
		return 1;
	return sl->sc->demand != sl->seen &&
	       (now < sl->gathered || now - sl->gathered >= (time_t)sl->sc->max_age);
}

static void *
sink_thread(void *arg)
{
	struct slot *sl = arg;
	struct serve_cache *sc = sl->sc;
	sigset_t all;
	/* signals are the main thread's: it sets cancel_signal */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&sc->mu);
	for (;;) {
		while (!sc->stop && !due(sl, time(NULL))) {
			struct timespec until = mono_after(IDLE_WAKE_MS);
			pthread_cond_timedwait(&sc->wake, &sc->mu, &until);
		}
		if (sc->stop)
			break;
		sl->busy = 1;
		sl->seen = sc->demand;
		sl->since = time(NULL);
		pthread_mutex_unlock(&sc->mu);

		struct sink_status fresh;
		struct job_state st;
		char *state_err = NULL;
		if (state_load(sc->cfg->state_dir, sl->job->name, &st, &state_err))
			memset(&st, 0, sizeof(st));
		status_gather_sink(sc->reg, sc->cfg, sl->job, sl->name, &st, &fresh);
		state_free(&st);

		pthread_mutex_lock(&sc->mu);
		status_sink_free(&sl->ss);
		sl->ss = fresh;
		free(sl->state_error);
		sl->state_error = state_err;
		sl->have = 1;
		sl->busy = 0;
		sl->gathered = time(NULL);
		pthread_cond_broadcast(&sc->updated);
	}
	pthread_mutex_unlock(&sc->mu);
	return NULL;
}

static void
init_sync(struct serve_cache *sc)
{
	pthread_condattr_t ca;
	pthread_mutex_init(&sc->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->wake, &ca);
	pthread_cond_init(&sc->updated, &ca);
	pthread_condattr_destroy(&ca);
}

struct serve_cache *
serve_cache_start(struct plugin_registry *reg, const struct config *cfg, unsigned max_age,
                  char **err)
{
	struct serve_cache *sc = xcalloc(1, sizeof(*sc));
	size_t total = 0;
	sc->reg = reg;
	sc->cfg = cfg;
	sc->max_age = max_age;
	init_sync(sc);
	clock_gettime(CLOCK_MONOTONIC, &sc->start);
	for (size_t j = 0; j < cfg->njobs; j++)
		total += cfg->jobs[j].sinks.n;
	sc->v = xcalloc(total ? total : 1, sizeof(*sc->v));
	/* Load every plugin here, on this thread: libltdl is not
	 * thread-safe, and a thread then only finds loaded plugins (the
	 * sources' too: whether one follows a log says if its logs are
	 * shown). */
	for (size_t j = 0; j < cfg->njobs; j++)
		logstatus_load_sources(reg, cfg, &cfg->jobs[j]);
	for (size_t j = 0; j < cfg->njobs; j++)
		for (size_t k = 0; k < cfg->jobs[j].sinks.n; k++) {
			struct slot *sl = &sc->v[sc->n++];
			const struct cfg_section *sec;
			char *lerr = NULL;
			sl->sc = sc;
			sl->job = &cfg->jobs[j];
			sl->name = cfg->jobs[j].sinks.v[k];
			sec = config_section(cfg, SECTION_SINK, sl->name);
			if (!sec)
				sl->load_error =
				        xasprintf("%s: no [sink %s] section", cfg->path, sl->name);
			else if (!registry_load(reg, sec->plugin, &lerr)) {
				sl->load_error = xasprintf("%s:%d: [sink %s] plugin: %s", cfg->path,
				                           sec->plugin_line, sl->name, lerr);
				free(lerr);
			}
		}
	for (size_t i = 0; i < sc->n; i++) {
		struct slot *sl = &sc->v[i];
		const struct cfg_section *sec = config_section(cfg, SECTION_SINK, sl->name);
		if (sl->load_error) {
			/* reported as it is, without a thread */
			sl->ss.name = xstrdup(sl->name);
			sl->ss.plugin = xstrdup(sec && sec->plugin ? sec->plugin : "");
			sl->ss.error = xstrdup(sl->load_error);
			sl->have = 1;
			sl->gathered = time(NULL);
			continue;
		}
		int rc = pthread_create(&sl->th, NULL, sink_thread, sl);
		if (rc) {
			*err = xasprintf("cannot start a status thread: %s", strerror(rc));
			serve_cache_stop(sc, 0);
			return NULL;
		}
		sl->running = 1;
	}
	return sc;
}

/* What a request shows for a sink whose first gather has not completed. */
static void
pending_status(const struct serve_cache *sc, const struct slot *sl, time_t now,
               struct sink_status *out)
{
	const struct cfg_section *sec = config_section(sc->cfg, SECTION_SINK, sl->name);
	memset(out, 0, sizeof(*out));
	out->name = xstrdup(sl->name);
	out->plugin = xstrdup(sec && sec->plugin ? sec->plugin : "");
	out->error = xasprintf("not answered yet: its status has been gathered for %lld s",
	                       (long long)(now > sl->since ? now - sl->since : 0));
}

/* Wait a little for first gathers, in the first seconds only.  Under the
 * lock. */
static void
wait_first(struct serve_cache *sc)
{
	struct timespec now, until = mono_after(FIRST_WAIT_MS);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - sc->start.tv_sec >= FIRST_WAIT_WINDOW_SECS)
		return;
	for (;;) {
		size_t missing = 0;
		for (size_t i = 0; i < sc->n; i++)
			missing += !sc->v[i].have;
		if (!missing || sc->stop)
			return;
		if (pthread_cond_timedwait(&sc->updated, &sc->mu, &until) == ETIMEDOUT)
			return;
	}
}

void
serve_cache_render(struct serve_cache *sc, const char *job, char **status_doc, char **metrics,
                   enum check_state *state)
{
	struct status_report r = {0};
	struct sink_status *pending = xcalloc(sc->n ? sc->n : 1, sizeof(*pending));
	size_t i = 0;

	pthread_mutex_lock(&sc->mu);
	sc->demand++;
	pthread_cond_broadcast(&sc->wake);
	wait_first(sc);
	r.now = time(NULL);
	r.jobs = xcalloc(sc->cfg->njobs ? sc->cfg->njobs : 1, sizeof(*r.jobs));
	/* A report that borrows each sink's cached part: nothing is copied,
	 * and nothing of it is freed but the arrays made here. */
	for (size_t j = 0; j < sc->cfg->njobs; j++) {
		const struct cfg_job *cj = &sc->cfg->jobs[j];
		struct job_status *js = &r.jobs[r.njobs++];
		js->job = cj;
		js->sinks = xcalloc(cj->sinks.n ? cj->sinks.n : 1, sizeof(*js->sinks));
		for (size_t k = 0; k < cj->sinks.n; k++, i++) {
			struct slot *sl = &sc->v[i];
			if (sl->have) {
				js->sinks[js->nsinks++] = sl->ss;
			} else {
				pending_status(sc, sl, r.now, &pending[i]);
				js->sinks[js->nsinks++] = pending[i];
			}
			if (!js->state_error && sl->state_error)
				js->state_error = sl->state_error;
		}
	}
	if (status_doc) {
		json_t *doc = job ? status_job_json(&r, job) : status_json(&r);
		*status_doc = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(doc);
	}
	if (metrics)
		*metrics = metrics_text(&r);
	if (state) {
		struct check_result cr;
		check_evaluate(&r, &cr);
		*state = cr.state;
		check_result_free(&cr);
	}
	pthread_mutex_unlock(&sc->mu);

	for (size_t j = 0; j < r.njobs; j++)
		free(r.jobs[j].sinks);
	free(r.jobs);
	for (size_t k = 0; k < sc->n; k++)
		status_sink_free(&pending[k]);
	free(pending);
}

size_t
serve_cache_stop(struct serve_cache *sc, unsigned grace_ms)
{
	size_t left = 0;
	struct timespec until;
	pthread_mutex_lock(&sc->mu);
	sc->stop = 1;
	pthread_cond_broadcast(&sc->wake);
	pthread_cond_broadcast(&sc->updated);
	pthread_mutex_unlock(&sc->mu);
	clock_gettime(CLOCK_REALTIME, &until); /* pthread_timedjoin_np's clock */
	until.tv_sec += grace_ms / 1000;
	until.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (size_t i = 0; i < sc->n; i++) {
		struct slot *sl = &sc->v[i];
		if (!sl->running)
			continue;
		if (pthread_timedjoin_np(sl->th, NULL, &until) == 0)
			sl->running = 0;
		else
			left++;
	}
	if (left)
		return left; /* a thread still uses the cache: leave it be */
	for (size_t i = 0; i < sc->n; i++) {
		status_sink_free(&sc->v[i].ss);
		free(sc->v[i].state_error);
		free(sc->v[i].load_error);
	}
	free(sc->v);
	pthread_cond_destroy(&sc->wake);
	pthread_cond_destroy(&sc->updated);
	pthread_mutex_destroy(&sc->mu);
	free(sc);
	return 0;
}
