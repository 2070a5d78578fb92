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
					*why = xstrdup("a ' is not closed; close it, or write \\' "
					               "for a quote of its own");
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
					        "a \" is not closed; close it, or write \\\" "
					        "for a quote of its own");
					free(w);
					return -1;
				}
				p++;
			} else if (*p == '\\') {
				if (!p[1]) {
					*why = xstrdup("the value ends in a lone \\; remove it or "
					               "write \\\\");
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

int
hook_run(const char *name, const char *command, int64_t timeout, const struct hook_env *env,
         const struct strvec *hidden, char **err)
{
	struct strvec argv = {0}, envp = {0};
	struct outbuf out[2] = {{.fd = -1, .level = CAIRN_LOG_INFO},
	                        {.fd = -1, .level = CAIRN_LOG_WARN}};
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, devnull, status = 0, reaped = 0, why_stop = 0;
	char *why = NULL;
	pid_t pid;
	int64_t deadline;

	if (hook_split(command, &argv, &why) || !argv.n) {
		*err = xasprintf("hook %s: %s", name, why ? why : "empty command");
		free(why);
		strvec_free(&argv);
		return -1;
	}
	/* a strvec is NULL-terminated: argv.v and envp.v are what execve takes */
	build_env(env, hidden, &envp);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
		*err = xasprintf("hook %s: cannot set up its output: %s", name, strerror(errno));
		goto fail_early;
	}
	log_info("hook %s: running %s", name, command);
	pid = fork();
	if (pid < 0) {
		*err = xasprintf("hook %s: cannot start it: %s", name, strerror(errno));
		goto fail_early;
	}
	if (pid == 0) {
		/* the child: only async-signal-safe calls until exec */
		sigset_t none;
		setpgid(0, 0);
		dup2(devnull, STDIN_FILENO);
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		/* cairn ignores SIGPIPE; an ignored signal stays ignored across
		 * exec, and a hook's pipeline should die of it as usual */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvpe(argv.v[0], argv.v, envp.v);
		{
			const char *m = strerror(errno);
			if (write(STDERR_FILENO, "cannot run ", 11) < 0 ||
			    write(STDERR_FILENO, argv.v[0], strlen(argv.v[0])) < 0 ||
			    write(STDERR_FILENO, ": ", 2) < 0 ||
			    write(STDERR_FILENO, m, strlen(m)) < 0)
				_exit(127);
		}
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with the child's own call */
	close(po[1]);
	close(pe[1]);
	close(devnull);
	po[1] = pe[1] = devnull = -1;
	out[0].fd = po[0];
	out[1].fd = pe[0];
	deadline = now_ms() + timeout * 1000;

	while (out[0].fd >= 0 || out[1].fd >= 0 || !reaped) {
		struct pollfd pfd[2];
		nfds_t nf = 0;
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			why_stop = 1;
			break;
		}
		if (cancel_signal) {
			why_stop = 2;
			break;
		}
		if (!reaped && waitpid(pid, &status, WNOHANG) == pid)
			reaped = 1;
		for (int i = 0; i < 2; i++)
			if (out[i].fd >= 0) {
				pfd[nf].fd = out[i].fd;
				pfd[nf].events = POLLIN;
				nf++;
			}
		if (reaped && nf) {
			/* it is gone: take what is written, but do not wait for a
			 * process it left behind that still holds the pipe */
			for (int i = 0; i < 2; i++) {
				if (out[i].fd < 0)
					continue;
				struct pollfd one = {.fd = out[i].fd, .events = POLLIN};
				while (out[i].fd >= 0 && poll(&one, 1, 0) > 0 &&
				       pump(&out[i], name))
					;
				if (out[i].fd >= 0) {
					flush_line(&out[i], name);
					close(out[i].fd);
					out[i].fd = -1;
				}
			}
			break;
		}
		int r = poll(pfd, nf, nf ? (int)(left < 100 ? left : 100) : 20);
		if (r < 0 && errno != EINTR)
			break;
		for (nfds_t k = 0; r > 0 && k < nf; k++) {
			if (!pfd[k].revents)
				continue;
			for (int i = 0; i < 2; i++)
				if (out[i].fd == pfd[k].fd)
					pump(&out[i], name);
		}
	}
	if (why_stop) {
		kill(-pid, SIGTERM);
		if (!reap_within(pid, HOOK_KILL_GRACE_MS, &status)) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
		} else {
			kill(-pid, SIGKILL); /* what it started dies with it */
		}
		reaped = 1;
	}
	for (int i = 0; i < 2; i++)
		if (out[i].fd >= 0) {
			flush_line(&out[i], name);
			close(out[i].fd);
		}
	if (!reaped)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	strvec_free(&argv);
	strvec_free(&envp);
	if (why_stop == 1) {
		char d[32];
		snprintf(d, sizeof(d), "%llds", (long long)timeout);
		if (timeout % 60 == 0)
			snprintf(d, sizeof(d), "%lldm", (long long)(timeout / 60));
		*err = xasprintf("hook %s (%s) did not finish within hook_timeout = %s and was "
		                 "killed; make it faster or raise hook_timeout",
		                 name, command, d);
		return -1;
	}
	if (why_stop == 2) {
		*err = xasprintf("hook %s (%s) was stopped: cairn was interrupted", name, command);
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		*err = xasprintf("hook %s (%s) failed with exit status %d%s", name, command,
		                 WEXITSTATUS(status),
		                 WEXITSTATUS(status) == 127 ? " (not found or not runnable?)" : "");
	else
		*err = xasprintf("hook %s (%s) was killed by signal %d", name, command,
		                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -1;

fail_early:
	if (devnull >= 0)
		close(devnull);
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	strvec_free(&argv);
	strvec_free(&envp);
	return -1;
}
