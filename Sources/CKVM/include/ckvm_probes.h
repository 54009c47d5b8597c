// One-byte host reads that cannot crash the VMM.
#ifndef PVMH_CKVM_PROBES_H
#define PVMH_CKVM_PROBES_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reads one byte at `address` in a forked child, which inherits the
/// parent's mappings but no threads. Returns 0 if the read succeeded (the
/// byte is stored in *value), otherwise the signal number that killed the
/// read (SIGSEGV, SIGBUS) with its si_code in *code; -errno if fork failed.
int ckvm_probe_read_in_child(const volatile void *address, uint8_t *value, int *code);
/// Reads one byte at `address` in this process with a guarded SIGSEGV/SIGBUS
/// handler (sigsetjmp). Same results as ckvm_probe_read_in_child. Only one
/// guarded read runs at a time (serialised by a mutex).
int ckvm_probe_read_guarded(const volatile void *address, uint8_t *value, int *code);
/// The same for `count` addresses with one handler install: signals[i] is 0
/// when addresses[i] was readable (its byte in values[i]), else the signal
/// (codes[i] its si_code). Returns 0.
int ckvm_probe_read_guarded_batch(const void *const *addresses, size_t count, uint8_t *values, int *signals, int *codes);

#ifdef __cplusplus
}
#endif
#endif
