/* A source whose create() fails with its own CAIRN_E_NOTFOUND, as a plugin
 * does for a missing bucket or database: the core must tell that apart
 * from a plugin it cannot load (exit 1, not 4). */
#include <cairn/plugin.h>
#include <stddef.h>

static const struct cairn_host *host;

static int
cn_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)cfg;
	(void)i;
	host->set_error(c, "database \"nosuch\" does not exist; create it or fix the name");
	return CAIRN_E_NOTFOUND;
}
static void
cn_destroy(void *i)
{
	(void)i;
}
static const char *
cn_ext(void *i)
{
	(void)i;
	return "txt";
}
static int
cn_backup(void *i, struct cairn_out *o)
{
	(void)i;
	(void)o;
	return 0;
}
static int
cn_restore(void *i, struct cairn_in *in, unsigned f)
{
	(void)i;
	(void)in;
	(void)f;
	return 0;
}

static const struct cairn_source_ops cn_ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = cn_create,
        .destroy = cn_destroy,
        .file_extension = cn_ext,
        .backup = cn_backup,
        .restore = cn_restore,
};

static const struct cairn_plugin createnotfound = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "createnotfound",
        .version = "1.0",
        .kind = CAIRN_KIND_SOURCE,
        .source = &cn_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *h)
{
	host = h;
	return &createnotfound;
}
