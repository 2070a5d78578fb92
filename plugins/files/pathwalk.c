/*
 * pathwalk.c - the restore's safe path walker: an entry's parent reached
 * from the staging root one component at a time with
 * openat(O_NOFOLLOW | O_DIRECTORY), a symlink or a file on the way
 * refused, missing directories made as mkdir -p would.  The chain of open
 * directories is kept, so entries of one directory cost no system call.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

/* Directory descriptors kept open along the current path; deeper levels
 * keep only the deepest, so a path of any depth needs few descriptors. */
#define FILES_WALK_KEEP 64

void
files_walk_init(struct files_walk *w, int root)
{
	memset(w, 0, sizeof(*w));
	w->root = root;
}

static void
files_walk_pop(struct files_walk *w, size_t depth)
{
	while (w->depth > depth) {
		w->depth--;
		if (w->lv[w->depth].fd >= 0)
			close(w->lv[w->depth].fd);
	}
	w->len = depth > 0 ? w->lv[depth - 1].end : 0;
}

void
files_walk_free(struct files_walk *w)
{
	files_walk_pop(w, 0);
	free(w->path);
	free(w->lv);
	w->path = NULL;
	w->lv = NULL;
	w->cap = w->lvcap = 0;
}

/* Why the directory name[0 .. upto) could not be opened. */
static int
files_walk_refuse(struct files_x *x, int pfd, const char *comp, const char *name, size_t upto,
                  int err)
{
	struct stat s;
	if ((err == ELOOP || err == ENOTDIR) && fstatat(pfd, comp, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(s.st_mode)) {
		int link = S_ISLNK(s.st_mode);
		return cairn_error(files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		                   "refusing entry '%s': %.*s is %s in the backup, %s", name,
		                   (int)upto, name, link ? "a symbolic link" : "not a directory",
		                   link ? "and writing through it could leave the restore target"
		                        : "so nothing can be below it");
	}
	return files_x_fail(x, name, "cannot open its directory", err);
}

/*
 * The parent directory of name (normalised, not the root) as a
 * descriptor in *pfd, and name's last component in *base.  Missing
 * directories are made (0700, then the umask's default mode, as mkdir -p
 * would) when create is set.  The descriptor belongs to the walker.
 */
int
files_walk_parent(struct files_x *x, struct files_walk *w, const char *name, int create, int *pfd,
                  const char **base)
{
	const char *slash = strrchr(name, '/');
	const char *p = name, *dend = slash ? slash : name;
	size_t k = 0;

	*base = slash ? slash + 1 : name;
	/* how much of the open chain leads there already */
	while (p < dend && k < w->depth) {
		size_t start = k == 0 ? 0 : w->lv[k - 1].end + 1;
		size_t clen = w->lv[k].end - start;
		if ((size_t)(dend - p) < clen || memcmp(p, w->path + start, clen) != 0 ||
		    (p + clen != dend && p[clen] != '/'))
			break;
		p += clen;
		if (p < dend)
			p++;
		k++;
	}
	if (p < dend || k < w->depth)
		files_walk_pop(w, k);
	while (w->depth > 0 && w->lv[w->depth - 1].fd < 0) {
		/* closed to save descriptors: reopen from a kept one */
		size_t start = w->depth == 1 ? 0 : w->lv[w->depth - 2].end + 1;
		p = name + start;
		files_walk_pop(w, w->depth - 1);
	}
	while (p < dend) {
		const char *e = memchr(p, '/', (size_t)(dend - p));
		size_t clen = e ? (size_t)(e - p) : (size_t)(dend - p);
		int parent = w->depth > 0 ? w->lv[w->depth - 1].fd : w->root;
		char comp[NAME_MAX + 1];
		int fd;

		if (clen > NAME_MAX)
			return files_x_fail(x, name, "a directory name on its way is too long",
			                    ENAMETOOLONG);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		fd = openat(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			/* no entry of its own (yet): as mkdir -p makes it */
			if (mkdirat(parent, comp, 0700) != 0 && errno != EEXIST)
				return files_x_fail(x, name, "cannot create its directory", errno);
			if (fchmodat(parent, comp, x->umask_known ? 0777 & ~x->umask : 0755, 0) !=
			    0)
				return files_x_fail(x, name, "cannot create its directory", errno);
			fd = openat(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			return files_walk_refuse(x, parent, comp, name, (size_t)(p - name) + clen,
			                         errno);
		if (w->depth == w->lvcap) {
			size_t nc = w->lvcap ? 2 * w->lvcap : 16;
			struct files_level *nl = realloc(w->lv, nc * sizeof(*nl));
			if (nl == NULL) {
				close(fd);
				return CAIRN_E_NOMEM;
			}
			w->lv = nl;
			w->lvcap = nc;
		}
		if (w->len + clen + 2 > w->cap) {
			size_t nc = w->cap ? 2 * w->cap : 256;
			while (nc < w->len + clen + 2)
				nc *= 2;
			char *np = realloc(w->path, nc);
			if (np == NULL) {
				close(fd);
				return CAIRN_E_NOMEM;
			}
			w->path = np;
			w->cap = nc;
		}
		if (w->depth > 0)
			w->path[w->len++] = '/';
		memcpy(w->path + w->len, p, clen);
		w->len += clen;
		w->path[w->len] = '\0';
		if (w->depth > FILES_WALK_KEEP && w->lv[w->depth - 1].fd >= 0) {
			close(w->lv[w->depth - 1].fd);
			w->lv[w->depth - 1].fd = -1;
		}
		w->lv[w->depth].end = w->len;
		w->lv[w->depth].fd = fd;
		w->depth++;
		p += clen;
		if (p < dend)
			p++;
	}
	*pfd = w->depth > 0 ? w->lv[w->depth - 1].fd : w->root;
	return 0;
}
