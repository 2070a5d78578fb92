/*
 * scratch.c - a redis-server of the restore's own, in the instance's
 * scratch directory: loads a stored RDB where nothing the user keeps can
 * change, for restore_test and for copying an RDB into a running server.
 *
 * It listens only on a unix socket (mode 0700) in that directory, has no
 * TCP port, persistence or config file, and its log (and anything it
 * prints before it opens the log) goes to a file beside it, whose last
 * warning becomes the error when the server gives up (an RDB it cannot
 * load).  It is started with fork and exec (compression threads may run:
 * the child makes only async-signal-safe calls), dies with the thread
 * that started it (PR_SET_PDEATHSIG, so not even a SIGKILL of cairn leaves
 * it running), has default signal dispositions and an empty signal mask,
 * the environment as it is, and is reaped whatever happens.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE /* pipe2 */
#include "resp.h"
#include "scratch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SCRATCH_MIN_WAIT_MS 5000 /* for the socket, at least */
#define SCRATCH_STOP_MS 5000     /* for each way of stopping it */

static char *
join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	/* A signal cuts it short: the callers loop on a deadline anyway. */
	nanosleep(&ts, NULL);
}

int
scratch_init(struct redis *r, struct scratch *s)
{
	const char *dir;
	struct sockaddr_un sun;

	memset(s, 0, sizeof(*s));
	if (!CAIRN_HOST_HAS(r->host, scratch_dir)) {
		redis_error(r, "%s: this cairn has no scratch directories (ABI 1.1); upgrade cairn",
		            r->name);
		return CAIRN_E_UNSUPPORTED;
	}
	dir = r->host->scratch_dir(r->ctx);
	if (!dir)
		return CAIRN_E_IO; /* the core set the error */
	s->dir = strdup(dir);
	s->sock = join(dir, "redis.sock");
	s->log = join(dir, "redis.log");
	s->rdb = join(dir, "dump.rdb");
	if (!s->dir || !s->sock || !s->log || !s->rdb) {
		scratch_free(s);
		return CAIRN_E_NOMEM;
	}
	if (strlen(s->sock) >= sizeof(sun.sun_path)) {
		redis_error(
		        r,
		        "%s: the scratch socket %s is longer than a unix socket path can be (%zu bytes); set a shorter state_dir",
		        r->name, s->sock, sizeof(sun.sun_path) - 1);
		scratch_free(s);
		return CAIRN_E_CONFIG;
	}
	return 0;
}

void
scratch_free(struct scratch *s)
{
	free(s->dir);
	free(s->sock);
	free(s->log);
	free(s->rdb);
	s->dir = s->sock = s->log = s->rdb = NULL;
}

/* The server's last warning (or last line) from its log, for a message. */
static void
last_log_line(const struct scratch *s, char *dst, size_t dstsize)
{
	char buf[4096];
	ssize_t n;
	off_t size;
	int fd;

	dst[0] = '\0';
	fd = open(s->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size > (off_t)sizeof(buf) - 1)
		lseek(fd, size - (off_t)sizeof(buf) + 1, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';

	/* Lines look like "PID:M 02 Dec 2026 00:10:00.123 # text"; '#' is
	 * a warning.  Take the last one, else the last line of any kind. */
	char *best = NULL, *last = NULL, *save = NULL;
	for (char *l = strtok_r(buf, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
		char *w = strstr(l, " # ");
		if (w)
			best = w + 3;
		last = l;
	}
	if (!best)
		best = last;
	if (best)
		resp_quote(dst, dstsize, best, strlen(best), strlen(best));
}

/* Reap the child if it has exited: 1 with *status set, 0 if it runs. */
static int
reaped(struct scratch *s, int *status)
{
	pid_t p;

	do
		p = waitpid(s->pid, status, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == s->pid || (p < 0 && errno == ECHILD)) {
		s->pid = 0;
		return 1;
	}
	return 0;
}

/* Wait up to ms for the child to exit: 1 (reaped, *status set) or 0. */
static int
wait_exit(struct scratch *s, long ms, int *status)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		if (reaped(s, status))
			return 1;
		if (now_ms() > deadline)
			return 0;
		sleep_ms(5);
	}
}

static int
exited_error(struct redis *r, struct scratch *s, int status, const char *when)
{
	char line[300];

	last_log_line(s, line, sizeof(line));
	if (WIFSIGNALED(status))
		redis_error(r, "%s: the %s was killed by signal %d %s%s%s", r->name, SCRATCH_NAME,
		            WTERMSIG(status), when, line[0] ? ": " : "", line);
	else
		redis_error(r, "%s: the %s (%s) exited with status %d %s%s%s", r->name,
		            SCRATCH_NAME, r->redis_server, WEXITSTATUS(status), when,
		            line[0] ? ": " : "", line);
	return CAIRN_E_IO;
}

/* The program to run: a name without '/' is looked up in PATH here, in
 * the parent, since the child may only make async-signal-safe calls. */
static char *
find_program(const char *name)
{
	const char *path = getenv("PATH"), *p, *end;
	if (strchr(name, '/'))
		return strdup(name);
	for (p = path && *path ? path : "/usr/local/bin:/usr/bin:/bin"; *p; p = end) {
		end = strchr(p, ':');
		if (!end)
			end = p + strlen(p);
		size_t n = (size_t)(end - p);
		char *cand = malloc(n + strlen(name) + 2);
		if (!cand)
			return NULL;
		snprintf(cand, n + strlen(name) + 2, "%.*s/%s", (int)n, n ? p : ".", name);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
		if (*end == ':')
			end++;
	}
	return NULL;
}

/* In the child, between fork and exec: async-signal-safe calls only.  The
 * server dies with the thread that started it (PR_SET_PDEATHSIG), so a
 * cairn killed with SIGKILL leaves no server behind; it gets default
 * signal dispositions and an empty mask. */
static void __attribute__((noreturn))
child(const char *prog, char *const argv[], int nullfd, int logfd, int errfd, pid_t parent)
{
	struct sigaction dfl;
	sigset_t none;
	int e;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127); /* the parent is already gone */
	if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		goto fail;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(prog, argv, environ);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

/* Record the server's pid in the scratch directory: a cairn from before
 * PR_SET_PDEATHSIG, or one whose thread died oddly, may leave a server
 * running, and the next run's sweep of the directory stops it (see
 * scratch_dir in <cairn/plugin.h>). */
static void
write_pid(const struct scratch *s)
{
	char *path = join(s->dir, "redis-server.pid"), buf[32];
	int fd, n = snprintf(buf, sizeof(buf), "%ld\n", (long)s->pid);
	if (!path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		(void)!write(fd, buf, (size_t)n);
		close(fd);
	}
	free(path);
}

static int
spawn_error(struct redis *r, int e)
{
	redis_error(
	        r,
	        "%s: cannot start the %s %s: %s; install redis-server (Debian: redis-server) or set redis_server = its path",
	        r->name, SCRATCH_NAME, r->redis_server, strerror(e));
	return e == ENOMEM ? CAIRN_E_NOMEM : CAIRN_E_IO;
}

static int
spawn(struct redis *r, struct scratch *s, long databases)
{
	char dbs[24];
	int nullfd, logfd, pipefd[2], e = 0;
	ssize_t got;
	char *prog;
	pid_t parent = getpid();

	snprintf(dbs, sizeof(dbs), "%ld", databases < 16 ? 16 : databases);
	char *argv[] = {r->redis_server, "--port", "0", "--unixsocket", s->sock, "--unixsocketperm",
	                "700", "--dir", s->dir, "--dbfilename", "dump.rdb", "--save", "",
	                "--appendonly", "no", "--logfile", s->log, "--daemonize", "no",
	                "--supervised", "no", "--databases", dbs,
	                /* DEBUG SET-ACTIVE-EXPIRE below: counts stay still */
	                "--enable-debug-command", "local", "--always-show-logo", "no", NULL};

	if (!(prog = find_program(r->redis_server)))
		return spawn_error(r, ENOENT);
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	logfd = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (nullfd < 0 || logfd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
		e = errno;
		goto out;
	}
	s->pid = fork();
	if (s->pid == 0)
		child(prog, argv, nullfd, logfd, pipefd[1], parent);
	if (s->pid < 0) {
		e = errno;
		s->pid = 0;
	}
	close(pipefd[1]);
	/* exec closes the pipe (O_CLOEXEC): nothing read means it ran */
	do
		got = read(pipefd[0], &e, sizeof(e));
	while (got < 0 && errno == EINTR);
	close(pipefd[0]);
	if (got != (ssize_t)sizeof(e) && s->pid)
		e = 0;
	if (e && s->pid) {
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
out:
	if (nullfd >= 0)
		close(nullfd);
	if (logfd >= 0)
		close(logfd);
	free(prog);
	if (e)
		return spawn_error(r, e);
	write_pid(s);
	return 0;
}

int
scratch_start(struct redis *r, struct scratch *s, long databases)
{
	int64_t wait = r->timeout_ms > SCRATCH_MIN_WAIT_MS ? r->timeout_ms : SCRATCH_MIN_WAIT_MS;
	int64_t deadline;
	int status, rc;
	struct stat st;
	redisReply *rep;

	rc = spawn(r, s, databases);
	if (rc)
		return rc;
	deadline = now_ms() + wait;

	/* The socket appears before the dataset is loaded. */
	for (;;) {
		if (reaped(s, &status))
			return exited_error(r, s, status, "before it listened");
		if (r->host->cancelled(r->ctx))
			return CAIRN_E_CANCELLED;
		if (stat(s->sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
			rc = redis_connect_to(r, SCRATCH_NAME, s->sock, NULL, 0, &s->c);
			if (rc == 0)
				break;
			if (rc == CAIRN_E_NOMEM)
				return rc;
		}
		if (now_ms() > deadline) {
			char line[300];
			last_log_line(s, line, sizeof(line));
			redis_error(r, "%s: the %s did not listen on %s within %lld ms%s%s",
			            r->name, SCRATCH_NAME, s->sock, (long long)wait,
			            line[0] ? ": " : "", line);
			return CAIRN_E_IO;
		}
		sleep_ms(10);
	}

	/* While it loads, it answers -LOADING: each answer is progress, and
	 * a server that stops answering runs into the read timeout. */
	for (;;) {
		if (r->host->cancelled(r->ctx))
			return CAIRN_E_CANCELLED;
		rep = redisCommand(s->c, "PING");
		if (!rep) {
			/* It closed the link: it is exiting (a bad RDB). */
			if (wait_exit(s, 1000, &status))
				return exited_error(r, s, status, "while loading the data");
			redis_error(r, "%s: the %s stopped answering: %s", r->name, SCRATCH_NAME,
			            s->c->errstr);
			return CAIRN_E_IO;
		}
		if (rep->type == REDIS_REPLY_ERROR && !strncmp(rep->str, "LOADING", 7)) {
			freeReplyObject(rep);
			sleep_ms(20);
			continue;
		}
		if (rep->type == REDIS_REPLY_STATUS && !strcmp(rep->str, "PONG")) {
			freeReplyObject(rep);
			break;
		}
		redis_error(r, "%s: the %s answers PING with \"%.200s\"", r->name, SCRATCH_NAME,
		            rep->str ? rep->str : "?");
		freeReplyObject(rep);
		return CAIRN_E_IO;
	}

	/* Keys whose TTL runs out during the test stay counted. */
	rep = redisCommand(s->c, "DEBUG SET-ACTIVE-EXPIRE 0");
	if (!rep) {
		redis_error(r, "%s: the %s stopped answering: %s", r->name, SCRATCH_NAME,
		            s->c->errstr);
		return CAIRN_E_IO;
	}
	if (rep->type == REDIS_REPLY_ERROR)
		redis_log(r, CAIRN_LOG_DEBUG, "%s: DEBUG SET-ACTIVE-EXPIRE refused: %s",
		          SCRATCH_NAME, rep->str);
	freeReplyObject(rep);
	return 0;
}

void
scratch_stop(struct redis *r, struct scratch *s)
{
	int status, asked = 0;

	if (s->c) {
		/* Only on a link in step (not after a failed or half-read
		 * reply); the reply is the link closing. */
		if (s->pid && !s->c->err) {
			redisReply *rep = redisCommand(s->c, "SHUTDOWN NOSAVE");
			/* An error reply (-LOADING) means it will not go:
			 * SIGTERM at once. */
			asked = !rep || rep->type != REDIS_REPLY_ERROR;
			if (rep)
				freeReplyObject(rep);
		}
		redisFree(s->c);
		s->c = NULL;
	}
	if (!s->pid)
		return;
	if (asked) {
		if (wait_exit(s, SCRATCH_STOP_MS, &status))
			return;
		redis_log(r, CAIRN_LOG_WARN, "the %s (pid %ld) ignored SHUTDOWN; sending SIGTERM",
		          SCRATCH_NAME, (long)s->pid);
	}
	kill(s->pid, SIGTERM);
	if (wait_exit(s, SCRATCH_STOP_MS, &status))
		return;
	redis_log(r, CAIRN_LOG_WARN, "the %s (pid %ld) ignored SIGTERM; sending SIGKILL",
	          SCRATCH_NAME, (long)s->pid);
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	s->pid = 0;
}
