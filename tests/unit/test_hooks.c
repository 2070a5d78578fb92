/*
 * test_hooks.c - unit tests of src/hooks.c: the words of a hook's value,
 * the environment a hook gets (never a secret's variable), exit statuses
 * and the timeout.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hooks.h"
#include "testutil.h"
#include "util.h"

static char *
words_of(const char *value)
{
	struct strvec w = {0};
	char *why = NULL, *s;
	if (hook_split(value, &w, &why)) {
		s = xasprintf("ERROR %s", why);
		free(why);
	} else {
		s = strvec_join(&w, "|");
	}
	strvec_free(&w);
	return s;
}

#define assert_words(value, want)                  \
	do {                                       \
		char *got_ = words_of(value);      \
		assert_string_equal(got_, (want)); \
		free(got_);                        \
	} while (0)

static void
split_rules(void **state)
{
	(void)state;
	assert_words("mail -s subject root", "mail|-s|subject|root");
	assert_words("  a \t b  ", "a|b");
	assert_words("sh -c 'echo \"$X\" | wc -l'", "sh|-c|echo \"$X\" | wc -l");
	assert_words("printf \"a \\\"b\\\" \\\\ \\n\"", "printf|a \"b\" \\ \\n");
	assert_words("a\\ b c\\'d", "a b|c'd");
	assert_words("x'y z'\"w\"", "xy zw");
	assert_words("echo $HOME *", "echo|$HOME|*"); /* nothing expands */
	assert_words("''", "");
	assert_words("", "");
	char *e = words_of("echo 'open");
	assert_contains(e, "ERROR a ' is not closed");
	free(e);
	e = words_of("echo \"open");
	assert_contains(e, "ERROR a \" is not closed");
	free(e);
	e = words_of("echo \\");
	assert_contains(e, "lone \\");
	free(e);
}

static char dir[] = "/tmp/cairn-test-hooks.XXXXXX";

static char *
slurp(const char *name)
{
	char *path = path_join(dir, name), buf[4096];
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	free(path);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void
environment_and_secrets(void **state)
{
	struct strvec hidden = {0};
	struct hook_env env = {.job = "nightly",
	                       .backup_id = "20261126T020000Z",
	                       .status = "partial",
	                       .error = "source redis: connection refused",
	                       .sinks = "local s3"};
	char *err = NULL, *cmd, *got;
	(void)state;
	/* the test's own process may change its environment; cairn never does */
	setenv("CAIRN_TEST_SECRET", "hunter2", 1);
	setenv("CAIRN_TEST_PLAIN", "visible", 1);
	setenv("CAIRN_STATUS", "stale", 1); /* cairn's own value wins */
	strvec_push(&hidden, "CAIRN_TEST_SECRET");
	/* only the names that matter here: make check sets CAIRN_* of its own */
	cmd = xasprintf("sh -c 'env | grep -E "
	                "\"^CAIRN_(JOB|BACKUP_ID|STATUS|ERROR|SINKS|TEST_SECRET|TEST_PLAIN)=\" "
	                "| sort >%s/env'",
	                dir);
	assert_int_equal(hook_run("after", cmd, 10, &env, &hidden, &err), 0);
	got = slurp("env");
	assert_string_equal(got, "CAIRN_BACKUP_ID=20261126T020000Z\n"
	                         "CAIRN_ERROR=source redis: connection refused\n"
	                         "CAIRN_JOB=nightly\n"
	                         "CAIRN_SINKS=local s3\n"
	                         "CAIRN_STATUS=partial\n"
	                         "CAIRN_TEST_PLAIN=visible\n");
	free(got);
	/* and cairn's own environment did not change */
	assert_string_equal(getenv("CAIRN_STATUS"), "stale");
	assert_null(getenv("CAIRN_JOB"));
	free(cmd);
	strvec_free(&hidden);
	unsetenv("CAIRN_TEST_SECRET");
	unsetenv("CAIRN_TEST_PLAIN");
	unsetenv("CAIRN_STATUS");
}

static void
statuses_and_timeout(void **state)
{
	struct hook_env env = {.job = "j"};
	char *err = NULL;
	(void)state;
	assert_int_equal(hook_run("after", "true", 10, &env, NULL, &err), 0);
	assert_int_equal(hook_run("after", "sh -c 'exit 3'", 10, &env, NULL, &err), -1);
	assert_contains(err, "hook after (sh -c 'exit 3') failed with exit status 3");
	free(err);
	assert_int_equal(hook_run("before", "/nonexistent/cairn-hook", 10, &env, NULL, &err), -1);
	assert_contains(err, "exit status 127 (not found or not runnable?)");
	free(err);
	assert_int_equal(hook_run("after", "sh -c 'kill -KILL $$'", 10, &env, NULL, &err), -1);
	assert_contains(err, "killed by signal 9");
	free(err);
	alarm(20); /* a hook that is not stopped must not hang the test */
	assert_int_equal(hook_run("before", "sleep 30", 1, &env, NULL, &err), -1);
	alarm(0);
	assert_contains(err, "did not finish within hook_timeout = 1s and was killed");
	free(err);
}

/* hook_run with cairn's stderr (its log) in a file; returns what was
 * logged, and the outcome in *rc and *err. */
static char *
run_logged(const char *command, int *rc, char **err)
{
	struct hook_env env = {.job = "j"};
	char *path = path_join(dir, "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved = dup(STDERR_FILENO);
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	*rc = hook_run("before", command, 10, &env, NULL, err);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	free(path);
	return slurp("log");
}

/* The program is found as execvp() finds it, and when it cannot be run
 * the parent says why (the child only calls async-signal-safe functions
 * between fork and exec, so it formats nothing). */
static void
programs_not_run_are_named(void **state)
{
	char *err = NULL, *log, *cmd;
	int rc;
	(void)state;
	log = run_logged("/nonexistent/cairn-hook", &rc, &err);
	assert_int_equal(rc, -1);
	assert_contains(
	        err,
	        "hook before (/nonexistent/cairn-hook) failed with exit status 127 (not found or not runnable?)");
	assert_contains(
	        log, "hook before: cannot run /nonexistent/cairn-hook: No such file or directory");
	free(log);
	free(err);
	/* on PATH: a name found nowhere */
	log = run_logged("no-such-program-cairn arg", &rc, &err);
	assert_int_equal(rc, -1);
	assert_contains(err, "exit status 127 (not found or not runnable?)");
	assert_contains(log,
	                "hook before: cannot run no-such-program-cairn: No such file or directory");
	free(log);
	free(err);
	/* a file that is not executable */
	char *plain = path_join(dir, "plain");
	FILE *f = fopen(plain, "w");
	assert_non_null(f);
	fputs("echo never\n", f);
	fclose(f);
	chmod(plain, 0644);
	log = run_logged(plain, &rc, &err);
	assert_int_equal(rc, -1);
	assert_contains(err, "exit status 127 (not found or not runnable?)");
	cmd = xasprintf("hook before: cannot run %s: Permission denied", plain);
	assert_contains(log, cmd);
	free(cmd);
	free(log);
	free(err);
	/* an executable script without a #! line runs with /bin/sh, as
	 * execvp() does */
	chmod(plain, 0755);
	f = fopen(plain, "w");
	assert_non_null(f);
	fprintf(f, "echo ran-by-sh \"$1\" >&2\n"); /* stderr: logged as a warning */
	fclose(f);
	cmd = xasprintf("%s one", plain);
	log = run_logged(cmd, &rc, &err);
	assert_int_equal(rc, 0);
	assert_contains(log, "hook before: ran-by-sh one");
	free(log);
	free(cmd);
	free(plain);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(split_rules),
	        cmocka_unit_test(environment_and_secrets),
	        cmocka_unit_test(statuses_and_timeout),
	        cmocka_unit_test(programs_not_run_are_named),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
