/*
 * pvmh x86_64 stress guest (x86_64-stress): the architecture's side of
 * Guests/stress/core.h, which has the programme (Docs/guests.md).
 *
 * Transport as in demo.S: `transport` (EDI at entry, stored by start.S) is
 * 1 for vmcall, 2 for the port doorbell; the call is KVM_HC_MAP_GPA_RANGE
 * for a whole run of pages at once. Console port 0x3F8, reports on 0xE8
 * (EAX = event, RBX/RCX/RDX = arguments). The VMM starts every vCPU itself
 * (no INIT/SIPI), so arch_start_secondaries has nothing to do.
 */

#define RAM_BASE_DEFAULT        0x0UL

#define PORT_CONSOLE            0x3f8
#define TRANSPORT_DOORBELL      2
#define KVM_HC_MAP_GPA_RANGE    12UL
#define MAP_GPA_SHARED          0x00UL
#define MAP_GPA_PRIVATE         0x10UL

typedef __UINT64_TYPE__ u64_;

/* Set by start.S from EDI on every vCPU (they all get the same value). */
volatile unsigned int transport;

static long map_gpa_range(u64_ gpa, u64_ pages, u64_ attributes)
{
    long result;
    if (transport == TRANSPORT_DOORBELL)
        __asm__ volatile("outl %%eax, $0xe4"
                         : "=a"(result)
                         : "a"(KVM_HC_MAP_GPA_RANGE), "b"(gpa), "c"(pages), "d"(attributes)
                         : "memory");
    else
        __asm__ volatile("vmcall"
                         : "=a"(result)
                         : "a"(KVM_HC_MAP_GPA_RANGE), "b"(gpa), "c"(pages), "d"(attributes)
                         : "memory");
    return result;
}

static long arch_share_range(u64_ gpa, u64_ pages, u64_ *still_shared)
{
    *still_shared = 0;      /* one call: it shares the whole run or nothing */
    return map_gpa_range(gpa, pages, MAP_GPA_SHARED);
}

static long arch_unshare_range(u64_ gpa, u64_ pages)
{
    return map_gpa_range(gpa, pages, MAP_GPA_PRIVATE);
}

static void arch_putc(char c)
{
    __asm__ volatile("outb %%al, %%dx" : : "a"(c), "d"((unsigned short)PORT_CONSOLE) : "memory");
}

static void arch_report(u64_ event, u64_ a0, u64_ a1, u64_ a2)
{
    __asm__ volatile("outl %%eax, $0xe8" : : "a"(event), "b"(a0), "c"(a1), "d"(a2) : "memory");
}

static void arch_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* x86 keeps stores in order (TSO): only the compiler must not reorder. */
static void arch_publish(void)
{
    __asm__ volatile("" ::: "memory");
}

/*
 * One string instruction per page: `rep stosq` fills it, `repe scasq`
 * finds the first word that differs. Fast on hardware, and where the host
 * emulates the guest instruction by instruction (the nested kvm_pvm
 * development machines run a bare-metal guest in KVM's emulator, about
 * 0.5 us per instruction: Docs/kvm-abi.md) it is one emulated instruction
 * per page instead of a thousand.
 */
static void arch_fill_page(u64_ gpa, u64_ word)
{
    u64_ count = 4096 / 8;
    __asm__ volatile("cld; rep stosq" : "+D"(gpa), "+c"(count) : "a"(word) : "memory");
}

static u64_ arch_find_mismatch(u64_ gpa, u64_ word)
{
    u64_ count = 4096 / 8, at = gpa;
    unsigned char differs;
    __asm__ volatile("cld; repe scasq; setne %2"
                     : "+D"(at), "+c"(count), "=qm"(differs)
                     : "a"(word)
                     : "memory", "cc");
    /* RDI is one word past the one that stopped the scan. */
    return differs ? (at - gpa) / 8 - 1 : 4096 / 8;
}

static int arch_sharing_available(void)
{
    return 1;
}

static void arch_start_secondaries(unsigned int vcpus)
{
    (void)vcpus;
}

#include "../../stress/core.h"
