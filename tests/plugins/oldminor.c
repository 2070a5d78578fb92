/* A source plugin built against an older ABI minor: its ops table ends
 * before verify.  Whatever lies in memory after that must read as NULL. */
#include <cairn/plugin.h>
#include <stddef.h>

static int
om_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)c;
	(void)cfg;
	*i = (void *)1;
	return 0;
}
static void
om_destroy(void *i)
{
	(void)i;
}
static const char *
om_ext(void *i)
{
	(void)i;
	return "txt";
}
static int
om_backup(void *i, struct cairn_out *o)
{
	(void)i;
	return o->write(o, "old\n", 4);
}
static int
om_restore(void *i, struct cairn_in *in, unsigned f)
{
	(void)i;
	(void)in;
	(void)f;
	return 0;
}
static int
om_verify(void *i, struct cairn_in *in)
{
	(void)i;
	(void)in;
	return CAIRN_E_CORRUPT;
}

/* Filled in full, but it declares itself shorter: an "older" plugin. */
static const struct cairn_source_ops om_ops = {
        .struct_size = offsetof(struct cairn_source_ops, verify),
        .create = om_create,
        .destroy = om_destroy,
        .file_extension = om_ext,
        .backup = om_backup,
        .restore = om_restore,
        .verify = om_verify, /* beyond struct_size: must not be seen */
};

static const struct cairn_plugin oldminor = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = 0,
        .name = "oldminor",
        .version = "0.9",
        .kind = CAIRN_KIND_SOURCE,
        .source = &om_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	(void)host;
	return &oldminor;
}
