// CKVM — the C side of pvmh's KVM layer.
//
// Why this shim exists:
//  * Debian 12's <linux/kvm.h> (Linux 6.1) lacks guest_memfd, memslots v2,
//    memory attributes, the memory-fault exit and the arm64 SMCCC filter, so
//    pvmh carries its own definitions of that ABI (as QEMU, kvmtool and
//    crosvm do). Every struct is prefixed `ckvm_` so it never collides with a
//    newer distro header, and every layout is pinned by _Static_assert in
//    abi.c to the sizes and offsets in Docs/kvm-abi.md.
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

// One header per concern; Swift sees them all as the CKVM module, which only
// the KVM layer and the System layer import.
#include "ckvm_abi.h"
#include "ckvm_syscalls.h"
#include "ckvm_signals.h"
#include "ckvm_spawn.h"
#include "ckvm_probes.h"

#endif
