/* A plugin built for a future ABI major: the core must refuse it. */
#include <cairn/plugin.h>

static const struct cairn_plugin badabi = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = 99,
        .abi_minor = 0,
        .name = "badabi",
        .version = "9.9",
        .kind = CAIRN_KIND_SOURCE,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	(void)host;
	return &badabi;
}
