/* host.c - see host.h */
#include "autoconf.h"

#include "host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "log.h"
#include "logstats.h"
#include "progress.h"
#include "util.h"

volatile sig_atomic_t cancel_signal;

const char *
status_str(int code)
{
	switch (code) {
	case CAIRN_OK: return "success";
	case CAIRN_E_CONFIG: return "configuration error";
	case CAIRN_E_IO: return "input/output error";
	case CAIRN_E_AUTH: return "authentication failed";
	case CAIRN_E_NOTFOUND: return "not found";
	case CAIRN_E_CORRUPT: return "data is corrupt";
	case CAIRN_E_RETRYABLE: return "temporary failure";
	case CAIRN_E_CANCELLED: return "cancelled";
	case CAIRN_E_NOMEM: return "out of memory";
	case CAIRN_E_UNSUPPORTED: return "not supported";
	case CAIRN_E_EXISTS: return "target is not empty";
	case CAIRN_E_LOCKED: return "locked by another run";
	case CAIRN_E_LOGLOST: return "the change log no longer reaches back far enough";
	default: return "unknown error";
	}
}

/* ------------------------------------------------------------ host */

static void
host_vlog(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, va_list ap)
{
	char *prefix = xasprintf("%s: ", ctx->label);
	if (level == CAIRN_LOG_WARN)
		ctx->warnings++;
	if (level > CAIRN_LOG_DEBUG)
		level = CAIRN_LOG_DEBUG;
	log_vmsg(level, prefix, fmt, ap);
	free(prefix);
}

static void
host_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host_vlog(ctx, level, fmt, ap);
	va_end(ap);
}

static void
host_vset_error(cairn_ctx *ctx, const char *fmt, va_list ap)
{
	/* formatted first: an argument may point into the old detail */
	char *e = xvasprintf(fmt, ap);
	free(ctx->error);
	ctx->error = e;
}

static void
host_set_error(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host_vset_error(ctx, fmt, ap);
	va_end(ap);
}

static int
host_cancelled(cairn_ctx *ctx)
{
	(void)ctx;
	return cancel_signal != 0;
}

static void
host_stat(cairn_ctx *ctx, const char *key, int64_t value)
{
	/* a log segment's (plugin.h), unless a new base is being written
	 * over the follower's link (follow_base.c): then the set's */
	if (ctx->in_follow && !ctx->in_backup) {
		if (ctx->follow_stats)
			logstats_add(ctx->follow_stats, key, value);
		return;
	}
	if (!ctx->stats)
		ctx->stats = json_object();
	json_object_set_new(ctx->stats, key, json_integer(value));
}

static void
host_progress_total(cairn_ctx *ctx, uint64_t bytes)
{
	if (ctx->in_backup)
		progress_total(bytes);
}

/* mkdir that accepts an existing directory, never a symlink or a file. */
static int
mkdir_private(const char *path)
{
	struct stat st;
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (lstat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

static const char *
host_scratch_dir(cairn_ctx *ctx)
{
	char *parent, *tmpl;
	if (ctx->scratch)
		return ctx->scratch;
	if (!ctx->state_dir) {
		host_set_error(ctx, "no scratch directory: cairn has no state_dir for this run");
		return NULL;
	}
	/* Below state_dir, so staging renames into a target on the same
	 * file system as the state stay atomic and cost no copy. */
	parent = path_join(ctx->state_dir, "scratch");
	if (mkdir_private(ctx->state_dir) != 0 || mkdir_private(parent) != 0) {
		host_set_error(ctx, "cannot make the scratch directory %s: %s; check state_dir",
		               parent, strerror(errno));
		free(parent);
		return NULL;
	}
	tmpl = xasprintf("%s/%s.XXXXXX", parent, ctx->scratch_tag ? ctx->scratch_tag : "instance");
	free(parent);
	/* mkdtemp makes it 0700 whatever the umask */
	if (!mkdtemp(tmpl)) {
		host_set_error(ctx, "cannot make a scratch directory like %s: %s; check state_dir",
		               tmpl, strerror(errno));
		free(tmpl);
		return NULL;
	}
	/* Held while the directory is in use, and by nobody once its owner
	 * died: scratch_sweep() removes only directories it can lock. */
	ctx->scratch_fd = open(tmpl, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (ctx->scratch_fd < 0 || flock(ctx->scratch_fd, LOCK_EX | LOCK_NB) != 0) {
		host_set_error(ctx, "cannot lock the scratch directory %s: %s; check state_dir",
		               tmpl, strerror(errno));
		if (ctx->scratch_fd >= 0)
			close(ctx->scratch_fd);
		(void)rmdir(tmpl);
		free(tmpl);
		return NULL;
	}
	ctx->scratch_locked = 1;
	ctx->scratch = tmpl;
	return ctx->scratch;
}

int
log_pos_valid(const struct cairn_log_pos *p)
{
	size_t n = strnlen(p->text, sizeof(p->text));
	if (n == 0 || n == sizeof(p->text))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p->text[i] <= ' ' || p->text[i] > '~')
			return 0;
	return 1;
}

static void
host_log_position(cairn_ctx *ctx, int which, const struct cairn_log_pos *pos)
{
	if (!ctx->in_backup || !pos || (which != CAIRN_LOG_AT_START && which != CAIRN_LOG_AT_END))
		return;
	if (!log_pos_valid(pos)) {
		ctx->warnings++;
		log_warn(
		        "%s: its plugin gave a log position whose text is not 1 to 95 printable characters without space; the position is not recorded (fix the plugin)",
		        ctx->label);
		return;
	}
	ctx->log[which] = *pos;
	ctx->has_log[which] = 1;
}

const struct cairn_host cairn_host_table = {
        .struct_size = sizeof(struct cairn_host),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .cairn_version = PACKAGE_VERSION,
        .log = host_log,
        .set_error = host_set_error,
        .cancelled = host_cancelled,
        .stat = host_stat,
        .vlog = host_vlog,
        .vset_error = host_vset_error,
        .progress_total = host_progress_total,
        .scratch_dir = host_scratch_dir,
        .log_position = host_log_position,
};

/* ------------------------------------------------------- scratch */

/* Empty the directory open as dfd (which this closes), by descriptors
 * only: nothing a plugin left there, a symlink least of all, can lead the
 * removal outside it.  0, or -1 with errno and *where naming the entry. */
static int
empty_dir(int dfd, char **where, const char *path)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;
	/* a plugin may have left a directory without write permission */
	(void)fchmod(dfd, 0700);
	d = fdopendir(dfd);
	if (!d) {
		int e = errno;
		close(dfd);
		errno = e;
		*where = xstrdup(path);
		return -1;
	}
	while (!rc && (errno = 0, de = readdir(d))) {
		struct stat st;
		char *sub;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			*where = path_join(path, de->d_name);
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sfd = openat(dirfd(d), de->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			sub = path_join(path, de->d_name);
			if (sfd < 0) {
				*where = sub;
				rc = -1;
				break;
			}
			rc = empty_dir(sfd, where, sub);
			free(sub);
			if (rc)
				break;
		}
		if (unlinkat(dirfd(d), de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 &&
		    errno != ENOENT) {
			*where = path_join(path, de->d_name);
			rc = -1;
		}
	}
	if (!rc && errno) {
		*where = xstrdup(path);
		rc = -1;
	}
	{
		int e = errno;
		closedir(d);
		errno = e;
	}
	return rc;
}

void
ctx_scratch_remove(cairn_ctx *ctx)
{
	char *where = NULL;
	int fd;
	if (!ctx->scratch)
		return;
	fd = open(ctx->scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || empty_dir(fd, &where, ctx->scratch) != 0 || rmdir(ctx->scratch) != 0) {
		log_warn("%s: cannot remove its scratch directory: %s: %s; remove it by hand",
		         ctx->label, where ? where : ctx->scratch, strerror(errno));
	}
	free(where);
	free(ctx->scratch);
	ctx->scratch = NULL;
	if (ctx->scratch_locked) /* only now: a sweeper must not race the removal */
		close(ctx->scratch_fd);
	ctx->scratch_locked = 0;
}

/* Read a small file below dfd whole: its length, or -1. */
static ssize_t
read_small_at(int dfd, const char *name, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	while ((size_t)total < size &&
	       ((n = read(fd, buf + total, size - (size_t)total)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			total += n;
	close(fd);
	return total;
}

/* Does process pid's command line name path (in one of its arguments,
 * like "--dir PATH" or a socket below it)? */
static int
cmdline_names(pid_t pid, const char *path)
{
	char proc[64], *buf = xmalloc(65536);
	ssize_t n = -1;
	int found = 0, pfd;
	snprintf(proc, sizeof(proc), "/proc/%ld", (long)pid);
	pfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd >= 0) {
		n = read_small_at(pfd, "cmdline", buf, 65535);
		close(pfd);
	}
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) /* arguments end in NUL */
			if (buf[i] == '\0')
				buf[i] = '\n';
		buf[n] = '\0';
		found = strstr(buf, path) != NULL;
	}
	free(buf);
	return found;
}

/* A plugin that starts a server of its own in its scratch directory may
 * leave the server's pid in NAME.pid there (see scratch_dir in
 * <cairn/plugin.h>).  Before a dead run's directory goes, each such
 * process still running is killed, but only when its command line names
 * the directory: a pid alone may have been reused. */
static void
stop_orphans(int dfd, const char *path)
{
	DIR *d;
	struct dirent *de;
	/* a new open file description: a dup() would share (and move) the
	 * directory offset that empty_dir() reads from */
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char buf[32], *end;
		ssize_t n;
		long pid;
		if (len < 5 || strcmp(de->d_name + len - 4, ".pid") != 0 ||
		    (n = read_small_at(dirfd(d), de->d_name, buf, sizeof(buf) - 1)) <= 0)
			continue;
		buf[n] = '\0';
		pid = strtol(buf, &end, 10);
		if (pid <= 1 || (*end && *end != '\n') || pid == (long)getpid() ||
		    !cmdline_names((pid_t)pid, path))
			continue;
		if (kill((pid_t)pid, SIGKILL) == 0)
			log_info(
			        "stopped process %ld that an earlier run left running in the scratch directory %s",
			        pid, path);
	}
	closedir(d);
}

void
scratch_sweep(const char *state_dir)
{
	char *parent = path_join(state_dir, "scratch");
	int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	time_t now = time(NULL);
	if (pfd < 0 || !(d = fdopendir(pfd))) {
		if (pfd >= 0)
			close(pfd);
		free(parent);
		return; /* none yet, or not ours to read: nothing to sweep */
	}
	while ((de = readdir(d))) {
		struct stat st;
		char *where = NULL, *path;
		int fd;
		if (de->d_name[0] == '.')
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* A directory just made is locked a moment later: leave the
		 * young alone.  One whose lock is free has no live owner. */
		if (fstat(fd, &st) != 0 || now - st.st_ctime < SCRATCH_SWEEP_AGE ||
		    flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd);
			continue;
		}
		path = path_join(parent, de->d_name);
		stop_orphans(fd, path);
		int lfd = dup(fd); /* empty_dir closes the one it gets */
		if (lfd < 0 || empty_dir(lfd, &where, path) != 0 ||
		    unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) != 0)
			log_warn(
			        "cannot remove the scratch directory %s that an earlier run left: %s: %s; remove it by hand",
			        path, where ? where : path, strerror(errno));
		else
			log_info("removed the scratch directory %s that an earlier run left", path);
		free(where);
		free(path);
		close(fd);
	}
	closedir(d);
	free(parent);
}

void
ctx_follow(cairn_ctx *ctx, int on)
{
	ctx->in_follow = on;
	if (on && ctx->follow_stats)
		logstats_drop_pending(ctx->follow_stats);
}

void
ctx_free(cairn_ctx *ctx)
{
	ctx_scratch_remove(ctx);
	free(ctx->label);
	free(ctx->error);
	free(ctx->state_dir);
	free(ctx->scratch_tag);
	json_decref(ctx->stats);
}
