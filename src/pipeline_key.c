/* pipeline_key.c - see pipeline_key.h */
#include "autoconf.h"

#include "pipeline_key.h"

#include <stdlib.h>
#include <string.h>

#include "crypt.h" /* CRYPT_EXT */
#include "util.h"
#include "values.h" /* compression_ext */

/* What file_extension() may return (plugin.h): the object's name must
 * stay one plain name inside its set. */
static int
valid_extension(const char *ext)
{
	size_t n = strspn(ext, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+");
	return n >= 1 && n <= 32 && !ext[n];
}

/* The key of src's object in this run's set: JOB/ID/SOURCE.EXT[.COMP][.age].
 * NULL with *source_error when the plugin names no valid extension. */
char *
pipeline_object_key(const struct backup_request *rq, struct instance *src, char **source_error)
{
	const char *ext = op_file_extension(src);
	const char *cext = compression_ext(rq->job->compression);
	if (!ext || !*ext)
		ext = "bin";
	if (!valid_extension(ext)) {
		char *shown = str_escape(ext);
		*source_error = xasprintf(
		        "%s: its plugin names its data \"%s\", which is no file extension (1 to 32 letters, digits, '-', '_' or '+'); fix the plugin",
		        src->ctx.label, shown);
		free(shown);
		return NULL;
	}
	return xasprintf("%s/%s/%s.%s%s%s%s", rq->job->name, rq->id, src->name, ext,
	                 cext ? "." : "", cext ? cext : "", rq->recipients ? CRYPT_EXT : "");
}
