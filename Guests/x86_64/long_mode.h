/*
 * What every built-in x86_64 guest's start-up shares (demo.S, bench.S,
 * stress/start.S; included with the C preprocessor, which finds it beside or
 * above the including file): the switch from the VMM's 32-bit protected-mode
 * entry (Docs/guests.md) to long mode, with a static GDT and static identity
 * page tables, so no code runs before paging that could fault.
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
#define PTE_LARGE       (1 << 7)        /* 2 MiB page in a page-directory entry */

/*
 * In 32-bit code: load the GDT, point CR3 at pml4, set CR4.PAE and
 * EFER.LME, turn on paging (EFER.LMA follows: compatibility mode) and far
 * jump to `target` in 64-bit code. Clobbers EAX, ECX, EDX.
 */
.macro enter_long_mode target
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
    ljmp    $SEL_CODE64, $\target
.endm

/* In 64-bit code, first thing: every data segment register to the flat data segment. Clobbers AX. */
.macro load_data_segments
    movw    $SEL_DATA, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs
.endm

/*
 * The GDT for long mode (in a read-only section): null, 64-bit code (L=1,
 * D=0), flat data. The VMM's 32-bit segments are replaced by the far jump
 * and the reloads that follow it.
 */
.macro long_mode_gdt
    .balign 8
gdt:
    .quad   0
    .quad   0x00af9a000000ffff      /* 0x08: code, present, DPL 0, L */
    .quad   0x00cf92000000ffff      /* 0x10: data, present, writable, 4 GiB */
gdt_end:
gdt_pointer:
    .word   gdt_end - gdt - 1
    .quad   gdt
.endm

/*
 * An identity map of the first `gib` GiB (1 to 512) with 2 MiB pages, in
 * the section .data.page_tables: PML4[0] -> PDPT[0 .. gib-1] -> one page
 * directory per GiB, PD entry i = i * 2 MiB.
 */
.macro identity_page_tables gib
    .section .data.page_tables, "aw"
    .balign 4096
pml4:
    .quad   pdpt + (PTE_PRESENT | PTE_WRITABLE)
    .fill   511, 8, 0
pdpt:
    .set    pd_index, 0
    .rept   \gib
    .quad   page_directories + pd_index * 0x1000 + (PTE_PRESENT | PTE_WRITABLE)
    .set    pd_index, pd_index + 1
    .endr
    .fill   512 - \gib, 8, 0
page_directories:
    .set    pd_address, 0
    .rept   512 * \gib
    .quad   pd_address + (PTE_PRESENT | PTE_WRITABLE | PTE_LARGE)
    .set    pd_address, pd_address + 0x200000
    .endr
.endm
