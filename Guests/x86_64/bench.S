/*
 * pvmh x86_64 bench guest (pvmh bench, Docs/benchmarks.md figure 3).
 *
 * What it does: enters long mode exactly as demo.S does, then runs one tight
 * loop chosen by its parameter block and reports DONE. It prints nothing, so
 * the only exits are the ones being measured (plus the final report and HLT).
 *
 * Parameters: the host patches the 16-byte block `bench_parameters` in the
 * ELF file before loading it (found by its magic, "PVMHBNCH"), so pvmh's
 * lifecycle and the C baseline boot the very same bytes without any VMM
 * passing extra registers:
 *   +0  "PVMHBNCH"
 *   +8  u32 mode: 1 = share/unshare loop, 2 = raw exit loop
 *   +12 u32 count: loop iterations (0 runs no iteration)
 *
 * Entry state: as demo.S (32-bit flat protected mode, paging off). EDI =
 * transport (1 vmcall, 2 port doorbell 0xE4), ESI = RAM size.
 *
 * Mode 1, per iteration: share `bench_page` (KVM_HC_MAP_GPA_RANGE, 1 page,
 * shared), then unshare it (private); both must return 0. Two guest->VMM
 * round trips over the chosen transport.
 * Mode 2, per iteration: `outl %eax, $0xE0` (the bench port, which no VMM
 * answers): one raw port-I/O exit round trip, the floor for the doorbell.
 *
 * End: harness report (port 0xE8) DONE with RBX = number of calls that did
 * not return 0 (0 for mode 2; 1 for an unknown mode or transport), then
 * `cli; hlt`. Nothing else is reported.
 */

#define PORT_DOORBELL       0xe4
#define PORT_REPORT         0xe8
#define PORT_BENCH          0xe0

#define TRANSPORT_VMCALL    1
#define TRANSPORT_DOORBELL  2

#define MODE_SHARE_UNSHARE  1
#define MODE_RAW_EXIT       2

#define KVM_HC_MAP_GPA_RANGE    12
#define MAP_GPA_SHARED          0x00
#define MAP_GPA_PRIVATE         0x10

#define EVENT_DONE      3

#include "long_mode.h"          /* enter_long_mode, load_data_segments, long_mode_gdt, identity_page_tables */

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    movl    %edi, transport
    enter_long_mode long_mode_entry

    .text
    .code64
long_mode_entry:
    load_data_segments
    leaq    stack_top(%rip), %rsp

    xorl    %r15d, %r15d                /* r15 = calls that did not return 0 */
    movl    transport(%rip), %eax
    cmpl    $TRANSPORT_VMCALL, %eax
    je      1f
    cmpl    $TRANSPORT_DOORBELL, %eax
    jne     bad_parameters
1:  movl    bench_count(%rip), %r12d    /* r12 = iterations left */
    movl    bench_mode(%rip), %eax
    cmpl    $MODE_SHARE_UNSHARE, %eax
    je      share_unshare_loop
    cmpl    $MODE_RAW_EXIT, %eax
    je      raw_exit_loop

bad_parameters:
    movl    $1, %r15d
    jmp     finish

share_unshare_loop:
    testl   %r12d, %r12d
    jz      finish
    leaq    bench_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    testq   %rax, %rax
    jz      2f
    incq    %r15
2:  movl    $MAP_GPA_PRIVATE, %edx
    call    map_gpa_range
    testq   %rax, %rax
    jz      3f
    incq    %r15
3:  decl    %r12d
    jmp     share_unshare_loop

raw_exit_loop:
    testl   %r12d, %r12d
    jz      finish
    outl    %eax, $PORT_BENCH
    decl    %r12d
    jmp     raw_exit_loop

finish:
    movq    %r15, %rbx
    movl    $EVENT_DONE, %eax
    outl    %eax, $PORT_REPORT
4:  cli
    hlt
    jmp     4b

/*
 * map_gpa_range: as in demo.S. In: RBX gpa, RCX pages, RDX attributes.
 * Out: RAX result. Preserves every other register.
 */
map_gpa_range:
    movl    $KVM_HC_MAP_GPA_RANGE, %eax
    cmpl    $TRANSPORT_DOORBELL, transport(%rip)
    je      1f
    vmcall
    ret
1:  outl    %eax, $PORT_DOORBELL
    ret

    .section .rodata, "a"
    long_mode_gdt

    identity_page_tables 1

    .section .data, "aw"
    .balign 8
    .globl  bench_parameters
bench_parameters:
    .ascii  "PVMHBNCH"
bench_mode:
    .long   MODE_SHARE_UNSHARE
bench_count:
    .long   1
transport:
    .long   0

    .section .bss, "aw", @nobits
    .balign 4096
stack:
    .skip   4096
stack_top:

    .section .bss.bench_page, "aw", @nobits
    .balign 4096
    .globl  bench_page
bench_page:
    .skip   4096
