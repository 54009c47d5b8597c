/*
 * What every built-in arm64 guest's start-up shares (demo.S, cdemo/start.S,
 * stress/start.S; included with the C preprocessor, which finds it beside
 * or above the including file).
 *
 * Entry state: EL1, MMU off, PC = the ELF entry. The loaders set different
 * registers (QEMU passes a DTB address in X0, the model zeroes everything),
 * so no guest reads a register at entry: each sets DAIF, SPSel, NZCV,
 * SCTLR_EL1 and VBAR_EL1 itself with el1_enter, then adds what it needs
 * (a stack, TPIDR_EL1) and an `isb`.
 */

/*
 * SCTLR_EL1 with the MMU, caches and alignment checks off, little-endian at
 * EL0 and EL1, and the RES1 bits of ARMv8.0 (29, 28, 23, 22, 20, 11) set:
 * what Linux writes before it enables the MMU (INIT_SCTLR_EL1_MMU_OFF).
 */
#define SCTLR_EL1_MMU_OFF       0x30d00800

/* Load a 32-bit constant into a W or X register. */
.macro mov32 reg, value
    movz    \reg, #((\value) & 0xffff)
    movk    \reg, #(((\value) >> 16) & 0xffff), lsl #16
.endm

/*
 * EL1 as the guests run it: every exception masked (they poll nothing),
 * EL1h (SP_EL1), NZCV cleared (UNKNOWN at reset, and QEMU starts with Z
 * set: clear them so every CPU runs from the same state), the MMU off, and
 * `vectors` as VBAR_EL1. Clobbers X0; the caller ends with `isb`.
 */
.macro el1_enter vectors
    msr     daifset, #0xf
    msr     spsel, #1
    msr     nzcv, xzr
    mov32   x0, SCTLR_EL1_MMU_OFF
    msr     sctlr_el1, x0
    adr     x0, \vectors
    msr     vbar_el1, x0
.endm

/* A PSCI call over `hvc` that does not return (SYSTEM_OFF, CPU_OFF); should it, wait for good. */
.macro psci_final function
    mov32   x0, \function
    mov     x1, #0
    mov     x2, #0
    mov     x3, #0
    hvc     #0
1:  wfi
    b       1b
.endm

/*
 * The vector table `vectors` (2 KiB aligned, in the current section) of a
 * guest that treats every exception alike: each of the 16 entries puts its
 * offset in X0 and branches to `handler`.
 */
.macro vectors_to handler
    .balign 0x800
vectors:
    .irp    offset, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
    .balign 0x80
    mov     x0, #\offset
    b       \handler
    .endr
.endm
