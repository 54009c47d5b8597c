// CKVM — the C side of pvmh's KVM layer.
//
// Why this shim exists:
//  * Debian 12's <linux/kvm.h> (Linux 6.1) lacks guest_memfd, memslots v2,
//    memory attributes, the memory-fault exit and the arm64 SMCCC filter, so
//    pvmh carries its own definitions of that ABI (as QEMU, kvmtool and
//    crosvm do). Every struct is prefixed `ckvm_` so it never collides with a
//    newer distro header, and every layout is pinned by _Static_assert in
//    ckvm.c to the sizes and offsets in Docs/kvm-abi.md.
//  * ioctl(2), open(2) and fcntl(2) are variadic and cannot be called from
//    Swift; the wrappers here are not, and return -errno instead of setting
//    errno, so the Swift side never races on a thread-local.
//  * ioctl request numbers are built with the kernel's _IOW/_IOR macros from
//    the struct types, which Swift cannot evaluate; they are exported as
//    `extern const` values and asserted equal to the documented numbers.
//  * Signal handlers that must be async-signal-safe (the vCPU kick, the
//    SIGINT/SIGTERM stop request, guarded host-access probes) are C.
#ifndef PVMH_CKVM_H
#define PVMH_CKVM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/kvm.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Structures (layouts asserted in ckvm.c)

/// KVM_CREATE_GUEST_MEMFD argument (64 bytes).
struct ckvm_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};

/// KVM_SET_USER_MEMORY_REGION2 argument (160 bytes).
struct ckvm_userspace_memory_region2 {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t guest_memfd_offset;
    uint32_t guest_memfd;
    uint32_t pad1;
    uint64_t pad2[14];
};

/// KVM_SET_MEMORY_ATTRIBUTES argument (32 bytes).
struct ckvm_memory_attributes {
    uint64_t address;
    uint64_t size;
    uint64_t attributes;
    uint64_t flags;
};

/// KVM_ENABLE_CAP argument (104 bytes).
struct ckvm_enable_cap {
    uint32_t cap;
    uint32_t flags;
    uint64_t args[4];
    uint8_t pad[64];
};

/// arm64 KVM_ARM_VCPU_INIT / KVM_ARM_PREFERRED_TARGET argument (32 bytes).
struct ckvm_vcpu_init {
    uint32_t target;
    uint32_t features[7];
};

/// KVM_GET_ONE_REG / KVM_SET_ONE_REG argument (16 bytes).
struct ckvm_one_reg {
    uint64_t id;
    uint64_t addr;
};

/// KVM_SET_DEVICE_ATTR argument (24 bytes).
struct ckvm_device_attr {
    uint32_t flags;
    uint32_t group;
    uint64_t attr;
    uint64_t addr;
};

/// arm64 KVM_ARM_VM_SMCCC_FILTER payload (24 bytes).
struct ckvm_smccc_filter {
    uint32_t base;
    uint32_t nr_functions;
    uint8_t action;
    uint8_t pad[15];
};

// ---------------------------------------------------------------------------
// ioctl request numbers, built from the layouts above (values in Docs/kvm-abi.md).

extern const unsigned long CKVM_GET_API_VERSION;
extern const unsigned long CKVM_CREATE_VM;
extern const unsigned long CKVM_CHECK_EXTENSION;
extern const unsigned long CKVM_GET_VCPU_MMAP_SIZE;
extern const unsigned long CKVM_CREATE_VCPU;
extern const unsigned long CKVM_RUN;
extern const unsigned long CKVM_ENABLE_CAP;
extern const unsigned long CKVM_SET_USER_MEMORY_REGION;
extern const unsigned long CKVM_SET_USER_MEMORY_REGION2;
extern const unsigned long CKVM_CREATE_GUEST_MEMFD;
extern const unsigned long CKVM_SET_MEMORY_ATTRIBUTES;
extern const unsigned long CKVM_SET_DEVICE_ATTR;
extern const unsigned long CKVM_ARM_PREFERRED_TARGET;
extern const unsigned long CKVM_ARM_VCPU_INIT;
extern const unsigned long CKVM_GET_ONE_REG;
extern const unsigned long CKVM_SET_ONE_REG;
#if defined(__x86_64__)
extern const unsigned long CKVM_GET_REGS;
extern const unsigned long CKVM_SET_REGS;
extern const unsigned long CKVM_GET_SREGS;
extern const unsigned long CKVM_SET_SREGS;
extern const unsigned long CKVM_GET_SUPPORTED_CPUID;
extern const unsigned long CKVM_SET_CPUID2;
#endif

// ---------------------------------------------------------------------------
// struct kvm_run offsets (the exit union starts at 32). The Swift side decodes
// exits from the raw mapping so synthetic kvm_run bytes can be tested.

extern const size_t CKVM_RUN_IMMEDIATE_EXIT_OFFSET;   // 1
extern const size_t CKVM_RUN_EXIT_REASON_OFFSET;      // 8
extern const size_t CKVM_RUN_EXIT_UNION_OFFSET;       // 32
extern const size_t CKVM_RUN_HYPERCALL_RET_OFFSET;    // 88
extern const size_t CKVM_RUN_SIZE;                    // 2352

// ---------------------------------------------------------------------------
// Non-variadic system call wrappers: each returns the call's result, or -errno.

int ckvm_open(const char *path, int flags);
int ckvm_close(int fd);
long ckvm_ioctl(int fd, unsigned long request, void *arg);
long ckvm_ioctl_value(int fd, unsigned long request, unsigned long value);
/// fallocate(PUNCH_HOLE|KEEP_SIZE): discards the pages so later reads see zero.
int ckvm_punch_hole(int fd, uint64_t offset, uint64_t length);
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

// ---------------------------------------------------------------------------
// Signals.

/// Installs a handler that does nothing for `signo` without SA_RESTART, so a
/// thread blocked in KVM_RUN returns EINTR when the signal is sent to it.
int ckvm_install_kick_handler(int signo);
/// Unblocks `signo` in the calling thread.
int ckvm_unblock_signal(int signo);
/// Sends `signo` to a thread.
int ckvm_kick_thread(unsigned long thread, int signo);

/// SIGINT/SIGTERM: the first one records the signal number and signals
/// `eventfd`; the VMM then tears down in order. A second one while the first
/// is being handled is counted, not fatal: teardown runs exactly once.
int ckvm_install_stop_handlers(int eventfd);
/// Restores the handlers that were there before ckvm_install_stop_handlers.
void ckvm_restore_stop_handlers(void);
/// The signal that requested a stop, or 0.
int ckvm_stop_signal(void);
/// Number of stop signals received since installation.
int ckvm_stop_signal_count(void);

/// Starts a child pvmh (or any program) the way the regression suite and the
/// benchmarks need it: stdin and stderr on /dev/null, stdout on `stdout_fd`
/// (/dev/null when -1), an empty signal mask and default handling for
/// SIGINT/SIGTERM/SIGPIPE/SIGUSR1 whatever this process set up, and
/// `envp` (this process's environment when NULL). Returns 0 with *pid set,
/// or a positive errno. posix_spawn's argument lists cannot be built from
/// Swift's Glibc without this boilerplate in two places.
int ckvm_spawn_clean(const char *path, char *const argv[], char *const envp[], int stdout_fd, pid_t *pid);

/// Reads one byte at `address` in a forked child, which inherits the
/// parent's mappings but no threads. Returns 0 if the read succeeded (the
/// byte is stored in *value), otherwise the signal number that killed the
/// read (SIGSEGV, SIGBUS) with its si_code in *code; -errno if fork failed.
int ckvm_probe_read_in_child(const volatile void *address, uint8_t *value, int *code);
/// Reads one byte at `address` in this process with a guarded SIGSEGV/SIGBUS
/// handler (sigsetjmp). Same results as ckvm_probe_read_in_child. Only one
/// guarded read runs at a time (serialised by a mutex).
int ckvm_probe_read_guarded(const volatile void *address, uint8_t *value, int *code);

#ifdef __cplusplus
}
#endif
#endif
