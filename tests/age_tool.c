/* age_tool - a small driver of src/age.c for the tests (built by make
 * check, never installed): stdin to stdout.
 *
 *   age_tool encrypt [-r RECIPIENT]... [-R RECIPIENTS-FILE]... [-p PASSFILE [-w LOG2N]]
 *   age_tool decrypt [-i IDENTITY-FILE]... [-p PASSFILE] [-m MAX-LOG2N]
 *   [-b BYTES]: read stdin in pieces of this size (default 65536)
 *
 * The passphrase is PASSFILE's content without one trailing newline.
 * Exits with the age module's code (0 when all went well). */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "age.h"

static int
write_out(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	while (len > 0) {
		ssize_t n = write(1, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static char *
read_pass(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 4096);
	size_t n;

	if (f == NULL || buf == NULL) {
		fprintf(stderr, "age_tool: %s: cannot open\n", path);
		exit(2);
	}
	n = fread(buf, 1, 4095, f);
	fclose(f);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	*len = n;
	return buf;
}

struct opts {
	int encrypt;
	const char *pass;
	int log2n;
	size_t bufsz;
};

static int
parse_keys(int argc, char **argv, struct opts *o, struct age_recipients *r,
           struct age_identities *ids)
{
	char err[AGE_ERR_MAX];
	int c, rc = 0;

	while (rc == 0 && (c = getopt(argc, argv, "r:R:i:p:w:m:b:")) != -1) {
		switch (c) {
		case 'r': rc = age_recipients_add(r, optarg, "-r", err, sizeof(err)); break;
		case 'R': rc = age_recipients_load(r, optarg, err, sizeof(err)); break;
		case 'i': rc = age_identities_load(ids, optarg, err, sizeof(err)); break;
		case 'p': o->pass = optarg; break;
		case 'w':
		case 'm': o->log2n = atoi(optarg); break;
		case 'b': o->bufsz = (size_t)strtoul(optarg, NULL, 10); break;
		default: fprintf(stderr, "age_tool: see the usage in tests/age_tool.c\n"); return 1;
		}
	}
	if (rc == 0 && o->pass != NULL) {
		size_t n = 0;
		char *p = read_pass(o->pass, &n);

		rc = o->encrypt
		             ? age_recipients_add_passphrase(r, p, n, o->log2n, err, sizeof(err))
		             : age_identities_add_passphrase(ids, p, n, o->log2n, err, sizeof(err));
		memset(p, 0, 4096);
		free(p);
	}
	if (rc != 0)
		fprintf(stderr, "age_tool: %s\n", err);
	return rc;
}

static int
run(struct opts *o, struct age_recipients *r, struct age_identities *ids)
{
	char err[AGE_ERR_MAX] = "";
	struct age_enc *e = NULL;
	struct age_dec *d = NULL;
	unsigned char *buf = malloc(o->bufsz ? o->bufsz : 1);
	ssize_t n;
	int rc = 0;

	if (o->encrypt && (e = age_enc_new(r, write_out, NULL, err, sizeof(err))) == NULL) {
		fprintf(stderr, "age_tool: %s\n", err);
		free(buf);
		return AGE_E_INVALID;
	}
	if (!o->encrypt)
		d = age_dec_new(ids, "stdin", write_out, NULL);
	while (rc == 0 && (n = read(0, buf, o->bufsz)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("age_tool: stdin");
			rc = AGE_E_IO;
			break;
		}
		rc = e ? age_enc_write(e, buf, (size_t)n) : age_dec_write(d, buf, (size_t)n);
	}
	if (rc == 0)
		rc = e ? age_enc_finish(e) : age_dec_finish(d);
	if (rc != 0 && rc != AGE_E_IO)
		fprintf(stderr, "age_tool: %s\n", e ? age_enc_error(e) : age_dec_error(d));
	age_enc_free(e);
	age_dec_free(d);
	free(buf);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o = {0, NULL, 0, 65536};
	struct age_recipients *r = age_recipients_new();
	struct age_identities *ids = age_identities_new();
	int rc;

	if (argc < 2 || (strcmp(argv[1], "encrypt") != 0 && strcmp(argv[1], "decrypt") != 0)) {
		fprintf(stderr, "usage: age_tool encrypt|decrypt [options] <in >out\n");
		return 1;
	}
	o.encrypt = strcmp(argv[1], "encrypt") == 0;
	rc = parse_keys(argc - 1, argv + 1, &o, r, ids);
	if (rc == 0)
		rc = run(&o, r, ids);
	age_recipients_free(r);
	age_identities_free(ids);
	return rc;
}
