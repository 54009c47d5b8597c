.include "x86_64-common.inc"
.code32
.text
.globl _start
_start:
    enter_long_mode
    doorbell 99, 0, 0, 0                        // 1: unknown hypercall: -KVM_ENOSYS
    check 1, -1000
    doorbell 12, 0x108008, 1, 0                 // 2: unaligned gpa
    check 2, -22
    doorbell 12, 0x108000, 0, 0                 // 3: no pages
    check 3, -22
    doorbell 12, 0x40000000, 1, 0               // 4: past the end of RAM
    check 4, -22
    doorbell 12, 0xFEE00000, 1, 0               // 5: the local APIC's MMIO page
    check 5, -22
    doorbell 12, 0x108000, 1, 0x10              // 6: unshare (make private) a private page
    check 6, -22
    doorbell 12, 0x108000, 1, 0                 // 7: share: ok
    check 7, 0
    doorbell 12, 0x108000, 1, 0                 // 8: double share
    check 8, -22
    doorbell 12, 0x108000, 0xFFFFFFFFFFFFFFFF, 0x10  // 9: 2^64-1 pages: past the last frame
    check 9, -22
    doorbell 12, 0x0, 0x1000000000000000, 0x12  // 10: 2^60 1 GiB pages: the page count overflows
    check 10, -22
    doorbell 12, 0x108000, 1, 0x10              // 11: unshare: ok
    check 11, 0
    done
    gdt
