/*
 * cairn/plugin.h - the one header a cairn plugin needs.
 *
 * A plugin is a shared module (NAME.so in cairn's plugin directory) that
 * exports exactly one symbol:
 *
 *     const struct cairn_plugin *cairn_plugin_entry(const struct cairn_host *host);
 *
 * It returns a pointer to a static, const descriptor.  The core never links
 * symbols into the plugin: everything a plugin needs from the core arrives in
 * the host table, and everything the core needs from the plugin is in the
 * descriptor and its ops table.
 *
 * Versioning rules (see doc/plugin-authoring.md):
 *  - CAIRN_ABI_MAJOR changes when an existing field changes meaning or place.
 *    The core refuses a plugin with another major.
 *  - CAIRN_ABI_MINOR grows when fields are appended to a struct.  Every
 *    versioned struct starts with its own size, so each side reads only the
 *    fields the other side has.  Structs only ever grow at the end.
 *  - Fill ops tables with designated initialisers; leave optional ops NULL.
 *
 * Errors: every op returns 0 or a negative CAIRN_E_* code.  The human-readable
 * detail goes through host->set_error(ctx, ...), one line, naming the object
 * (file, key, bucket) and, where possible, what to do about it.  The core
 * clears the detail before every call into the plugin, so a failure without
 * set_error reads as the code's generic word, never as an older message.
 *
 * Environment.  A plugin runs inside cairn's process and shares it, so:
 *  - The ops of one instance are called from one thread at a time; a later
 *    cairn may call different instances at once, so keep no mutable state
 *    outside the instance.  A sink's write() runs nested inside the
 *    source's out->write() (on the source's thread, or on a compression
 *    thread during backup).
 *  - Never rely on or change the working directory: open relative to
 *    directory descriptors (openat(), mkdirat(), fstatat(), ...).  Never
 *    call setlocale() (use newlocale()/uselocale() on your thread), never
 *    install signal handlers, never change the environment (setenv,
 *    putenv, unsetenv).
 *  - System calls may fail with EINTR: retry them.  SIGPIPE is ignored
 *    (a closed pipe or socket gives EPIPE); children inherit that, so reset
 *    it to SIG_DFL in a child that relies on it.  Start children with
 *    posix_spawn() or fork() followed at once by exec (compression threads
 *    run during backup; between fork and exec only async-signal-safe
 *    calls are allowed).
 *  - Open every descriptor with O_CLOEXEC (SOCK_CLOEXEC, pipe2, ...), so a
 *    child started by another plugin never inherits it.  Give every file
 *    and directory you create an explicit mode; the umask is the user's.
 *  - Statistics (host->stat) reach the manifest only from backup() (and,
 *    inside follow(), ABI 1.5, a log segment's manifest: see stat).  Those
 *    recorded in verify() and restore_test() are compared by the core with
 *    the same keys in the manifest's stats of the object (those backup()
 *    recorded): a key in both with another value is damage (verify exits
 *    6 naming the source, the key and both values); keys on one side only
 *    are not compared.  So record there only what means the same as in
 *    backup() ("files", "documents.DB.COLL"), counted from what was read
 *    or restored; never warnings, times or server versions.  Those
 *    recorded in restore() go into the restore's run record (status
 *    dir, JOB.restore.json), so record there what was written as it is
 *    written ("keys.db0"): after a signal the record says how far it got.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_PLUGIN_H
#define CAIRN_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_ABI_MAJOR 1
#define CAIRN_ABI_MINOR 5

#if defined(__GNUC__)
#define CAIRN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define CAIRN_EXPORT __attribute__((visibility("default")))
#else
#define CAIRN_PRINTF(fmt, args)
#define CAIRN_EXPORT
#endif

/* Return codes.  0 is success; every failure is one of these, negated. */
enum cairn_status {
	CAIRN_OK = 0,
	CAIRN_E_CONFIG = -1,      /* a key's value is unusable */
	CAIRN_E_IO = -2,          /* reading or writing failed */
	CAIRN_E_AUTH = -3,        /* credentials refused */
	CAIRN_E_NOTFOUND = -4,    /* object, file, bucket or key missing */
	CAIRN_E_CORRUPT = -5,     /* data does not have the expected form */
	CAIRN_E_RETRYABLE = -6,   /* transient; the same call may succeed later */
	CAIRN_E_CANCELLED = -7,   /* the run is being stopped (SIGINT/SIGTERM) */
	CAIRN_E_NOMEM = -8,       /* out of memory */
	CAIRN_E_UNSUPPORTED = -9, /* the plugin cannot do this */
	CAIRN_E_EXISTS = -10,     /* target not empty (restore without --force) */
	CAIRN_E_LOCKED = -11,     /* ABI 1.1: another run holds the lock */
	CAIRN_E_LOGLOST = -12     /* ABI 1.4: the change log no longer holds what
	                             follows the position asked for */
};

enum cairn_plugin_kind {
	CAIRN_KIND_SOURCE = 1,
	CAIRN_KIND_SINK = 2
};

enum cairn_log_level {
	CAIRN_LOG_ERROR = 0,
	CAIRN_LOG_WARN = 1,
	CAIRN_LOG_INFO = 2,
	CAIRN_LOG_DEBUG = 3
};

/* ---------------------------------------------------------------- config */

/* Value types of configuration keys.  The core parses and checks values
 * before the plugin sees them; see cairn.ini(5) for the syntax of each. */
enum cairn_key_type {
	CAIRN_KEY_STRING = 1,   /* any text */
	CAIRN_KEY_INT = 2,      /* signed decimal integer -> .i */
	CAIRN_KEY_BOOL = 3,     /* yes/no/true/false/1/0 -> .i (0 or 1) */
	CAIRN_KEY_SIZE = 4,     /* bytes, with K/M/G/T or KiB/MiB/GiB/TiB -> .i */
	CAIRN_KEY_DURATION = 5, /* s/m/h/d/w, or plain seconds -> .i (seconds) */
	CAIRN_KEY_LIST = 6,     /* space-separated words -> .list/.list_len */
	CAIRN_KEY_PATH = 7      /* a path; relative ones are made absolute
	                           against the INI file's directory (INI) or
	                           the working directory (--set) -> .text */
};

/* Key flags. */
#define CAIRN_KEY_REQUIRED 0x1u /* the section must set it */
#define CAIRN_KEY_SECRET \
	0x2u /* never logged; may also be given as
	                           NAME_file = PATH or NAME_env = VARIABLE */
/* When a key has an effect (since cairn 0.2; no ABI change).  A key
 * marked with neither shapes both backups and restores.  `--set` refuses
 * a key in a run it has no effect on, naming the key and the source:
 * `restore --set` (and verify's restore test) a CAIRN_KEY_NO_RESTORE key,
 * `backup --set` a CAIRN_KEY_NO_BACKUP key; the INI file may set either.
 * These are bits of the flags every key already has: a core that predates
 * them ignores them (it tests only the bits it knows), so a plugin that
 * sets them still loads there, and accepts the key in every run as
 * before; a plugin that does not set them behaves as before here.  That
 * is why CAIRN_ABI_MINOR did not grow for them (it grows when a struct
 * does). */
#define CAIRN_KEY_NO_RESTORE 0x4u /* only shapes backups (what is read, and how) */
#define CAIRN_KEY_NO_BACKUP 0x8u  /* only shapes restores (where to, flush, drop) */

/* One entry of a plugin's key table; the table ends with { .name = NULL }.
 *
 * The core checks the table when it loads the plugin and refuses it if a
 * name is empty, contains '.' (`--set SECTION.KEY=VALUE` could never
 * reach it), is "plugin" (the core's own key), appears twice, or equals
 * NAME_file or NAME_env of a secret key NAME.  A type this cairn does not
 * know makes the plugin "need a newer cairn".
 *
 * struct cairn_key and struct cairn_value never grow: key tables and
 * value arrays are indexed by element (keys[k], values[k]), and an array
 * sized by one side cannot be indexed by code built against another size.
 * Per-key information added later comes as a parallel table, index for
 * index with keys, appended to struct cairn_plugin (read by the core only
 * when the plugin's struct_size has it); per-value information likewise
 * as a parallel array appended to struct cairn_config. */
struct cairn_key {
	const char *name;
	enum cairn_key_type type;
	unsigned flags;
	const char *default_value; /* parsed like an INI value; NULL: unset */
	const char *help;          /* one line, shown by `cairn plugins -v` */
};

/* A parsed value.  `set` is 0 when the key was neither given nor has a
 * default; the other fields are then zero.  All memory belongs to the core
 * and lives until the plugin's create() returns: copy what you keep. */
struct cairn_value {
	const char *name;
	enum cairn_key_type type;
	int set;
	const char *text;        /* the value as text (absolute for PATH) */
	int64_t i;               /* INT, BOOL, SIZE, DURATION */
	const char *const *list; /* LIST: list_len words */
	size_t list_len;
};

/* The typed configuration given to create(): values[k] belongs to
 * keys[k] of the plugin's own key table, in the same order. */
struct cairn_config {
	size_t count;
	const struct cairn_value *values;
	const char *instance; /* the section's name, e.g. "uploads" */
};

/* Look a value up by key name; NULL if the plugin has no such key. */
static inline const struct cairn_value *
cairn_config_get(const struct cairn_config *cfg, const char *name)
{
	size_t k;
	for (k = 0; k < cfg->count; k++) {
		const char *a = cfg->values[k].name, *b = name;
		while (*a && *a == *b) {
			a++;
			b++;
		}
		if (*a == *b)
			return &cfg->values[k];
	}
	return NULL;
}

/* ---------------------------------------------------- log positions (1.4) */

/* A place in a source's change log (mongo's oplog, redis's replication
 * stream).  Fixed in size: it never grows (an array of them may be kept
 * by either side).
 *  - lsn orders positions along one unbroken log: a later record has a
 *    greater lsn (mongo: the oplog Timestamp, seconds << 32 | increment;
 *    redis: the replication offset).  The core compares lsns only within
 *    one chain of segments, never across a gap.
 *  - time_ms is when the change was made, milliseconds since the epoch
 *    (the server's clock where the log has one, else when it was read).
 *    It never goes back along a log.
 *  - text is the source's own name of the position, from which it can
 *    resume (mongo "1733580000:12", redis "REPLID:OFFSET"): 1 to
 *    CAIRN_LOG_POS_MAX - 1 printable ASCII characters, no space, NUL
 *    terminated.  The core stores and compares it, never parses it. */
#define CAIRN_LOG_POS_MAX 96
struct cairn_log_pos {
	uint64_t lsn;
	int64_t time_ms;
	char text[CAIRN_LOG_POS_MAX];
};

/* ------------------------------------------------------------ host table */

/* Opaque per-instance context; the core hands it to create(). */
typedef struct cairn_ctx cairn_ctx;

/* What the core offers a plugin.  Check host->struct_size before using a
 * member added after ABI 1.0 (CAIRN_HOST_HAS). */
struct cairn_host {
	size_t struct_size;
	uint32_t abi_major;
	uint32_t abi_minor;
	const char *cairn_version;

	/* Log one line; the core prefixes "source NAME (plugin):". */
	void (*log)(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
	        CAIRN_PRINTF(3, 4);
	/* Set the detail of the error about to be returned; one line, no
	 * trailing newline.  The last call before the return wins. */
	void (*set_error)(cairn_ctx *ctx, const char *fmt, ...) CAIRN_PRINTF(2, 3);
	/* Non-zero once the run is being stopped: return CAIRN_E_CANCELLED
	 * at the next convenient point. */
	int (*cancelled)(cairn_ctx *ctx);
	/* Record a statistic for the manifest ("files", "bytes",
	 * "documents.db.coll", ...).  Setting a key again replaces it.
	 * ABI 1.5: inside follow() a statistic belongs to a log segment, not
	 * to a set: value is ADDED to the key's count in the segment that the
	 * next record() goes into (so call it just before that record(), e.g.
	 * "commands" 3, "db.3" 1), and the core writes the counts into that
	 * segment's manifest ("stats"), starting again from zero with each
	 * segment (its records and bytes the core counts itself). */
	void (*stat)(cairn_ctx *ctx, const char *key, int64_t value);

	/* ---- ABI 1.1: check with CAIRN_HOST_HAS(host, member) ---- */
	/* log and set_error with a va_list, for plugins with their own
	 * formatting wrappers.  No length limit: messages are never cut. */
	void (*vlog)(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, va_list ap)
	        CAIRN_PRINTF(3, 0);
	void (*vset_error)(cairn_ctx *ctx, const char *fmt, va_list ap) CAIRN_PRINTF(2, 0);
	/* backup(): the raw bytes the source expects to write in all (an
	 * estimate is fine; call again to correct it), so a terminal shows
	 * percent and time left.  Ignored outside backup(). */
	void (*progress_total)(cairn_ctx *ctx, uint64_t bytes);
	/* A directory of this instance's own (mode 0700) on the file system
	 * of cairn's state_dir, for staging and restore tests: made on first
	 * use, removed with everything in it once the op that asked for it
	 * returns (for a sink: once its last open writer or reader is
	 * committed, aborted or closed).  The same path within one op.  NULL
	 * with the error detail set when it cannot be made.  A plugin that
	 * starts a process there (a scratch server) should make it die with
	 * cairn (PR_SET_PDEATHSIG) and write its pid to NAME.pid at the top
	 * of the directory: if cairn is killed all the same, the next run
	 * kills each such process whose command line names the directory
	 * before it removes the directory. */
	const char *(*scratch_dir)(cairn_ctx *ctx);

	/* ---- ABI 1.4 ---- */
	/* backup() of a source that has follow(): where its change log
	 * stood.  CAIRN_LOG_AT_START when the dump began (replaying the log
	 * from there on makes the dump consistent), CAIRN_LOG_AT_END when
	 * the dump alone is consistent at pos (mongo's oplog = yes, redis's
	 * RDB).  The core records them in the manifest; a restore --at
	 * replays the log after the END position if there is one, else after
	 * the START one, and `cairn follow` starts after the START position
	 * of the newest full backup.  Ignored outside backup(). */
	void (*log_position)(cairn_ctx *ctx, int which, const struct cairn_log_pos *pos);
};

#define CAIRN_LOG_AT_START 0
#define CAIRN_LOG_AT_END 1

#define CAIRN_HOST_HAS(host, member) \
	((host)->struct_size >= offsetof(struct cairn_host, member) + sizeof((host)->member))

/* Logging and error helpers for every plugin: they use the host's va_list
 * members (ABI 1.1) and fall back, on a 1.0 host, to formatting the line
 * here (never cut: the buffer is sized to the message) and passing it as
 * "%s".  So no plugin writes its own fallback. */
static inline void cairn_vlog(const struct cairn_host *host, cairn_ctx *ctx,
                              enum cairn_log_level level, const char *fmt, va_list ap)
        CAIRN_PRINTF(4, 0);
static inline void
cairn_vlog(const struct cairn_host *host, cairn_ctx *ctx, enum cairn_log_level level,
           const char *fmt, va_list ap)
{
	va_list aq;
	char small[256], *line = small;
	int n;

	if (CAIRN_HOST_HAS(host, vlog) && host->vlog) {
		host->vlog(ctx, level, fmt, ap);
		return;
	}
	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0) {
		host->log(ctx, level, "%s", fmt);
		return;
	}
	if ((size_t)n >= sizeof(small) && (line = (char *)malloc((size_t)n + 1)) != NULL)
		vsnprintf(line, (size_t)n + 1, fmt, ap);
	host->log(ctx, level, "%s", line ? line : small);
	if (line != small)
		free(line);
}

static inline void cairn_verror(const struct cairn_host *host, cairn_ctx *ctx, const char *fmt,
                                va_list ap) CAIRN_PRINTF(3, 0);
static inline void
cairn_verror(const struct cairn_host *host, cairn_ctx *ctx, const char *fmt, va_list ap)
{
	va_list aq;
	char small[256], *line = small;
	int n;

	if (CAIRN_HOST_HAS(host, vset_error) && host->vset_error) {
		host->vset_error(ctx, fmt, ap);
		return;
	}
	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0) {
		host->set_error(ctx, "%s", fmt);
		return;
	}
	if ((size_t)n >= sizeof(small) && (line = (char *)malloc((size_t)n + 1)) != NULL)
		vsnprintf(line, (size_t)n + 1, fmt, ap);
	host->set_error(ctx, "%s", line ? line : small);
	if (line != small)
		free(line);
}

static inline void cairn_log(const struct cairn_host *host, cairn_ctx *ctx,
                             enum cairn_log_level level, const char *fmt, ...) CAIRN_PRINTF(4, 5);
static inline void
cairn_log(const struct cairn_host *host, cairn_ctx *ctx, enum cairn_log_level level,
          const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_vlog(host, ctx, level, fmt, ap);
	va_end(ap);
}

/* Sets the error detail and returns rc, for `return cairn_error(...)`. */
static inline int cairn_error(const struct cairn_host *host, cairn_ctx *ctx, int rc,
                              const char *fmt, ...) CAIRN_PRINTF(4, 5);
static inline int
cairn_error(const struct cairn_host *host, cairn_ctx *ctx, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_verror(host, ctx, fmt, ap);
	va_end(ap);
	return rc;
}

/* --------------------------------------------------------------- streams */

/* Where a source pushes its backup.  write() takes all len bytes or fails
 * with a CAIRN_E_* code (CAIRN_E_CANCELLED when the run is stopped, or when
 * every sink has failed and there is nobody left to write to). */
struct cairn_out {
	size_t struct_size;
	int (*write)(struct cairn_out *self, const void *buf, size_t len);
};

/* Where a source pulls a stored backup from (restore, verify).  read()
 * returns the number of bytes read (0 at the end) or a CAIRN_E_* code.
 *
 * Since ABI 1.1 (host->abi_minor >= 1), read() returns 0 only once the
 * whole stored object has been read and its size and SHA-256 match the
 * manifest: the end of the stream is proof that every byte before it was
 * good.  Damage anywhere, also in the last bytes, makes read() fail with
 * CAIRN_E_CORRUPT instead.  A source that stages its restore (see
 * CAIRN_SOURCE_STAGED_RESTORE) reads until read() returns 0 before it
 * changes the target. */
struct cairn_in {
	size_t struct_size;
	ssize_t (*read)(struct cairn_in *self, void *buf, size_t len);
};

/* Where a following source pushes its change log (ABI 1.4).  The core
 * cuts the records into segments (at most segment_span of time and
 * segment_size bytes each, never inside a record) and stores each
 * segment, with its manifest, in every sink of the job.  A segment is its
 * records' bytes concatenated, as they were given: so a record must be
 * what the standard tools read when concatenated (a BSON oplog entry, a
 * RESP command, or a whole MULTI ... EXEC). */
struct cairn_log_out {
	size_t struct_size;
	/* One change record, len bytes, made at pos (the record's own
	 * position: resuming after it gives what follows it).  pos->lsn
	 * greater and time_ms not smaller than the record before.  0, or
	 * CAIRN_E_CANCELLED when the follower is being stopped (return it
	 * from follow() at once), or another CAIRN_E_* code, which follow()
	 * returns as it is. */
	int (*record)(struct cairn_log_out *self, const void *buf, size_t len,
	              const struct cairn_log_pos *pos);
	/* No change, but the log stood at pos (a no-op entry, a heartbeat),
	 * or pos NULL: only "still here".  Call it at least every second
	 * while waiting for changes: it lets the core close a segment on
	 * time, keep the log's covered time moving while nothing changes,
	 * and stop the follower.  Same returns as record(). */
	int (*idle)(struct cairn_log_out *self, const struct cairn_log_pos *pos);

	/* ---- ABI 1.5: check with CAIRN_LOG_OUT_HAS(out, member) ---- */
	/* The log was lost (the server cannot continue from `from`: a
	 * backlog overrun, a restart, a failover), but the source's own link
	 * carries a new full backup of it (Redis's +FULLRESYNC RDB), so no
	 * second connection and no second dump are needed.  base_begin()
	 * starts a full set of this source alone and gives *out, to be
	 * written exactly as backup() writes its stream (host->stat and
	 * host->log_position count for that set while it is open).
	 * base_end(rc, pos) closes it: with rc 0 the core commits the set,
	 * records a gap from the last committed position to pos (pos is where
	 * the dump is consistent: its START and END), and the chain goes on
	 * after pos with the new set as its base; with another rc the set is
	 * aborted, nothing is recorded, and follow() should return rc.  Both
	 * return 0 or a CAIRN_E_* code (return it from follow()):
	 * base_begin() gives CAIRN_E_LOGLOST when the set cannot be taken
	 * now (another run holds the job's lock), and the core then takes
	 * the new base as below.  On an older host (no base_begin), return
	 * CAIRN_E_LOGLOST instead: the core then takes the new base over a
	 * connection of its own. */
	int (*base_begin)(struct cairn_log_out *self, struct cairn_out **out);
	int (*base_end)(struct cairn_log_out *self, int rc, const struct cairn_log_pos *pos);
};

#define CAIRN_LOG_OUT_HAS(out, member) \
	((out)->struct_size >= offsetof(struct cairn_log_out, member) + sizeof((out)->member))

/* What replay() is given (ABI 1.4).  The core fills it and calls replay()
 * once per restore, verify --deep or verify --restore-test of a log. */
struct cairn_log_replay {
	size_t struct_size;
	unsigned flags; /* CAIRN_REPLAY_* */
	/* The full backup the log continues: restore it first, as restore()
	 * would (with restore_flags), then apply the segments on top.  NULL
	 * with CAIRN_REPLAY_PARSE. */
	struct cairn_in *base;
	unsigned restore_flags; /* CAIRN_RESTORE_* */
	/* Skip every record with an lsn at or below after.lsn: the base
	 * already holds it.  after.text is the base's own position. */
	struct cairn_log_pos after;
	/* Apply the records whose time_ms is at or below until_ms and stop
	 * at the first later one (INT64_MAX: all).  restore --at TIME gives
	 * the last millisecond of TIME's second. */
	int64_t until_ms;
	/* The next segment, in chain order: 1 with *in set (good until the
	 * next call), 0 when there is none left, or a CAIRN_E_* code (return
	 * it).  Its read() returns 0 only once the segment's size and SHA-256
	 * proved good; the core has checked every segment of the chain once
	 * before replay() is called, so damage found here means the store
	 * changed under the restore. */
	int (*next)(struct cairn_log_replay *self, struct cairn_in **in);
};

/* cairn_log_replay.flags */
/* verify --restore-test: restore the base and apply the whole log into
 * something harmless (host->scratch_dir, scratch databases), check what
 * came out, clean up; stats as for restore_test(). */
#define CAIRN_REPLAY_TEST 0x1u
/* verify --deep: no base, no target: read every record of every segment
 * and check its form; CAIRN_E_CORRUPT naming the segment's record. */
#define CAIRN_REPLAY_PARSE 0x2u

/* ------------------------------------------------------------ source ops */

/* restore() flags */
#define CAIRN_RESTORE_FORCE 0x1u /* the target may be non-empty */

/* cairn_source_ops.flags (ABI 1.1) */
/* restore() writes into a staging area of its own and changes the target
 * only after in->read() returned 0, so a damaged, cut or interrupted
 * object leaves the target as it was.  Without this flag the core first
 * reads the whole object and checks its size and SHA-256, and only then
 * calls restore(), which reads it a second time. */
#define CAIRN_SOURCE_STAGED_RESTORE 0x1u

struct cairn_source_ops {
	size_t struct_size;
	/* Make an instance from a checked configuration.  Copy what you
	 * keep.  Must not touch the data yet (config check calls it). */
	int (*create)(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance);
	void (*destroy)(void *instance);
	/* The kind of data written: "tar", "rdb", "archive".  1 to 32
	 * letters, digits, '-', '_' or '+', no dot, the same for the
	 * instance's life; the core names objects NAME.EXT[.zst] and refuses
	 * a backup when EXT breaks this rule.  NULL or "": "bin". */
	const char *(*file_extension)(void *instance);
	/* Push one complete backup into out. */
	int (*backup)(void *instance, struct cairn_out *out);
	/* Pull a backup from in and restore it to the instance's target.
	 * Refuse a non-empty target with CAIRN_E_EXISTS unless
	 * CAIRN_RESTORE_FORCE is set.  It need not read to the end of in
	 * (tar's trailing blocks, say): the core reads the rest and checks
	 * size and SHA-256 after it returns.  A source with
	 * CAIRN_SOURCE_STAGED_RESTORE must read until read() returns 0
	 * before it changes the target. */
	int (*restore)(void *instance, struct cairn_in *in, unsigned flags);
	/* Optional: read the whole backup and check its format deeply;
	 * CAIRN_E_CORRUPT when it is damaged.  Stats recorded here are
	 * compared with the manifest's, as for restore_test. */
	int (*verify)(void *instance, struct cairn_in *in);
	/* Optional: restore somewhere harmless (host->scratch_dir, ABI
	 * 1.1), compare, clean up.  Record with host->stat what was restored
	 * under the keys backup() used: the core compares them with the
	 * manifest (see "Statistics" above). */
	int (*restore_test)(void *instance, struct cairn_in *in);

	/* ---- ABI 1.1 ---- */
	unsigned flags; /* CAIRN_SOURCE_* */

	/* ---- ABI 1.2 ---- */
	/* Optional, for `cairn config check --connect`: reach the data without
	 * reading it.  Connect, authenticate and list what backup() would
	 * read (the databases, the collections, the top of the tree), change
	 * nothing, and return within the instance's own timeouts.  On success
	 * write one line into summary (len bytes, NUL-terminated; it may be
	 * cut) saying what was reached, e.g. "mongodb://db1:27017 reached, 3
	 * databases, 12 collections"; never a secret.  On failure a CAIRN_E_*
	 * code (CAIRN_E_AUTH for refused credentials) with set_error naming
	 * the server or path and what to do.  The core reads this member only
	 * when the plugin's struct_size has it; a plugin without it is shown
	 * as "not checked". */
	int (*probe)(void *instance, char *summary, size_t len);

	/* ---- ABI 1.4: change logs (doc/plugin-authoring.md, "Following a
	 * change log").  A source has all three or none. ---- */
	/* The kind of data a log segment holds ("bson", "aof"); the rules of
	 * file_extension.  Segments are named SEGMENT.EXT[.zst]. */
	const char *(*log_extension)(void *instance);
	/* Follow the change log from just after `from` (NULL: from where
	 * the log stands now), pushing every change of what backup() reads,
	 * in order, into out, until out says stop.  Returns:
	 *  - CAIRN_E_CANCELLED once out returned it (the follower stops);
	 *  - CAIRN_E_RETRYABLE when the server went away or stopped
	 *    answering: the core commits what it has and calls follow()
	 *    again, with backoff, after the last record it got;
	 *  - CAIRN_E_LOGLOST when the log no longer holds what follows
	 *    `from` (rolled over while nobody followed): the core records a
	 *    gap, takes a new full backup and follows on from it;
	 *  - another code for what retrying cannot mend (credentials refused,
	 *    a server without a log), with set_error naming the server. */
	int (*follow)(void *instance, const struct cairn_log_pos *from, struct cairn_log_out *out);
	/* restore --at, verify --deep and verify --restore-test of a log:
	 * see struct cairn_log_replay.  Stats recorded here: "records" (read
	 * in all, skipped ones included), which the core compares with the
	 * segments' manifests; in a test, what the test counted. */
	int (*replay)(void *instance, struct cairn_log_replay *rp);
};

/* -------------------------------------------------------------- sink ops */

typedef struct cairn_sink_writer cairn_sink_writer; /* plugin-defined */
typedef struct cairn_sink_reader cairn_sink_reader; /* plugin-defined */
typedef struct cairn_sink_lock cairn_sink_lock;     /* plugin-defined */

/* Called by list() once per stored object.  key is relative to the sink
 * (the core's keys look like "JOB/ID/NAME"); mtime is seconds since the
 * epoch.  Return non-zero to stop listing (list then returns 0). */
typedef int (*cairn_list_cb)(void *userdata, const char *key, uint64_t size, int64_t mtime);

struct cairn_usage {
	uint64_t used;  /* bytes held by objects under the sink's root */
	uint64_t avail; /* bytes still free for it; UINT64_MAX if unknown */
	uint64_t total; /* size of the store; UINT64_MAX if unknown */
};

struct cairn_sink_ops {
	size_t struct_size;
	int (*create)(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance);
	void (*destroy)(void *instance);
	/* Start writing an object.  Nothing is visible under key until
	 * commit() succeeds.  Keys use '/' separators and never contain
	 * ".." components or start with '/' or '.'. */
	int (*open_write)(void *instance, const char *key, cairn_sink_writer **writer);
	int (*write)(cairn_sink_writer *writer, const void *buf, size_t len);
	/* Publish atomically and release the writer, whatever the result: a
	 * failed commit leaves nothing behind. */
	int (*commit)(cairn_sink_writer *writer);
	/* Required.  Discard everything written and release the writer.  Must
	 * work at any point after open_write, also after a failed write. */
	void (*abort)(cairn_sink_writer *writer);
	int (*open_read)(void *instance, const char *key, cairn_sink_reader **reader);
	/* Bytes read, 0 at the end, or a CAIRN_E_* code. */
	ssize_t (*read)(cairn_sink_reader *reader, void *buf, size_t len);
	void (*close_read)(cairn_sink_reader *reader);
	/* Every committed object whose key starts with prefix ("" = all). */
	int (*list)(void *instance, const char *prefix, cairn_list_cb cb, void *userdata);
	/* Remove one object; CAIRN_E_NOTFOUND if it is not there. */
	int (*remove)(void *instance, const char *key);
	/* Optional: space used and free, for storage alerts. */
	int (*usage)(void *instance, struct cairn_usage *usage);

	/* ---- ABI 1.1 ---- */
	/* Optional (both or neither): take the store's lock for `name` (a
	 * job's name), held until unlock() or until the process dies, so two
	 * runs of one job on different hosts or state directories never
	 * work on one store at once.  Never waits: CAIRN_E_LOCKED when
	 * another holds it, with set_error naming the holder where known.
	 * Once it holds the lock, no writer of the job can be alive, so
	 * lock() also discards what dead writers of the job left in the
	 * store below "NAME/" (temporary files, empty directories); list()
	 * never shows those, so nobody else could.  A sink without lock()
	 * gets its leftovers removed only after a grace period. */
	int (*lock)(void *instance, const char *name, cairn_sink_lock **lock);
	void (*unlock)(cairn_sink_lock *lock);
};

/* ------------------------------------------------------------ descriptor */

struct cairn_plugin {
	size_t struct_size; /* sizeof(struct cairn_plugin) */
	uint32_t abi_major; /* CAIRN_ABI_MAJOR */
	uint32_t abi_minor; /* CAIRN_ABI_MINOR */
	const char *name;   /* must equal the module's file name */
	const char *version;
	enum cairn_plugin_kind kind;
	const char *description; /* one line */
	const struct cairn_key *keys;
	const struct cairn_source_ops *source; /* kind == CAIRN_KIND_SOURCE */
	const struct cairn_sink_ops *sink;     /* kind == CAIRN_KIND_SINK */

	/* ---- ABI 1.3 ---- */
	/* Optional: a NULL-terminated list of the environment variables the
	 * plugin may take a secret from on its own (a default credential,
	 * e.g. "AWS_SECRET_ACCESS_KEY"), not counting the KEY_env keys a
	 * user names.  The core removes them, like the KEY_env variables,
	 * from the environment of the hooks it runs.  Names only, each
	 * non-empty and without '='.  The core reads this member only when
	 * the descriptor's struct_size has it. */
	const char *const *secret_env;
};

#define CAIRN_PLUGIN_ENTRY_SYMBOL "cairn_plugin_entry"

/* The one symbol a plugin exports. */
CAIRN_EXPORT const struct cairn_plugin *cairn_plugin_entry(const struct cairn_host *host);

#ifdef __cplusplus
}
#endif
#endif /* CAIRN_PLUGIN_H */
