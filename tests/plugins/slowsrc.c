/* slowsrc - a test source whose restore() records its progress with
 * host->stat ("chunks": how many it took in, as a server target counts
 * the keys it wrote) and then waits to be stopped: restore_record.sh
 * stops it with SIGTERM and finds the count in the restore's run record.
 * When it has taken in `chunks` chunks it creates the file `ready` (the
 * test's cue, no sleeps) and waits, at most a minute, for the run to be
 * cancelled.  backup() writes 64 chunks of 4 KiB. */
#include <cairn/plugin.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 4096

static const struct cairn_host *host;

struct slow {
	cairn_ctx *ctx;
	char *ready;
	int64_t chunks;
};

static const struct cairn_key slow_keys[] = {
        {"ready", CAIRN_KEY_PATH, 0, NULL, "file created once `chunks` chunks were restored"},
        {"chunks", CAIRN_KEY_INT, 0, "8", "chunks to restore before waiting to be stopped"},
        {NULL, 0, 0, NULL, NULL},
};

static int
slow_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	const struct cairn_value *r = cairn_config_get(cfg, "ready");
	struct slow *s = calloc(1, sizeof(*s));
	if (!s)
		return CAIRN_E_NOMEM;
	s->ctx = c;
	s->ready = r && r->set ? strdup(r->text) : NULL;
	s->chunks = cairn_config_get(cfg, "chunks")->i;
	*i = s;
	return 0;
}

static void
slow_destroy(void *i)
{
	struct slow *s = i;
	free(s->ready);
	free(s);
}

static const char *
slow_ext(void *i)
{
	(void)i;
	return "bin";
}

static int
slow_backup(void *i, struct cairn_out *o)
{
	char buf[CHUNK];
	(void)i;
	memset(buf, 'x', sizeof(buf));
	for (int k = 0; k < 64; k++) {
		int rc = o->write(o, buf, sizeof(buf));
		if (rc)
			return rc;
	}
	return 0;
}

static int
slow_restore(void *i, struct cairn_in *in, unsigned f)
{
	struct slow *s = i;
	char buf[CHUNK];
	int64_t n = 0;
	(void)f;
	while (n < s->chunks) {
		ssize_t got = in->read(in, buf, sizeof(buf));
		if (got < 0)
			return (int)got;
		if (got == 0)
			break;
		host->stat(s->ctx, "chunks", ++n);
	}
	if (s->ready) {
		int fd = open(s->ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	for (int w = 0; w < 6000; w++) { /* at most a minute */
		struct timespec ts = {0, 10 * 1000 * 1000};
		if (host->cancelled(s->ctx))
			return CAIRN_E_CANCELLED;
		nanosleep(&ts, NULL);
	}
	host->set_error(s->ctx, "not stopped within a minute");
	return CAIRN_E_IO;
}

static const struct cairn_source_ops slow_ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = slow_create,
        .destroy = slow_destroy,
        .file_extension = slow_ext,
        .backup = slow_backup,
        .restore = slow_restore,
};

static const struct cairn_plugin slowsrc = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "slowsrc",
        .version = "1.0",
        .kind = CAIRN_KIND_SOURCE,
        .keys = slow_keys,
        .source = &slow_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *h)
{
	host = h;
	return &slowsrc;
}
