/* A minimal, valid sink plugin; the tests name it in a [source] section to
 * see the kind mismatch refused, and load it to see a good load pass. */
#include <cairn/plugin.h>

static int
wk_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **inst)
{
	(void)ctx;
	(void)cfg;
	*inst = (void *)1;
	return 0;
}
static void
wk_destroy(void *inst)
{
	(void)inst;
}
static int
wk_open_write(void *i, const char *k, cairn_sink_writer **w)
{
	(void)i;
	(void)k;
	(void)w;
	return CAIRN_E_UNSUPPORTED;
}
static int
wk_write(cairn_sink_writer *w, const void *b, size_t n)
{
	(void)w;
	(void)b;
	(void)n;
	return CAIRN_E_UNSUPPORTED;
}
static int
wk_commit(cairn_sink_writer *w)
{
	(void)w;
	return CAIRN_E_UNSUPPORTED;
}
static void
wk_abort(cairn_sink_writer *w)
{
	(void)w;
}
static int
wk_open_read(void *i, const char *k, cairn_sink_reader **r)
{
	(void)i;
	(void)k;
	(void)r;
	return CAIRN_E_NOTFOUND;
}
static ssize_t
wk_read(cairn_sink_reader *r, void *b, size_t n)
{
	(void)r;
	(void)b;
	(void)n;
	return 0;
}
static void
wk_close_read(cairn_sink_reader *r)
{
	(void)r;
}
static int
wk_list(void *i, const char *p, cairn_list_cb cb, void *ud)
{
	(void)i;
	(void)p;
	(void)cb;
	(void)ud;
	return 0;
}
static int
wk_remove(void *i, const char *k)
{
	(void)i;
	(void)k;
	return CAIRN_E_NOTFOUND;
}

static const struct cairn_sink_ops wk_ops = {
        .struct_size = sizeof(struct cairn_sink_ops),
        .create = wk_create,
        .destroy = wk_destroy,
        .open_write = wk_open_write,
        .write = wk_write,
        .commit = wk_commit,
        .abort = wk_abort,
        .open_read = wk_open_read,
        .read = wk_read,
        .close_read = wk_close_read,
        .list = wk_list,
        .remove = wk_remove,
};

static const struct cairn_key wk_keys[] = {
        {.name = "size", .type = CAIRN_KEY_SIZE, .default_value = "1M", .help = "a size"},
        {.name = NULL},
};

static const struct cairn_plugin wrongkind = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "wrongkind",
        .version = "1.0",
        .kind = CAIRN_KIND_SINK,
        .description = "a sink that stores nothing",
        .keys = wk_keys,
        .sink = &wk_ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	(void)host;
	return &wrongkind;
}
