// Starting a child process with a clean signal state.
#ifndef PVMH_CKVM_SPAWN_H
#define PVMH_CKVM_SPAWN_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Starts a child pvmh (or any program) the way the regression suite and the
/// benchmarks need it: stdin and stderr on /dev/null, stdout on `stdout_fd`
/// (/dev/null when -1), an empty signal mask and default handling for
/// SIGINT/SIGTERM/SIGPIPE/SIGUSR1 whatever this process set up, and
/// `envp` (this process's environment when NULL). Returns 0 with *pid set,
/// or a positive errno. posix_spawn's argument lists cannot be built from
/// Swift's Glibc without this boilerplate in two places.
int ckvm_spawn_clean(const char *path, char *const argv[], char *const envp[], int stdout_fd, pid_t *pid);

#ifdef __cplusplus
}
#endif
#endif
