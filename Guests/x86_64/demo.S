/*
 * pvmh x86_64 demo guest.
 *
 * What it does: boots from the VMM's 32-bit entry state into 64-bit long mode
 * on its own (GDT, identity-mapped page tables, stack, all static data in this
 * image), says so on the console, then exercises the guest side of memory
 * conversion: it shares one page, passes a message to the host through it,
 * unshares it, and makes four calls the host must reject. Each result is
 * reported as a numbered CHECK on the harness port, and the run ends with DONE
 * and a HLT. The host asserts the exact sequence, so keep the order below.
 *
 * Entry state (set by the VMM, like Linux's 32-bit boot protocol):
 *   32-bit protected mode, paging off, flat 4 GiB code and data segments,
 *   interrupts off, EIP = ELF entry.
 *   EDI = hypercall transport: 1 = vmcall, 2 = port doorbell (outl to 0xE4).
 *   ESI = guest RAM size in bytes (low 32 bits); RAM starts at GPA 0.
 *
 * Ports (guest -> host, all `out`):
 *   0x3F8  console: outb, one character per out.
 *   0xE4   hypercall doorbell: outl %eax. Used instead of vmcall when EDI = 2,
 *          with the same registers (KVM_HC_MAP_GPA_RANGE's ABI):
 *            RAX = 12, RBX = gpa (4 KiB aligned), RCX = number of 4 KiB pages,
 *            RDX = attributes: bit 4 set = make private ("unshare"), clear =
 *            make shared ("share"); bits 3:0 = 0 (4 KiB pages).
 *          Result in RAX: 0 success, negative error (-22, -KVM_EINVAL, for
 *          every rejected request).
 *   0xE8   harness report: outl %eax with EAX = event, arguments in RBX/RCX/RDX:
 *            1 MESSAGE  RBX = gpa of a NUL-free ASCII message in a shared page,
 *                       RCX = its length in bytes (the host reads it through
 *                       its own mapping).
 *            2 CHECK    RBX = check id (1..7), RCX = 1 pass / 0 fail,
 *                       RDX = the value the guest got.
 *            3 DONE     RBX = exit status (0 every check passed, 1 otherwise);
 *                       then `cli; hlt` forever.
 *
 * The sequence (the host's boot test asserts it):
 *   console  "pvmh x86_64 demo guest: booted in long mode\n"
 *            "transport: vmcall\n" | "transport: doorbell\n"
 *   share    shared_page                     -> CHECK 1, expects 0
 *   MESSAGE  "hello from the protected guest via a shared page"
 *   unshare  shared_page                     -> CHECK 2, expects 0
 *   share    shared_page+1 (unaligned)       -> CHECK 3, expects < 0
 *   unshare  shared_page (already private)   -> CHECK 4, expects < 0
 *   share    gpa = RAM size (outside RAM)    -> CHECK 5, expects < 0
 *   share    shared_page (must succeed; part of check 6, no event of its own)
 *   share    shared_page again               -> CHECK 6, expects < 0
 *   unshare  shared_page                     -> CHECK 7, expects 0
 *   console  "demo guest: all checks passed\n" | "demo guest: N checks failed\n"
 *   DONE     status
 *
 * An EDI that is neither 1 nor 2 is a VMM bug: the guest prints
 * "demo guest: unknown transport in EDI\n" and reports DONE 1 without making
 * any hypercall (guessing could hang the vCPU where vmcall never completes).
 *
 * The guest touches shared_page only between the first share and the first
 * unshare: after a page goes private the host may have swapped its backing,
 * so reading it would not mean anything (and on some platforms would fault).
 */

#define PORT_CONSOLE        0x3f8
#define PORT_DOORBELL       0xe4
#define PORT_REPORT         0xe8

#define TRANSPORT_VMCALL    1
#define TRANSPORT_DOORBELL  2

#define KVM_HC_MAP_GPA_RANGE    12
#define MAP_GPA_SHARED          0x00
#define MAP_GPA_PRIVATE         0x10    /* KVM_MAP_GPA_RANGE_ENCRYPTED */

#define EVENT_MESSAGE   1
#define EVENT_CHECK     2
#define EVENT_DONE      3

#include "long_mode.h"          /* enter_long_mode, load_data_segments, long_mode_gdt, identity_page_tables */

/* ------------------------------------------------------------------------ */
/* 32-bit entry: switch to long mode. Only EDI and ESI carry information.   */

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    cli
    movl    %edi, transport
    movl    %esi, ram_size          /* the high half stays 0: RAM < 4 GiB here */

    enter_long_mode long_mode_entry

/* ------------------------------------------------------------------------ */
/* 64-bit code.                                                             */

    .text
    .code64
long_mode_entry:
    load_data_segments
    leaq    stack_top(%rip), %rsp

    xorl    %r15d, %r15d            /* r15 = number of failed checks */

    leaq    msg_booted(%rip), %rsi
    call    console_puts

    movl    transport(%rip), %eax
    leaq    msg_transport_vmcall(%rip), %rsi
    cmpl    $TRANSPORT_VMCALL, %eax
    je      1f
    leaq    msg_transport_doorbell(%rip), %rsi
    cmpl    $TRANSPORT_DOORBELL, %eax
    je      1f
    leaq    msg_unknown_transport(%rip), %rsi
    call    console_puts
    movl    $1, %ebx
    jmp     finish
1:  call    console_puts

    /* Check 1: share shared_page. */
    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    movl    $1, %ebx
    call    expect_success

    /* Pass the message through the shared page. */
    leaq    hello(%rip), %rsi
    leaq    shared_page(%rip), %rdi
    movl    $hello_len, %ecx
    rep movsb
    leaq    shared_page(%rip), %rbx
    movl    $hello_len, %ecx
    movl    $EVENT_MESSAGE, %eax
    outl    %eax, $PORT_REPORT

    /* Check 2: unshare it again. From here on the guest never reads it. */
    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_PRIVATE, %edx
    call    map_gpa_range
    movl    $2, %ebx
    call    expect_success

    /* Check 3: share of an unaligned gpa must be rejected. */
    leaq    shared_page+1(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    movl    $3, %ebx
    call    expect_failure

    /* Check 4: unshare of a page that is private (not shared) must be rejected. */
    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_PRIVATE, %edx
    call    map_gpa_range
    movl    $4, %ebx
    call    expect_failure

    /* Check 5: share of the first page past the end of RAM must be rejected. */
    movq    ram_size(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    movl    $5, %ebx
    call    expect_failure

    /*
     * Check 6: a second share of a shared page must be rejected. It only
     * proves something if the first share worked, so that result is folded
     * into the check (r14 = 0 when it did) instead of being a check of its own.
     */
    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    movq    %rax, %r14

    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_SHARED, %edx
    call    map_gpa_range
    xorl    %ecx, %ecx
    testq   %r14, %r14
    jnz     2f                      /* first share failed: check 6 fails */
    testq   %rax, %rax
    jns     2f                      /* second share accepted: check 6 fails */
    movl    $1, %ecx
2:  movl    $6, %ebx
    call    report_check

    /* Check 7: unshare it; the page ends private, as it started. */
    leaq    shared_page(%rip), %rbx
    movl    $1, %ecx
    movl    $MAP_GPA_PRIVATE, %edx
    call    map_gpa_range
    movl    $7, %ebx
    call    expect_success

    /* Verdict. */
    testq   %r15, %r15
    jnz     3f
    leaq    msg_all_passed(%rip), %rsi
    call    console_puts
    xorl    %ebx, %ebx
    jmp     finish
3:  leaq    msg_prefix(%rip), %rsi
    call    console_puts
    movq    %r15, %rax
    call    console_put_decimal
    leaq    msg_checks_failed(%rip), %rsi
    call    console_puts
    movl    $1, %ebx

    /* DONE(rbx = status), then stop for good: the host ends at the first HLT. */
finish:
    movl    $EVENT_DONE, %eax
    outl    %eax, $PORT_REPORT
4:  cli
    hlt
    jmp     4b

/*
 * map_gpa_range: KVM_HC_MAP_GPA_RANGE over the transport the VMM chose.
 * In:  RBX = gpa, RCX = page count, RDX = attributes.
 * Out: RAX = result (0 or negative). Every other register is preserved.
 * The only place that knows about transports: everything else calls this.
 */
map_gpa_range:
    movl    $KVM_HC_MAP_GPA_RANGE, %eax
    cmpl    $TRANSPORT_DOORBELL, transport(%rip)
    je      1f
    vmcall                          /* KVM writes the result to RAX */
    ret
1:  outl    %eax, $PORT_DOORBELL    /* the VMM writes the result to RAX */
    ret

/*
 * expect_success / expect_failure: CHECK RBX passes when RAX == 0 / RAX < 0.
 * In:  RBX = check id, RAX = the result. Clobbers RAX, RCX, RDX.
 */
expect_success:
    xorl    %ecx, %ecx
    testq   %rax, %rax
    setz    %cl
    jmp     report_check

expect_failure:
    xorl    %ecx, %ecx
    testq   %rax, %rax
    sets    %cl
    /* fall through */

/*
 * report_check: CHECK event, counting failures in R15.
 * In:  RBX = check id, RCX = 1 pass / 0 fail, RAX = the value the guest got.
 * Clobbers RAX, RDX.
 */
report_check:
    movq    %rax, %rdx
    testl   %ecx, %ecx
    jnz     1f
    incq    %r15
1:  movl    $EVENT_CHECK, %eax
    outl    %eax, $PORT_REPORT
    ret

/*
 * console_puts: write the NUL-terminated string at RSI to the console.
 * Clobbers RAX, RDX, RSI.
 */
console_puts:
    movw    $PORT_CONSOLE, %dx
1:  movb    (%rsi), %al
    testb   %al, %al
    jz      2f
    outb    %al, %dx
    incq    %rsi
    jmp     1b
2:  ret

/*
 * console_put_decimal: write RAX as an unsigned decimal number.
 * Clobbers RAX, RCX, RDX, RSI, RDI.
 */
console_put_decimal:
    leaq    decimal_buffer_end(%rip), %rsi
    movb    $0, (%rsi)
    movl    $10, %edi
1:  xorl    %edx, %edx
    divq    %rdi
    addb    $'0', %dl
    decq    %rsi
    movb    %dl, (%rsi)
    testq   %rax, %rax
    jnz     1b
    jmp     console_puts

/* ------------------------------------------------------------------------ */
/* Read-only data.                                                          */

    .section .rodata, "a"
msg_booted:
    .asciz  "pvmh x86_64 demo guest: booted in long mode\n"
msg_transport_vmcall:
    .asciz  "transport: vmcall\n"
msg_transport_doorbell:
    .asciz  "transport: doorbell\n"
msg_unknown_transport:
    .asciz  "demo guest: unknown transport in EDI\n"
msg_all_passed:
    .asciz  "demo guest: all checks passed\n"
msg_prefix:
    .asciz  "demo guest: "
msg_checks_failed:
    .asciz  " checks failed\n"
hello:
    .ascii  "hello from the protected guest via a shared page"
    .set    hello_len, . - hello

    long_mode_gdt

/* ------------------------------------------------------------------------ */
/* Writable data: page tables, scalars, then zero-filled (bss) pages.       */

/* Identity map of the first 1 GiB with 2 MiB pages. */
    identity_page_tables 1

    .section .data, "aw"
    .balign 8
transport:
    .long   0
    .long   0
ram_size:
    .quad   0
decimal_buffer:
    .fill   23, 1, 0
decimal_buffer_end:
    .byte   0

    .section .bss, "aw", @nobits
    .balign 4096
stack:
    .skip   8192
stack_top:

/* The one page the guest shares; page aligned and alone in its page. */
    .section .bss.shared_page, "aw", @nobits
    .balign 4096
    .globl  shared_page
shared_page:
    .skip   4096
