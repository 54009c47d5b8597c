/*
 * arm64-abi-check.c: pvmh's arm64 KVM constants against a distribution's
 * arm64 uapi headers.
 *
 * What it does: includes the arm64 <linux/kvm.h> from Debian's
 * linux-libc-dev-arm64-cross (/usr/aarch64-linux-gnu/include) and
 * _Static_asserts that every ioctl number, ONE_REG id, struct layout, exit
 * number and VM type pvmh uses equals the header's. It is compiled, never
 * run, so it works on any build host:
 *
 *   clang --target=aarch64-linux-gnu -fsyntax-only -ffreestanding -nostdlibinc \
 *         -isystem /usr/aarch64-linux-gnu/include Tests/abi/arm64-abi-check.c
 *
 * Each PVMH_* value is what pvmh uses. Tests/KVMTests/ARM64HeaderCheckTests
 * passes them with -D from the Swift constants themselves; the defaults below
 * are the values in Docs/kvm-abi.md, so the file also checks the
 * document when compiled by hand. Debian 12's headers are Linux 6.1: the
 * newer ABI (SMCCC filter, protected VM type, guest_memfd) is compared where
 * the header has it and otherwise named in a "#pragma message" line.
 */
#include <stddef.h>
#include <linux/kvm.h>

#define PVMH_CHECK(name, header, ours) \
    _Static_assert((unsigned long long)(header) == (unsigned long long)(ours), name ": the arm64 header differs from pvmh")

/* ------------------------------------------------------------------------ */
/* pvmh's values (overridden with -D by the Swift test).                    */

#ifndef PVMH_KVM_CREATE_VM
#define PVMH_KVM_CREATE_VM 0xAE01
#endif
#ifndef PVMH_KVM_CHECK_EXTENSION
#define PVMH_KVM_CHECK_EXTENSION 0xAE03
#endif
#ifndef PVMH_KVM_CREATE_VCPU
#define PVMH_KVM_CREATE_VCPU 0xAE41
#endif
#ifndef PVMH_KVM_RUN
#define PVMH_KVM_RUN 0xAE80
#endif
#ifndef PVMH_KVM_ARM_VCPU_INIT
#define PVMH_KVM_ARM_VCPU_INIT 0x4020AEAE
#endif
#ifndef PVMH_KVM_ARM_PREFERRED_TARGET
#define PVMH_KVM_ARM_PREFERRED_TARGET 0x8020AEAF
#endif
#ifndef PVMH_KVM_GET_ONE_REG
#define PVMH_KVM_GET_ONE_REG 0x4010AEAB
#endif
#ifndef PVMH_KVM_SET_ONE_REG
#define PVMH_KVM_SET_ONE_REG 0x4010AEAC
#endif
#ifndef PVMH_KVM_SET_DEVICE_ATTR
#define PVMH_KVM_SET_DEVICE_ATTR 0x4018AEE1
#endif
#ifndef PVMH_REG_X0
#define PVMH_REG_X0 0x6030000000100000ULL
#endif
#ifndef PVMH_REG_X1
#define PVMH_REG_X1 0x6030000000100002ULL
#endif
#ifndef PVMH_REG_X2
#define PVMH_REG_X2 0x6030000000100004ULL
#endif
#ifndef PVMH_REG_X3
#define PVMH_REG_X3 0x6030000000100006ULL
#endif
#ifndef PVMH_REG_X30
#define PVMH_REG_X30 0x603000000010003CULL
#endif
#ifndef PVMH_REG_SP
#define PVMH_REG_SP 0x603000000010003EULL
#endif
#ifndef PVMH_REG_PC
#define PVMH_REG_PC 0x6030000000100040ULL
#endif
#ifndef PVMH_REG_PSTATE
#define PVMH_REG_PSTATE 0x6030000000100042ULL
#endif
#ifndef PVMH_VCPU_FEATURE_POWER_OFF
#define PVMH_VCPU_FEATURE_POWER_OFF 0
#endif
#ifndef PVMH_VCPU_FEATURE_PSCI_0_2
#define PVMH_VCPU_FEATURE_PSCI_0_2 2
#endif
#ifndef PVMH_EXIT_HYPERCALL
#define PVMH_EXIT_HYPERCALL 3
#endif
#ifndef PVMH_EXIT_MMIO
#define PVMH_EXIT_MMIO 6
#endif
#ifndef PVMH_EXIT_INTR
#define PVMH_EXIT_INTR 10
#endif
#ifndef PVMH_EXIT_INTERNAL_ERROR
#define PVMH_EXIT_INTERNAL_ERROR 17
#endif
#ifndef PVMH_EXIT_SYSTEM_EVENT
#define PVMH_EXIT_SYSTEM_EVENT 24
#endif
#ifndef PVMH_EXIT_ARM_NISV
#define PVMH_EXIT_ARM_NISV 28
#endif
#ifndef PVMH_SYSTEM_EVENT_SHUTDOWN
#define PVMH_SYSTEM_EVENT_SHUTDOWN 1
#endif
#ifndef PVMH_SYSTEM_EVENT_RESET
#define PVMH_SYSTEM_EVENT_RESET 2
#endif
#ifndef PVMH_SYSTEM_EVENT_CRASH
#define PVMH_SYSTEM_EVENT_CRASH 3
#endif
#ifndef PVMH_CAP_ARM_VM_IPA_SIZE
#define PVMH_CAP_ARM_VM_IPA_SIZE 165
#endif
#ifndef PVMH_VM_TYPE_ARM_IPA_SIZE_MASK
#define PVMH_VM_TYPE_ARM_IPA_SIZE_MASK 0xFF
#endif
#ifndef PVMH_VM_TYPE_ARM_PROTECTED
#define PVMH_VM_TYPE_ARM_PROTECTED 0x80000000
#endif
#ifndef PVMH_SMCCC_CTRL_GROUP
#define PVMH_SMCCC_CTRL_GROUP 0
#endif
#ifndef PVMH_SMCCC_FILTER_ATTR
#define PVMH_SMCCC_FILTER_ATTR 0
#endif
#ifndef PVMH_SMCCC_FILTER_FWD_TO_USER
#define PVMH_SMCCC_FILTER_FWD_TO_USER 2
#endif
#ifndef PVMH_RUN_SIZE
#define PVMH_RUN_SIZE 2352
#endif
#ifndef PVMH_RUN_EXIT_REASON
#define PVMH_RUN_EXIT_REASON 8
#endif
#ifndef PVMH_RUN_IMMEDIATE_EXIT
#define PVMH_RUN_IMMEDIATE_EXIT 1
#endif
#ifndef PVMH_RUN_EXIT_UNION
#define PVMH_RUN_EXIT_UNION 32
#endif
#ifndef PVMH_RUN_HYPERCALL_RET
#define PVMH_RUN_HYPERCALL_RET 88
#endif

/* ------------------------------------------------------------------------ */
/* ioctl numbers (arm64 uses the generic _IOC encoding, as x86 does).       */

PVMH_CHECK("KVM_CREATE_VM", KVM_CREATE_VM, PVMH_KVM_CREATE_VM);
PVMH_CHECK("KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION, PVMH_KVM_CHECK_EXTENSION);
PVMH_CHECK("KVM_CREATE_VCPU", KVM_CREATE_VCPU, PVMH_KVM_CREATE_VCPU);
PVMH_CHECK("KVM_RUN", KVM_RUN, PVMH_KVM_RUN);
PVMH_CHECK("KVM_ARM_VCPU_INIT", KVM_ARM_VCPU_INIT, PVMH_KVM_ARM_VCPU_INIT);
PVMH_CHECK("KVM_ARM_PREFERRED_TARGET", KVM_ARM_PREFERRED_TARGET, PVMH_KVM_ARM_PREFERRED_TARGET);
PVMH_CHECK("KVM_GET_ONE_REG", KVM_GET_ONE_REG, PVMH_KVM_GET_ONE_REG);
PVMH_CHECK("KVM_SET_ONE_REG", KVM_SET_ONE_REG, PVMH_KVM_SET_ONE_REG);
PVMH_CHECK("KVM_SET_DEVICE_ATTR", KVM_SET_DEVICE_ATTR, PVMH_KVM_SET_DEVICE_ATTR);

/* ------------------------------------------------------------------------ */
/* ONE_REG core register ids, built the way the header documents them.      */

#define CORE_ID(field) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(field))

PVMH_CHECK("X0", CORE_ID(regs.regs[0]), PVMH_REG_X0);
PVMH_CHECK("X1", CORE_ID(regs.regs[1]), PVMH_REG_X1);
PVMH_CHECK("X2", CORE_ID(regs.regs[2]), PVMH_REG_X2);
PVMH_CHECK("X3", CORE_ID(regs.regs[3]), PVMH_REG_X3);
PVMH_CHECK("X30", CORE_ID(regs.regs[30]), PVMH_REG_X30);
PVMH_CHECK("SP", CORE_ID(regs.sp), PVMH_REG_SP);
PVMH_CHECK("PC", CORE_ID(regs.pc), PVMH_REG_PC);
PVMH_CHECK("PSTATE", CORE_ID(regs.pstate), PVMH_REG_PSTATE);

/* ------------------------------------------------------------------------ */
/* vCPU init, device attributes.                                            */

PVMH_CHECK("KVM_ARM_VCPU_POWER_OFF", KVM_ARM_VCPU_POWER_OFF, PVMH_VCPU_FEATURE_POWER_OFF);
PVMH_CHECK("KVM_ARM_VCPU_PSCI_0_2", KVM_ARM_VCPU_PSCI_0_2, PVMH_VCPU_FEATURE_PSCI_0_2);
PVMH_CHECK("sizeof(struct kvm_vcpu_init)", sizeof(struct kvm_vcpu_init), 32);
PVMH_CHECK("kvm_vcpu_init.features", offsetof(struct kvm_vcpu_init, features), 4);
PVMH_CHECK("kvm_vcpu_init.features[] count", sizeof(((struct kvm_vcpu_init *)0)->features) / 4, 7);
PVMH_CHECK("sizeof(struct kvm_one_reg)", sizeof(struct kvm_one_reg), 16);
PVMH_CHECK("kvm_one_reg.addr", offsetof(struct kvm_one_reg, addr), 8);
PVMH_CHECK("sizeof(struct kvm_device_attr)", sizeof(struct kvm_device_attr), 24);
PVMH_CHECK("kvm_device_attr.group", offsetof(struct kvm_device_attr, group), 4);
PVMH_CHECK("kvm_device_attr.attr", offsetof(struct kvm_device_attr, attr), 8);
PVMH_CHECK("kvm_device_attr.addr", offsetof(struct kvm_device_attr, addr), 16);

/* ------------------------------------------------------------------------ */
/* struct kvm_run and the exits the arm64 platforms decode.                 */

PVMH_CHECK("sizeof(struct kvm_run)", sizeof(struct kvm_run), PVMH_RUN_SIZE);
PVMH_CHECK("kvm_run.immediate_exit", offsetof(struct kvm_run, immediate_exit), PVMH_RUN_IMMEDIATE_EXIT);
PVMH_CHECK("kvm_run.exit_reason", offsetof(struct kvm_run, exit_reason), PVMH_RUN_EXIT_REASON);
PVMH_CHECK("kvm_run.mmio.phys_addr", offsetof(struct kvm_run, mmio.phys_addr), PVMH_RUN_EXIT_UNION);
PVMH_CHECK("kvm_run.mmio.data", offsetof(struct kvm_run, mmio.data), PVMH_RUN_EXIT_UNION + 8);
PVMH_CHECK("kvm_run.mmio.len", offsetof(struct kvm_run, mmio.len), PVMH_RUN_EXIT_UNION + 16);
PVMH_CHECK("kvm_run.mmio.is_write", offsetof(struct kvm_run, mmio.is_write), PVMH_RUN_EXIT_UNION + 20);
PVMH_CHECK("kvm_run.hypercall.nr", offsetof(struct kvm_run, hypercall.nr), PVMH_RUN_EXIT_UNION);
PVMH_CHECK("kvm_run.hypercall.args", offsetof(struct kvm_run, hypercall.args), PVMH_RUN_EXIT_UNION + 8);
PVMH_CHECK("kvm_run.hypercall.ret", offsetof(struct kvm_run, hypercall.ret), PVMH_RUN_HYPERCALL_RET);
PVMH_CHECK("kvm_run.system_event.type", offsetof(struct kvm_run, system_event.type), PVMH_RUN_EXIT_UNION);
PVMH_CHECK("kvm_run.system_event.ndata", offsetof(struct kvm_run, system_event.ndata), PVMH_RUN_EXIT_UNION + 4);
PVMH_CHECK("kvm_run.system_event.data", offsetof(struct kvm_run, system_event.data), PVMH_RUN_EXIT_UNION + 8);
PVMH_CHECK("KVM_EXIT_HYPERCALL", KVM_EXIT_HYPERCALL, PVMH_EXIT_HYPERCALL);
PVMH_CHECK("KVM_EXIT_MMIO", KVM_EXIT_MMIO, PVMH_EXIT_MMIO);
PVMH_CHECK("KVM_EXIT_INTR", KVM_EXIT_INTR, PVMH_EXIT_INTR);
PVMH_CHECK("KVM_EXIT_INTERNAL_ERROR", KVM_EXIT_INTERNAL_ERROR, PVMH_EXIT_INTERNAL_ERROR);
PVMH_CHECK("KVM_EXIT_SYSTEM_EVENT", KVM_EXIT_SYSTEM_EVENT, PVMH_EXIT_SYSTEM_EVENT);
PVMH_CHECK("KVM_EXIT_ARM_NISV", KVM_EXIT_ARM_NISV, PVMH_EXIT_ARM_NISV);
PVMH_CHECK("KVM_SYSTEM_EVENT_SHUTDOWN", KVM_SYSTEM_EVENT_SHUTDOWN, PVMH_SYSTEM_EVENT_SHUTDOWN);
PVMH_CHECK("KVM_SYSTEM_EVENT_RESET", KVM_SYSTEM_EVENT_RESET, PVMH_SYSTEM_EVENT_RESET);
PVMH_CHECK("KVM_SYSTEM_EVENT_CRASH", KVM_SYSTEM_EVENT_CRASH, PVMH_SYSTEM_EVENT_CRASH);

/* ------------------------------------------------------------------------ */
/* VM types and capabilities.                                               */

PVMH_CHECK("KVM_CAP_ARM_VM_IPA_SIZE", KVM_CAP_ARM_VM_IPA_SIZE, PVMH_CAP_ARM_VM_IPA_SIZE);
PVMH_CHECK("KVM_VM_TYPE_ARM_IPA_SIZE_MASK", KVM_VM_TYPE_ARM_IPA_SIZE_MASK, PVMH_VM_TYPE_ARM_IPA_SIZE_MASK);

#ifdef KVM_VM_TYPE_ARM_PROTECTED
PVMH_CHECK("KVM_VM_TYPE_ARM_PROTECTED", KVM_VM_TYPE_ARM_PROTECTED, PVMH_VM_TYPE_ARM_PROTECTED);
#pragma message("pvmh-abi: compared KVM_VM_TYPE_ARM_PROTECTED")
#else
#pragma message("pvmh-abi: not in these headers (Linux < 7.1): KVM_VM_TYPE_ARM_PROTECTED")
#endif

/* The SMCCC filter arrived in Linux 6.4. */
#ifdef KVM_ARM_VM_SMCCC_CTRL
PVMH_CHECK("KVM_ARM_VM_SMCCC_CTRL", KVM_ARM_VM_SMCCC_CTRL, PVMH_SMCCC_CTRL_GROUP);
PVMH_CHECK("KVM_ARM_VM_SMCCC_FILTER", KVM_ARM_VM_SMCCC_FILTER, PVMH_SMCCC_FILTER_ATTR);
PVMH_CHECK("KVM_SMCCC_FILTER_FWD_TO_USER", KVM_SMCCC_FILTER_FWD_TO_USER, PVMH_SMCCC_FILTER_FWD_TO_USER);
PVMH_CHECK("sizeof(struct kvm_smccc_filter)", sizeof(struct kvm_smccc_filter), 24);
PVMH_CHECK("kvm_smccc_filter.nr_functions", offsetof(struct kvm_smccc_filter, nr_functions), 4);
PVMH_CHECK("kvm_smccc_filter.action", offsetof(struct kvm_smccc_filter, action), 8);
#pragma message("pvmh-abi: compared the SMCCC filter (KVM_ARM_VM_SMCCC_CTRL/FILTER, FWD_TO_USER, struct kvm_smccc_filter)")
#else
#pragma message("pvmh-abi: not in these headers (Linux < 6.4): KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER, KVM_SMCCC_FILTER_FWD_TO_USER")
#endif

/* guest_memfd and memslots v2 arrived in Linux 6.8. */
#ifdef KVM_CREATE_GUEST_MEMFD
PVMH_CHECK("KVM_CREATE_GUEST_MEMFD", KVM_CREATE_GUEST_MEMFD, 0xC040AED4);
PVMH_CHECK("KVM_SET_USER_MEMORY_REGION2", KVM_SET_USER_MEMORY_REGION2, 0x40A0AE49);
PVMH_CHECK("KVM_MEM_GUEST_MEMFD", KVM_MEM_GUEST_MEMFD, 0x4);
#pragma message("pvmh-abi: compared guest_memfd and memslots v2")
#else
#pragma message("pvmh-abi: not in these headers (Linux < 6.8): KVM_CREATE_GUEST_MEMFD, KVM_SET_USER_MEMORY_REGION2")
#endif
