// The KVM ABI: struct layouts and ioctl numbers, each checked at compile
// time against Docs/kvm-abi.md. See include/ckvm.h for why this shim exists.
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

// KVM_CAP_SYNC_REGS: the bit sets before kvm_run.s, and (x86) struct kvm_sync_regs.
_Static_assert(offsetof(struct kvm_run, kvm_valid_regs) == 288, "kvm_valid_regs@288");
_Static_assert(offsetof(struct kvm_run, kvm_dirty_regs) == 296, "kvm_dirty_regs@296");
_Static_assert(offsetof(struct kvm_run, s) == 304, "s (sync regs)@304");
_Static_assert(sizeof(((struct kvm_run *)0)->s) == 2048, "s is SYNC_REGS_SIZE_BYTES (2048)");
_Static_assert(offsetof(struct kvm_run, s) + 2048 == 2352, "s ends kvm_run");
const size_t CKVM_RUN_VALID_REGS_OFFSET = offsetof(struct kvm_run, kvm_valid_regs);
const size_t CKVM_RUN_DIRTY_REGS_OFFSET = offsetof(struct kvm_run, kvm_dirty_regs);
const size_t CKVM_RUN_SYNC_REGS_OFFSET = offsetof(struct kvm_run, s);
#if defined(__x86_64__)
_Static_assert(sizeof(struct kvm_regs) == 144, "kvm_regs is 144 bytes");
_Static_assert(offsetof(struct kvm_regs, rax) == 0, "rax@0");
_Static_assert(offsetof(struct kvm_regs, rbx) == 8, "rbx@8");
_Static_assert(offsetof(struct kvm_regs, rcx) == 16, "rcx@16");
_Static_assert(offsetof(struct kvm_regs, rdx) == 24, "rdx@24");
_Static_assert(offsetof(struct kvm_regs, rip) == 128, "rip@128");
_Static_assert(offsetof(struct kvm_regs, rflags) == 136, "rflags@136");
_Static_assert(sizeof(struct kvm_sregs) == 312, "kvm_sregs is 312 bytes");
_Static_assert(offsetof(struct kvm_sregs, efer) == 264, "efer@264");
_Static_assert(sizeof(struct kvm_vcpu_events) == 64, "kvm_vcpu_events is 64 bytes");
_Static_assert(offsetof(struct kvm_sync_regs, regs) == 0, "sync_regs.regs@0");
_Static_assert(offsetof(struct kvm_sync_regs, sregs) == 144, "sync_regs.sregs@144");
_Static_assert(offsetof(struct kvm_sync_regs, events) == 456, "sync_regs.events@456");
_Static_assert(sizeof(struct kvm_sync_regs) == 520, "kvm_sync_regs is 520 bytes");
_Static_assert(KVM_SYNC_X86_REGS == 1 && KVM_SYNC_X86_SREGS == 2 && KVM_SYNC_X86_EVENTS == 4, "KVM_SYNC_X86_* bits");
_Static_assert(KVM_CAP_SYNC_REGS == 74, "KVM_CAP_SYNC_REGS is 74");
const size_t CKVM_SYNC_REGS_REGS_OFFSET = offsetof(struct kvm_sync_regs, regs);
const size_t CKVM_SYNC_REGS_SREGS_OFFSET = offsetof(struct kvm_sync_regs, sregs);
const size_t CKVM_SYNC_REGS_EVENTS_OFFSET = offsetof(struct kvm_sync_regs, events);
const size_t CKVM_SYNC_REGS_SIZE = sizeof(struct kvm_sync_regs);
const size_t CKVM_REGS_SIZE = sizeof(struct kvm_regs);
const size_t CKVM_SREGS_SIZE = sizeof(struct kvm_sregs);
const size_t CKVM_SREGS_EFER_OFFSET = offsetof(struct kvm_sregs, efer);
const uint64_t CKVM_SYNC_X86_REGS = KVM_SYNC_X86_REGS;
const uint64_t CKVM_SYNC_X86_SREGS = KVM_SYNC_X86_SREGS;
const uint64_t CKVM_SYNC_X86_EVENTS = KVM_SYNC_X86_EVENTS;
const int CKVM_CAP_SYNC_REGS = KVM_CAP_SYNC_REGS;
#endif

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
CKVM_ASSERT_REQ(CKVM_GET_MP_STATE, _IOR(KVMIO, 0x98, struct kvm_mp_state), 0x8004AE98)
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
