/* Unix socket paths that nicvm binds: see unix_path.h. */
#include "vmm/unix_path.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int unix_path_clear(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "'%s' exists and is not a socket", path);
        return -EEXIST;
    }
    return unlink(path) < 0 ? -errno : 0;
}
