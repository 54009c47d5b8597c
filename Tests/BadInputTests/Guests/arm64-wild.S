.text
.globl _start
_start:
    movz x1, #0x1000        // below RAM, no device: neither RAM nor MMIO
    mov x0, #0x55
    str x0, [x1]
    b .
