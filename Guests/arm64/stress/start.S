/*
 * pvmh arm64 stress guest (arm64-stress): start-up for every vCPU.
 *
 * vCPU 0 enters at _start (the ELF entry); the others at secondary_entry,
 * through the PSCI CPU_ON that stress_main makes, with X0 = their index.
 * Each sets up EL1 as demo.S does (exceptions masked, SP_EL1, SCTLR_EL1
 * with the MMU off, the vector table) on its own 16 KiB stack, calls
 * stress_main(index) in main.c, and then: vCPU 0 powers the VM off (PSCI
 * SYSTEM_OFF), the others power themselves off (PSCI CPU_OFF). Any
 * exception goes to stress_exception() and then to SYSTEM_OFF.
 */

#include "../el1.h"             /* mov32, el1_enter, psci_final, vectors_to */

#define PSCI_CPU_OFF        0x84000002
#define PSCI_SYSTEM_OFF     0x84000008
#define STACK_SIZE          16384
#define MAX_VCPUS           8               /* as in Guests/stress/core.h */

/* EL1 set-up, then SP = the top of stack number x19 (x19 < MAX_VCPUS). */
.macro el1_setup
    el1_enter vectors
    msr     tpidr_el1, x19              /* the index, for the exception handler */
    isb
    adr     x0, stacks
    add     x1, x19, #1
    mov     x2, #STACK_SIZE
    madd    x0, x1, x2, x0
    mov     sp, x0
    mov     x29, #0
    mov     x30, #0
.endm

    .section .text.boot, "ax"
    .globl  _start
_start:
    mov     x19, #0
    el1_setup
    mov     x0, #0
    bl      stress_main

power_off:
    psci_final PSCI_SYSTEM_OFF

    .globl  secondary_entry
secondary_entry:
    and     x19, x0, #(MAX_VCPUS - 1)
    el1_setup
    mov     x0, x19
    bl      stress_main
    psci_final PSCI_CPU_OFF

    .text
    vectors_to exception

/* On the faulting vCPU's own stack (its index is in TPIDR_EL1); a nested exception parks it. */
exception:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    adr     x3, exception_taken
    ldr     x4, [x3]
    cbnz    x4, 1f
    mov     x4, #1
    str     x4, [x3]
    adr     x3, stacks
    mrs     x4, tpidr_el1
    and     x4, x4, #(MAX_VCPUS - 1)
    add     x4, x4, #1
    mov     x5, #STACK_SIZE
    madd    x3, x4, x5, x3
    mov     sp, x3
    bl      stress_exception
    b       power_off
1:  wfi
    b       1b

    .section .bss, "aw", @nobits
    .balign 8
exception_taken:
    .skip   8
    .balign 16
stacks:
    .skip   STACK_SIZE * MAX_VCPUS
