/* Unix socket paths that nicvm binds (the control socket, -netdev stream and dgram): taking
 * back a path an earlier run left behind, without ever removing anything but a socket. */
#ifndef NICVM_UNIX_PATH_H
#define NICVM_UNIX_PATH_H

#include <stddef.h>

/* unix_path_clear: removes the socket file at path that an earlier run left behind, so that
 * bind() can take the path again (bind() never reuses a path; unix(7)). Anything but a socket
 * is refused. Returns 0 (also when nothing is there), -EEXIST with "'PATH' exists and is not
 * a socket" in err (errlen bytes), or -errno from lstat() or unlink(). */
int unix_path_clear(const char *path, char *err, size_t errlen);

#endif
