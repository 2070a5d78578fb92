/*
 * rmtree.c - remove a tree without following a symlink, at any depth
 * with one directory open at a time; counted as a backup counts for the
 * restore test.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

/* unlinkat(at, name, 0), and with st (the restore test) count what goes:
 * a regular file with other links still there is a hard link, the last
 * link of one is the file with its bytes, as the backup counted them. */
static int
files_unlink_counted(int at, const char *name, struct files_stats *st)
{
	struct stat s;
	if (st == NULL)
		return unlinkat(at, name, 0);
	if (fstatat(at, name, &s, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	if (S_ISDIR(s.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (unlinkat(at, name, 0) != 0)
		return -1;
	if (S_ISREG(s.st_mode) && s.st_nlink > 1)
		st->hardlinks++;
	else if (S_ISREG(s.st_mode)) {
		st->files++;
		st->bytes += s.st_size;
	} else if (S_ISLNK(s.st_mode))
		st->symlinks++;
	return 0;
}

/*
 * Remove name in dirfd and everything below it, never following a
 * symlink.  One directory is open at a time (the way back up is ".."
 * of a directory reached without symlinks), so any depth works.  With
 * st, count the entries removed (files_unlink_counted).
 * 0, or -1 with errno.
 */
int
files_rm_count(int at, const char *name, struct files_stats *st)
{
	char **stack = NULL;
	size_t n = 0, cap = 0;
	int cur = -1, rc = -1, err = 0;

	if (files_unlink_counted(at, name, st) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	cur = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cur < 0)
		return -1;
	stack = malloc(sizeof(*stack) * (cap = 16));
	if (stack == NULL || (stack[0] = strdup(name)) == NULL) {
		err = ENOMEM;
		goto out;
	}
	n = 1;
	while (n > 0) {
		DIR *d = fdopendir(cur);
		struct dirent *de;
		char *sub = NULL;
		if (d == NULL) {
			err = errno;
			goto out;
		}
		cur = -1;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (de->d_type != DT_DIR &&
			    files_unlink_counted(dirfd(d), de->d_name, st) == 0)
				continue;
			if (de->d_type != DT_DIR && errno != EISDIR && errno != EPERM &&
			    errno != ENOENT) {
				err = errno;
				free(sub);
				closedir(d);
				goto out;
			}
			if (de->d_type != DT_DIR && errno == ENOENT)
				continue;
			if (sub == NULL && (sub = strdup(de->d_name)) == NULL) {
				err = ENOMEM;
				closedir(d);
				goto out;
			}
		}
		if (sub != NULL) {
			cur = openat(dirfd(d), sub,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			err = errno;
			closedir(d);
			if (cur < 0) {
				free(sub);
				goto out;
			}
			if (n == cap) {
				char **ns = realloc(stack, sizeof(*ns) * cap * 2);
				if (ns == NULL) {
					free(sub);
					err = ENOMEM;
					goto out;
				}
				stack = ns;
				cap *= 2;
			}
			stack[n++] = sub;
			continue;
		}
		/* empty now: remove it from its parent */
		int parent =
		        n == 1 ? at : openat(dirfd(d), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = errno;
		closedir(d);
		if (n > 1 && parent < 0)
			goto out;
		if (unlinkat(parent, stack[n - 1], AT_REMOVEDIR) != 0) {
			err = errno;
			if (err != ENOTEMPTY) {
				if (n > 1)
					close(parent);
				goto out;
			}
			/* readdir missed an entry: go over it again */
			cur = openat(parent, stack[n - 1],
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			err = errno;
			if (n > 1)
				close(parent);
			if (cur < 0)
				goto out;
			continue;
		}
		if (st != NULL)
			st->dirs++;
		free(stack[--n]);
		if (n > 0)
			cur = parent;
	}
	rc = 0;
out:
	if (cur >= 0)
		close(cur);
	while (n > 0)
		free(stack[--n]);
	free(stack);
	if (rc != 0)
		errno = err ? err : EIO;
	return rc;
}

int
files_rm_tree(int at, const char *name)
{
	return files_rm_count(at, name, NULL);
}
