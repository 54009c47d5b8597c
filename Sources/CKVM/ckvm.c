// See include/ckvm.h for why this shim exists.
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
// Layouts: sizes and offsets from Docs/kvm-abi.md (Linux 7.3 uapi).

_Static_assert(sizeof(struct ckvm_create_guest_memfd) == 64, "kvm_create_guest_memfd is 64 bytes");
_Static_assert(offsetof(struct ckvm_create_guest_memfd, flags) == 8, "flags@8");
_Static_assert(sizeof(struct ckvm_userspace_memory_region2) == 160, "region2 is 160 bytes");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, flags) == 4, "flags@4");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, guest_phys_addr) == 8, "gpa@8");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, memory_size) == 16, "size@16");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, userspace_addr) == 24, "uaddr@24");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, guest_memfd_offset) == 32, "offset@32");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, guest_memfd) == 40, "gmem@40");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, pad1) == 44, "pad1@44");
_Static_assert(offsetof(struct ckvm_userspace_memory_region2, pad2) == 48, "pad2@48");
_Static_assert(sizeof(struct ckvm_memory_attributes) == 32, "memory_attributes is 32 bytes");
_Static_assert(offsetof(struct ckvm_memory_attributes, attributes) == 16, "attributes@16");
_Static_assert(sizeof(struct ckvm_enable_cap) == 104, "enable_cap is 104 bytes");
_Static_assert(offsetof(struct ckvm_enable_cap, args) == 8, "args@8");
_Static_assert(sizeof(struct ckvm_vcpu_init) == 32, "vcpu_init is 32 bytes");
_Static_assert(offsetof(struct ckvm_vcpu_init, features) == 4, "features@4");
_Static_assert(sizeof(struct ckvm_one_reg) == 16, "one_reg is 16 bytes");
_Static_assert(sizeof(struct ckvm_device_attr) == 24, "device_attr is 24 bytes");
_Static_assert(offsetof(struct ckvm_device_attr, attr) == 8, "attr@8");
_Static_assert(offsetof(struct ckvm_device_attr, addr) == 16, "addr@16");
_Static_assert(sizeof(struct ckvm_smccc_filter) == 24, "smccc_filter is 24 bytes");
_Static_assert(offsetof(struct ckvm_smccc_filter, action) == 8, "action@8");

// struct kvm_run: the distro header's generic part agrees with 7.3.
_Static_assert(offsetof(struct kvm_run, immediate_exit) == 1, "immediate_exit@1");
_Static_assert(offsetof(struct kvm_run, exit_reason) == 8, "exit_reason@8");
_Static_assert(offsetof(struct kvm_run, io) == 32, "exit union@32");
_Static_assert(offsetof(struct kvm_run, hypercall.nr) == 32, "hypercall.nr@32");
_Static_assert(offsetof(struct kvm_run, hypercall.args) == 40, "hypercall.args@40");
_Static_assert(offsetof(struct kvm_run, hypercall.ret) == 88, "hypercall.ret@88");
_Static_assert(offsetof(struct kvm_run, system_event.type) == 32, "system_event.type@32");
_Static_assert(offsetof(struct kvm_run, mmio.phys_addr) == 32, "mmio.phys_addr@32");
_Static_assert(offsetof(struct kvm_run, mmio.data) == 40, "mmio.data@40");
_Static_assert(offsetof(struct kvm_run, mmio.len) == 48, "mmio.len@48");
_Static_assert(offsetof(struct kvm_run, mmio.is_write) == 52, "mmio.is_write@52");
_Static_assert(offsetof(struct kvm_run, io.port) == 34, "io.port@34");
_Static_assert(offsetof(struct kvm_run, io.data_offset) == 40, "io.data_offset@40");
_Static_assert(sizeof(struct kvm_run) == 2352, "kvm_run is 2352 bytes");

const size_t CKVM_RUN_IMMEDIATE_EXIT_OFFSET = offsetof(struct kvm_run, immediate_exit);
const size_t CKVM_RUN_EXIT_REASON_OFFSET = offsetof(struct kvm_run, exit_reason);
const size_t CKVM_RUN_EXIT_UNION_OFFSET = offsetof(struct kvm_run, io);
const size_t CKVM_RUN_HYPERCALL_RET_OFFSET = offsetof(struct kvm_run, hypercall.ret);
const size_t CKVM_RUN_SIZE = sizeof(struct kvm_run);

// ---------------------------------------------------------------------------
// ioctl numbers.

#define CKVM_ASSERT_REQ(name, expr, value) \
    _Static_assert((expr) == (value), #name " matches Docs/kvm-abi.md"); \
    const unsigned long name = (expr);

CKVM_ASSERT_REQ(CKVM_GET_API_VERSION, _IO(KVMIO, 0x00), 0xAE00)
CKVM_ASSERT_REQ(CKVM_CREATE_VM, _IO(KVMIO, 0x01), 0xAE01)
CKVM_ASSERT_REQ(CKVM_CHECK_EXTENSION, _IO(KVMIO, 0x03), 0xAE03)
CKVM_ASSERT_REQ(CKVM_GET_VCPU_MMAP_SIZE, _IO(KVMIO, 0x04), 0xAE04)
CKVM_ASSERT_REQ(CKVM_CREATE_VCPU, _IO(KVMIO, 0x41), 0xAE41)
CKVM_ASSERT_REQ(CKVM_RUN, _IO(KVMIO, 0x80), 0xAE80)
CKVM_ASSERT_REQ(CKVM_ENABLE_CAP, _IOW(KVMIO, 0xa3, struct ckvm_enable_cap), 0x4068AEA3)
// Memslots v1: every KVM has it (Linux 6.1 boards have no v2).
CKVM_ASSERT_REQ(CKVM_SET_USER_MEMORY_REGION, _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region), 0x4020AE46)
CKVM_ASSERT_REQ(CKVM_SET_USER_MEMORY_REGION2, _IOW(KVMIO, 0x49, struct ckvm_userspace_memory_region2), 0x40A0AE49)
CKVM_ASSERT_REQ(CKVM_CREATE_GUEST_MEMFD, _IOWR(KVMIO, 0xd4, struct ckvm_create_guest_memfd), 0xC040AED4)
CKVM_ASSERT_REQ(CKVM_SET_MEMORY_ATTRIBUTES, _IOW(KVMIO, 0xd2, struct ckvm_memory_attributes), 0x4020AED2)
CKVM_ASSERT_REQ(CKVM_SET_DEVICE_ATTR, _IOW(KVMIO, 0xe1, struct ckvm_device_attr), 0x4018AEE1)
CKVM_ASSERT_REQ(CKVM_ARM_PREFERRED_TARGET, _IOR(KVMIO, 0xaf, struct ckvm_vcpu_init), 0x8020AEAF)
CKVM_ASSERT_REQ(CKVM_ARM_VCPU_INIT, _IOW(KVMIO, 0xae, struct ckvm_vcpu_init), 0x4020AEAE)
CKVM_ASSERT_REQ(CKVM_GET_ONE_REG, _IOW(KVMIO, 0xab, struct ckvm_one_reg), 0x4010AEAB)
CKVM_ASSERT_REQ(CKVM_SET_ONE_REG, _IOW(KVMIO, 0xac, struct ckvm_one_reg), 0x4010AEAC)
#if defined(__x86_64__)
CKVM_ASSERT_REQ(CKVM_GET_REGS, KVM_GET_REGS, 0x8090AE81)
CKVM_ASSERT_REQ(CKVM_SET_REGS, KVM_SET_REGS, 0x4090AE82)
CKVM_ASSERT_REQ(CKVM_GET_SREGS, KVM_GET_SREGS, 0x8138AE83)
CKVM_ASSERT_REQ(CKVM_SET_SREGS, KVM_SET_SREGS, 0x4138AE84)
CKVM_ASSERT_REQ(CKVM_GET_SUPPORTED_CPUID, KVM_GET_SUPPORTED_CPUID, 0xC008AE05)
CKVM_ASSERT_REQ(CKVM_SET_CPUID2, KVM_SET_CPUID2, 0x4008AE90)
_Static_assert(sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid_entry2 is 40 bytes");
#endif

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

// ---------------------------------------------------------------------------
// Signals.

static void ckvm_kick_handler(int signo) { (void)signo; }

int ckvm_install_kick_handler(int signo) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ckvm_kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    return sigaction(signo, &sa, NULL) < 0 ? -errno : 0;
}

int ckvm_unblock_signal(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int ckvm_kick_thread(unsigned long thread, int signo) {
    return -pthread_kill((pthread_t)thread, signo);
}

static volatile sig_atomic_t ckvm_stop_signo;
static atomic_int ckvm_stop_count;
static volatile int ckvm_stop_eventfd = -1;
static struct sigaction ckvm_old_int, ckvm_old_term;
static int ckvm_stop_installed;

static void ckvm_stop_handler(int signo) {
    int saved = errno;
    if (atomic_fetch_add(&ckvm_stop_count, 1) == 0) {
        ckvm_stop_signo = signo;
    }
    if (ckvm_stop_eventfd >= 0) {
        uint64_t one = 1;
        (void)!write(ckvm_stop_eventfd, &one, sizeof one);
    }
    errno = saved;
}

int ckvm_install_stop_handlers(int eventfd) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ckvm_stop_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ckvm_stop_signo = 0;
    atomic_store(&ckvm_stop_count, 0);
    ckvm_stop_eventfd = eventfd;
    if (sigaction(SIGINT, &sa, &ckvm_old_int) < 0) return -errno;
    if (sigaction(SIGTERM, &sa, &ckvm_old_term) < 0) {
        int e = errno;
        sigaction(SIGINT, &ckvm_old_int, NULL);
        return -e;
    }
    ckvm_stop_installed = 1;
    // A parent may have started us with these signals blocked (the mask is
    // inherited across exec); a VMM that cannot be stopped is worse than one
    // that can, so take them. Threads created later inherit this mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    return 0;
}

void ckvm_restore_stop_handlers(void) {
    if (!ckvm_stop_installed) return;
    sigaction(SIGINT, &ckvm_old_int, NULL);
    sigaction(SIGTERM, &ckvm_old_term, NULL);
    ckvm_stop_eventfd = -1;
    ckvm_stop_installed = 0;
}

int ckvm_stop_signal(void) { return ckvm_stop_signo; }
int ckvm_stop_signal_count(void) { return atomic_load(&ckvm_stop_count); }

int ckvm_spawn_clean(const char *path, char *const argv[], char *const envp[], int stdout_fd, pid_t *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (stdout_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGUSR1);
    posix_spawnattr_setsigmask(&attributes, &empty);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int result = posix_spawn(pid, path, &actions, &attributes, argv, envp ? envp : environ);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

// Child probe: the exit status encodes the outcome. 0 = read fine (the byte is
// sent through a pipe); 64 + si_code for SIGSEGV; 96 + si_code for SIGBUS.
static void ckvm_child_fault(int signo, siginfo_t *info, void *ctx) {
    (void)ctx;
    _exit((signo == SIGSEGV ? 64 : 96) + (info->si_code & 31));
}

int ckvm_probe_read_in_child(const volatile void *address, uint8_t *value, int *code) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = ckvm_child_fault;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
        uint8_t byte = *(const volatile uint8_t *)address;
        (void)!write(fds[1], &byte, 1);
        _exit(0);
    }
    close(fds[1]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fds[0]);
            return -e;
        }
    }
    int result;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        uint8_t byte = 0;
        (void)!read(fds[0], &byte, 1);
        *value = byte;
        *code = 0;
        result = 0;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) >= 64 && WEXITSTATUS(status) < 128) {
        int s = WEXITSTATUS(status);
        result = s >= 96 ? SIGBUS : SIGSEGV;
        *code = s - (s >= 96 ? 96 : 64);
    } else if (WIFSIGNALED(status)) {
        result = WTERMSIG(status);
        *code = 0;
    } else {
        result = -ECHILD;
    }
    close(fds[0]);
    return result;
}

static pthread_mutex_t ckvm_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread sigjmp_buf ckvm_guard_jmp;
static __thread volatile sig_atomic_t ckvm_guard_armed;
static __thread volatile int ckvm_guard_code;

static void ckvm_guard_handler(int signo, siginfo_t *info, void *ctx) {
    (void)ctx;
    if (ckvm_guard_armed) {
        ckvm_guard_armed = 0;
        ckvm_guard_code = info->si_code;
        siglongjmp(ckvm_guard_jmp, signo);
    }
    // Not ours: fall back to the default action so real crashes still crash.
    signal(signo, SIG_DFL);
    raise(signo);
}

int ckvm_probe_read_guarded(const volatile void *address, uint8_t *value, int *code) {
    pthread_mutex_lock(&ckvm_guard_lock);
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ckvm_guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    int result;
    int signo = sigsetjmp(ckvm_guard_jmp, 1);
    if (signo == 0) {
        ckvm_guard_armed = 1;
        uint8_t byte = *(const volatile uint8_t *)address;
        ckvm_guard_armed = 0;
        *value = byte;
        *code = 0;
        result = 0;
    } else {
        *code = ckvm_guard_code;
        result = signo;
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    pthread_mutex_unlock(&ckvm_guard_lock);
    return result;
}
