// Async-signal-safe pieces: the vCPU kick and the SIGINT/SIGTERM latch.
#ifndef PVMH_CKVM_SIGNALS_H
#define PVMH_CKVM_SIGNALS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
#endif
