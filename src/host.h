/* host.h - what the core offers plugins: the host table, the per-instance
 * context it works on, the cancel flag and the scratch directories. */
#ifndef CAIRN_HOST_H
#define CAIRN_HOST_H

#include <cairn/plugin.h>
#include <jansson.h>
#include <signal.h>

struct logstats;

/* The host table handed to every plugin. */
extern const struct cairn_host cairn_host_table;

/* Set from a signal handler; plugins see it through host->cancelled. */
extern volatile sig_atomic_t cancel_signal;

/* A human word for a CAIRN_E_* code (the core's; the cairn_ prefix is
 * the installed ABI's alone). */
const char *status_str(int code);

/* The context the core keeps per instance. */
struct cairn_ctx {
	char *label; /* "source uploads (files)" */
	char *error; /* last set_error detail */
	json_t *stats;
	int warnings;
	char *state_dir;    /* where scratch directories go; NULL: none */
	char *scratch;      /* this instance's scratch directory, once made */
	char *scratch_tag;  /* "source-uploads": names the scratch directory */
	int scratch_fd;     /* the scratch directory, flock()ed while in use */
	int scratch_locked; /* scratch_fd is open */
	int open;           /* sink writers and readers not yet released */
	int in_backup;      /* backup() is running: progress_total counts */
	/* host->log_position during backup() (ABI 1.4): [CAIRN_LOG_AT_START]
	 * and [CAIRN_LOG_AT_END], each once the source told it */
	int has_log[2];
	struct cairn_log_pos log[2];
	/* ABI 1.5: inside follow() (in_follow, ctx_follow) host->stat adds
	 * to the counts of the log segment being written (the logwriter's,
	 * set by logwriter_new; NULL: none), except while in_backup */
	struct logstats *follow_stats;
	int in_follow;
};

/* Remove ctx's scratch directory and everything in it, if there is one;
 * a failure is logged as a warning naming the directory. */
void ctx_scratch_remove(cairn_ctx *ctx);

/* Remove the scratch directories below state_dir/scratch that no live
 * run holds (their owner was killed): each one in use is flock()ed by its
 * owner, and one made in the last SCRATCH_SWEEP_AGE seconds is left
 * alone, since it is locked only a moment after it is made.  Failures are
 * warnings; nothing outside state_dir/scratch is touched. */
#define SCRATCH_SWEEP_AGE 60
void scratch_sweep(const char *state_dir);

/* Is p a position as plugin.h defines it (text 1 to CAIRN_LOG_POS_MAX - 1
 * printable ASCII characters without space, NUL terminated)? */
int log_pos_valid(const struct cairn_log_pos *p);

/* follow() starts (on 1: what its earlier call counted for a record it
 * never gave is forgotten) or has returned (0). */
void ctx_follow(cairn_ctx *ctx, int on);

/* Free what the context holds (not the context itself). */
void ctx_free(cairn_ctx *ctx);

#endif
