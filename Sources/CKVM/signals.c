// Async-signal-safe handlers: the vCPU kick and the SIGINT/SIGTERM latch.
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
