// pvmh_baseline.h — the raw-ioctl baseline `pvmh bench` measures pvmh against.
//
// It performs the same kernel work as pvmh's x86_64 KVM platform
// (Sources/Platforms/X86KVMPlatform.swift) for one protected-VM lifecycle, on
// either of its RAM backends (guest_memfd or memfd), with no VMM logic on
// top: no ledger, no journal, no threads, no verification. Docs/benchmarks.md explains what is
// and is not counted. Used two ways: linked into pvmh (the CBaseline target,
// for in-process comparisons) and as its own process (main.c, built with
// `clang -O2`, for whole-process comparisons).
#ifndef PVMH_BASELINE_H
#define PVMH_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What one lifecycle saw.
struct pvmh_baseline_result {
    /// The guest's DONE status, or -1 if it never reported one.
    int64_t guest_status;
    /// KVM_RUN calls made.
    uint64_t exits;
    /// Console bytes (port 0x3F8).
    uint64_t console_bytes;
    /// Doorbell requests (port 0xE4) answered, and how many were rejected.
    uint64_t memory_requests;
    uint64_t rejected_requests;
    /// CHECK reports that passed / failed.
    uint64_t checks_passed;
    uint64_t checks_failed;
    /// Exits on the bench port 0xE0 (answered by resuming).
    uint64_t bench_exits;
    /// Empty on success; otherwise one sentence naming the call and errno.
    char error[192];
};

/// The file behind guest RAM, as pvmh's `--memory-backend` names it. Each
/// bench row compares pvmh and the baseline on the same backend, because the
/// two do different kernel work (a memfd is ordinary shmem in a plain
/// memslot; a guest_memfd belongs to the VM).
enum pvmh_baseline_backend {
    /// `gmem`: KVM_CREATE_GUEST_MEMFD (MMAP|INIT_SHARED) bound to a
    /// KVM_MEM_GUEST_MEMFD slot with KVM_SET_USER_MEMORY_REGION2. Needs
    /// KVM_CAP_GUEST_MEMFD with both flags and KVM_CAP_USER_MEMORY2 (Linux 6.18+).
    PVMH_BASELINE_GMEM = 0,
    /// `memfd`: memfd_create + ftruncate, a plain slot over KVM's mapping with
    /// KVM_SET_USER_MEMORY_REGION2 where KVM_CAP_USER_MEMORY2 exists, else
    /// KVM_SET_USER_MEMORY_REGION. Every x86_64 KVM takes it.
    PVMH_BASELINE_MEMFD = 1,
};

/// Flags for pvmh_baseline_lifecycle.
enum {
    /// Read and write the doorbell's registers through kvm_run's synced
    /// register area (KVM_CAP_SYNC_REGS, KVM_SYNC_X86_REGS) instead of
    /// KVM_GET_REGS + KVM_SET_REGS: the same answers with two ioctls fewer
    /// per call. pvmh does the same where the kernel offers it (and also
    /// syncs SREGS, for EFER); figure 3 compares the two on both paths.
    PVMH_BASELINE_SYNC_REGS = 1,
};

/// One lifecycle of an x86_64 ELF guest on `ram_size` bytes of `backend`
/// memory with the port doorbell transport: create VM, the guest_memfd or
/// memfd, two mappings, memslot, host view PROT_NONE, load, vCPU (CPUID,
/// 32-bit flat segments), run to HLT, then punch holes over the private
/// ranges, delete the memslot, unmap, close the file, vCPU, VM.
/// Returns 0 when every step worked (whatever the guest reported), -1 with
/// result->error set otherwise (also when the kernel lacks `backend`).
int pvmh_baseline_lifecycle(const uint8_t *elf, size_t elf_size, uint64_t ram_size, enum pvmh_baseline_backend backend,
                            unsigned flags, struct pvmh_baseline_result *result);

/// Teardown of `bytes` of populated guest memory: untimed setup (VM, the
/// guest_memfd or memfd, fallocate(KEEP_SIZE) of every byte, two mappings,
/// memslot, one vCPU), then the timed part — punch a hole over all of it,
/// delete the memslot, unmap both views, close the file, the vCPU and the VM.
/// Stores the timed part in *teardown_ns. Returns 0, or -1 with `error` set.
int pvmh_baseline_teardown(enum pvmh_baseline_backend backend, uint64_t bytes, uint64_t *teardown_ns,
                           char *error, size_t error_size);

/// Teardown of `bytes` of populated guest memory in the state a stress guest
/// leaves it: `run_count` runs of pages (`shared_runs` holds start page and
/// page count pairs) shared — open in the host view and kept by teardown —
/// the rest private. Untimed setup as pvmh_baseline_teardown's, a write
/// into every page (a guest that touched all its memory), and the runs; the timed part punches a hole over every private run, opens the
/// host view, deletes the memslot, unmaps, closes. Returns 0, or -1 with `error` set.
int pvmh_baseline_teardown_stressed(enum pvmh_baseline_backend backend, uint64_t bytes, const uint64_t *shared_runs,
                                    size_t run_count, uint64_t *teardown_ns, char *error, size_t error_size);
/// The zero check after reclaim over `bytes` of guest memory: untimed, a
/// populated VM with one vCPU (every page allocated and written; with `punched`, all of it punched
/// out again, as reclaim leaves it) whose host view is readable; timed,
/// SEEK_DATA/SEEK_HOLE over the file (where it can seek) and every page of
/// every data extent read through the host view and scanned. Stores the
/// non-zero pages found. Returns 0, or -1 with `error` set.
int pvmh_baseline_zero_check(enum pvmh_baseline_backend backend, uint64_t bytes, int punched, uint64_t *check_ns,
                             uint64_t *nonzero_pages, char *error, size_t error_size);
/// Bytes malloc has handed out and not had back (glibc's mallinfo2:
/// uordblks + hblkhd), for the bench's ledger figure; Swift cannot see
/// mallinfo2 through Glibc.
uint64_t pvmh_baseline_heap_in_use(void);

#ifdef __cplusplus
}
#endif
#endif
