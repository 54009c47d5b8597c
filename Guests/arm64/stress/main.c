/*
 * pvmh arm64 stress guest (arm64-stress): the architecture's side of
 * Guests/stress/core.h, which has the programme (Docs/guests.md).
 *
 * Transport as in demo.S: the TRANSPORT register of the harness window says
 * whether vendor hypercalls go through `hvc #0` (0) or the MMIO doorbell (1);
 * PSCI always uses `hvc`. Sharing is used only when KVM_FUNC_FEATURES offers
 * MEM_SHARE (bit 3); MEMINFO must say 4 KiB granules. pKVM shares one granule
 * per call, so a run of pages is shared page by page, each success claimed
 * with SHARED/UNSHARED on the harness window (a VMM that cannot see EL2
 * verifies the claim by probing).
 *
 * Rules as in cdemo/main.c: MMU off, so every access is Device memory:
 * -mstrict-align, one volatile store per device register.
 */

#define RAM_BASE_DEFAULT    0x40000000UL

#define UART_DATA           0x09000000UL
#define HARNESS_BASE        0x0a003e00UL
#define HARNESS_REPORT      0x00
#define HARNESS_ARG0        0x08
#define HARNESS_ARG1        0x10
#define HARNESS_ARG2        0x18
#define HARNESS_TRANSPORT   0x20
#define HARNESS_CALL        0x28
#define TRANSPORT_DOORBELL  1

#define EVENT_SHARED        4
#define EVENT_UNSHARED      5

#define KVM_FUNC_FEATURES   0x86000000UL
#define HYP_MEMINFO         0xc6000002UL
#define MEM_SHARE           0xc6000003UL
#define MEM_UNSHARE         0xc6000004UL
#define PSCI_CPU_ON         0xc4000003UL
#define FEATURE_MEM_SHARE   (1UL << 3)

typedef __UINT64_TYPE__ u64_;

static void harness_write(unsigned long offset, u64_ value)
{
    *(volatile u64_ *)(HARNESS_BASE + offset) = value;
}

static u64_ hvc(u64_ function, u64_ a1, u64_ a2, u64_ a3)
{
    register u64_ x0 __asm__("x0") = function;
    register u64_ x1 __asm__("x1") = a1;
    register u64_ x2 __asm__("x2") = a2;
    register u64_ x3 __asm__("x3") = a3;
    __asm__ volatile("hvc #0"
                     : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                     :
                     : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", "x15",
                       "x16", "x17", "memory");
    return x0;
}

/* A vendor-hypervisor call over the transport the VMM offers. */
static u64_ vendor_call(u64_ function, u64_ a1, u64_ a2, u64_ a3)
{
    if ((*(volatile unsigned int *)(HARNESS_BASE + HARNESS_TRANSPORT)) != TRANSPORT_DOORBELL)
        return hvc(function, a1, a2, a3);
    harness_write(HARNESS_ARG0, a1);
    harness_write(HARNESS_ARG1, a2);
    harness_write(HARNESS_ARG2, a3);
    harness_write(HARNESS_CALL, function);
    return *(volatile u64_ *)(HARNESS_BASE + HARNESS_CALL);
}

static void arch_putc(char c)
{
    *(volatile unsigned int *)UART_DATA = (unsigned char)c;
}

static void arch_report(u64_ event, u64_ a0, u64_ a1, u64_ a2)
{
    harness_write(HARNESS_ARG0, a0);
    harness_write(HARNESS_ARG1, a1);
    harness_write(HARNESS_ARG2, a2);
    harness_write(HARNESS_REPORT, event);
}

static void arch_relax(void)
{
    __asm__ volatile("yield" ::: "memory");
}

static void arch_publish(void)
{
    __asm__ volatile("dmb sy" ::: "memory");
}

/*
 * Plain (not volatile) accesses, so the compiler pairs them into aligned
 * stp (with the MMU off this is Device memory too, where aligned pairs are
 * fine; only device registers need one access per register). The empty asm
 * with a "memory" clobber keeps every store of a page before whatever
 * follows (a share call, a report).
 */
static void arch_fill_page(u64_ gpa, u64_ word)
{
    u64_ *p = (u64_ *)gpa;
    for (u64_ i = 0; i < 4096 / 8; i += 2) {
        p[i] = word;
        p[i + 1] = word;
    }
    __asm__ volatile("" ::: "memory");
}

static u64_ arch_find_mismatch(u64_ gpa, u64_ word)
{
    const u64_ *p = (const u64_ *)gpa;
    __asm__ volatile("" ::: "memory");
    for (u64_ i = 0; i < 4096 / 8; i++)
        if (p[i] != word)
            return i;
    return 4096 / 8;
}

static int arch_sharing_available(void)
{
    long features = (long)vendor_call(KVM_FUNC_FEATURES, 0, 0, 0);
    if (features < 0 || !(features & FEATURE_MEM_SHARE))
        return 0;
    return vendor_call(HYP_MEMINFO, 0, 0, 0) == 4096;
}

static long arch_share_range(u64_ gpa, u64_ pages, u64_ *still_shared)
{
    *still_shared = 0;
    for (u64_ p = 0; p < pages; p++) {
        long result = (long)vendor_call(MEM_SHARE, gpa + p * 4096, 0, 0);
        if (result != 0) {
            /* Undo the pages shared so far; one that will not go back stays shared. */
            for (u64_ q = 0; q < p; q++) {
                if (vendor_call(MEM_UNSHARE, gpa + q * 4096, 0, 0) == 0)
                    arch_report(EVENT_UNSHARED, gpa + q * 4096, 0, 0);
                else
                    *still_shared = 1;
            }
            return result < 0 ? result : -1;
        }
        arch_report(EVENT_SHARED, gpa + p * 4096, 0, 0);
    }
    return 0;
}

static long arch_unshare_range(u64_ gpa, u64_ pages)
{
    long failed = 0;
    for (u64_ p = 0; p < pages; p++) {
        long result = (long)vendor_call(MEM_UNSHARE, gpa + p * 4096, 0, 0);
        if (result != 0)
            failed = result < 0 ? result : -1;
        else
            arch_report(EVENT_UNSHARED, gpa + p * 4096, 0, 0);
    }
    return failed;
}

static void arch_start_secondaries(unsigned int vcpus);

#include "../../stress/core.h"

extern char secondary_entry[];

/* PSCI CPU_ON for vCPUs 1..n-1: MPIDR Aff0 = the vCPU index (KVM, the model), X0 = the index. */
static void arch_start_secondaries(unsigned int vcpus)
{
    for (u32 v = 1; v < vcpus; v++) {
        long result = (long)hvc(PSCI_CPU_ON, v, (u64)secondary_entry, v);
        if (result != 0) {
            puts_("stress guest: PSCI CPU_ON for vCPU ");
            put_decimal(v);
            puts_(" failed: ");
            put_hex((u64)result);
            puts_("\n");
            arch_report(EVENT_CHECK, 1 + v, 0, (u64)result);
            vcpu_failures[v] = 1;
            vcpu_done[v] = 1;
        }
    }
}

/* Any exception: say where, report DONE 1; start.S then powers off. */
void stress_exception(u64 offset, u64 esr, u64 elr)
{
    puts_("stress guest: unexpected exception at vector ");
    put_hex(offset);
    puts_(", ESR_EL1 ");
    put_hex(esr);
    puts_(", ELR_EL1 ");
    put_hex(elr);
    puts_("\n");
    arch_report(EVENT_DONE, 1, 0, 0);
}
