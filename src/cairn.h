/* cairn.h - what every part of the core shares: exit codes and limits. */
#ifndef CAIRN_CORE_H
#define CAIRN_CORE_H

#include <cairn/plugin.h>

/* Exit codes of the cairn command; documented in cairn(1). */
enum cairn_exit {
	CAIRN_EXIT_OK = 0,
	CAIRN_EXIT_FAILED = 1,   /* a source or sink failed; see stderr */
	CAIRN_EXIT_USAGE = 2,    /* bad command line */
	CAIRN_EXIT_CONFIG = 3,   /* the INI file or a key in it is wrong */
	CAIRN_EXIT_PLUGIN = 4,   /* a plugin could not be loaded */
	CAIRN_EXIT_LOCKED = 5,   /* another run of the job holds the lock */
	CAIRN_EXIT_CORRUPT = 6,  /* verify found a damaged backup */
	CAIRN_EXIT_NOTFOUND = 7, /* no backup set matches */
	CAIRN_EXIT_EXISTS = 8,   /* restore target not empty (use --force) */
	CAIRN_EXIT_PARTIAL = 9,  /* backup wrote a partial set: a source failed */
	CAIRN_EXIT_INTERRUPTED = 130
};

/* Size of the buffers that carry data through the pipeline. */
#define CAIRN_BUFSIZE (256 * 1024)

/* Name of the object written last in every backup set. */
#define CAIRN_MANIFEST_NAME "manifest.json"

#endif
