// Non-variadic system call wrappers; each returns its result or -errno.
#ifndef PVMH_CKVM_SYSCALLS_H
#define PVMH_CKVM_SYSCALLS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Non-variadic system call wrappers: each returns the call's result, or -errno.

int ckvm_open(const char *path, int flags);
int ckvm_close(int fd);
long ckvm_ioctl(int fd, unsigned long request, void *arg);
long ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);
/// fallocate(PUNCH_HOLE|KEEP_SIZE): discards the pages so later reads see zero.
int ckvm_punch_hole(int fd, uint64_t offset, uint64_t length);
/// lseek(SEEK_DATA) (hole == 0) or lseek(SEEK_HOLE): the next data or hole
/// offset at or after `offset`, or -errno (-ENXIO: no data after `offset`).
int64_t ckvm_seek_data(int fd, uint64_t offset, int hole);
/// memfd_create(name, MFD_CLOEXEC) (Swift's Glibc module hides it), or -errno.
int ckvm_memfd_create(const char *name);
/// fallocate(KEEP_SIZE): allocates backing for the range.
int ckvm_fallocate(int fd, uint64_t offset, uint64_t length);
/// mmap returning a pointer, or NULL with *err = errno.
void *ckvm_mmap(void *addr, size_t length, int prot, int flags, int fd, uint64_t offset, int *err);
int ckvm_munmap(void *addr, size_t length);
int ckvm_mprotect(void *addr, size_t length, int prot);
/// An eventfd (non-blocking, close-on-exec), or -errno.
int ckvm_eventfd(void);
/// Adds 1 to an eventfd counter (async-signal-safe).
int ckvm_eventfd_signal(int fd);
/// Waits until the eventfd is readable or timeout_ms elapses (-1: forever).
/// Returns 1 when signalled (and drains it), 0 on timeout, or -errno.
int ckvm_eventfd_wait(int fd, int timeout_ms);

/// A volatile store, so the compiler cannot drop or reorder the kick flag.
void ckvm_store_u8_volatile(void *address, uint8_t value);
/// The matching load.
uint8_t ckvm_load_u8_volatile(const void *address);

#ifdef __cplusplus
}
#endif
#endif
