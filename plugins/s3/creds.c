/*
 * creds.c - where the "s3" sink's keys come from, first found wins: the
 * INI (access_key, secret_key), the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; only read), the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
 * profile, AWS_PROFILE or "default").  Secrets are wiped before they are
 * freed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
s3_creds_free(struct s3_creds *c)
{
	if (!c)
		return;
	if (c->secret_key)
		explicit_bzero(c->secret_key, strlen(c->secret_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* Debian's inih reads lines of at most 200 bytes, and session tokens are
 * longer.  The reader hands inih such a line as "NAME = \1N" and keeps
 * the value aside; the handler takes it back from there. */
#define S3_LONG_MARK '\1'
#define S3_LONG_MAX 8

struct s3_cred_parse {
	FILE *f;
	const char *profile;
	struct s3_creds *out;
	int found; /* the profile's section was seen */
	int oom;
	int toolong; /* a line longer than any credential */
	char *longv[S3_LONG_MAX];
	int nlong;
};

static char *
s3_cred_reader(char *str, int num, void *stream)
{
	struct s3_cred_parse *p = stream;
	char line[8192], *eq;
	size_t len;

	if (!fgets(line, sizeof(line), p->f))
		return NULL;
	len = strlen(line);
	if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
		int ch;
		p->toolong = 1;
		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
		line[0] = '\0';
		len = 0;
	}
	if ((int)len < num - 2 || !(eq = strchr(line, '=')) || p->nlong == S3_LONG_MAX) {
		if ((int)len >= num - 2)
			line[num - 2] = '\0'; /* a comment or junk: inih's own way */
		snprintf(str, (size_t)num, "%s", line);
		return str;
	}
	*eq = '\0';
	eq++;
	eq += strspn(eq, " \t");
	eq[strcspn(eq, "\r\n")] = '\0';
	if (!(p->longv[p->nlong] = strdup(eq))) {
		p->oom = 1;
		return NULL;
	}
	snprintf(str, (size_t)num, "%.*s=%c%d\n", num - 8, line, S3_LONG_MARK, p->nlong++);
	return str;
}

static int
s3_cred_handler(void *ud, const char *section, const char *name, const char *value)
{
	struct s3_cred_parse *p = ud;
	char **slot = NULL;

	if (strcmp(section, p->profile))
		return 1;
	p->found = 1;
	if (!name)
		return 1;
	if (value[0] == S3_LONG_MARK) {
		int k = atoi(value + 1);
		if (k < 0 || k >= p->nlong)
			return 0;
		value = p->longv[k];
	}
	if (!strcmp(name, "aws_access_key_id"))
		slot = &p->out->access_key;
	else if (!strcmp(name, "aws_secret_access_key"))
		slot = &p->out->secret_key;
	else if (!strcmp(name, "aws_session_token"))
		slot = &p->out->session_token;
	if (!slot)
		return 1;
	free(*slot);
	if (!(*slot = strdup(value))) {
		p->oom = 1;
		return 0;
	}
	return 1;
}

/* 0: found (out filled); CAIRN_E_NOTFOUND: no such file or profile (why
 * says which); another code: the file is unusable (why says how). */
int
s3_creds_parse_file(const char *path, const char *profile, struct s3_creds *out, char *why,
                    size_t whylen)
{
	struct s3_cred_parse p = {.profile = profile, .out = out};
	int fd, line, rc = 0, k;
	struct stat st;

	memset(out, 0, sizeof(*out));
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CAIRN_E_NOTFOUND : CAIRN_E_CONFIG;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		close(fd);
		return CAIRN_E_CONFIG;
	}
	p.f = fdopen(fd, "r");
	if (!p.f) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return CAIRN_E_NOMEM;
	}
	line = ini_parse_stream(s3_cred_reader, &p, s3_cred_handler, &p);
	fclose(p.f);
	for (k = 0; k < p.nlong; k++) {
		explicit_bzero(p.longv[k], strlen(p.longv[k]));
		free(p.longv[k]);
	}
	if (p.oom) {
		snprintf(why, whylen, "out of memory");
		rc = CAIRN_E_NOMEM;
	} else if (p.toolong) {
		snprintf(why, whylen, "%s has a line longer than 8 KiB: fix the file", path);
		rc = CAIRN_E_CONFIG;
	} else if (line) {
		snprintf(why, whylen, "%s, line %d: not INI syntax: fix the file", path, line);
		rc = CAIRN_E_CONFIG;
	} else if (!p.found) {
		snprintf(why, whylen, "%s has no [%s] profile", path, profile);
		rc = CAIRN_E_NOTFOUND;
	} else if (!out->access_key || !*out->access_key || !out->secret_key || !*out->secret_key) {
		snprintf(
		        why, whylen,
		        "%s, profile [%s]: aws_access_key_id and aws_secret_access_key must both be set",
		        path, profile);
		rc = CAIRN_E_CONFIG;
	}
	if (rc)
		s3_creds_free(out);
	return rc;
}

static char *
s3_home(void)
{
	const char *h = getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (h && *h)
		return strdup(h);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir)
		return strdup(res->pw_dir);
	return NULL;
}

static int
s3_dupkeys(struct s3 *s3, const char *ak, const char *sk, const char *tok, const char *from)
{
	s3->access_key = strdup(ak);
	s3->secret_key = strdup(sk);
	s3->session_token = tok && *tok ? strdup(tok) : NULL;
	s3->cred_from = strdup(from);
	if (!s3->access_key || !s3->secret_key || !s3->cred_from ||
	    (tok && *tok && !s3->session_token))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	return 0;
}

/* Credentials, first found wins: the INI, the environment, the shared
 * credentials file.  The environment is only read. */
int
s3_credentials(struct s3 *s3, const struct cairn_config *cfg)
{
	const struct cairn_value *ak = cairn_config_get(cfg, "access_key");
	const struct cairn_value *sk = cairn_config_get(cfg, "secret_key");
	const struct cairn_value *pv = cairn_config_get(cfg, "profile");
	const char *eak = getenv("AWS_ACCESS_KEY_ID"), *esk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *profile;
	int has_ak = ak && ak->set && ak->text && *ak->text;
	int has_sk = sk && sk->set && sk->text && *sk->text;
	struct s3_creds c;
	char why[1024], *home = NULL, *path = NULL, *from = NULL;
	int rc;

	if (has_ak != has_sk)
		return s3_error(
		        s3, CAIRN_E_CONFIG,
		        "%s is set but %s is not: give both (or neither, to take them from the environment or ~/.aws/credentials)",
		        has_ak ? "access_key" : "secret_key", has_ak ? "secret_key" : "access_key");
	if (has_ak)
		return s3_dupkeys(s3, ak->text, sk->text, NULL, "the configuration");
	if (eak && *eak && esk && *esk)
		return s3_dupkeys(s3, eak, esk, getenv("AWS_SESSION_TOKEN"),
		                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
	profile = pv && pv->set && pv->text && *pv->text ? pv->text : getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	if (file && *file) {
		path = strdup(file);
	} else {
		home = s3_home();
		if (home && asprintf(&path, "%s/.aws/credentials", home) < 0)
			path = NULL;
	}
	if (!path) {
		free(home);
		return s3_error(
		        s3, CAIRN_E_CONFIG,
		        "no credentials: set access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (no home directory for ~/.aws/credentials)");
	}
	rc = s3_creds_parse_file(path, profile, &c, why, sizeof(why));
	if (rc == CAIRN_E_NOTFOUND) {
		rc = s3_error(
		        s3, CAIRN_E_CONFIG,
		        "no credentials: set access_key and secret_key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a [%s] profile in %s (%s)",
		        profile, path, why);
	} else if (rc) {
		rc = s3_error(s3, rc, "cannot read credentials: %s", why);
	} else if (asprintf(&from, "%s, profile [%s]", path, profile) < 0) {
		rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	} else {
		rc = s3_dupkeys(s3, c.access_key, c.secret_key, c.session_token, from);
	}
	s3_creds_free(&c);
	free(from);
	free(path);
	free(home);
	return rc;
}
