/*
 * pvmh arm64 demo guest.
 *
 * What it does: sets up its own EL1 state (exceptions masked, SP_EL1, MMU
 * off, a vector table, a stack in this image), says so on the UART, asks the
 * hypervisor whether pKVM memory sharing is available and, if it is, exercises
 * the guest side of it: it reads the protection granule, shares one page,
 * passes a message to the host through it, unshares it, and makes four calls
 * the hypervisor must reject. Where the hypervisor is Android's pKVM (its
 * features bitmap says so) it also gives a page back with MEM_RELINQUISH and
 * enrolls in the MMIO guard. Each result is reported as a numbered CHECK on
 * the harness window, and the run ends with DONE and PSCI SYSTEM_OFF. The host
 * asserts the exact sequence, so keep the order below.
 *
 * The same image runs on pKVM (the hypervisor answers the vendor calls at
 * EL2), on the pKVM model, and under QEMU's `virt` machine, where there is no
 * EL2: QEMU (7.2, as tested) handles PSCI itself and answers every other HVC
 * with SMCCC NOT_SUPPORTED, as host KVM does for a non-protected VM. A VMM
 * may instead make an HVC it does not implement UNDEFINED, which brings it
 * to our own vector table; the handler turns that into NOT_SUPPORTED too.
 * Either way the guest takes the "not available" path, which QEMU can check
 * end to end.
 *
 * Entry state: EL1, MMU off, PC = ELF entry (0x40080000). Nothing else is
 * assumed: the loaders set different registers (QEMU passes a DTB address in
 * X0, the model zeroes everything), so the guest reads no register at entry
 * and sets DAIF, SPSel, SCTLR_EL1, VBAR_EL1 and SP itself.
 *
 * Devices (all guest -> host stores; single-register str only, never stp:
 * a VMM emulates one register per access):
 *   0x09000000  PL011 UART data register: one character per 32-bit `str w`.
 *               FR (+0x18) is not polled: every VMM that runs this guest
 *               emulates the UART and never reports TXFF.
 *   0x0A003E00  harness window (QEMU virt's last virtio-mmio transport, which
 *               ignores writes when no device backs it). 64-bit registers:
 *               ARG0 +0x08, ARG1 +0x10, ARG2 +0x18, then REPORT +0x00 = event:
 *                 1 MESSAGE   ARG0 = IPA of an ASCII message in a shared
 *                             page, ARG1 = its length in bytes
 *                 2 CHECK     ARG0 = check id (1..22), ARG1 = 1 pass / 0 fail,
 *                             ARG2 = the value the guest got
 *                 3 DONE      ARG0 = status (0 every check passed, else 1)
 *                 4 SHARED    ARG0 = IPA the guest has just shared
 *                 5 UNSHARED  ARG0 = IPA the guest has just unshared
 *                 7 RELINQUISHED ARG0 = IPA the guest has just given back
 *               SHARED/UNSHARED/RELINQUISHED are the guest's claims, made only for a call
 *               the sequence expects to succeed and only when it did; a VMM
 *               that cannot see EL2 (real pKVM) verifies them by probing.
 *               Two more registers choose how vendor hypercalls travel:
 *                 TRANSPORT +0x20 (32-bit load, read once at boot):
 *                             0 = `hvc #0` (the default, and what QEMU's
 *                             unbacked virtio-mmio slot and every VMM that
 *                             does not offer a doorbell read as), 1 = the
 *                             MMIO doorbell below
 *                 CALL      +0x28 (doorbell only): store the function id
 *                             after X1..X3 went to ARG0..ARG2, then load
 *                             the result from the same register
 *               The doorbell exists for KVM hosts without the SMCCC filter
 *               (Linux before 6.4), where an `hvc` never reaches the VMM.
 *               PSCI always uses `hvc`: host KVM implements it.
 *
 * Hypercalls (SMCCC over `hvc #0`: X0 = function id, X1..X3 = arguments,
 * result in X0):
 *   0x86000000  KVM_FUNC_FEATURES   bitmap; bit 3 = MEM_SHARE
 *   0xC6000002  HYP_MEMINFO         X1..X3 = 0 -> granule (4096), else -3
 *   0xC6000003  MEM_SHARE           X1 = IPA (granule aligned) -> 0 or -3
 *   0xC6000004  MEM_UNSHARE         X1 = IPA -> 0 or -3
 *   Android's pKVM only (bits 5..9 of the features bitmap):
 *   0xC6000005  MMIO_GUARD_INFO     X1..X3 = 0 -> granule, else -3
 *   0xC6000006  MMIO_GUARD_ENROLL   -> 0
 *   0xC6000007  MMIO_GUARD_MAP      X1 = IPA of an MMIO granule -> 0 or -3
 *   0xC6000008  MMIO_GUARD_UNMAP    X1 = IPA -> 0 (once enrolled)
 *   0xC6000009  MEM_RELINQUISH      X1 = IPA of a private page -> 0 or -3
 *   0x84000008  PSCI SYSTEM_OFF     does not return
 *
 * The sequence (the host's boot test asserts it):
 *   UART     "pvmh arm64 demo guest: booted at EL1\n"
 *   FEATURES                                   UNDEFINED (-> -1), negative,
 *            or bit 3 clear: UART "pKVM memory sharing is not available
 *            (KVM_FUNC_FEATURES = 0x...)\n", DONE 0, SYSTEM_OFF. Otherwise:
 *   UART     "pKVM features: 0x...\n"
 *   MEMINFO                                    -> CHECK 1, expects 4096
 *   share    shared_page                       -> CHECK 2, expects 0; SHARED
 *   MESSAGE  "hello from the protected arm64 guest via a shared page"
 *   unshare  shared_page                       -> CHECK 3, expects 0; UNSHARED
 *   share    shared_page+8 (unaligned)         -> CHECK 4, expects -3
 *   share    IPA 0x1000000000 (outside RAM)    -> CHECK 5, expects -3 (on real
 *            pKVM as an external abort at the hvc, see current_el_sync)
 *   unshare  shared_page (private now)         -> CHECK 6, expects -3
 *   share    shared_page (must succeed; part of check 7)        SHARED
 *   share    shared_page again                 -> CHECK 7, expects -3
 *   unshare  shared_page                       -> CHECK 8, expects 0; UNSHARED
 *   MEMINFO  with X1 = 1                       -> CHECK 9, expects -3
 *   Only if feature bit 9 (MEM_RELINQUISH) is set:
 *   relinquish relinquish_page (written first) -> CHECK 10, expects 0; RELINQUISHED
 *   relinquish it again (nothing mapped)       -> CHECK 11, expects 0
 *   share shared_page (SHARED), relinquish it, unshare it (UNSHARED)
 *                                              -> CHECK 12, expects -3
 *   Only if bits 5..8 (the MMIO guard) are all set and calls go over `hvc`:
 *   MMIO_GUARD_INFO                            -> CHECK 13, expects 4096
 *   MAP the UART page before enrolling         -> CHECK 14, expects -3
 *   ENROLL, MAP the harness page, MAP the UART page (no MMIO in between)
 *                                              -> CHECKs 15, 16, 17, expect 0
 *   MAP shared_page (RAM)                      -> CHECK 18, expects -3
 *   MAP the UART's IPA + 8 (unaligned)         -> CHECK 19, expects -3
 *   load from 0x0A000000 (never guarded)       -> CHECK 20, expects the
 *            external abort, seen as MMIO_ABORTED (0xab0)
 *   MAP 0x0A001000, then UNMAP it              -> CHECKs 21, 22, expect 0
 *   UART     "demo guest: all checks passed\n" | "demo guest: N checks failed\n"
 *   DONE     status, then SYSTEM_OFF (and `wfi` forever should it return)
 *
 * A failed check also prints "demo guest: check N failed: got 0x...\n" just
 * before its CHECK event (a correct run prints no such line). If the
 * first share fails, the guest neither writes the message nor reports it:
 * the page is private, and a host told to read it would fault.
 *
 * The guest touches shared_page only between the first share and the first
 * unshare: once a page is private again its contents mean nothing to the host.
 * Any exception other than the UNDEFINED HVC, the external abort of a
 * refused MEM_SHARE (both at an `hvc`) and the external abort of check 20's
 * unguarded load (see current_el_sync) prints "demo guest: unexpected
 * exception ..." with the vector offset, ESR_EL1 and ELR_EL1, reports DONE 1
 * and powers off.
 *
 * Register use: X19 = number of failed checks, X20 = IPA of shared_page,
 * X21 = result of the last share/unshare that a claim depends on, X22 = the
 * hypercall transport read from TRANSPORT at boot, X23 = the features
 * bitmap, X24 = IPA of relinquish_page, X25..X27 = results held across
 * calls until they are checked. The
 * routines at the end clobber only X0..X3 and X9..X11.
 */

#define UART_DATA               0x09000000
#define HARNESS_BASE            0x0a003e00
#define HARNESS_REPORT          0x00
#define HARNESS_ARG0            0x08
#define HARNESS_ARG1            0x10
#define HARNESS_ARG2            0x18
#define HARNESS_TRANSPORT       0x20
#define HARNESS_CALL            0x28
#define TRANSPORT_DOORBELL      1
#define SMCCC_OWNER_VENDOR_HYP  6               /* function id bits 29:24 */

#define EVENT_MESSAGE           1
#define EVENT_CHECK             2
#define EVENT_DONE              3
#define EVENT_SHARED            4
#define EVENT_UNSHARED          5
#define EVENT_RELINQUISHED      7

#define KVM_FUNC_FEATURES       0x86000000
#define KVM_FUNC_HYP_MEMINFO    0xc6000002
#define KVM_FUNC_MEM_SHARE      0xc6000003
#define KVM_FUNC_MEM_UNSHARE    0xc6000004
#define KVM_FUNC_MMIO_GUARD_INFO    0xc6000005
#define KVM_FUNC_MMIO_GUARD_ENROLL  0xc6000006
#define KVM_FUNC_MMIO_GUARD_MAP     0xc6000007
#define KVM_FUNC_MMIO_GUARD_UNMAP   0xc6000008
#define KVM_FUNC_MEM_RELINQUISH     0xc6000009
#define PSCI_SYSTEM_OFF         0x84000008
#define FEATURE_MEM_SHARE_BIT   3
#define FEATURES_MMIO_GUARD     0x1e0           /* bits 5..8: INFO, ENROLL, MAP, UNMAP */
#define FEATURE_MEM_RELINQUISH_BIT  9

#define SMCCC_NOT_SUPPORTED     -1
#define SMCCC_INVALID_PARAMETER -3

#define GRANULE                 4096
#define OUTSIDE_RAM_IPA         0x1000000000    /* 64 GiB: far past any RAM we get */
#define HARNESS_PAGE            0x0a003000      /* the granule holding the harness window */
#define UNGUARDED_MMIO          0x0a000000      /* QEMU virt's first virtio-mmio slot: never guarded */
#define SPARE_MMIO_PAGE         0x0a001000      /* guarded, then unguarded, never touched */
#define RELINQUISH_SECRET       0x5ec2e75e      /* written to relinquish_page before it goes */
#define MMIO_ABORTED            0xab0           /* X0 after the unguarded load took its abort */

/* HVC #imm16 is 0xD4000002 | imm16 << 5. */
#define HVC_MASK                0xffe0001f
#define HVC_BITS                0xd4000002
#define ESR_EC_SHIFT            26
#define ESR_EC_UNKNOWN          0               /* UNDEFINED instruction */
#define ESR_EC_DABT_CUR         0x25            /* data abort from EL1 itself */
#define ESR_DFSC_MASK           0x3f
#define ESR_DFSC_SEA            0x10            /* synchronous external abort */

#include "el1.h"                /* mov32, el1_enter */

/*
 * claimed ROUTINE, EVENT: ROUTINE (mem_share or mem_unshare) of shared_page,
 * its result kept in X21, then the claim EVENT if it returned 0.
 */
.macro claimed routine, event
    mov     x1, x20
    bl      \routine
    mov     x21, x0
    mov     x0, #\event
    mov     x1, x20
    bl      claim
.endm

/* ------------------------------------------------------------------------ */
/* Entry: own every piece of EL1 state the rest relies on.                  */

    .section .text.boot, "ax"
    .globl  _start
_start:
    el1_enter vectors
    isb
    adr     x0, stack_top
    mov     sp, x0

    mov     x19, #0                 /* x19 = number of failed checks */
    mov32   x9, HARNESS_BASE
    ldr     w22, [x9, #HARNESS_TRANSPORT]   /* x22 = hypercall transport */
    adr     x20, shared_page        /* x20 = its IPA (MMU off: VA = IPA) */

    adr     x0, msg_booted
    bl      uart_puts

    /* Is pKVM memory sharing there at all? */
    mov32   x0, KVM_FUNC_FEATURES
    mov     x1, #0
    bl      smccc_call
    tbnz    x0, #63, not_available  /* NOT_SUPPORTED or any other error */
    tbz     x0, #FEATURE_MEM_SHARE_BIT, not_available
    mov     x23, x0                 /* x23 = the features bitmap */
    mov     x21, x0
    adr     x0, msg_features
    bl      uart_puts
    mov     x0, x21
    bl      uart_put_hex
    adr     x0, msg_newline
    bl      uart_puts

    /* Check 1: the protection granule is 4 KiB. */
    mov32   x0, KVM_FUNC_HYP_MEMINFO
    mov     x1, #0
    bl      smccc_call
    mov     x1, #1
    mov     x2, #GRANULE
    bl      check

    /* Check 2: share shared_page. */
    mov     x1, x20
    bl      mem_share
    mov     x21, x0
    mov     x1, #2
    mov     x2, #0
    bl      check
    mov     x0, #EVENT_SHARED
    mov     x1, x20
    bl      claim
    cbnz    x21, 2f                 /* not shared: the host must not read it */

    /* Pass the message through the shared page. */
    adr     x0, hello
    mov     x1, x20
    mov     x2, #hello_len
1:  ldrb    w3, [x0], #1
    strb    w3, [x1], #1
    subs    x2, x2, #1
    b.ne    1b
    mov     x0, #EVENT_MESSAGE
    mov     x1, x20
    mov     x2, #hello_len
    mov     x3, #0
    bl      report
2:

    /* Check 3: unshare it again. From here on the guest never reads it. */
    mov     x1, x20
    bl      mem_unshare
    mov     x21, x0
    mov     x1, #3
    mov     x2, #0
    bl      check
    mov     x0, #EVENT_UNSHARED
    mov     x1, x20
    bl      claim

    /* Check 4: a share of an address that is not granule aligned. */
    add     x1, x20, #8
    bl      mem_share
    mov     x1, #4
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /* Check 5: a share of an IPA outside guest RAM. */
    mov     x1, #OUTSIDE_RAM_IPA
    bl      mem_share
    mov     x1, #5
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /* Check 6: an unshare of a page that is private, not shared. */
    mov     x1, x20
    bl      mem_unshare
    mov     x1, #6
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /*
     * Check 7: a second share of a shared page. It only proves something if
     * the first share worked, so that result is folded into the check instead
     * of being a check of its own.
     */
    claimed mem_share, EVENT_SHARED
    mov     x1, x20
    bl      mem_share
    mov     x1, #7
    mov     x2, #SMCCC_INVALID_PARAMETER
    cmp     x21, #0
    csinv   x2, x2, x0, eq          /* first share failed: expect ~x0, never met */
    bl      check

    /* Check 8: unshare it; the page ends private, as it started. */
    mov     x1, x20
    bl      mem_unshare
    mov     x21, x0
    mov     x1, #8
    mov     x2, #0
    bl      check
    mov     x0, #EVENT_UNSHARED
    mov     x1, x20
    bl      claim

    /* Check 9: HYP_MEMINFO takes no arguments; a non-zero X1 is rejected. */
    mov32   x0, KVM_FUNC_HYP_MEMINFO
    mov     x1, #1
    bl      smccc_call
    mov     x1, #9
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /*
     * Android's pKVM offers MEM_RELINQUISH (feature bit 9) and the MMIO
     * guard (bits 5..8); upstream pKVM, KVM and QEMU do not, and there the
     * guest goes straight to its verdict.
     */
    tbz     x23, #FEATURE_MEM_RELINQUISH_BIT, 5f

    /* Check 10: give back a private page the guest has written to. */
    adr     x24, relinquish_page    /* x24 = its IPA */
    mov32   x0, RELINQUISH_SECRET
    str     x0, [x24]
    mov     x1, x24
    bl      mem_relinquish
    mov     x21, x0
    mov     x1, #10
    mov     x2, #0
    bl      check
    mov     x0, #EVENT_RELINQUISHED
    mov     x1, x24
    bl      claim

    /* Check 11: again. Nothing is mapped there any more: SUCCESS, no change. */
    mov     x1, x24
    bl      mem_relinquish
    mov     x1, #11
    mov     x2, #0
    bl      check

    /*
     * Check 12: a shared page cannot be given back. Only meaningful between
     * a share and an unshare that both worked, so those are folded in.
     */
    claimed mem_share, EVENT_SHARED
    mov     x26, x21                /* x26 = the share's result */
    mov     x25, #0
    cbnz    x26, 7f                 /* not shared: relinquishing it would give it away */
    mov     x1, x20
    bl      mem_relinquish
    mov     x25, x0                 /* x25 = the relinquish's */
    claimed mem_unshare, EVENT_UNSHARED
    orr     x26, x26, x21
7:  mov     x0, x25
    mov     x1, #12
    mov     x2, #SMCCC_INVALID_PARAMETER
    cmp     x26, #0
    csinv   x2, x2, x0, eq          /* share or unshare failed: expect ~x0, never met */
    bl      check

    /*
     * The MMIO guard needs all four of Android's calls (bits 5..8): upstream
     * Linux defines function 7 alone, as a one-call MMIO_GUARD without
     * ENROLL, so bit 7 by itself does not mean Android's guard. It travels
     * over `hvc` only: the doorbell is MMIO itself.
     */
5:
    cmp     x22, #TRANSPORT_DOORBELL
    b.eq    6f
    and     x0, x23, #FEATURES_MMIO_GUARD
    cmp     x0, #FEATURES_MMIO_GUARD
    b.ne    6f

    /* Check 13: MMIO_GUARD_INFO is the granule, as HYP_MEMINFO is. */
    mov32   x0, KVM_FUNC_MMIO_GUARD_INFO
    mov     x1, #0
    bl      smccc_call
    mov     x1, #13
    mov     x2, #GRANULE
    bl      check

    /* Check 14: MAP before ENROLL is refused. */
    mov32   x1, UART_DATA
    bl      mmio_guard_map
    mov     x1, #14
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /*
     * Checks 15-17: ENROLL, then guard the harness window's page and the
     * UART's before touching either: from ENROLL on, an access to an MMIO
     * page the guest has not mapped never reaches the host.
     */
    mov32   x0, KVM_FUNC_MMIO_GUARD_ENROLL
    mov     x1, #0
    bl      smccc_call
    mov     x25, x0
    mov32   x1, HARNESS_PAGE
    bl      mmio_guard_map
    mov     x26, x0
    mov32   x1, UART_DATA
    bl      mmio_guard_map
    mov     x27, x0
    /*
     * Enrolled, but the harness window or the UART is not guarded: no
     * report can reach the host any more (each would abort), so stop
     * without one rather than fault in the exception handler.
     */
    cbnz    x25, 8f
    orr     x0, x26, x27
    cbnz    x0, power_off
8:  mov     x0, x25
    mov     x1, #15
    mov     x2, #0
    bl      check
    mov     x0, x26
    mov     x1, #16
    mov     x2, #0
    bl      check
    mov     x0, x27
    mov     x1, #17
    mov     x2, #0
    bl      check

    /* Check 18: guest RAM is not MMIO. */
    mov     x1, x20
    bl      mmio_guard_map
    mov     x1, #18
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /* Check 19: an IPA that is not granule aligned. */
    mov32   x1, (UART_DATA + 8)
    bl      mmio_guard_map
    mov     x1, #19
    mov     x2, #SMCCC_INVALID_PARAMETER
    bl      check

    /*
     * Check 20: a load from an MMIO page that is not guarded comes back as
     * a synchronous external abort, which current_el_sync turns into
     * X0 = MMIO_ABORTED here.
     */
    mov     x0, #0
    mov32   x9, UNGUARDED_MMIO
unguarded_load:
    ldr     w0, [x9]
    mov     x1, #20
    mov     x2, #MMIO_ABORTED
    bl      check

    /* Checks 21-22: guard a page, then unguard it (never touched). */
    mov32   x1, SPARE_MMIO_PAGE
    bl      mmio_guard_map
    mov     x1, #21
    mov     x2, #0
    bl      check
    mov32   x0, KVM_FUNC_MMIO_GUARD_UNMAP
    mov32   x1, SPARE_MMIO_PAGE
    bl      smccc_call
    mov     x1, #22
    mov     x2, #0
    bl      check
6:

    /* Verdict. */
    cbnz    x19, 3f
    adr     x0, msg_all_passed
    bl      uart_puts
    mov     x1, #0
    b       finish
3:  adr     x0, msg_demo_prefix
    bl      uart_puts
    mov     x0, x19
    bl      uart_put_decimal
    adr     x0, msg_checks_failed
    bl      uart_puts
    mov     x1, #1
    b       finish

/* No sharing to exercise: say why (with the value), and stop successfully. */
not_available:
    mov     x21, x0
    adr     x0, msg_not_available
    bl      uart_puts
    mov     x0, x21
    bl      uart_put_hex
    adr     x0, msg_close_paren
    bl      uart_puts
    mov     x1, #0
    /* fall through */

/* DONE(x1 = status), then power off for good. */
finish:
    mov     x0, #EVENT_DONE
    mov     x2, #0
    mov     x3, #0
    bl      report
power_off:
    mov32   x0, PSCI_SYSTEM_OFF
    mov     x1, #0
    bl      smccc_call
4:  wfi                             /* SYSTEM_OFF returned: nothing else to do */
    b       4b

/* ------------------------------------------------------------------------ */
/* Routines. None keeps state; each says what it clobbers.                  */

/*
 * smccc_call: one SMCCC call over HVC, the conduit both pKVM and QEMU's PSCI
 * use, or, when TRANSPORT said so at boot, a vendor-hypervisor call (owner
 * 6) over the harness doorbell. The only place the guest executes `hvc`.
 * In:  X0 = function id, X1 = argument 1 (X2 = X3 = 0 are set here: no call
 *      this guest makes takes more). Out: X0 = result.
 * Clobbers X1..X3 and X9 (SMCCC v1.0 lets the callee change X1..X3).
 */
smccc_call:
    mov     x2, #0
    mov     x3, #0
    cmp     x22, #TRANSPORT_DOORBELL
    b.ne    1f
    ubfx    x9, x0, #24, #6
    cmp     x9, #SMCCC_OWNER_VENDOR_HYP
    b.ne    1f
    mov32   x9, HARNESS_BASE
    str     x1, [x9, #HARNESS_ARG0]
    str     x2, [x9, #HARNESS_ARG1]
    str     x3, [x9, #HARNESS_ARG2]
    str     x0, [x9, #HARNESS_CALL]
    ldr     x0, [x9, #HARNESS_CALL]
    ret
1:  hvc     #0
    ret

/*
 * mem_share / mem_unshare: MEM_SHARE / MEM_UNSHARE of the page at IPA X1.
 * Out: X0 = result. Clobbers X1..X3.
 */
mem_share:
    mov32   x0, KVM_FUNC_MEM_SHARE
    b       smccc_call

mem_unshare:
    mov32   x0, KVM_FUNC_MEM_UNSHARE
    b       smccc_call

/*
 * mem_relinquish: MEM_RELINQUISH of the page at IPA X1; mmio_guard_map:
 * MMIO_GUARD_MAP of the granule at IPA X1 (Android's pKVM only).
 * Out: X0 = result. Clobbers X1..X3.
 */
mem_relinquish:
    mov32   x0, KVM_FUNC_MEM_RELINQUISH
    b       smccc_call

mmio_guard_map:
    mov32   x0, KVM_FUNC_MMIO_GUARD_MAP
    b       smccc_call

/*
 * report: one harness event. In: X0 = event, X1..X3 = ARG0..ARG2.
 * Arguments first, the event last: the write to REPORT is what the VMM acts
 * on, and it reads ARG0..ARG2 as they are then. Clobbers X9.
 */
report:
    mov32   x9, HARNESS_BASE
    str     x1, [x9, #HARNESS_ARG0]
    str     x2, [x9, #HARNESS_ARG1]
    str     x3, [x9, #HARNESS_ARG2]
    str     x0, [x9, #HARNESS_REPORT]
    ret

/*
 * claim: report event X0 (SHARED or UNSHARED) for IPA X1 if the call it
 * claims, whose result is in X21, returned 0. Clobbers X2, X3, X9.
 */
claim:
    cbnz    x21, 1f
    mov     x2, #0
    mov     x3, #0
    b       report
1:  ret

/*
 * check: CHECK event for id X1: passes when the result X0 equals the
 * expected value X2. A failure is counted in X19 and printed.
 * Clobbers X0..X3, X9..X11.
 */
check:
    mov     x3, x0                  /* ARG2 = the value the guest got */
    cmp     x0, x2
    b.ne    1f
    mov     x2, #1
    mov     x0, #EVENT_CHECK
    b       report
1:  stp     x29, x30, [sp, #-32]!
    stp     x1, x3, [sp, #16]
    add     x19, x19, #1
    adr     x0, msg_check_prefix
    bl      uart_puts
    ldr     x0, [sp, #16]
    bl      uart_put_decimal
    adr     x0, msg_check_failed_got
    bl      uart_puts
    ldr     x0, [sp, #24]
    bl      uart_put_hex
    adr     x0, msg_newline
    bl      uart_puts
    ldp     x1, x3, [sp, #16]
    ldp     x29, x30, [sp], #32
    mov     x2, #0
    mov     x0, #EVENT_CHECK
    b       report

/*
 * uart_puts: write the NUL-terminated string at X0 to the UART.
 * Clobbers X0, X9, X10.
 */
uart_puts:
    mov32   x9, UART_DATA
1:  ldrb    w10, [x0], #1
    cbz     w10, 2f
    str     w10, [x9]
    b       1b
2:  ret

/*
 * uart_put_hex: write X0 as 0x followed by lowercase hex digits without
 * leading zeros ("0x0" for zero). Clobbers X2, X3, X9, X10.
 */
uart_put_hex:
    mov32   x9, UART_DATA
    mov     w10, #'0'
    str     w10, [x9]
    mov     w10, #'x'
    str     w10, [x9]
    mov     x2, #60                 /* x2 = shift of the digit to print */
1:  cbz     x2, 2f                  /* skip leading zeros, keep the last digit */
    lsr     x3, x0, x2
    cbnz    x3, 2f
    sub     x2, x2, #4
    b       1b
2:  lsr     x3, x0, x2
    and     x3, x3, #0xf
    cmp     x3, #10
    add     x10, x3, #'0'
    add     x3, x3, #('a' - 10)
    csel    x10, x3, x10, hs
    str     w10, [x9]
    cbz     x2, 3f
    sub     x2, x2, #4
    b       2b
3:  ret

/*
 * uart_put_decimal: write X0 as an unsigned decimal number.
 * Clobbers X0..X3, X9, X10.
 */
uart_put_decimal:
    adr     x1, decimal_buffer_end
    strb    wzr, [x1]
    mov     x2, #10
1:  udiv    x3, x0, x2
    msub    x10, x3, x2, x0         /* x10 = x0 % 10 */
    add     w10, w10, #'0'
    strb    w10, [x1, #-1]!
    mov     x0, x3
    cbnz    x0, 1b
    mov     x0, x1
    b       uart_puts

/* ------------------------------------------------------------------------ */
/* Exceptions.                                                              */

/*
 * The vector table: 16 entries of 0x80 bytes, 2 KiB aligned. The guest runs
 * at EL1 on SP_EL1 with everything masked, so the only exceptions it expects
 * are synchronous ones from its own EL (offset 0x200): at an `hvc`, one that
 * no EL2 answered, made UNDEFINED (EC 0) by a VMM without a hypervisor
 * behind it, or a MEM_SHARE real pKVM refused with an external abort; and
 * the external abort of check 20's load from an unguarded MMIO page.
 */
.macro unexpected_vector offset
    .balign 0x80
    mov     x0, #\offset
    b       unexpected_exception
.endm

    .text
    .balign 0x800
vectors:
    unexpected_vector 0x000         /* current EL, SP_EL0: sync */
    unexpected_vector 0x080         /*   IRQ */
    unexpected_vector 0x100         /*   FIQ */
    unexpected_vector 0x180         /*   SError */
    .balign 0x80                    /* current EL, SP_ELx: sync (0x200) */
    b       current_el_sync
    unexpected_vector 0x280         /*   IRQ */
    unexpected_vector 0x300         /*   FIQ */
    unexpected_vector 0x380         /*   SError */
    unexpected_vector 0x400         /* lower EL, AArch64: sync */
    unexpected_vector 0x480
    unexpected_vector 0x500
    unexpected_vector 0x580
    unexpected_vector 0x600         /* lower EL, AArch32: sync */
    unexpected_vector 0x680
    unexpected_vector 0x700
    unexpected_vector 0x780

/*
 * Two exceptions at an `hvc` are answers, not faults; each resumes after the
 * `hvc` (ELR_EL1 is the instruction itself, hence the +4) with every other
 * register preserved:
 * - UNDEFINED (EC 0): no EL2 answered the call. X0 = NOT_SUPPORTED (-1), as
 *   an EL2 that does not know the call would answer.
 * - A synchronous external abort (EC 0x25, DFSC 0x10): how real pKVM refuses
 *   MEM_SHARE of an IPA that is not guest memory (check 5). EL2 turns the
 *   call into a stage-2 fault on that IPA for the host to resolve and rewinds
 *   to the `hvc`; the host's KVM finds no memslot there and injects an
 *   external abort (measured on Linux 7.3 in the QEMU pKVM lane). X0 =
 *   INVALID_PARAMETER (-3), the answer the pKVM model and the SMCCC-filter
 *   platform give.
 * And one synchronous external abort at a load is expected: the load from
 * an MMIO page the guest did not guard after enrolling in Android's MMIO
 * guard (check 20, at unguarded_load). X0 = MMIO_ABORTED, resume after it.
 * Anything else is unexpected.
 */
current_el_sync:
    sub     sp, sp, #32
    stp     x9, x10, [sp]
    str     x11, [sp, #16]
    mrs     x9, esr_el1
    ubfx    x10, x9, #ESR_EC_SHIFT, #6
    mov     x11, #SMCCC_NOT_SUPPORTED
    cbz     x10, 2f                 /* EC = unknown: an UNDEFINED hvc? */
    cmp     x10, #ESR_EC_DABT_CUR
    b.ne    1f
    and     x10, x9, #ESR_DFSC_MASK
    cmp     x10, #ESR_DFSC_SEA
    b.ne    1f
    mov     x11, #SMCCC_INVALID_PARAMETER
    mrs     x9, elr_el1             /* the unguarded load of check 20? */
    adr     x10, unguarded_load
    cmp     x9, x10
    b.ne    2f
    mov     x11, #MMIO_ABORTED
    b       3f
2:  mrs     x9, elr_el1
    ldr     w10, [x9]
    and     w10, w10, #HVC_MASK
    mov32   w0, HVC_BITS
    cmp     w10, w0
    b.ne    1f                      /* not at an hvc: unexpected */
3:  mov     x0, x11
    add     x9, x9, #4
    msr     elr_el1, x9
    ldr     x11, [sp, #16]
    ldp     x9, x10, [sp]
    add     sp, sp, #32
    eret
1:  mov     x0, #0x200
    /* fall through */

/*
 * unexpected_exception: X0 = vector offset. Says what happened, reports
 * DONE 1 and powers off. A second exception while doing that (the UART or
 * the harness window faulting) stops in a `wfi` loop instead of recursing.
 */
unexpected_exception:
    adr     x1, exception_taken
    ldr     x2, [x1]
    cbnz    x2, 2f
    mov     x2, #1
    str     x2, [x1]
    adr     x1, stack_top           /* the stack may be what went wrong */
    mov     sp, x1
    mov     x21, x0
    adr     x0, msg_exception
    bl      uart_puts
    mov     x0, x21
    bl      uart_put_hex
    adr     x0, msg_esr
    bl      uart_puts
    mrs     x0, esr_el1
    bl      uart_put_hex
    adr     x0, msg_elr
    bl      uart_puts
    mrs     x0, elr_el1
    bl      uart_put_hex
    adr     x0, msg_newline
    bl      uart_puts
    mov     x1, #1
    b       finish
2:  wfi
    b       2b

/* ------------------------------------------------------------------------ */
/* Read-only data.                                                          */

    .section .rodata, "a"
msg_booted:
    .asciz  "pvmh arm64 demo guest: booted at EL1\n"
msg_not_available:
    .asciz  "pKVM memory sharing is not available (KVM_FUNC_FEATURES = "
msg_close_paren:
    .asciz  ")\n"
msg_features:
    .asciz  "pKVM features: "
msg_all_passed:
    .asciz  "demo guest: all checks passed\n"
msg_demo_prefix:
    .asciz  "demo guest: "
msg_checks_failed:
    .asciz  " checks failed\n"
msg_check_prefix:
    .asciz  "demo guest: check "
msg_check_failed_got:
    .asciz  " failed: got "
msg_exception:
    .asciz  "demo guest: unexpected exception at vector offset "
msg_esr:
    .asciz  ", ESR_EL1 "
msg_elr:
    .asciz  ", ELR_EL1 "
msg_newline:
    .asciz  "\n"
hello:
    .ascii  "hello from the protected arm64 guest via a shared page"
    .set    hello_len, . - hello

/* ------------------------------------------------------------------------ */
/* Writable, zero-filled data: scalars, the stack, then the shared page.    */

    .section .bss, "aw", @nobits
    .balign 8
exception_taken:
    .skip   8
decimal_buffer:
    .skip   23
decimal_buffer_end:
    .skip   1

    .balign 16
stack:
    .skip   8192
stack_top:

/* The one page the guest shares; page aligned and alone in its page. */
    .section .bss.shared_page, "aw", @nobits
    .balign 4096
    .globl  shared_page
shared_page:
    .skip   4096

/* The page the guest gives back with MEM_RELINQUISH (Android's pKVM only). */
    .section .bss.relinquish_page, "aw", @nobits
    .balign 4096
    .globl  relinquish_page
relinquish_page:
    .skip   4096
