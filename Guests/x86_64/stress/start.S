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

#define SEL_CODE64      0x08
#define SEL_DATA        0x10
#define CR0_PE          (1 << 0)
#define CR0_PG          (1 << 31)
#define CR4_PAE         (1 << 5)
#define MSR_EFER        0xc0000080
#define EFER_LME        (1 << 8)
#define PTE_PRESENT     (1 << 0)
#define PTE_WRITABLE    (1 << 1)
#define PTE_LARGE       (1 << 7)
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

    lgdt    gdt_pointer
    movl    $pml4, %eax
    movl    %eax, %cr3
    movl    %cr4, %eax
    orl     $CR4_PAE, %eax
    movl    %eax, %cr4
    movl    $MSR_EFER, %ecx
    rdmsr
    orl     $EFER_LME, %eax
    wrmsr
    movl    %cr0, %eax
    orl     $(CR0_PG | CR0_PE), %eax
    movl    %eax, %cr0
    ljmp    $SEL_CODE64, $long_mode_entry

halt32:
    cli
    hlt
    jmp     halt32

    .text
    .code64
long_mode_entry:
    movw    $SEL_DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs
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
    .balign 8
gdt:
    .quad   0
    .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
    .quad   0x00cf92000000ffff      /* 0x10: flat data */
gdt_end:
gdt_pointer:
    .word   gdt_end - gdt - 1
    .quad   gdt

/* PML4[0] -> PDPT[0..3] -> four page directories of 2 MiB pages: 0..4 GiB. */
    .section .data.page_tables, "aw"
    .balign 4096
pml4:
    .quad   pdpt + (PTE_PRESENT | PTE_WRITABLE)
    .fill   511, 8, 0
pdpt:
    .quad   page_directories + 0x0000 + (PTE_PRESENT | PTE_WRITABLE)
    .quad   page_directories + 0x1000 + (PTE_PRESENT | PTE_WRITABLE)
    .quad   page_directories + 0x2000 + (PTE_PRESENT | PTE_WRITABLE)
    .quad   page_directories + 0x3000 + (PTE_PRESENT | PTE_WRITABLE)
    .fill   508, 8, 0
page_directories:
    .set    pd_address, 0
    .rept   2048
    .quad   pd_address + (PTE_PRESENT | PTE_WRITABLE | PTE_LARGE)
    .set    pd_address, pd_address + 0x200000
    .endr

    .section .bss, "aw", @nobits
    .balign 16
stacks:
    .skip   STACK_SIZE * MAX_VCPUS
