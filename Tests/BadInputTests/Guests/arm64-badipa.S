.include "arm64-common.inc"
.text
.globl _start
_start:
    harness
    // 1: share of an unaligned IPA -> INVALID_PARAMETER (-3)
    movz x1, #0x4010, lsl #16
    add x1, x1, #8
    call32 0xC600, 0x0003
    mov x10, #-3
    check 1
    // 2: share of an IPA past the end of RAM (4 MiB at 0x40000000)
    movz x1, #0x8000, lsl #16
    call32 0xC600, 0x0003
    mov x10, #-3
    check 2
    // 3: share of the UART (MMIO, not guest memory)
    movz x1, #0x0900, lsl #16
    call32 0xC600, 0x0003
    mov x10, #-3
    check 3
    // 4: share of the harness window (MMIO)
    mov x1, x20
    call32 0xC600, 0x0003
    mov x10, #-3
    check 4
    // 5: unshare of a private page
    movz x1, #0x4010, lsl #16
    call32 0xC600, 0x0004
    mov x10, #-3
    check 5
    // 6: share it: ok
    movz x1, #0x4010, lsl #16
    call32 0xC600, 0x0003
    mov x10, #0
    check 6
    // 7: share it again (double share)
    movz x1, #0x4010, lsl #16
    call32 0xC600, 0x0003
    mov x10, #-3
    check 7
    // 8: unshare with X2 != 0 (malformed arguments): refused before any page is looked at
    movz x1, #0x4010, lsl #16
    movz x0, #0x0004
    movk x0, #0xC600, lsl #16
    mov x2, #1
    mov x3, #0
    hvc #0
    mov x9, x0
    mov x10, #-3
    check 8
    // 9: unshare it properly: ok (the malformed call changed nothing)
    movz x1, #0x4010, lsl #16
    call32 0xC600, 0x0004
    mov x10, #0
    check 9
    // 10: unshare of the IPA 0 (below RAM)
    mov x1, #0
    call32 0xC600, 0x0004
    mov x10, #-3
    check 10
    done
