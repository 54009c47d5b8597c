// Non-variadic system call wrappers returning -errno (Swift cannot call
// variadic C), the eventfd latch and sequentially consistent byte flags.
#define _GNU_SOURCE
#include "ckvm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// ---------------------------------------------------------------------------
// System call wrappers.

int ckvm_open(const char *path, int flags) {
    int fd = open(path, flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_close(int fd) {
    // Linux closes the fd even when close() reports EINTR: never retry.
    return close(fd) < 0 ? -errno : 0;
}

long ckvm_ioctl(int fd, unsigned long request, void *arg) {
    long r = ioctl(fd, request, arg);
    return r < 0 ? -errno : r;
}

long ckvm_ioctl_value(int fd, unsigned long request, unsigned long value) {
    long r = ioctl(fd, request, value);
    return r < 0 ? -errno : r;
}

int ckvm_punch_hole(int fd, uint64_t offset, uint64_t length) {
    int r = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
    return r < 0 ? -errno : 0;
}

int64_t ckvm_seek_data(int fd, uint64_t offset, int hole) {
    off_t r = lseek(fd, (off_t)offset, hole ? SEEK_HOLE : SEEK_DATA);
    return r < 0 ? -(int64_t)errno : (int64_t)r;
}

int ckvm_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_fallocate(int fd, uint64_t offset, uint64_t length) {
    // guest_memfd only accepts KEEP_SIZE allocations (its size is fixed at creation).
    int r = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
    return r < 0 ? -errno : 0;
}

void *ckvm_mmap(void *addr, size_t length, int prot, int flags, int fd, uint64_t offset, int *err) {
    void *p = mmap(addr, length, prot, flags, fd, (off_t)offset);
    if (p == MAP_FAILED) {
        *err = errno;
        return NULL;
    }
    *err = 0;
    return p;
}

int ckvm_munmap(void *addr, size_t length) {
    return munmap(addr, length) < 0 ? -errno : 0;
}

int ckvm_mprotect(void *addr, size_t length, int prot) {
    return mprotect(addr, length, prot) < 0 ? -errno : 0;
}

int ckvm_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int ckvm_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof one) == (ssize_t)sizeof one ? 0 : -errno;
}

static int64_t ckvm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ckvm_eventfd_wait(int fd, int timeout_ms) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    // Signals interrupt poll; wait only for what is left of the timeout so
    // repeated signals cannot stretch the wait.
    int64_t deadline = timeout_ms < 0 ? -1 : ckvm_now_ms() + timeout_ms;
    for (;;) {
        int remaining = -1;
        if (deadline >= 0) {
            int64_t left = deadline - ckvm_now_ms();
            remaining = left > 0 ? (int)left : 0;
        }
        int r = poll(&p, 1, remaining);
        if (r < 0 && errno == EINTR) continue;  // a kick or stop signal; re-check
        if (r < 0) return -errno;
        if (r == 0) return 0;
        uint64_t value;
        (void)read(fd, &value, sizeof value);
        return 1;
    }
}

void ckvm_store_u8_volatile(void *address, uint8_t value) {
    __atomic_store_n((uint8_t *)address, value, __ATOMIC_SEQ_CST);
}

uint8_t ckvm_load_u8_volatile(const void *address) {
    return __atomic_load_n((const uint8_t *)address, __ATOMIC_SEQ_CST);
}
