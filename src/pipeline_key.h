/* pipeline_key.h - the key of a source's object in a backup set, as
 * pipeline_backup() names it: JOB/ID/SOURCE.EXT[.COMP][.age], EXT the
 * plugin's file extension, COMP the job's compression's, .age when the
 * job encrypts (crypt.h). */
#ifndef CAIRN_PIPELINE_KEY_H
#define CAIRN_PIPELINE_KEY_H

#include "pipeline.h"

/* A new string; NULL with *source_error (one line) when the plugin names
 * no valid file extension. */
char *pipeline_object_key(const struct backup_request *rq, struct instance *src,
                          char **source_error);

#endif
