// The KVM ABI pvmh carries itself: struct layouts (asserted in abi.c) and ioctl numbers.
#ifndef PVMH_CKVM_ABI_H
#define PVMH_CKVM_ABI_H

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
/// KVM_GET_MP_STATE: `struct kvm_mp_state { __u32 mp_state; }` (every architecture).
extern const unsigned long CKVM_GET_MP_STATE;
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

// KVM_CAP_SYNC_REGS (74): kvm_run's synced register area. kvm_valid_regs and
// kvm_dirty_regs (u64 bit sets) sit right before the union `s` that holds
// struct kvm_sync_regs (padded to 2048 bytes). Docs/kvm-abi.md, "Synced registers".
extern const size_t CKVM_RUN_VALID_REGS_OFFSET;       // 288
extern const size_t CKVM_RUN_DIRTY_REGS_OFFSET;       // 296
extern const size_t CKVM_RUN_SYNC_REGS_OFFSET;        // 304 (kvm_run.s)
#if defined(__x86_64__)
// x86 struct kvm_sync_regs { kvm_regs regs; kvm_sregs sregs; kvm_vcpu_events events; }.
extern const size_t CKVM_SYNC_REGS_REGS_OFFSET;       // 0
extern const size_t CKVM_SYNC_REGS_SREGS_OFFSET;      // 144
extern const size_t CKVM_SYNC_REGS_EVENTS_OFFSET;     // 456
extern const size_t CKVM_SYNC_REGS_SIZE;              // 520
extern const size_t CKVM_REGS_SIZE;                   // 144 (struct kvm_regs)
extern const size_t CKVM_SREGS_SIZE;                  // 312 (struct kvm_sregs)
extern const size_t CKVM_SREGS_EFER_OFFSET;           // 264
extern const uint64_t CKVM_SYNC_X86_REGS;             // 1
extern const uint64_t CKVM_SYNC_X86_SREGS;            // 2
extern const uint64_t CKVM_SYNC_X86_EVENTS;           // 4
extern const int CKVM_CAP_SYNC_REGS;                  // 74
#endif

#ifdef __cplusplus
}
#endif
#endif
