/*
 * pvmh x86_64 stress guest (x86_64-stress): start-up for every vCPU.
 *
 * The VMM starts every vCPU at _start in the same 32-bit entry state as
 * the demo's (Docs/guests.md), with EDI = transport (1 vmcall, 2 doorbell),
 * ESI = RAM size and EDX = the vCPU's index. Each switches to long mode with
 * the shared static GDT and page tables (an identity map of the first 4 GiB
 * with 2 MiB pages), takes its own 16 KiB stack, and calls stress_main(index)
 * in main.c. When that returns (vCPU 0 has reported DONE by then) the vCPU
 * halts for good: the VMM ends when every vCPU has halted. An index of 8 or
 * more (more vCPUs than the guest has stacks) halts at once.
 */

#include "../long_mode.h"       /* enter_long_mode, load_data_segments, long_mode_gdt, identity_page_tables */

#define STACK_SIZE      16384
#define MAX_VCPUS       8               /* as in Guests/stress/core.h */

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    cmpl    $MAX_VCPUS, %edx
    jae     halt32
    movl    %edi, transport
    movl    %edx, %ebp              /* the index survives the mode switch in EBP */

    enter_long_mode long_mode_entry

halt32:
    cli
    hlt
    jmp     halt32

    .text
    .code64
long_mode_entry:
    load_data_segments
    movl    %ebp, %edi              /* stress_main's argument: the index */
    leal    1(%rbp), %eax
    shlq    $14, %rax               /* (index + 1) * STACK_SIZE */
    leaq    stacks(%rip), %rsp
    addq    %rax, %rsp
    xorl    %ebp, %ebp
    call    stress_main
1:  cli
    hlt
    jmp     1b

    .section .rodata, "a"
    long_mode_gdt

/* PML4[0] -> PDPT[0..3] -> four page directories of 2 MiB pages: 0..4 GiB. */
    identity_page_tables 4

    .section .bss, "aw", @nobits
    .balign 16
stacks:
    .skip   STACK_SIZE * MAX_VCPUS
