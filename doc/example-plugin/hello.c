/*
 * hello.c - the smallest real cairn source plugin, for plugin authors to copy.
 *
 * Backup writes `message` `repeat` times, one line each.  Restore writes the
 * stored lines to the file named by `target`.  Verify checks that every stored
 * line is exactly `message`.  See doc/plugin-authoring.md for the rules this
 * file follows; build it with the Makefile beside it:
 *
 *     cc -shared -fPIC $(pkg-config --cflags cairn-plugin) -o hello.so hello.c
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <cairn/plugin.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELLO_VERSION "1.0.0"
#define HELLO_BUFSIZE 65536

/* The host table from the entry call: our only way to reach the core. */
static const struct cairn_host *hello_host;

struct hello {
	cairn_ctx *ctx;
	char *line;      /* message + '\n', made once in create() */
	size_t line_len;
	int64_t repeat;
	char *target;    /* restore destination; NULL when not set */
};

/* The order here is the order of cfg->values in create(). */
enum { HELLO_KEY_MESSAGE, HELLO_KEY_REPEAT, HELLO_KEY_TARGET };

static const struct cairn_key hello_keys[] = {
	[HELLO_KEY_MESSAGE] = { .name = "message", .type = CAIRN_KEY_STRING,
		.default_value = "hello, world",
		.help = "the line to write" },
	[HELLO_KEY_REPEAT] = { .name = "repeat", .type = CAIRN_KEY_INT,
		.default_value = "1",
		.help = "how many times to write it" },
	[HELLO_KEY_TARGET] = { .name = "target", .type = CAIRN_KEY_PATH,
		.help = "file that restore writes (e.g. --set target=/tmp/hello.txt)" },
	{ .name = NULL }
};

static void
hello_destroy(void *instance)
{
	struct hello *h = instance;

	if (!h)
		return;
	free(h->line);
	free(h->target);
	free(h);
}

static int
hello_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *msg = &cfg->values[HELLO_KEY_MESSAGE];
	const struct cairn_value *rep = &cfg->values[HELLO_KEY_REPEAT];
	const struct cairn_value *tgt = &cfg->values[HELLO_KEY_TARGET];
	struct hello *h;

	/* The core has checked the types; what it cannot know is what makes
	 * sense for this plugin. */
	if (strchr(msg->text, '\n')) {
		hello_host->set_error(ctx, "key message: must be one line");
		return CAIRN_E_CONFIG;
	}
	if (rep->i < 0) {
		hello_host->set_error(ctx, "key repeat: %lld is negative; use 0 or more",
		                      (long long)rep->i);
		return CAIRN_E_CONFIG;
	}

	h = calloc(1, sizeof(*h));
	if (!h)
		goto nomem;
	h->ctx = ctx;
	h->repeat = rep->i;
	/* The config's memory is the core's and goes away after create():
	 * keep copies. */
	if (asprintf(&h->line, "%s\n", msg->text) < 0) {
		h->line = NULL;
		goto nomem;
	}
	h->line_len = strlen(h->line);
	if (tgt->set && !(h->target = strdup(tgt->text)))
		goto nomem;
	*instance = h;
	return 0;

nomem:
	hello_destroy(h);
	hello_host->set_error(ctx, "out of memory");
	return CAIRN_E_NOMEM;
}

static const char *
hello_file_extension(void *instance)
{
	return "txt";
}

static int
hello_backup(void *instance, struct cairn_out *out)
{
	struct hello *h = instance;
	int64_t n;
	int rc;

	for (n = 0; n < h->repeat; n++) {
		/* Checking now and then is enough; out->write also fails with
		 * CAIRN_E_CANCELLED once the run is being stopped. */
		if (n % 4096 == 0 && hello_host->cancelled(h->ctx))
			return CAIRN_E_CANCELLED;
		rc = out->write(out, h->line, h->line_len);
		if (rc < 0)
			return rc; /* the core has the detail already */
	}
	hello_host->stat(h->ctx, "lines", h->repeat);
	hello_host->log(h->ctx, CAIRN_LOG_DEBUG, "wrote %lld lines",
	                (long long)h->repeat);
	return 0;
}

/* Write all of buf to fd, or return -1 with errno set. */
static int
hello_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int
hello_restore(void *instance, struct cairn_in *in, unsigned flags)
{
	struct hello *h = instance;
	char *tmp = NULL, *buf = NULL;
	struct stat st;
	int fd = -1, rc;
	ssize_t got;

	if (!h->target) {
		hello_host->set_error(h->ctx, "key target is not set; say where to "
		                      "restore with --set target=PATH");
		return CAIRN_E_CONFIG;
	}
	if (!(flags & CAIRN_RESTORE_FORCE) && stat(h->target, &st) == 0 &&
	    st.st_size > 0) {
		hello_host->set_error(h->ctx, "%s exists and is not empty; use "
		                      "--force or another --set target=", h->target);
		return CAIRN_E_EXISTS;
	}

	/* Write beside the target and rename at the end, so an interrupted or
	 * failed restore never leaves a half-written target. */
	buf = malloc(HELLO_BUFSIZE);
	if (!buf || asprintf(&tmp, "%s.XXXXXX", h->target) < 0) {
		tmp = NULL;
		hello_host->set_error(h->ctx, "out of memory");
		rc = CAIRN_E_NOMEM;
		goto fail;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		hello_host->set_error(h->ctx, "%s: cannot create: %s", tmp,
		                      strerror(errno));
		free(tmp);
		tmp = NULL; /* nothing to unlink */
		rc = CAIRN_E_IO;
		goto fail;
	}

	while ((got = in->read(in, buf, HELLO_BUFSIZE)) > 0) {
		if (hello_host->cancelled(h->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto fail;
		}
		if (hello_write_all(fd, buf, (size_t)got) < 0) {
			hello_host->set_error(h->ctx, "%s: write failed: %s", tmp,
			                      strerror(errno));
			rc = CAIRN_E_IO;
			goto fail;
		}
	}
	if (got < 0) {
		rc = (int)got;
		goto fail;
	}
	/* mkstemp makes the file 0600; a restored text file is readable. */
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		hello_host->set_error(h->ctx, "%s: cannot finish writing: %s", tmp,
		                      strerror(errno));
		rc = CAIRN_E_IO;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, h->target) < 0) {
		hello_host->set_error(h->ctx, "%s: cannot rename to %s: %s", tmp,
		                      h->target, strerror(errno));
		rc = CAIRN_E_IO;
		goto fail;
	}
	free(tmp);
	free(buf);
	hello_host->log(h->ctx, CAIRN_LOG_INFO, "restored to %s", h->target);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(buf);
	return rc;
}

static int
hello_verify(void *instance, struct cairn_in *in)
{
	struct hello *h = instance;
	size_t msg_len = h->line_len - 1; /* without the '\n' */
	size_t pos = 0;                   /* bytes of the current line seen */
	int64_t lines = 0;
	char *buf;
	ssize_t got;
	int rc = 0;

	buf = malloc(HELLO_BUFSIZE);
	if (!buf) {
		hello_host->set_error(h->ctx, "out of memory");
		return CAIRN_E_NOMEM;
	}
	/* Compare as the bytes stream past, so memory stays flat however many
	 * lines there are and lines may straddle two reads. */
	while ((got = in->read(in, buf, HELLO_BUFSIZE)) > 0) {
		if (hello_host->cancelled(h->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto out;
		}
		for (ssize_t k = 0; k < got; k++) {
			char c = buf[k];
			if (c == '\n' && pos == msg_len) {
				lines++;
				pos = 0;
			} else if (c != '\n' && pos < msg_len && c == h->line[pos]) {
				pos++;
			} else {
				hello_host->set_error(h->ctx, "line %lld is not the "
				                      "message \"%.*s\"",
				                      (long long)lines + 1,
				                      (int)msg_len, h->line);
				rc = CAIRN_E_CORRUPT;
				goto out;
			}
		}
	}
	if (got < 0) {
		rc = (int)got;
		goto out;
	}
	if (pos != 0) {
		hello_host->set_error(h->ctx, "line %lld is cut short (no newline "
		                      "at the end)", (long long)lines + 1);
		rc = CAIRN_E_CORRUPT;
		goto out;
	}
	hello_host->stat(h->ctx, "lines", lines);
out:
	free(buf);
	return rc;
}

static const struct cairn_source_ops hello_ops = {
	.struct_size = sizeof(struct cairn_source_ops),
	.create = hello_create,
	.destroy = hello_destroy,
	.file_extension = hello_file_extension,
	.backup = hello_backup,
	.restore = hello_restore,
	.verify = hello_verify,
	/* .restore_test is optional and left NULL. */
};

static const struct cairn_plugin hello_plugin = {
	.struct_size = sizeof(struct cairn_plugin),
	.abi_major = CAIRN_ABI_MAJOR,
	.abi_minor = CAIRN_ABI_MINOR,
	.name = "hello",
	.version = HELLO_VERSION,
	.kind = CAIRN_KIND_SOURCE,
	.description = "writes a message some number of times (example)",
	.keys = hello_keys,
	.source = &hello_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	/* log, set_error, cancelled and stat are all in ABI 1.0.  A member
	 * added in a later minor would be called only after checking
	 * CAIRN_HOST_HAS(hello_host, member), since an older core lacks it.
	 * Don't refuse a host of another major here: return the descriptor,
	 * and the core compares its abi_major with ours and tells the user
	 * which build of the plugin they need. */
	hello_host = host;
	return &hello_plugin;
}
