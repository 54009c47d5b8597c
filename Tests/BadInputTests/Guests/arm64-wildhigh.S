.text
.globl _start
_start:
    movz x1, #0x4040, lsl #16   // first byte past 4 MiB of RAM at 0x40000000
    mov x0, #0x55
    str x0, [x1]
    b .
