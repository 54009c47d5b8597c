// Android's balloon pattern on the model as Android's pKVM: give a page
// back with MEM_RELINQUISH, then write to it again. The write faults and
// EL2 donates the page back (the ledger hears: host -> private); the word
// written must read back, and the page, private again, is zero-checked
// after reclaim like any other.
.include "arm64-common.inc"
.text
.globl _start
_start:
    harness
    movz x21, #0x4010, lsl #16      // the page: 0x40100000
    movz x22, #0x5ec2
    str x22, [x21]                  // touch it first: it holds a secret
    // 1: MEM_RELINQUISH of it -> 0
    mov x1, x21
    call32 0xC600, 0x0009
    mov x10, #0
    check 1
    // 2: write it again (the fault donates it back), read the word back
    movz x22, #0xbac4
    str x22, [x21]
    ldr x9, [x21]
    mov x10, x22
    check 2
    done
