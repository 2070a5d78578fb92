/*
 * test_crypt_keys.c - unit tests of src/crypt_keys.c: a job's age keys
 * from its INI keys.  The recipients a backup encrypts to (inline, from a
 * recipients file with comments and blank lines, a passphrase from a file
 * or the environment), the identities a restore reads with (an identity
 * file with several keys, --identity over the INI's, the passphrase), the
 * warnings for key files others can read, the one-line errors, and that
 * no secret reaches a message or the manifest's description.
 *
 * Each test writes cfg.ini and its key files into its own mkdtemp
 * directory; stderr is sent to a file around each call whose warnings are
 * checked.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "age.h"
#include "config.h"
#include "crypt.h"
#include "secret_env.h"

#include "age_kat.h"

struct fx {
	char dir[64];
	char path[128];
	struct config *cfg;
	char *err;
	char *log; /* what went to stderr during the last call */
	int saved; /* stderr while it goes to dir/stderr */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_crypt_keys.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/cfg.ini", f->dir);
	f->saved = -1;
	/* a key file that blocks must not hang the suite (valgrind is slow) */
	alarm(getenv("CAIRN_UNDER_VALGRIND") ? 900 : 60);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	alarm(0);
	config_free(f->cfg);
	free(f->err);
	free(f->log);
	rm_tree(f->dir);
	free(f);
	unsetenv("CAIRN_TEST_PASS");
	return 0;
}

/* Write text to dir/name with mode; the path, freed by the caller. */
static char *
put(struct fx *f, const char *name, const char *text, mode_t mode)
{
	char *path = xasprintf("%s/%s", f->dir, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

#define BASE               \
	"[source db]\n"    \
	"plugin = mongo\n" \
	"[sink local]\n"   \
	"plugin = local\n" \
	"[job nightly]\n"  \
	"sources = db\n"   \
	"sinks = local\n"

/* Load BASE + the job's keys (from line 8 on); the job. */
static const struct cfg_job *
job_with(struct fx *f, const char *keys)
{
	char *text = xasprintf(BASE "%s", keys), *ini = put(f, "cfg.ini", text, 0600);
	free(text);
	free(ini);
	config_free(f->cfg);
	free(f->err);
	f->err = NULL;
	f->cfg = config_load(f->path, &f->err);
	if (!f->cfg)
		fail_msg("config_load: %s", f->err);
	return &f->cfg->jobs[0];
}

/* stderr into dir/stderr until log_end(), which keeps it in f->log. */
static void
log_begin(struct fx *f)
{
	char *path = xasprintf("%s/stderr", f->dir);
	int fd;
	fflush(stderr);
	f->saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(f->saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	free(path);
}

static const char *
log_end(struct fx *f)
{
	char *path = xasprintf("%s/stderr", f->dir), buf[4096];
	size_t n;
	FILE *fp;
	fflush(stderr);
	dup2(f->saved, 2);
	close(f->saved);
	f->saved = -1;
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	free(path);
	free(f->log);
	f->log = xstrdup(buf);
	return f->log;
}

/* An error of the key API: one line, CAIRN_E_CONFIG, no secret in it. */
static void
assert_one_line(const char *err)
{
	assert_non_null(err);
	assert_null(strchr(err, '\n'));
	/* the keys' bodies: "AGE-SECRET-KEY-1..." alone is a hint of the format */
	assert_null(strstr(err, kat_key1 + 16));
	assert_null(strstr(err, kat_key2 + 16));
	assert_null(strstr(err, kat_key3 + 16));
	assert_null(strstr(err, kat_pass));
}

/* ============================================================ recipients */

static void
no_encryption_loads_no_recipients(void **state)
{
	struct fx *f = *state;
	struct age_recipients *r = (void *)1;
	assert_int_equal(crypt_recipients_load(job_with(f, ""), &r, &f->err), 0);
	assert_null(r);
	/* encryption = none with a passphrase kept for reading */
	setenv("CAIRN_TEST_PASS", kat_pass, 1);
	r = (void *)1;
	assert_int_equal(
	        crypt_recipients_load(
	                job_with(f, "encryption = none\nage_passphrase_env = CAIRN_TEST_PASS\n"),
	                &r, &f->err),
	        0);
	assert_null(r);
}

/* Inline recipients and a recipients file with comments and blank lines,
 * in that order; the manifest's description is their public keys. */
static void
recipients_inline_and_from_a_file(void **state)
{
	struct fx *f = *state;
	/* kat_pub1 also inline: each key is encrypted to once */
	char *text = xasprintf("# the offsite keys\n\n%s\n   \n# retired: age1old\n%s  \r\n%s\n",
	                       kat_pub2, kat_pub3, kat_pub1);
	char *rf = put(f, "recipients.txt", text, 0644), *keys;
	struct age_recipients *r = NULL;
	struct strvec d = {0};
	free(text);
	keys = xasprintf("encryption = age\nage_recipients = %s\nage_recipients_file = %s\n",
	                 kat_pub1, "recipients.txt");
	log_begin(f);
	int rc = crypt_recipients_load(job_with(f, keys), &r, &f->err);
	/* a recipients file is public: readable by all draws no warning */
	assert_string_equal(log_end(f), "");
	assert_int_equal(rc, 0);
	assert_non_null(r);
	assert_int_equal(age_recipients_count(r), 3);
	crypt_recipients_describe(r, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.v[0], kat_pub1);
	assert_string_equal(d.v[1], kat_pub2);
	assert_string_equal(d.v[2], kat_pub3);
	strvec_free(&d);
	age_recipients_free(r);
	free(keys);
	free(rf);
}

/* A bad line of a recipients file: file, line, [job], key, what to do;
 * a missing file: one line naming it. */
static void
recipients_file_errors_name_file_and_line(void **state)
{
	struct fx *f = *state;
	char *text = xasprintf("%s\n# next one is bad\nage1notakey\n", kat_pub2);
	char *rf = put(f, "recipients.txt", text, 0600);
	struct age_recipients *r = NULL;
	free(text);
	assert_int_equal(
	        crypt_recipients_load(job_with(f, "encryption = age\n"
	                                          "age_recipients_file = recipients.txt\n"),
	                              &r, &f->err),
	        CAIRN_E_CONFIG);
	assert_null(r);
	assert_one_line(f->err);
	assert_contains(f->err, "cfg.ini:9: [job nightly] age_recipients_file: ");
	assert_contains(f->err, "recipients.txt line 3: not a valid age recipient");
	assert_contains(f->err, "one age1... public key a line");
	free(f->err);
	f->err = NULL;

	/* no recipient at all */
	free(put(f, "recipients.txt", "# nothing yet\n", 0600));
	assert_int_equal(
	        crypt_recipients_load(job_with(f, "encryption = age\n"
	                                          "age_recipients_file = recipients.txt\n"),
	                              &r, &f->err),
	        CAIRN_E_CONFIG);
	assert_contains(f->err, "no recipient in it");
	free(f->err);
	f->err = NULL;

	assert_int_equal(unlink(rf), 0);
	assert_int_equal(
	        crypt_recipients_load(job_with(f, "encryption = age\n"
	                                          "age_recipients_file = recipients.txt\n"),
	                              &r, &f->err),
	        CAIRN_E_CONFIG);
	assert_null(r);
	assert_one_line(f->err);
	assert_contains(f->err, "cfg.ini:9: [job nightly] age_recipients_file: ");
	assert_contains(f->err, rf);
	assert_contains(f->err, "cannot open: No such file or directory");
	free(rf);
}

/* ============================================================ passphrase */

static int
collect(void *ctx, const uint8_t *buf, size_t len)
{
	buf_add(ctx, buf, len);
	return 0;
}

/* Decrypt what r encrypted with the identities of job: the age code. */
static int
round_trip(const struct age_recipients *r, const struct age_identities *ids)
{
	struct buf ct = {0}, pt = {0};
	char err[AGE_ERR_MAX];
	struct age_enc *e = age_enc_new(r, collect, &ct, err, sizeof(err));
	int rc;
	assert_non_null(e);
	assert_int_equal(age_enc_write(e, kat_plain, strlen(kat_plain)), 0);
	assert_int_equal(age_enc_finish(e), 0);
	age_enc_free(e);
	struct age_dec *d = age_dec_new(ids, "test object", collect, &pt);
	rc = age_dec_write(d, ct.p, ct.len);
	if (rc == 0)
		rc = age_dec_finish(d);
	if (rc == 0) {
		assert_int_equal(pt.len, strlen(kat_plain));
		assert_memory_equal(pt.p, kat_plain, pt.len);
	}
	age_dec_free(d);
	free(ct.p);
	free(pt.p);
	return rc;
}

/* Decrypt an object Debian's age wrote (age_kat.h) with ids: the code. */
static int
open_kat(const struct age_identities *ids, const unsigned char *obj, size_t len)
{
	struct buf pt = {0};
	struct age_dec *d = age_dec_new(ids, "kat object", collect, &pt);
	int rc = age_dec_write(d, obj, len);
	if (rc == 0)
		rc = age_dec_finish(d);
	if (rc == 0) {
		assert_int_equal(pt.len, strlen(kat_plain));
		assert_memory_equal(pt.p, kat_plain, pt.len);
	}
	age_dec_free(d);
	free(pt.p);
	return rc;
}

/* The passphrase is a file's first line without its CR LF, or an
 * environment variable's: what one encrypts to, the other opens; a wrong
 * one does not.  Its description is "scrypt", never the passphrase. */
static void
passphrase_from_file_and_environment(void **state)
{
	struct fx *f = *state;
	char *text = xasprintf("%s\r\nnot this line\n", kat_pass);
	struct age_recipients *r = NULL;
	struct age_identities *ids = NULL;
	struct strvec d = {0};
	free(put(f, "pass", text, 0600));
	free(text);
	log_begin(f);
	int rc = crypt_recipients_load(
	        job_with(f, "encryption = age\nage_passphrase_file = pass\n"), &r, &f->err);
	assert_string_equal(log_end(f), "");
	assert_int_equal(rc, 0);
	assert_int_equal(age_recipients_count(r), 1);
	crypt_recipients_describe(r, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0], "scrypt");
	strvec_free(&d);

	setenv("CAIRN_TEST_PASS", kat_pass, 1);
	const struct cfg_job *job =
	        job_with(f, "encryption = age\nage_passphrase_env = CAIRN_TEST_PASS\n");
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), 0);
	assert_non_null(ids);
	assert_int_equal(age_identities_count(ids), 1);
	assert_null(age_identities_public(ids, 0));
	/* scrypt at age's work factor takes minutes under valgrind: the
	 * keys' loading is checked there, the crypto here */
	int crypto = !getenv("CAIRN_UNDER_VALGRIND");
	if (crypto)
		assert_int_equal(round_trip(r, ids), 0);
	/* and what age -e -p wrote with it */
	if (crypto)
		assert_int_equal(open_kat(ids, kat_scrypt, sizeof(kat_scrypt)), 0);
	age_identities_free(ids);

	setenv("CAIRN_TEST_PASS", "correct horse battery staple", 1);
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), 0);
	if (crypto)
		assert_int_equal(round_trip(r, ids), AGE_E_PASSPHRASE);
	age_identities_free(ids);
	age_recipients_free(r);
}

/* An unset variable, an empty first line, a control character: one line
 * each, naming the [job], the key and the variable or file. */
static void
passphrase_errors(void **state)
{
	struct fx *f = *state;
	struct age_recipients *r = NULL;
	struct age_identities *ids = NULL;

	unsetenv("CAIRN_TEST_PASS");
	const struct cfg_job *job =
	        job_with(f, "encryption = age\nage_passphrase_env = CAIRN_TEST_PASS\n");
	assert_int_equal(crypt_recipients_load(job, &r, &f->err), CAIRN_E_CONFIG);
	assert_one_line(f->err);
	assert_contains(f->err, "cfg.ini:9: [job nightly] age_passphrase_env: environment "
	                        "variable CAIRN_TEST_PASS is not set");
	free(f->err);
	f->err = NULL;
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), CAIRN_E_CONFIG);
	assert_null(ids);
	assert_contains(f->err, "CAIRN_TEST_PASS is not set");
	free(f->err);
	f->err = NULL;

	setenv("CAIRN_TEST_PASS", "\nsecond", 1);
	assert_int_equal(crypt_recipients_load(job, &r, &f->err), CAIRN_E_CONFIG);
	assert_contains(f->err, "the first line of $CAIRN_TEST_PASS is empty");
	free(f->err);
	f->err = NULL;

	free(put(f, "pass", "bad\001pass\n", 0600));
	job = job_with(f, "encryption = age\nage_passphrase_file = pass\n");
	assert_int_equal(crypt_recipients_load(job, &r, &f->err), CAIRN_E_CONFIG);
	assert_one_line(f->err);
	assert_contains(f->err, "cfg.ini:9: [job nightly] age_passphrase_file: control "
	                        "character 0x01 in the first line of");
	assert_null(strstr(f->err, "bad"));
	free(f->err);
	f->err = NULL;

	assert_int_equal(unlink(f->path), 0); /* any file: the INI is read already */
	char *missing = xasprintf("%s/pass", f->dir);
	assert_int_equal(unlink(missing), 0);
	assert_int_equal(crypt_recipients_load(job, &r, &f->err), CAIRN_E_CONFIG);
	assert_one_line(f->err);
	assert_contains(f->err, missing);
	assert_contains(f->err, "cannot open");
	free(missing);
}

/* ============================================================ identities */

/* An identity file with comments and several keys; --identity PATH in its
 * place; a job without any: none. */
static void
identities_from_a_file_with_several_keys(void **state)
{
	struct fx *f = *state;
	char *text = xasprintf("# created: 2026-12-07\n# public key: %s\n%s\n\n# another\n%s\n",
	                       kat_pub1, kat_key1, kat_key2);
	struct age_identities *ids = NULL;
	char *pub, *other;
	free(put(f, "id.txt", text, 0600));
	free(text);
	text = xasprintf("%s\n", kat_key3);
	other = put(f, "other.txt", text, 0600);
	free(text);
	const struct cfg_job *job = job_with(f, "age_identity_file = id.txt\n");
	log_begin(f);
	int rc = crypt_identities_load(job, NULL, &ids, &f->err);
	assert_string_equal(log_end(f), "");
	assert_int_equal(rc, 0);
	assert_int_equal(age_identities_count(ids), 2);
	pub = age_identities_public(ids, 0);
	assert_string_equal(pub, kat_pub1);
	free(pub);
	pub = age_identities_public(ids, 1);
	assert_string_equal(pub, kat_pub2);
	free(pub);
	/* what Debian's age encrypted to the first key, and to three */
	assert_int_equal(open_kat(ids, kat_one, sizeof(kat_one)), 0);
	assert_int_equal(open_kat(ids, kat_three, sizeof(kat_three)), 0);
	age_identities_free(ids);

	assert_int_equal(crypt_identities_load(job, other, &ids, &f->err), 0);
	assert_int_equal(age_identities_count(ids), 1);
	pub = age_identities_public(ids, 0);
	assert_string_equal(pub, kat_pub3);
	free(pub);
	/* the run's identities, for the reading stages */
	crypt_set_identities(ids);
	assert_ptr_equal(crypt_identities(), ids);
	crypt_set_identities(NULL);
	assert_null(crypt_identities());
	age_identities_free(ids);

	ids = (void *)1;
	assert_int_equal(crypt_identities_load(job_with(f, ""), NULL, &ids, &f->err), 0);
	assert_null(ids);
	free(other);
}

/* A bad identity line, a missing --identity file, a FIFO: one line each,
 * the key never quoted; a FIFO does not block. */
static void
identity_file_errors(void **state)
{
	struct fx *f = *state;
	char *text = xasprintf("%s\n%.40s\n", kat_key1, kat_key2);
	struct age_identities *ids = NULL;
	free(put(f, "id.txt", text, 0600));
	free(text);
	const struct cfg_job *job = job_with(f, "age_identity_file = id.txt\n");
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), CAIRN_E_CONFIG);
	assert_null(ids);
	assert_one_line(f->err);
	assert_contains(f->err, "cfg.ini:8: [job nightly] age_identity_file: ");
	assert_contains(f->err, "id.txt line 2: not a valid age identity");
	free(f->err);
	f->err = NULL;

	char *missing = xasprintf("%s/nope.txt", f->dir);
	assert_int_equal(crypt_identities_load(job, missing, &ids, &f->err), CAIRN_E_CONFIG);
	assert_one_line(f->err);
	assert_contains(f->err, "--identity: ");
	assert_contains(f->err, missing);
	assert_contains(f->err, "cannot open: No such file or directory");
	assert_contains(f->err, "age-keygen");
	free(f->err);
	f->err = NULL;
	free(missing);

	char *fifo = xasprintf("%s/fifo", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(crypt_identities_load(job, fifo, &ids, &f->err), CAIRN_E_CONFIG);
	assert_contains(f->err, "not a regular file");
	free(fifo);
}

/* A key file its group or others can read draws a warning naming it and
 * what to do; a private one none.  Never the key itself. */
static void
readable_key_files_warn(void **state)
{
	struct fx *f = *state;
	char *text = xasprintf("%s\n", kat_key1);
	char *id = put(f, "id.txt", text, 0640);
	struct age_identities *ids = NULL;
	struct age_recipients *r = NULL;
	const char *out;
	free(text);
	const struct cfg_job *job = job_with(f, "age_identity_file = id.txt\n");

	log_begin(f);
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), 0);
	out = log_end(f);
	assert_contains(out, "cfg.ini:8: [job nightly] age_identity_file: ");
	assert_contains(out, id);
	assert_contains(out, "holds a secret but its group can read it (mode 0640); chmod 600");
	assert_null(strstr(out, kat_key1 + 16));
	assert_int_equal(age_identities_count(ids), 1);
	age_identities_free(ids);

	assert_int_equal(chmod(id, 0644), 0);
	log_begin(f);
	assert_int_equal(crypt_identities_load(job, id, &ids, &f->err), 0);
	out = log_end(f);
	assert_contains(out, "--identity: ");
	assert_contains(out, "holds a secret but others can read it (mode 0644)");
	age_identities_free(ids);

	assert_int_equal(chmod(id, 0600), 0);
	log_begin(f);
	assert_int_equal(crypt_identities_load(job, NULL, &ids, &f->err), 0);
	assert_string_equal(log_end(f), "");
	age_identities_free(ids);

	free(put(f, "pass", kat_pass, 0604));
	job = job_with(f, "encryption = age\nage_passphrase_file = pass\n");
	log_begin(f);
	assert_int_equal(crypt_recipients_load(job, &r, &f->err), 0);
	out = log_end(f);
	assert_contains(out, "cfg.ini:9: [job nightly] age_passphrase_file: ");
	assert_contains(out, "others can read it (mode 0604); chmod 600");
	assert_null(strstr(out, kat_pass));
	age_recipients_free(r);
	free(id);
}

/* The variable of age_passphrase_env is among those no hook is handed
 * (secret_env.h); cairn itself never puts a key in the environment. */
static void
passphrase_variable_is_kept_from_hooks(void **state)
{
	struct fx *f = *state;
	struct strvec hidden = {0};
	job_with(f, "encryption = age\nage_passphrase_env = CAIRN_TEST_PASS\n");
	secret_env_vars(f->cfg, NULL, NULL, &hidden);
	assert_true(strvec_contains(&hidden, "CAIRN_TEST_PASS"));
	strvec_free(&hidden);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(no_encryption_loads_no_recipients),
	        T(recipients_inline_and_from_a_file),
	        T(recipients_file_errors_name_file_and_line),
	        T(passphrase_from_file_and_environment),
	        T(passphrase_errors),
	        T(identities_from_a_file_with_several_keys),
	        T(identity_file_errors),
	        T(readable_key_files_warn),
	        T(passphrase_variable_is_kept_from_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
