/* run_keys.h - the identities a command reads encrypted sets with (restore,
 * verify --deep and --restore-test): loaded once the command knows its
 * job, set for the reading stages (crypt_set_identities), dropped after
 * its last read. */
#ifndef CAIRN_RUN_KEYS_H
#define CAIRN_RUN_KEYS_H

#include "config.h"

struct age_identities;

/* The identities of job, from path (--identity; NULL: the job's
 * age_identity_file or passphrase), set for the run (*ids NULL when
 * none is given: reading an encrypted object then says what to give).
 * 0, or CAIRN_EXIT_CONFIG with the error said. */
int run_keys_use(const struct cfg_job *job, const char *path, struct age_identities **ids);
/* Unset and free them (NULL: nothing to do). */
void run_keys_drop(struct age_identities *ids);

#endif
