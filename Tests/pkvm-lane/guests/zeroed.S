/*
 * zeroed.S — the guest of `teardown.guest-pages-zeroed` (Sources/Checks/
 * ARM64Scenarios.swift carries its instruction words; this is their source).
 *
 * Runs at 0x40080000 with the MMU off. Writes "SECRET"+n (0x534543524554000n)
 * at bytes 0, 2048 and 4088 of 64 private pages from 0x40100000; MEM_SHAREs
 * 0x40200000 and writes "KEEPSHRD" (0x4b45455053485244) at its bytes 0 and
 * 4088; reports SHARED(0x40200000) and DONE(0) on the harness window
 * (DONE(1) if the share failed); powers off with PSCI SYSTEM_OFF, leaving
 * the page shared. The host then checks every private page reads zero after
 * teardown and the shared page still holds KEEPSHRD. The MEM_SHARE goes over
 * `hvc`, or through the harness doorbell when TRANSPORT (+0x20) reads 1 (arm64
 * KVM without the SMCCC filter; Docs/guests.md).
 *
 * Rebuild the words with the toolchain's clang:
 *   clang --target=aarch64-none-elf -c zeroed.S -o /tmp/zeroed.o
 *   llvm-objdump -d /tmp/zeroed.o
 */
    .globl _start
_start:
    movz    x20, #0x4010, lsl #16       // first secret page 0x40100000
    mov     x21, #64                    // 64 private pages
    movz    x3, #0x5345, lsl #48        // "SECRET" + page number
    movk    x3, #0x4352, lsl #32
    movk    x3, #0x4554, lsl #16
1:  str     x3, [x20]
    str     x3, [x20, #2048]
    str     x3, [x20, #4088]
    add     x3, x3, #1
    add     x20, x20, #4096
    subs    x21, x21, #1
    b.ne    1b
    movz    x9, #0x0a00, lsl #16        // harness window 0x0a003e00
    movk    x9, #0x3e00
    movz    x0, #0xc600, lsl #16        // MEM_SHARE 0x40200000
    movk    x0, #0x0003
    movz    x1, #0x4020, lsl #16
    mov     x2, #0
    mov     x3, #0
    ldr     w6, [x9, #0x20]             // TRANSPORT: 1 = the MMIO doorbell
    cmp     x6, #1
    b.ne    2f
    str     x1, [x9, #8]                // ARG0..ARG2 = X1..X3, CALL = X0
    str     xzr, [x9, #16]
    str     xzr, [x9, #24]
    str     x0, [x9, #0x28]
    ldr     x0, [x9, #0x28]             // the answer
    b       6f
2:  hvc     #0
6:  cbnz    x0, 3f
    movz    x1, #0x4020, lsl #16
    movz    x4, #0x4b45, lsl #48        // "KEEP" + "SHRD"
    movk    x4, #0x4550, lsl #32
    movk    x4, #0x5348, lsl #16
    movk    x4, #0x5244
    str     x4, [x1]
    str     x4, [x1, #4088]
    str     x1, [x9, #8]                // SHARED(0x40200000)
    str     xzr, [x9, #16]
    str     xzr, [x9, #24]
    mov     x5, #4
    str     x5, [x9]
    str     xzr, [x9, #8]               // DONE(0)
    b       4f
3:  mov     x5, #1                      // DONE(1): the share failed
    str     x5, [x9, #8]
4:  mov     x5, #3
    str     x5, [x9]
    movz    x0, #0x8400, lsl #16        // PSCI SYSTEM_OFF
    movk    x0, #0x0008
    hvc     #0
5:  wfi
    b       5b
