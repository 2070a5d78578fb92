/* run_keys.c - see run_keys.h */
#include "autoconf.h"

#include "run_keys.h"

#include <stdlib.h>

#include "cairn.h"
#include "crypt.h"
#include "log.h"

int
run_keys_use(const struct cfg_job *job, const char *path, struct age_identities **ids)
{
	char *err = NULL;
	*ids = NULL;
	if (crypt_identities_load(job, path, ids, &err)) {
		log_error("%s; nothing was read", err);
		free(err);
		return CAIRN_EXIT_CONFIG;
	}
	crypt_set_identities(*ids);
	return 0;
}

void
run_keys_drop(struct age_identities *ids)
{
	crypt_set_identities(NULL);
	age_identities_free(ids);
}
