// One-byte host reads that cannot crash the VMM: in a forked child, or
// in-process under a guarded SIGSEGV/SIGBUS handler.
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


int ckvm_probe_read_guarded_batch(const void *const *addresses, size_t count, uint8_t *values, int *signals, int *codes) {
    pthread_mutex_lock(&ckvm_guard_lock);
    struct sigaction sa, old_segv, old_bus;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = ckvm_guard_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    for (size_t i = 0; i < count; i++) {
        // SA_NODEFER leaves the signal mask alone in the handler, so the jump
        // back needs no mask restore (no syscall per probe).
        int signo = sigsetjmp(ckvm_guard_jmp, 0);
        if (signo == 0) {
            ckvm_guard_armed = 1;
            uint8_t byte = *(const volatile uint8_t *)addresses[i];
            ckvm_guard_armed = 0;
            values[i] = byte;
            signals[i] = 0;
            codes[i] = 0;
        } else {
            values[i] = 0;
            signals[i] = signo;
            codes[i] = ckvm_guard_code;
        }
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
    pthread_mutex_unlock(&ckvm_guard_lock);
    return 0;
}

int ckvm_probe_read_guarded(const volatile void *address, uint8_t *value, int *code) {
    const void *addresses[1] = { (const void *)address };
    int signo = 0;
    ckvm_probe_read_guarded_batch(addresses, 1, value, &signo, code);
    return signo;
}
