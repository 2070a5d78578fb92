/* serve_cache.h - the status picture `cairn serve` answers from.
 *
 * One thread per sink of each job gathers that sink's status (its listing,
 * the newest manifests, usage, the state record) in the background and
 * swaps it into the cache, stamped when the gather completed.  A request
 * never gathers: it renders what the cache holds and, when a sink's part is
 * older than max_age, wakes that sink's thread for next time.  A slow or
 * stalled sink therefore delays only its own freshness; until its first
 * gather completes it is reported unreachable, "not answered yet".
 *
 * Plugin instances stay on the thread that made them (one instance per
 * sink thread), as the plugin contract asks. */
#ifndef CAIRN_SERVE_CACHE_H
#define CAIRN_SERVE_CACHE_H

#include "config.h"
#include "plugin.h"
#include "status.h"

struct serve_cache;

/* Start the sink threads; every plugin a sink of cfg uses is loaded here
 * first, on the caller's thread.  NULL with *err when a thread cannot be
 * started. */
struct serve_cache *serve_cache_start(struct plugin_registry *reg, const struct config *cfg,
                                      unsigned max_age, char **err);

/* What a request needs, rendered under the cache's lock (the caller frees
 * the strings).  job: NULL for all; a job the configuration lacks gives
 * *status_doc NULL.  Any argument may be NULL when not wanted. */
void serve_cache_render(struct serve_cache *sc, const char *job, char **status_doc, char **metrics,
                        enum check_state *state);

/* Stop the threads: a thread inside a plugin call is waited for until
 * grace_ms have passed.  Returns the number of threads still running then
 * (0: all joined and the cache is freed; else the caller must not unload
 * plugins and should leave the process at once). */
size_t serve_cache_stop(struct serve_cache *sc, unsigned grace_ms);

#endif
