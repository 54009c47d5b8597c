// A pvmfw-style firmware for the firmware-region tests: position-independent
// (it runs wherever the VMM puts the region), prints one line on the UART,
// then jumps to the payload as pvmfw does: X1 = the payload's entry, X2 =
// its size (a size of 0 is a broken boot: it parks in `wfi` instead).
    .text
    .globl _start
_start:
    mov     x19, x1                 // the payload's entry
    mov     x20, x2                 // its size
    movz    x9, #0x0900, lsl #16    // PL011 data register, 0x09000000
    adr     x10, message
1:  ldrb    w11, [x10], #1
    cbz     w11, 2f
    str     w11, [x9]
    b       1b
2:  cbz     x20, 3f
    mov     x0, #0
    mov     x1, #0
    mov     x2, #0
    br      x19
3:  wfi
    b       3b
message:
    .asciz  "pvmh test firmware: starting the payload\n"
    .balign 4
