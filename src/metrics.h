/* metrics.h - the status report in the Prometheus text exposition format,
 * for node_exporter's textfile collector (cairn status --prometheus FILE,
 * [cairn] metrics_file) and for cairn serve's /metrics. */
#ifndef CAIRN_METRICS_H
#define CAIRN_METRICS_H

#include "status.h"

/* The whole exposition, HELP and TYPE lines included; caller frees. */
char *metrics_text(const struct status_report *r);
/* Write text to path atomically: a temporary file beside it, fsync,
 * rename, mode 0644 (a collector running as another user reads it).
 * 0, or -1 with *err naming the file. */
int metrics_write(const char *path, const char *text, char **err);
/* When [cairn] metrics_file of cfg (may be NULL: nothing) is set, gather
 * every job's status, with the plugins of reg, and write the file; a
 * failure is a warning, never the run's failure.  backup and verify call
 * it at their end. */
void metrics_refresh(const struct config *cfg, struct plugin_registry *reg);

#endif
