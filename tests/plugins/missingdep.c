/* A plugin whose shared-library dependency is missing at run time. */
#include <cairn/plugin.h>

int cairn_testdep_answer(void);

static const struct cairn_plugin missingdep = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "missingdep",
        .version = "1",
        .kind = CAIRN_KIND_SOURCE,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	(void)host;
	return cairn_testdep_answer() == 42 ? &missingdep : NULL;
}
