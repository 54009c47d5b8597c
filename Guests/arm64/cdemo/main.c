/*
 * pvmh arm64 C demo guest (arm64-cdemo): the computations.
 *
 * What it does: runs a handful of small deterministic computations whose
 * results are known in advance, prints each result in hex on the UART, and
 * reports a CHECK per result on the harness window, then DONE. It makes no
 * vendor hypercall (start.S's PSCI SYSTEM_OFF is its only HVC), so it behaves
 * identically under QEMU's `virt` machine and on the pKVM model: it exists to
 * compare the model's A64 interpreter with an independent CPU on the code a
 * real compiler emits at -O2 (csel, ubfx/bfi, madd/msub, umulh, udiv/sdiv,
 * ldp/stp, tbz/cbz, jump tables, rev/rbit/clz, indirect calls, recursion).
 *
 * The expected values were computed on the host by an independent program
 * (a Python transcription of each computation), not by running this code, so
 * a compiler or interpreter bug cannot agree with itself. If you change a
 * computation, recompute its constant the same way.
 *
 * Rules for this file, because it runs with the MMU off and nothing set up:
 *   - no global relies on being zero at load time: every buffer is written
 *     before it is read (the ELF loader does zero .bss, but nothing here
 *     needs it);
 *   - device registers are written through `volatile` pointers of the exact
 *     width, one store per register (the VMM emulates one register per
 *     access; clang never pairs volatile accesses into stp);
 *   - built with -mstrict-align: with the MMU off every data access is to
 *     Device memory, where an unaligned access faults;
 *   - built with -mgeneral-regs-only: no FP/SIMD (CPACR_EL1 is not set up).
 *
 * Output (UART), in this order:
 *   "pvmh arm64 cdemo guest: booted at EL1\n"
 *   one "cdemo: <name> = 0x<hex>\n" line per check (ids 1..13, in the order of cdemo_main)
 *   "cdemo guest: all checks passed\n" | "cdemo guest: N checks failed\n"
 * A failed check adds "cdemo guest: check N failed: expected 0x<hex>\n" after
 * its result line. Events: CHECK(id, pass, value) per line, then DONE(status).
 */

typedef __UINT8_TYPE__ u8;
typedef __UINT32_TYPE__ u32;
typedef __INT32_TYPE__ i32;
typedef __UINT64_TYPE__ u64;
typedef __INT64_TYPE__ i64;
typedef unsigned __int128 u128;

#define UART_DATA       0x09000000UL
#define HARNESS_BASE    0x0a003e00UL

#define EVENT_CHECK     2
#define EVENT_DONE      3

/* ------------------------------------------------------------------------ */
/* Devices.                                                                 */

static void uart_putc(char c)
{
    *(volatile u32 *)UART_DATA = (u8)c;
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* "0x" and lowercase hex digits without leading zeros, like demo.S. */
static void uart_put_hex(u64 value)
{
    int shift = 60;
    while (shift > 0 && (value >> shift) == 0)
        shift -= 4;
    uart_puts("0x");
    for (; shift >= 0; shift -= 4) {
        u32 digit = (value >> shift) & 0xf;
        uart_putc((char)(digit < 10 ? '0' + digit : 'a' + digit - 10));
    }
}

static void uart_put_decimal(u64 value)
{
    char buffer[21];
    int at = sizeof buffer;
    buffer[--at] = 0;
    do {
        buffer[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    uart_puts(&buffer[at]);
}

/* Arguments first, the event last: the write to REPORT is the doorbell. */
static void report(u64 event, u64 arg0, u64 arg1, u64 arg2)
{
    volatile u64 *harness = (volatile u64 *)HARNESS_BASE;
    harness[1] = arg0;
    harness[2] = arg1;
    harness[3] = arg2;
    harness[0] = event;
}

/* Prints and reports one result; returns 1 if it failed. */
static u64 check(u64 id, const char *name, u64 got, u64 expected)
{
    u64 pass = got == expected;
    uart_puts("cdemo: ");
    uart_puts(name);
    uart_puts(" = ");
    uart_put_hex(got);
    uart_putc('\n');
    report(EVENT_CHECK, id, pass, got);
    if (!pass) {
        uart_puts("cdemo guest: check ");
        uart_put_decimal(id);
        uart_puts(" failed: expected ");
        uart_put_hex(expected);
        uart_putc('\n');
    }
    return !pass;
}

/* ------------------------------------------------------------------------ */
/* Pseudo-random inputs (Marsaglia's xorshift).                             */

static u32 xorshift32(u32 *state)
{
    u32 x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *state = x;
}

static u64 xorshift64(u64 *state)
{
    u64 x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

/* ------------------------------------------------------------------------ */
/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320).                   */

static u32 crc32_bitwise(const u8 *data, u64 length)
{
    u32 crc = 0xffffffff;
    for (u64 i = 0; i < length; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xedb88320 : crc >> 1;
    }
    return ~crc;
}

static u32 crc_table[256];

static void crc32_build_table(void)
{
    for (u32 n = 0; n < 256; n++) {
        u32 c = n;
        for (int bit = 0; bit < 8; bit++)
            c = (c & 1) ? (c >> 1) ^ 0xedb88320 : c >> 1;
        crc_table[n] = c;
    }
}

static u32 crc32_table(const u8 *data, u64 length)
{
    u32 crc = 0xffffffff;
    for (u64 i = 0; i < length; i++)
        crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ------------------------------------------------------------------------ */
/* Quicksort (Lomuto, median of three, recursing into the smaller side).    */

static void swap(i64 *a, i64 *b)
{
    i64 t = *a;
    *a = *b;
    *b = t;
}

static void quicksort(i64 *a, long lo, long hi)
{
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (a[mid] < a[lo])
            swap(&a[mid], &a[lo]);
        if (a[hi] < a[lo])
            swap(&a[hi], &a[lo]);
        if (a[mid] < a[hi])
            swap(&a[mid], &a[hi]);
        i64 pivot = a[hi];
        long store = lo;
        for (long j = lo; j < hi; j++) {
            if (a[j] < pivot) {
                swap(&a[store], &a[j]);
                store++;
            }
        }
        swap(&a[store], &a[hi]);
        if (store - lo < hi - store) {
            quicksort(a, lo, store - 1);
            lo = store + 1;
        } else {
            quicksort(a, store + 1, hi);
            hi = store - 1;
        }
    }
}

#define SORT_COUNT 100
static i64 sort_values[SORT_COUNT];

/* ------------------------------------------------------------------------ */
/* Sieve of Eratosthenes.                                                   */

#define SIEVE_LIMIT 2000
static u8 composite[SIEVE_LIMIT];

static void sieve(u64 *count, u64 *sum)
{
    for (u32 i = 0; i < SIEVE_LIMIT; i++)
        composite[i] = i < 2;
    for (u32 i = 2; i * i < SIEVE_LIMIT; i++)
        if (!composite[i])
            for (u32 j = i * i; j < SIEVE_LIMIT; j += i)
                composite[j] = 1;
    *count = 0;
    *sum = 0;
    for (u32 i = 0; i < SIEVE_LIMIT; i++) {
        if (!composite[i]) {
            *count += 1;
            *sum += i;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* 64-bit arithmetic: modular power with 128-bit products, division.        */

#define MERSENNE61 ((1ULL << 61) - 1)

static u64 mulmod61(u64 a, u64 b)
{
    u128 product = (u128)a * b;
    u64 r = ((u64)product & MERSENNE61) + (u64)(product >> 61);
    while (r >= MERSENNE61)
        r -= MERSENNE61;
    return r;
}

static u64 powmod61(u64 base, u64 exponent)
{
    u64 result = 1;
    base %= MERSENNE61;
    while (exponent) {
        if (exponent & 1)
            result = mulmod61(result, base);
        base = mulmod61(base, base);
        exponent >>= 1;
    }
    return result;
}

static u64 division_fold(void)
{
    u64 acc = 0;
    for (u64 i = 1; i <= 64; i++) {
        acc += 0xfedcba9876543210ULL / (i * i * i + 7);
        acc ^= 0x0123456789abcdefULL % (i + 13);
        acc += (u32)acc / (u32)(i + 3);
        acc = (acc << 7) | (acc >> 57);
    }
    return acc;
}

/* Signed division truncates toward zero; >> of a negative value is arithmetic. */
static i64 signed_fold(void)
{
    i64 s = 0;
    for (i64 i = -50; i <= 50; i++) {
        i64 v = i * i * i - 1234 * i;
        s += v / 7;
        s ^= v >> 3;
        s += v % 5;
        i32 t = (i32)v * -3;
        s += t;
        if (v < s)
            s -= i;
        else
            s += 2 * i;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* A tiny stack machine: a switch the compiler turns into a jump table.     */

enum opcode { OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_XOR, OP_DUP, OP_JNZ, OP_HALT };

struct instruction {
    u8 op;
    u8 argument;
};

/*
 * a = 0, b = 1, n = 40, acc = 0;
 * do { acc = acc * 31 + a; (a, b) = (b, a + b); } while (--n);
 * return acc ^ b;
 */
static const struct instruction program[] = {
    { OP_PUSH, 0 },  { OP_STORE, 0 },
    { OP_PUSH, 1 },  { OP_STORE, 1 },
    { OP_PUSH, 40 }, { OP_STORE, 2 },
    { OP_PUSH, 0 },  { OP_STORE, 3 },
    /* 8: loop */
    { OP_LOAD, 3 },  { OP_PUSH, 31 }, { OP_MUL, 0 },   { OP_LOAD, 0 }, { OP_ADD, 0 }, { OP_STORE, 3 },
    { OP_LOAD, 0 },  { OP_LOAD, 1 },  { OP_ADD, 0 },   { OP_LOAD, 1 }, { OP_STORE, 0 }, { OP_STORE, 1 },
    { OP_LOAD, 2 },  { OP_PUSH, 1 },  { OP_SUB, 0 },   { OP_DUP, 0 },  { OP_STORE, 2 }, { OP_JNZ, 8 },
    { OP_LOAD, 3 },  { OP_LOAD, 1 },  { OP_XOR, 0 },   { OP_HALT, 0 },
};

static u64 run_program(const struct instruction *code)
{
    u64 stack[16];
    u64 variables[4];
    int sp = 0;
    u32 pc = 0;
    for (;;) {
        struct instruction insn = code[pc++];
        switch (insn.op) {
        case OP_PUSH:
            stack[sp++] = insn.argument;
            break;
        case OP_LOAD:
            stack[sp++] = variables[insn.argument & 3];
            break;
        case OP_STORE:
            variables[insn.argument & 3] = stack[--sp];
            break;
        case OP_ADD:
            sp--;
            stack[sp - 1] += stack[sp];
            break;
        case OP_SUB:
            sp--;
            stack[sp - 1] -= stack[sp];
            break;
        case OP_MUL:
            sp--;
            stack[sp - 1] *= stack[sp];
            break;
        case OP_XOR:
            sp--;
            stack[sp - 1] ^= stack[sp];
            break;
        case OP_DUP:
            stack[sp] = stack[sp - 1];
            sp++;
            break;
        case OP_JNZ:
            if (stack[--sp] != 0)
                pc = insn.argument;
            break;
        case OP_HALT:
            return stack[sp - 1];
        default:
            return 0xbad0bad0;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Bit manipulation: clz, rbit, rev, popcount, bitfields, indirect calls.   */

static u64 bits_fold(u64 *state)
{
    u64 acc = 0;
    for (int i = 0; i < 32; i++) {
        u64 x = xorshift64(state);
        acc += (u64)__builtin_popcountll(x);
        acc ^= (u64)__builtin_clzll(x | 1) << 8;
        acc += (u64)__builtin_ctzll(x | (1ULL << 63)) << 16;
        acc ^= __builtin_bswap64(x);
        acc = (acc >> 13) | (acc << 51);
    }
    return acc;
}

union packed_word {
    u64 raw;
    struct {
        u64 a : 5;
        u64 b : 11;
        u64 c : 20;
        u64 d : 1;
        u64 e : 27;
    } field;
};

static u64 bitfield_fold(u64 *state)
{
    u64 acc = 0;
    for (int i = 0; i < 16; i++) {
        u64 x = xorshift64(state);
        union packed_word w;
        w.raw = x ^ acc;
        w.field.a = x;
        w.field.c = x >> 19;
        w.field.d = x >> 40;
        acc = acc * 33 + w.raw + (u64)w.field.b * (u64)w.field.a
              + ((u64)w.field.c ^ (u64)w.field.e) + (u64)w.field.d;
    }
    return acc;
}

/* noinline so the table really is called through (blr). */
__attribute__((noinline)) static u64 op_add(u64 a, u64 b) { return a + b; }
__attribute__((noinline)) static u64 op_sub(u64 a, u64 b) { return a - b; }
__attribute__((noinline)) static u64 op_mul(u64 a, u64 b) { return a * b + 1; }
__attribute__((noinline)) static u64 op_rotate(u64 a, u64 b) { return (a << (b & 63)) | (a >> (-b & 63)); }

static u64 (*const operations[4])(u64, u64) = { op_add, op_sub, op_mul, op_rotate };

static u64 indirect_fold(void)
{
    u64 acc = 0x0123456789abcdefULL;
    for (u64 i = 0; i < 40; i++)
        acc = operations[i & 3](acc, i * 0x9e3779b97f4a7c15ULL);
    return acc;
}

/* ------------------------------------------------------------------------ */

/* Expected results, computed on the host (see the comment at the top). */
#define EXPECT_CRC32_CHECK      0xcbf43926ULL           /* the standard check value */
#define EXPECT_CRC32_BUFFER     0x78b89167ULL
#define EXPECT_SORT_INVERSIONS  0x0ULL
#define EXPECT_SORT_CHECKSUM    0x802b42d9de693c87ULL
#define EXPECT_PRIME_COUNT      0x12fULL                /* 303 */
#define EXPECT_PRIME_SUM        0x43a3aULL              /* 277050 */
#define EXPECT_POWMOD           0x398e09314aaf1d6ULL
#define EXPECT_DIVISION         0x4780a574526d1a9dULL
#define EXPECT_SIGNED           0xfffffffffffbb5a3ULL   /* -281181 */
#define EXPECT_PROGRAM          0x523b550eaf3120e7ULL
#define EXPECT_BITS             0x27bbb8da85698364ULL
#define EXPECT_BITFIELDS        0xdfba930037b0c563ULL
#define EXPECT_INDIRECT         0xd1cad5b41e01b308ULL

#define CRC_BUFFER_SIZE 512
static u8 crc_buffer[CRC_BUFFER_SIZE];

/* Called by start.S; reports DONE itself and returns the status. */
u64 cdemo_main(void)
{
    u64 failed = 0;
    uart_puts("pvmh arm64 cdemo guest: booted at EL1\n");

    static const u8 check_string[] = "123456789";
    failed += check(1, "crc32(\"123456789\")", crc32_bitwise(check_string, 9), EXPECT_CRC32_CHECK);

    u32 state32 = 0x2545f491;
    for (u32 i = 0; i < CRC_BUFFER_SIZE; i++)
        crc_buffer[i] = (u8)(xorshift32(&state32) >> 24);
    crc32_build_table();
    failed += check(2, "crc32(512 xorshift32 bytes)", crc32_table(crc_buffer, CRC_BUFFER_SIZE), EXPECT_CRC32_BUFFER);

    u64 state64 = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < SORT_COUNT; i++)
        sort_values[i] = (i64)xorshift64(&state64);
    quicksort(sort_values, 0, SORT_COUNT - 1);
    u64 inversions = 0, checksum = 0;
    for (int i = 0; i < SORT_COUNT; i++) {
        if (i > 0 && sort_values[i - 1] > sort_values[i])
            inversions++;
        checksum += (u64)sort_values[i] * (u64)(i + 1);
    }
    failed += check(3, "quicksort: out-of-order pairs", inversions, EXPECT_SORT_INVERSIONS);
    failed += check(4, "quicksort: weighted sum", checksum, EXPECT_SORT_CHECKSUM);

    u64 prime_count, prime_sum;
    sieve(&prime_count, &prime_sum);
    failed += check(5, "primes below 2000", prime_count, EXPECT_PRIME_COUNT);
    failed += check(6, "sum of primes below 2000", prime_sum, EXPECT_PRIME_SUM);

    failed += check(7, "3^0x123456789abcdef mod 2^61-1", powmod61(3, 0x0123456789abcdefULL), EXPECT_POWMOD);
    failed += check(8, "unsigned division fold", division_fold(), EXPECT_DIVISION);
    failed += check(9, "signed arithmetic fold", (u64)signed_fold(), EXPECT_SIGNED);
    failed += check(10, "stack machine (fibonacci)", run_program(program), EXPECT_PROGRAM);
    failed += check(11, "bit operations fold", bits_fold(&state64), EXPECT_BITS);
    failed += check(12, "bitfield fold", bitfield_fold(&state64), EXPECT_BITFIELDS);
    failed += check(13, "indirect calls fold", indirect_fold(), EXPECT_INDIRECT);

    if (failed == 0) {
        uart_puts("cdemo guest: all checks passed\n");
    } else {
        uart_puts("cdemo guest: ");
        uart_put_decimal(failed);
        uart_puts(" checks failed\n");
    }
    u64 status = failed != 0;
    report(EVENT_DONE, status, 0, 0);
    return status;
}

/* Called by start.S for any exception; start.S powers off afterwards. */
void cdemo_exception(u64 vector_offset, u64 esr, u64 elr)
{
    uart_puts("cdemo guest: unexpected exception at vector offset ");
    uart_put_hex(vector_offset);
    uart_puts(", ESR_EL1 ");
    uart_put_hex(esr);
    uart_puts(", ELR_EL1 ");
    uart_put_hex(elr);
    uart_putc('\n');
    report(EVENT_DONE, 1, 0, 0);
}
