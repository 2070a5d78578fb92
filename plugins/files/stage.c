/*
 * stage.c - the staging directory and the target: its name and creation
 * beside or inside the target, the stale ones a killed run left, the
 * target's missing parents, and the commit: moving the staged entries
 * into an existing target (files_merge()).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <stdint.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>

int
files_rename_noreplace(int from, const char *a, int to, const char *b)
{
	if (renameat2(from, a, to, b, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a file system without RENAME_NOREPLACE: check, then rename */
	struct stat s;
	if (fstatat(to, b, &s, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(from, a, to, b);
}

/* Join a relative name for messages; malloc'ed. */
static char *
files_join(const char *a, const char *b)
{
	char *s = NULL;
	if (*a == '\0')
		return strdup(b);
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

/*
 * Move every entry of the staged directory `from` into `to`: an entry
 * replaces its namesake, a directory meeting a directory is merged.
 * `rel` names the directory below the target, for messages.
 */
int
files_merge(struct files_x *x, int from, int to, const char *rel, int depth)
{
	int moved;

	if (depth > 4096) {
		return cairn_error(files_host, x->fi->ctx, CAIRN_E_IO,
		                   "restoring %s failed: directories nested too deeply to merge",
		                   rel);
	}
	do {
		int dfd = openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		moved = 0;
		if (d == NULL) {
			if (dfd >= 0)
				close(dfd);
			return files_x_fail(x, rel, "cannot read the staged directory", errno);
		}
		while ((de = readdir(d)) != NULL) {
			const char *nm = de->d_name;
			struct stat s, t;
			char *path;
			int rc = 0;

			if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
				continue;
			path = files_join(rel, nm);
			if (path == NULL) {
				closedir(d);
				return CAIRN_E_NOMEM;
			}
			if (fstatat(from, nm, &s, AT_SYMLINK_NOFOLLOW) != 0) {
				rc = files_x_fail(x, path, NULL, errno);
			} else if (fstatat(to, nm, &t, AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno != ENOENT ||
				    files_rename_noreplace(from, nm, to, nm) != 0)
					rc = files_x_fail(x, path, "cannot move it into place",
					                  errno);
			} else if (S_ISDIR(s.st_mode) && S_ISDIR(t.st_mode)) {
				int f2 = openat(from, nm,
				                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				int t2 = openat(to, nm,
				                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (f2 < 0 || t2 < 0)
					rc = files_x_fail(x, path, "cannot merge it", errno);
				else
					rc = files_merge(x, f2, t2, path, depth + 1);
				if (f2 >= 0)
					close(f2);
				if (t2 >= 0)
					close(t2);
				if (rc == 0 && unlinkat(from, nm, AT_REMOVEDIR) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the staged directory",
					                  errno);
			} else {
				/* --force: the backup's entry wins */
				if (S_ISDIR(t.st_mode) && files_rm_tree(to, nm) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the directory it replaces",
					                  errno);
				else if (S_ISDIR(s.st_mode) && !S_ISDIR(t.st_mode) &&
				         unlinkat(to, nm, 0) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the file it replaces",
					                  errno);
				else if (renameat(from, nm, to, nm) != 0)
					rc = files_x_fail(x, path, "cannot move it into place",
					                  errno);
			}
			free(path);
			if (rc < 0) {
				closedir(d);
				return rc;
			}
			moved++;
		}
		closedir(d);
	} while (moved > 0);
	return 0;
}

/* ------------------------------------------------------- the target */

/* The staging directory's name: prefix + 6 random characters.  The
 * prefix is cut so the name fits NAME_MAX. */
char *
files_stage_prefix(const char *base)
{
	char *s = NULL;
	if (base == NULL)
		return strdup(FILES_STAGE_TAG);
	if (asprintf(&s, ".%.*s" FILES_STAGE_TAG,
	             NAME_MAX - 2 - (int)strlen(FILES_STAGE_TAG) - FILES_STAGE_RAND, base) < 0)
		return NULL;
	return s;
}

/* mkdtemp relative to a directory descriptor. */
int
files_mkstage(int dirfd, const char *prefix, char **name)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t plen = strlen(prefix);
	char *s = malloc(plen + FILES_STAGE_RAND + 1);
	if (s == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(s, prefix, plen);
	for (int tries = 0; tries < 100; tries++) {
		unsigned char r[FILES_STAGE_RAND];
		if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
			uint64_t v = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL) ^
			             (uint64_t)tries << 40;
			for (int k = 0; k < FILES_STAGE_RAND; k++, v >>= 7)
				r[k] = (unsigned char)v;
		}
		for (int k = 0; k < FILES_STAGE_RAND; k++)
			s[plen + k] = set[r[k] % (sizeof(set) - 1)];
		s[plen + FILES_STAGE_RAND] = '\0';
		if (mkdirat(dirfd, s, 0700) == 0) {
			*name = s;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	free(s);
	return -1;
}

/* Remove staging directories of ours that a killed run left in dirfd:
 * prefix + 6 characters, a directory, owned by us, and nobody holding
 * its lock (a live restore holds one on its own). */
void
files_clean_stale(struct files_inst *fi, int dirfd, const char *prefix, const char *where)
{
	size_t plen = strlen(prefix);
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	uid_t me = geteuid();

	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		int fd;
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    strlen(de->d_name) != plen + FILES_STAGE_RAND)
			continue;
		if (fstatat(dirfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(s.st_mode) || s.st_uid != me)
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd);
			continue;
		}
		if (files_rm_tree(dirfd, de->d_name) == 0)
			files_log(fi, CAIRN_LOG_INFO,
			          "removed %s/%s, left by an interrupted restore", where,
			          de->d_name);
		else
			files_log(fi, CAIRN_LOG_WARN,
			          "cannot remove %s/%s, left by an interrupted restore: %s", where,
			          de->d_name, strerror(errno));
		close(fd);
	}
	closedir(d);
}

/* 1 if the directory has no entries, 0 if it has, negative on error. */
int
files_dir_empty(struct files_inst *fi, int fd, const char *path)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int empty = 1;
	if (d == NULL) {
		files_host->set_error(fi->ctx, "cannot read restore target %s: %s", path,
		                      strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return CAIRN_E_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* Make the missing parents of the target (0700, as before: nobody else
 * sees into a tree being restored).  *made counts the ones made, so a
 * failed restore can take them away again. */
int
files_mkparents(struct files_inst *fi, const char *parent, int *made)
{
	char *p = strdup(parent);
	int rc = 0;
	*made = 0;
	if (p == NULL)
		return CAIRN_E_NOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == 0)
			(*made)++;
		else if (errno != EEXIST) {
			rc = cairn_error(files_host, fi->ctx, CAIRN_E_IO,
			                 "cannot create restore target %s: %s", p, strerror(errno));
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

void
files_rmparents(const char *parent, int made)
{
	char *p = strdup(parent);
	if (p == NULL)
		return;
	while (made-- > 0) {
		if (rmdir(p) != 0)
			break;
		char *s = strrchr(p, '/');
		if (s == NULL || s == p)
			break;
		*s = '\0';
	}
	free(p);
}
