/* hooks.c - see hooks.h */
#include "autoconf.h"

#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host.h" /* cancel_signal */
#include "log.h"

extern char **environ;

/* Grace between SIGTERM and SIGKILL for a hook that ran out of time. */
#define HOOK_KILL_GRACE_MS 2000

int
hook_split(const char *value, struct strvec *words, char **why)
{
	const char *p = value;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			return 0;
		size_t cap = strlen(p) + 1, n = 0;
		char *w = xmalloc(cap);
		while (*p && *p != ' ' && *p != '\t') {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');
				if (!end) {
					*why = xstrdup(
					        "a ' is not closed; close it, or write \\' for a quote of its own");
					free(w);
					return -1;
				}
				memcpy(w + n, p + 1, (size_t)(end - p - 1));
				n += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
						p++;
					w[n++] = *p;
				}
				if (!*p) {
					*why = xstrdup(
					        "a \" is not closed; close it, or write \\\" for a quote of its own");
					free(w);
					return -1;
				}
				p++;
			} else if (*p == '\\') {
				if (!p[1]) {
					*why = xstrdup(
					        "the value ends in a lone \\; remove it or write \\\\");
					free(w);
					return -1;
				}
				w[n++] = p[1];
				p += 2;
			} else {
				w[n++] = *p++;
			}
		}
		w[n] = '\0';
		strvec_push_own(words, w);
	}
}

/* Is the NAME=VALUE entry one of the names in v? */
static int
env_named(const char *entry, const char *const *v, size_t n)
{
	const char *eq = strchr(entry, '=');
	size_t len = eq ? (size_t)(eq - entry) : strlen(entry);
	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) == len && strncmp(entry, v[i], len) == 0)
			return 1;
	return 0;
}

static void
build_env(const struct hook_env *env, const struct strvec *hidden, struct strvec *out)
{
	static const char *const ours[] = {"CAIRN_JOB", "CAIRN_BACKUP_ID", "CAIRN_STATUS",
	                                   "CAIRN_ERROR", "CAIRN_SINKS"};
	const char *values[] = {env->job, env->backup_id, env->status, env->error, env->sinks};
	for (char **e = environ; e && *e; e++) {
		if (env_named(*e, ours, 5))
			continue;
		if (hidden && env_named(*e, (const char *const *)hidden->v, hidden->n))
			continue;
		strvec_push(out, *e);
	}
	for (int i = 0; i < 5; i++)
		strvec_push_own(out, xasprintf("%s=%s", ours[i], values[i] ? values[i] : ""));
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Lines of one of the hook's outputs, logged as they complete. */
struct outbuf {
	int fd;
	enum cairn_log_level level;
	char buf[4096];
	size_t n;
};

static void
flush_line(struct outbuf *o, const char *name)
{
	if (o->n)
		log_msg(o->level, "hook %s: %.*s", name, (int)o->n, o->buf);
	o->n = 0;
}

/* Read what is there; 0 at EOF (fd closed), 1 otherwise. */
static int
pump(struct outbuf *o, const char *name)
{
	char chunk[4096];
	ssize_t got = read(o->fd, chunk, sizeof(chunk));
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (got <= 0) {
		flush_line(o, name);
		close(o->fd);
		o->fd = -1;
		return 0;
	}
	for (ssize_t i = 0; i < got; i++) {
		if (chunk[i] == '\n') {
			flush_line(o, name);
			continue;
		}
		if (o->n == sizeof(o->buf))
			flush_line(o, name); /* a very long line comes in pieces */
		o->buf[o->n++] = chunk[i];
	}
	return 1;
}

/* Wait up to ms for pid; 1 when it was reaped (*status set), else 0. */
static int
reap_within(pid_t pid, int64_t ms, int *status)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 1;
		if (now_ms() >= end)
			return 0;
		poll(NULL, 0, 20);
	}
}

/* A hook being run: what it is, what it is started with, the process. */
struct hook_proc {
	const char *name, *command;
	struct strvec argv, envp; /* NULL-terminated: what execve() takes */
	struct strvec paths;      /* where its program may be, in PATH's order */
	struct strvec sh_argv;    /* /bin/sh, the program, its arguments: for a
	                             program with no #! line, as execvp() does */
	pid_t pid;
	struct outbuf out[2]; /* its stdout and stderr */
	int status, reaped;
};

/* The files execvp() would try for the program, in its order: itself when
 * it has a '/', else each directory of PATH (an empty one: the working
 * directory).  Made before fork(), so that the child only calls
 * execve(). */
static void
program_paths(const char *prog, struct strvec *out)
{
	const char *path = getenv("PATH"), *p;
	if (!*prog)
		return; /* no program at all: ENOENT */
	if (strchr(prog, '/')) {
		strvec_push(out, prog);
		return;
	}
	if (!path)
		path = "/bin:/usr/bin"; /* glibc's default */
	for (p = path;; p++) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		strvec_push_own(out, len ? xasprintf("%.*s/%s", (int)len, p, prog) : xstrdup(prog));
		if (!end)
			break;
		p = end;
	}
}

/* Its words, environment and where its program may be: 0, or -1 with
 * *err. */
static int
hook_prepare(struct hook_proc *h, const struct hook_env *env, const struct strvec *hidden,
             char **err)
{
	char *why = NULL;
	if (hook_split(h->command, &h->argv, &why) || !h->argv.n) {
		*err = xasprintf("hook %s: %s", h->name, why ? why : "empty command");
		free(why);
		return -1;
	}
	build_env(env, hidden, &h->envp);
	program_paths(h->argv.v[0], &h->paths);
	strvec_push(&h->sh_argv, "/bin/sh");
	strvec_push(&h->sh_argv, h->argv.v[0]); /* the child puts the file here */
	for (size_t i = 1; i < h->argv.n; i++)
		strvec_push(&h->sh_argv, h->argv.v[i]);
	return 0;
}

/* Does execvp() go on to PATH's next directory after this error? */
static int
try_next(int e)
{
	return e == EACCES || e == ENOENT || e == ESTALE || e == ENOTDIR || e == ENODEV ||
	       e == ETIMEDOUT;
}

/* The child, between fork() and exec: only async-signal-safe calls.  When
 * no exec succeeds, errno goes to the parent through report (closed on
 * exec), which says it: the child formats nothing. */
static void __attribute__((noreturn))
child_exec(struct hook_proc *h, int devnull, int out, int err, int report)
{
	struct sigaction dfl;
	sigset_t none;
	int e = ENOENT, eacces = 0;
	setpgid(0, 0);
	dup2(devnull, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	/* cairn ignores SIGPIPE; an ignored signal stays ignored across exec,
	 * and a hook's pipeline should die of it as usual */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < h->paths.n; i++) {
		execve(h->paths.v[i], h->argv.v, h->envp.v);
		if (errno == ENOEXEC) {
			h->sh_argv.v[1] = h->paths.v[i];
			execve("/bin/sh", h->sh_argv.v, h->envp.v);
		}
		e = errno;
		eacces |= e == EACCES;
		if (!try_next(e))
			break;
	}
	if (eacces && try_next(e))
		e = EACCES;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Start it with its output in pipes: 0, or -1 with *err. */
static int
hook_start(struct hook_proc *h, char **err)
{
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, rep[2] = {-1, -1}, devnull, e = 0, rc = -1;
	ssize_t got;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		*err = xasprintf("hook %s: cannot set up its output: %s", h->name, strerror(errno));
		goto out;
	}
	log_info("hook %s: running %s", h->name, h->command);
	h->pid = fork();
	if (h->pid < 0) {
		*err = xasprintf("hook %s: cannot start it: %s", h->name, strerror(errno));
		goto out;
	}
	if (h->pid == 0)
		child_exec(h, devnull, po[1], pe[1], rep[1]);
	setpgid(h->pid, h->pid); /* also here: no race with the child's own call */
	close(rep[1]);
	rep[1] = -1;
	/* nothing before exec closes it; else the child's errno */
	while ((got = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(e))
		log_warn("hook %s: cannot run %s: %s", h->name, h->argv.v[0], strerror(e));
	h->out[0].fd = po[0];
	h->out[1].fd = pe[0];
	po[0] = pe[0] = -1;
	rc = 0;
out:
	if (devnull >= 0)
		close(devnull);
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	return rc;
}

/* Take what is left in its pipes without waiting for a process it left
 * behind that still holds them, and close them. */
static void
drain(struct hook_proc *h)
{
	for (int i = 0; i < 2; i++) {
		if (h->out[i].fd < 0)
			continue;
		struct pollfd one = {.fd = h->out[i].fd, .events = POLLIN};
		while (h->out[i].fd >= 0 && poll(&one, 1, 0) > 0 && pump(&h->out[i], h->name))
			;
		if (h->out[i].fd >= 0) {
			flush_line(&h->out[i], h->name);
			close(h->out[i].fd);
			h->out[i].fd = -1;
		}
	}
}

/* Log its output until it exits and its pipes close.  0 when it did, 1
 * when it ran out of time, 2 when cairn got a signal. */
static int
hook_wait(struct hook_proc *h, int64_t timeout)
{
	int64_t deadline = now_ms() + timeout * 1000;
	while (h->out[0].fd >= 0 || h->out[1].fd >= 0 || !h->reaped) {
		struct pollfd pfd[2];
		nfds_t nf = 0;
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 1;
		if (cancel_signal)
			return 2;
		if (!h->reaped && waitpid(h->pid, &h->status, WNOHANG) == h->pid)
			h->reaped = 1;
		for (int i = 0; i < 2; i++)
			if (h->out[i].fd >= 0) {
				pfd[nf].fd = h->out[i].fd;
				pfd[nf].events = POLLIN;
				nf++;
			}
		if (h->reaped && nf) {
			drain(h); /* it is gone: take what it wrote */
			break;
		}
		int r = poll(pfd, nf, nf ? (int)(left < 100 ? left : 100) : 20);
		if (r < 0 && errno != EINTR)
			break;
		for (nfds_t k = 0; r > 0 && k < nf; k++) {
			if (!pfd[k].revents)
				continue;
			for (int i = 0; i < 2; i++)
				if (h->out[i].fd == pfd[k].fd)
					pump(&h->out[i], h->name);
		}
	}
	return 0;
}

/* Its process group stopped (when why_stop), its pipes closed, it reaped. */
static void
hook_end(struct hook_proc *h, int why_stop)
{
	if (why_stop) {
		kill(-h->pid, SIGTERM);
		if (!reap_within(h->pid, HOOK_KILL_GRACE_MS, &h->status)) {
			kill(-h->pid, SIGKILL);
			while (waitpid(h->pid, &h->status, 0) < 0 && errno == EINTR)
				;
		} else {
			kill(-h->pid, SIGKILL); /* what it started dies with it */
		}
		h->reaped = 1;
	}
	for (int i = 0; i < 2; i++)
		if (h->out[i].fd >= 0) {
			flush_line(&h->out[i], h->name);
			close(h->out[i].fd);
			h->out[i].fd = -1;
		}
	if (!h->reaped)
		while (waitpid(h->pid, &h->status, 0) < 0 && errno == EINTR)
			;
}

/* 0 when it exited with status 0, else -1 with *err saying how it
 * ended. */
static int
hook_verdict(const struct hook_proc *h, int why_stop, int64_t timeout, char **err)
{
	int status = h->status;
	if (why_stop == 1) {
		char d[32];
		snprintf(d, sizeof(d), "%llds", (long long)timeout);
		if (timeout % 60 == 0)
			snprintf(d, sizeof(d), "%lldm", (long long)(timeout / 60));
		*err = xasprintf(
		        "hook %s (%s) did not finish within hook_timeout = %s and was killed; make it faster or raise hook_timeout",
		        h->name, h->command, d);
		return -1;
	}
	if (why_stop == 2) {
		*err = xasprintf("hook %s (%s) was stopped: cairn was interrupted", h->name,
		                 h->command);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		*err = xasprintf("hook %s (%s) failed with exit status %d%s", h->name, h->command,
		                 WEXITSTATUS(status),
		                 WEXITSTATUS(status) == 127 ? " (not found or not runnable?)" : "");
	else
		*err = xasprintf("hook %s (%s) was killed by signal %d", h->name, h->command,
		                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;
}

int
hook_run(const char *name, const char *command, int64_t timeout, const struct hook_env *env,
         const struct strvec *hidden, char **err)
{
	struct hook_proc h = {
	        .name = name,
	        .command = command,
	        .out = {{.fd = -1, .level = CAIRN_LOG_INFO}, {.fd = -1, .level = CAIRN_LOG_WARN}}};
	int rc = -1;
	if (!hook_prepare(&h, env, hidden, err) && !hook_start(&h, err)) {
		int why_stop = hook_wait(&h, timeout);
		hook_end(&h, why_stop);
		rc = hook_verdict(&h, why_stop, timeout, err);
	}
	strvec_free(&h.argv);
	strvec_free(&h.envp);
	strvec_free(&h.paths);
	strvec_free(&h.sh_argv);
	return rc;
}
