/*
 * pvmh stress guest: the architecture-independent part (Docs/guests.md,
 * "The stress guests"). Included by Guests/<arch>/stress/main.c, which
 * provides the architecture's side first:
 *
 *   static long arch_share(u64 gpa);            one page private -> shared: 0 or < 0
 *   static long arch_unshare(u64 gpa);          one page shared -> private: 0 or < 0
 *   static long arch_share_range(u64 gpa, u64 pages, u64 *still_shared)
 *   static long arch_unshare_range(u64 gpa, u64 pages)
 *                                               (x86: one call; arm64: page by page;
 *                                               a failed share sets *still_shared
 *                                               when it could not undo part of it)
 *   static void arch_putc(char c);              console, one character
 *   static void arch_report(u64 event, u64 a0, u64 a1, u64 a2);
 *   static void arch_start_secondaries(u32 vcpus);      (x86: nothing, the VMM did)
 *   static void arch_relax(void);               a pause in a spin loop
 *   static void arch_publish(void);             order earlier stores before later ones
 *   static int  arch_sharing_available(void);   0: no share/unshare (QEMU)
 *   static void arch_fill_page(u64 gpa, u64 word);      every word of the page = word
 *   static u64  arch_find_mismatch(u64 gpa, u64 word);  index of the first other word, or 512
 *   symbols __image_start, __image_end from the linker script.
 *
 * What every vCPU does, deterministically from the seed:
 *   1. fill: every page it owns gets its secret, one 64-bit word repeated
 *      (secret(gfn) below: never 0, so a discarded page cannot pass for one);
 *   2. rounds: picks a random run of 1..16 of its pages, overwrites them
 *      with zeros while still private (a careful guest never shares a
 *      secret), shares them, writes the round's public pattern, reads it
 *      back (a mismatch is CORRUPT), unshares them and writes the secret
 *      back; `rounds` times, or until the VMM stops it when rounds is 0;
 *   3. verify: reads every page it owns back; each must still hold its
 *      secret (a mismatch is CORRUPT);
 *   4. reports CHECK(1 + vcpu, pass, rounds done) and marks itself done.
 * vCPU 0 then waits until every vCPU is done, prints the verdict, reports
 * DONE(0 or 1) and powers off. The pages a vCPU owns are its share of RAM
 * outside the image (below and above it), split into equal contiguous
 * slices, so no two vCPUs ever ask about the same page.
 */

typedef __UINT8_TYPE__ u8;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;
typedef __INT64_TYPE__ i64;

#define PAGE_SIZE           4096UL
#define WORDS_PER_PAGE      (PAGE_SIZE / 8)
#define MAX_VCPUS           8
#define MAX_RUN             16
#define CORRUPT_REPORTS     8       /* per vCPU; the rest are counted */

#define EVENT_CHECK         2
#define EVENT_DONE          3
#define EVENT_CORRUPT       6       /* a0 = gpa, a1 = expected, a2 = found */

/*
 * The parameter block the VMM patches into the image before loading it
 * (GuestImage's StressParameters finds it by its magic). The defaults let
 * the image run unpatched (QEMU): 1 vCPU, 4 MiB of RAM, 64 rounds.
 */
struct stress_parameters {
    char magic[8];          /* "PVMHSTRS" */
    u64 version;            /* 1 */
    u64 seed;
    u64 rounds;             /* 0: until the VMM stops the guest */
    u64 ram_base;
    u64 ram_size;
    u64 vcpus;
};

__attribute__((section(".data.parameters"), used))
volatile struct stress_parameters stress_parameters = {
    { 'P', 'V', 'M', 'H', 'S', 'T', 'R', 'S' }, 1, 1, 64, RAM_BASE_DEFAULT, 4UL << 20, 1,
};

extern char __image_start[], __image_end[];

/* Written by each vCPU about itself only; read by vCPU 0 at the end. */
static volatile u64 vcpu_done[MAX_VCPUS];
static volatile u64 vcpu_failures[MAX_VCPUS];
static volatile u64 vcpu_rounds[MAX_VCPUS];

/* ------------------------------------------------------------------------ */
/* Output.                                                                  */

static void puts_(const char *s)
{
    while (*s)
        arch_putc(*s++);
}

static void put_decimal(u64 value)
{
    char buffer[24];
    int n = 0;
    do {
        buffer[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        arch_putc(buffer[--n]);
}

static void put_hex(u64 value)
{
    puts_("0x");
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        u64 digit = (value >> shift) & 0xf;
        if (digit || started || shift == 0) {
            arch_putc("0123456789abcdef"[digit]);
            started = 1;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Patterns and randomness (SplitMix64, as the host's verifier uses).       */

static u64 mix64(u64 z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}

static u64 secret(u64 seed, u64 gfn)
{
    return mix64(seed ^ (gfn * 0x9e3779b97f4a7c15UL)) | 1;
}

static u64 public_pattern(u64 seed, u64 gfn, u64 round)
{
    return mix64(secret(seed, gfn) ^ (round * 0xd1b54a32d192ed03UL)) | 1;
}

static u64 next_random(u64 *state)
{
    *state += 0x9e3779b97f4a7c15UL;
    return mix64(*state);
}

/* ------------------------------------------------------------------------ */
/* Pages.                                                                   */

/* The pages outside the image, numbered 0..usable-1: first those below it, then those above. */
struct layout {
    u64 ram_base, low_pages, high_base, usable;
};

static struct layout layout_of(void)
{
    struct layout l;
    u64 base = stress_parameters.ram_base, end = base + stress_parameters.ram_size;
    u64 image_start = (u64)__image_start & ~(PAGE_SIZE - 1);
    u64 image_end = ((u64)__image_end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    l.ram_base = base;
    l.low_pages = (image_start - base) / PAGE_SIZE;
    l.high_base = image_end;
    l.usable = l.low_pages + (end > image_end ? (end - image_end) / PAGE_SIZE : 0);
    return l;
}

static u64 page_gpa(const struct layout *l, u64 index)
{
    return index < l->low_pages ? l->ram_base + index * PAGE_SIZE
                                : l->high_base + (index - l->low_pages) * PAGE_SIZE;
}

static void fill_page(u64 gpa, u64 word)
{
    arch_fill_page(gpa, word);
}

/* Reports the first mismatch of a page (if any); returns 1 when there was one. */
static int verify_page(u32 vcpu, u64 gpa, u64 word)
{
    u64 at = arch_find_mismatch(gpa, word);
    if (at == WORDS_PER_PAGE)
        return 0;
    if (vcpu_failures[vcpu] < CORRUPT_REPORTS)
        arch_report(EVENT_CORRUPT, gpa + at * 8, word, ((const volatile u64 *)gpa)[at]);
    return 1;
}

/* ------------------------------------------------------------------------ */
/* One vCPU's work.                                                         */

static int parameters_usable(const struct layout *l)
{
    u64 vcpus = stress_parameters.vcpus;
    u64 base = stress_parameters.ram_base, end = base + stress_parameters.ram_size;
    return stress_parameters.version == 1 && vcpus != 0 && vcpus <= MAX_VCPUS && end > base
        && base <= (u64)__image_start && (u64)__image_end <= end && l->usable >= vcpus;
}

static void stress_vcpu(u32 vcpu, int sharing)
{
    struct layout l = layout_of();
    if (!parameters_usable(&l) || vcpu >= stress_parameters.vcpus)
        return;
    u64 seed = stress_parameters.seed, rounds = stress_parameters.rounds;
    u64 vcpus = stress_parameters.vcpus;
    u64 first = l.usable * vcpu / vcpus, end = l.usable * (vcpu + 1) / vcpus;
    u64 failures = 0;
    u64 stuck_start = 0, stuck_pages = 0;   /* a run left shared: not secret any more */

    for (u64 index = first; index < end; index++) {
        u64 gpa = page_gpa(&l, index);
        fill_page(gpa, secret(seed, gpa / PAGE_SIZE));
    }

    u64 random = seed ^ mix64(0x5354524553530000UL + vcpu);
    u64 round = 0;
    while (sharing && end > first && (rounds == 0 || round < rounds)) {
        u64 start = first + next_random(&random) % (end - first);
        u64 pages = 1 + next_random(&random) % MAX_RUN;
        if (pages > end - start)
            pages = end - start;
        if (start < l.low_pages && start + pages > l.low_pages)
            pages = l.low_pages - start;    /* a run never spans the image */
        u64 gpa = page_gpa(&l, start);

        for (u64 p = 0; p < pages; p++)
            fill_page(gpa + p * PAGE_SIZE, 0);
        u64 still_shared = 0;
        long shared = arch_share_range(gpa, pages, &still_shared);
        if (shared < 0) {
            failures++;
            arch_report(EVENT_CHECK, 100 + vcpu, 0, (u64)shared);
            if (still_shared) {
                /* Part of the run stayed shared: no secret goes back there. */
                stuck_start = start;
                stuck_pages = pages;
            } else {
                for (u64 p = 0; p < pages; p++)
                    fill_page(gpa + p * PAGE_SIZE, secret(seed, gpa / PAGE_SIZE + p));
            }
            break;
        }
        for (u64 p = 0; p < pages; p++) {
            u64 page = gpa + p * PAGE_SIZE;
            fill_page(page, public_pattern(seed, page / PAGE_SIZE, round));
        }
        for (u64 p = 0; p < pages; p++) {
            u64 page = gpa + p * PAGE_SIZE;
            failures += verify_page(vcpu, page, public_pattern(seed, page / PAGE_SIZE, round));
            vcpu_failures[vcpu] = failures;
        }
        long unshared = arch_unshare_range(gpa, pages);
        if (unshared < 0) {
            failures++;
            arch_report(EVENT_CHECK, 200 + vcpu, 0, (u64)unshared);
            stuck_start = start;
            stuck_pages = pages;
            break;
        }
        for (u64 p = 0; p < pages; p++) {
            u64 page = gpa + p * PAGE_SIZE;
            fill_page(page, secret(seed, page / PAGE_SIZE));
        }
        round++;
        vcpu_rounds[vcpu] = round;
        vcpu_failures[vcpu] = failures;
    }

    for (u64 index = first; index < end; index++) {
        if (index >= stuck_start && index < stuck_start + stuck_pages)
            continue;
        u64 gpa = page_gpa(&l, index);
        failures += verify_page(vcpu, gpa, secret(seed, gpa / PAGE_SIZE));
        vcpu_failures[vcpu] = failures;
    }

    vcpu_rounds[vcpu] = round;
    vcpu_failures[vcpu] = failures;
    arch_report(EVENT_CHECK, 1 + vcpu, failures == 0, round);
    arch_publish();
    vcpu_done[vcpu] = 1;
}

/* Entry from start.S on every vCPU (x86: each starts there; arm64: vCPU 0, then the secondaries via PSCI CPU_ON). */
void stress_main(u32 vcpu)
{
    u64 vcpus = stress_parameters.vcpus;
    if (vcpu != 0) {
        stress_vcpu(vcpu, arch_sharing_available());
        return;                     /* start.S parks the vCPU */
    }

    puts_("pvmh stress guest: ");
    put_decimal(vcpus);
    puts_(" vCPUs, seed ");
    put_hex(stress_parameters.seed);
    puts_(", ");
    if (stress_parameters.rounds)
        put_decimal(stress_parameters.rounds);
    else
        puts_("unbounded");
    puts_(" rounds per vCPU\n");

    struct layout l = layout_of();
    if (!parameters_usable(&l)) {
        puts_("stress guest: unusable parameters (version, vCPU count or RAM size)\n");
        arch_report(EVENT_DONE, 1, 0, 0);
        return;
    }
    int sharing = arch_sharing_available();
    if (!sharing)
        puts_("stress guest: memory sharing is not available: fill and verify only\n");
    puts_("stress guest: ");
    put_decimal(l.usable);
    puts_(" pages to fill\n");

    arch_start_secondaries((u32)vcpus);
    stress_vcpu(0, sharing);
    for (u64 v = 1; v < vcpus; v++)
        while (!vcpu_done[v])
            arch_relax();

    u64 failures = 0, rounds = 0;
    for (u64 v = 0; v < vcpus; v++) {
        failures += vcpu_failures[v];
        rounds += vcpu_rounds[v];
    }
    puts_("stress guest: ");
    put_decimal(rounds);
    puts_(" rounds, ");
    put_decimal(l.usable);
    puts_(" pages verified, ");
    if (failures == 0) {
        puts_("all checks passed\n");
    } else {
        put_decimal(failures);
        puts_(" failures\n");
    }
    arch_report(EVENT_DONE, failures != 0, 0, 0);
}
