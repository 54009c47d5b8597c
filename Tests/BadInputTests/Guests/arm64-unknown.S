.include "arm64-common.inc"
.text
.globl _start
_start:
    harness
    // 1: an unknown pKVM vendor hypercall id (0xC6000099) by HVC: NOT_SUPPORTED (-1)
    call32 0xC600, 0x0099
    mov x10, #-1
    check 1
    // 2: an unknown id by SMC (0x82000042, a SiP call): NOT_SUPPORTED
    movz x0, #0x0042
    movk x0, #0x8200, lsl #16
    smc #0
    mov x9, x0
    mov x10, #-1
    check 2
    // 3: the whole 64-bit X0 with junk in the upper half (SMC64 id bits): still NOT_SUPPORTED
    movz x0, #0x1234, lsl #48
    movk x0, #0x00FF
    hvc #0
    mov x9, x0
    mov x10, #-1
    check 3
    done
