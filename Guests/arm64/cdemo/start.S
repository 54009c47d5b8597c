/*
 * pvmh arm64 C demo guest (arm64-cdemo): the minimal start-up main.c needs.
 *
 * Sets up EL1 exactly as demo.S does (exceptions masked, SP_EL1, SCTLR_EL1
 * with the MMU off, a vector table, a stack in this image; no register is
 * read at entry), calls cdemo_main() in main.c, which prints its results and
 * reports CHECKs and DONE, and then powers off with PSCI SYSTEM_OFF, the
 * guest's only HVC. Any exception goes to cdemo_exception() in main.c (which
 * prints it and reports DONE 1) and then to the same power-off.
 */

#include "../el1.h"             /* mov32, el1_enter, psci_final, vectors_to */

#define PSCI_SYSTEM_OFF     0x84000008
#define STACK_SIZE          16384

    .section .text.boot, "ax"
    .globl  _start
_start:
    el1_enter vectors
    isb
    adr     x0, stack_top
    mov     sp, x0
    mov     x29, #0                 /* end of the frame-pointer chain */
    mov     x30, #0
    bl      cdemo_main

power_off:
    psci_final PSCI_SYSTEM_OFF

/*
 * Every vector: X0 = the vector's offset, then to the C handler on a fresh
 * stack. A second exception while handling one stops in a `wfi` loop.
 */
    .text
    vectors_to exception

exception:
    adr     x1, exception_taken
    ldr     x2, [x1]
    cbnz    x2, 1f
    mov     x2, #1
    str     x2, [x1]
    adr     x1, stack_top
    mov     sp, x1
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    bl      cdemo_exception
    b       power_off
1:  wfi
    b       1b

    .section .bss, "aw", @nobits
    .balign 8
exception_taken:                    /* 0 at load: the loader zero-fills .bss */
    .skip   8
    .balign 16
stack:
    .skip   STACK_SIZE
stack_top:
