/* secret_env.h - the environment variables that hold a job's secrets:
 * the VARIABLE of every KEY_env = VARIABLE of the INI file's sources and
 * sinks (and of a job's age_passphrase_env) and of every --set [SOURCE.]KEY_env=VARIABLE of the command
 * line, and what the plugins list as secret_env (s3's
 * AWS_SECRET_ACCESS_KEY, say).  None of them is handed to a hook
 * (hooks.h); this list is what hook_run() is told to leave out. */
#ifndef CAIRN_SECRET_ENV_H
#define CAIRN_SECRET_ENV_H

#include "util.h"

struct config;
struct plugin_registry;

/* Append the names to out.  sets holds the run's --set values (NULL:
 * none).  The plugins are loaded from reg (NULL: only the names the INI
 * file and sets give); a plugin that cannot be loaded is said where its
 * section is made, so it is skipped here. */
void secret_env_vars(const struct config *cfg, struct plugin_registry *reg,
                     const struct strvec *sets, struct strvec *out);

#endif
