/* badkeys.c - source plugins whose key tables the core must refuse at
 * load, one module per fault: built with -DBADKEYS_CASE=N. */
#include <cairn/plugin.h>
#include <stddef.h>

static int
bk_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)c;
	(void)cfg;
	*i = (void *)1;
	return 0;
}
static void
bk_destroy(void *i)
{
	(void)i;
}
static const char *
bk_ext(void *i)
{
	(void)i;
	return "txt";
}
static int
bk_backup(void *i, struct cairn_out *o)
{
	(void)i;
	(void)o;
	return 0;
}
static int
bk_restore(void *i, struct cairn_in *in, unsigned f)
{
	(void)i;
	(void)in;
	(void)f;
	return 0;
}

#if BADKEYS_CASE == 1
#define BK_NAME "keydot"
static const struct cairn_key keys[] = {{.name = "s3.bucket", .type = CAIRN_KEY_STRING},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 2
#define BK_NAME "keyempty"
static const struct cairn_key keys[] = {{.name = "path", .type = CAIRN_KEY_PATH},
                                        {.name = "", .type = CAIRN_KEY_STRING},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 3
#define BK_NAME "keydup"
static const struct cairn_key keys[] = {{.name = "path", .type = CAIRN_KEY_PATH},
                                        {.name = "path", .type = CAIRN_KEY_STRING},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 4
#define BK_NAME "keysecret"
/* password_file could never be set: it is how the secret password is
 * read from a file */
static const struct cairn_key keys[] = {
        {.name = "password_file", .type = CAIRN_KEY_PATH},
        {.name = "password", .type = CAIRN_KEY_STRING, .flags = CAIRN_KEY_SECRET},
        {.name = NULL}};
#elif BADKEYS_CASE == 5
#define BK_NAME "keynewer"
/* a type a later cairn may add */
static const struct cairn_key keys[] = {{.name = "path", .type = CAIRN_KEY_PATH},
                                        {.name = "window", .type = (enum cairn_key_type)42},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 6
#define BK_NAME "keyplugin"
static const struct cairn_key keys[] = {{.name = "plugin", .type = CAIRN_KEY_STRING},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 7
#define BK_NAME "keyboth"
/* a key that shapes neither backups nor restores */
static const struct cairn_key keys[] = {{.name = "path", .type = CAIRN_KEY_PATH},
                                        {.name = "idle",
                                         .type = CAIRN_KEY_STRING,
                                         .flags = CAIRN_KEY_NO_RESTORE | CAIRN_KEY_NO_BACKUP},
                                        {.name = NULL}};
#elif BADKEYS_CASE == 8
#define BK_NAME "keyenv"
/* secret_env (ABI 1.3) names variables, never NAME=VALUE */
static const struct cairn_key keys[] = {{.name = "path", .type = CAIRN_KEY_PATH}, {.name = NULL}};
#define BK_SECRET_ENV ((const char *const[]){"GOOD_TOKEN", "BAD=1", NULL})
#else
#error "set BADKEYS_CASE"
#endif

static const struct cairn_source_ops ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = bk_create,
        .destroy = bk_destroy,
        .file_extension = bk_ext,
        .backup = bk_backup,
        .restore = bk_restore,
};

static const struct cairn_plugin plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = BK_NAME,
        .version = "1",
        .kind = CAIRN_KIND_SOURCE,
        .keys = keys,
        .source = &ops,
#ifdef BK_SECRET_ENV
        .secret_env = BK_SECRET_ENV,
#endif
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	(void)host;
	return &plugin;
}
