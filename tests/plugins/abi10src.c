/* abi10src.c - a source plugin built against the frozen ABI 1.0 header
 * (tests/plugins/abi-1.0/cairn/plugin.h), as a third party's plugin from
 * before 1.1 would be.  It must keep loading and working unchanged: its
 * ops table ends before `flags`, so the core pre-checks its restores.
 *
 * Keys: input (the file backed up), output (the file restored to). */
#include <cairn/plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if CAIRN_ABI_MINOR != 0
#error "abi10src must be built against the ABI 1.0 header"
#endif

static const struct cairn_host *host;

struct src {
	cairn_ctx *ctx;
	char *input, *output;
};

static int
a_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **out)
{
	struct src *s = calloc(1, sizeof(*s));
	if (!s)
		return CAIRN_E_NOMEM;
	s->ctx = ctx;
	s->input = strdup(cairn_config_get(cfg, "input")->text);
	s->output = strdup(cairn_config_get(cfg, "output")->text);
	*out = s;
	return 0;
}

static void
a_destroy(void *inst)
{
	struct src *s = inst;
	free(s->input);
	free(s->output);
	free(s);
}

static const char *
a_ext(void *inst)
{
	(void)inst;
	return "raw";
}

static int
a_backup(void *inst, struct cairn_out *out)
{
	struct src *s = inst;
	char buf[4096];
	ssize_t n;
	int rc = 0, fd = open(s->input, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		host->set_error(s->ctx, "cannot open %s: %s", s->input, strerror(errno));
		return CAIRN_E_IO;
	}
	while (!rc && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			host->set_error(s->ctx, "cannot read %s: %s", s->input, strerror(errno));
			rc = CAIRN_E_IO;
			break;
		}
		rc = out->write(out, buf, (size_t)n);
	}
	close(fd);
	host->stat(s->ctx, "abi10.files", 1);
	return rc;
}

static int
a_restore(void *inst, struct cairn_in *in, unsigned flags)
{
	struct src *s = inst;
	char buf[4096];
	ssize_t n;
	int rc = 0;
	int fd = open(s->output,
	              O_WRONLY | O_CREAT | O_CLOEXEC |
	                      (flags & CAIRN_RESTORE_FORCE ? O_TRUNC : O_EXCL),
	              0600);
	if (fd < 0) {
		host->set_error(s->ctx, "cannot create %s: %s", s->output, strerror(errno));
		return errno == EEXIST ? CAIRN_E_EXISTS : CAIRN_E_IO;
	}
	while ((n = in->read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			host->set_error(s->ctx, "cannot write %s: %s", s->output, strerror(errno));
			rc = CAIRN_E_IO;
			break;
		}
	if (!rc && n < 0)
		rc = (int)n;
	if (close(fd) != 0 && !rc)
		rc = CAIRN_E_IO;
	return rc;
}

static const struct cairn_key keys[] = {
        {.name = "input",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "the file backed up"},
        {.name = "output",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "the file restored to"},
        {.name = NULL},
};

static const struct cairn_source_ops ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = a_create,
        .destroy = a_destroy,
        .file_extension = a_ext,
        .backup = a_backup,
        .restore = a_restore,
};

static const struct cairn_plugin plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "abi10src",
        .version = "1.0",
        .kind = CAIRN_KIND_SOURCE,
        .description = "a source built against ABI 1.0 (test)",
        .keys = keys,
        .source = &ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *h)
{
	host = h;
	return &plugin;
}
