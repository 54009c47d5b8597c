// baseline.c — pvmh's x86_64 KVM lifecycle as bare ioctls.
//
// The same kernel work as Sources/Platforms/X86KVMPlatform.swift does
// for one run, in the same order, on the same RAM backend (guest_memfd or
// memfd, as Sources/Platforms/TwoViewGuestRAM.swift holds them), and nothing
// else: the answer to a share or unshare comes from a bitmap (one bit per
// page), not a ledger; there is no journal, no vCPU thread, no host-read
// probe and no fd audit. Only the Linux uapi and libc: the guest_memfd ABI
// Debian 12's headers lack is declared here, with the numbers from
// shared/docs/kvm-abi.md.
#define _GNU_SOURCE
#include "pvmh_baseline.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

uint64_t pvmh_baseline_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return (uint64_t)info.uordblks + (uint64_t)info.hblkhd;
}

#if defined(__x86_64__)

// ---------------------------------------------------------------------------
// The guest_memfd ABI (Linux 6.8+ / 6.18+ for MMAP and INIT_SHARED).

struct baseline_create_guest_memfd {
    uint64_t size;
    uint64_t flags;
    uint64_t reserved[6];
};

struct baseline_memory_region2 {
    uint32_t slot;
    uint32_t flags;
    uint64_t guest_phys_addr;
    uint64_t memory_size;
    uint64_t userspace_addr;
    uint64_t guest_memfd_offset;
    uint32_t guest_memfd;
    uint32_t pad1;
    uint64_t pad2[14];
};

_Static_assert(sizeof(struct baseline_create_guest_memfd) == 64, "kvm_create_guest_memfd is 64 bytes");
_Static_assert(sizeof(struct baseline_memory_region2) == 160, "kvm_userspace_memory_region2 is 160 bytes");

#define BASELINE_CREATE_GUEST_MEMFD      _IOWR(KVMIO, 0xd4, struct baseline_create_guest_memfd)
#define BASELINE_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct baseline_memory_region2)
_Static_assert(BASELINE_CREATE_GUEST_MEMFD == 0xC040AED4, "KVM_CREATE_GUEST_MEMFD");
_Static_assert(BASELINE_SET_USER_MEMORY_REGION2 == 0x40A0AE49, "KVM_SET_USER_MEMORY_REGION2");

#define BASELINE_GMEM_FLAG_MMAP        0x1ull
#define BASELINE_GMEM_FLAG_INIT_SHARED 0x2ull
#define BASELINE_MEM_GUEST_MEMFD       0x4u
#define BASELINE_CAP_USER_MEMORY2      231
#define BASELINE_CAP_MEMORY_ATTRIBUTES 233
#define BASELINE_CAP_GUEST_MEMFD       234
#define BASELINE_CAP_GUEST_MEMFD_FLAGS 244

// The guest protocol (Guests/x86_64/demo.S, bench.S).
#define PORT_CONSOLE  0x3f8
#define PORT_DOORBELL 0xe4
#define PORT_REPORT   0xe8
#define PORT_BENCH    0xe0
#define HC_MAP_GPA_RANGE 12
#define TRANSPORT_DOORBELL 2
#define REJECTED (-22)
#define PAGE 4096ull

// ---------------------------------------------------------------------------

struct vm {
    enum pvmh_baseline_backend backend;
    /// memfd only: bind with KVM_SET_USER_MEMORY_REGION2 (else the v1 ioctl),
    /// as pvmh does where KVM_CAP_USER_MEMORY2 exists.
    int memslots_v2;
    /// memory_fd is the file behind guest RAM: the guest_memfd or the memfd.
    int kvm, vm, memory_fd, vcpu;
    uint8_t *kvm_view, *host_view;
    struct kvm_run *run;
    size_t run_size;
    uint64_t ram_size;
    int slot_bound;
    uint8_t *shared;   // one bit per page: 1 = shared, 0 = private
};

static void set_error(char *error, size_t size, const char *format, ...) {
    if (!error || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(error, size, format, args);
    va_end(args);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define FAIL(what) FAILF("%s", what)
#define FAILF(format, ...) do { set_error(error, error_size, format " failed: %s", __VA_ARGS__, strerror(errno)); return -1; } while (0)

/// What the file is called in errors: "guest_memfd", "memfd".
static const char *memory_label(const struct vm *v) { return v->backend == PVMH_BASELINE_GMEM ? "guest_memfd" : "memfd"; }

/// The checks pvmh makes before it creates anything (X86KVMPlatform.create):
/// for guest_memfd the three of guestMemfdRefusal (the capability, its MMAP
/// and INIT_SHARED flags, memslots v2 to bind it); for a memfd only whether
/// memslots v2 exist, which picks the ioctl that binds it.
static int check_backend(struct vm *v, char *error, size_t error_size) {
    if (v->backend == PVMH_BASELINE_MEMFD) {
        v->memslots_v2 = ioctl(v->kvm, KVM_CHECK_EXTENSION, BASELINE_CAP_USER_MEMORY2) > 0;
        return 0;
    }
    if (v->backend != PVMH_BASELINE_GMEM) {
        set_error(error, error_size, "unknown RAM backend %d", (int)v->backend);
        return -1;
    }
    // A capability the kernel lacks reads 0, with no errno worth quoting.
    if (ioctl(v->kvm, KVM_CHECK_EXTENSION, BASELINE_CAP_GUEST_MEMFD) <= 0) {
        set_error(error, error_size, "KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD) is 0: this kernel has no guest_memfd");
        return -1;
    }
    int gmem_flags = ioctl(v->kvm, KVM_CHECK_EXTENSION, BASELINE_CAP_GUEST_MEMFD_FLAGS);
    uint64_t needed = BASELINE_GMEM_FLAG_MMAP | BASELINE_GMEM_FLAG_INIT_SHARED;
    if (gmem_flags < 0 || ((uint64_t)gmem_flags & needed) != needed) {
        set_error(error, error_size, "KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD_FLAGS) is %d: guest_memfd here lacks MMAP|INIT_SHARED", gmem_flags);
        return -1;
    }
    if (ioctl(v->kvm, KVM_CHECK_EXTENSION, BASELINE_CAP_USER_MEMORY2) <= 0) {
        set_error(error, error_size, "KVM_CHECK_EXTENSION(KVM_CAP_USER_MEMORY2) is 0: no memslot can bind a guest_memfd");
        return -1;
    }
    return 0;
}

/// The guest_memfd (MMAP|INIT_SHARED, owned by the VM) or the memfd (shmem
/// sized with ftruncate, owned by this process), as TwoViewGuestRAM makes it.
static int create_memory_file(struct vm *v, char *error, size_t error_size) {
    if (v->backend == PVMH_BASELINE_GMEM) {
        struct baseline_create_guest_memfd gmem = {
            .size = v->ram_size, .flags = BASELINE_GMEM_FLAG_MMAP | BASELINE_GMEM_FLAG_INIT_SHARED,
        };
        v->memory_fd = ioctl(v->vm, BASELINE_CREATE_GUEST_MEMFD, &gmem);
        if (v->memory_fd < 0) FAIL("KVM_CREATE_GUEST_MEMFD");
        return 0;
    }
    v->memory_fd = memfd_create("pvmh-guest-ram", MFD_CLOEXEC);
    if (v->memory_fd < 0) FAIL("memfd_create(pvmh-guest-ram)");
    if (ftruncate(v->memory_fd, (off_t)v->ram_size) < 0) FAILF("ftruncate(memfd, %llu)", (unsigned long long)v->ram_size);
    return 0;
}

/// Sets memslot 0 to `size` bytes over KVM's view (size 0 deletes it): a
/// KVM_MEM_GUEST_MEMFD slot for guest_memfd; a plain slot for a memfd, with
/// the v2 ioctl where the kernel has it and v1 before (Linux < 6.8), as pvmh.
static int set_memslot(struct vm *v, uint64_t size, char *error, size_t error_size) {
    const char *what = size == 0 ? "(delete slot 0)" : "(slot 0)";
    uint64_t address = size == 0 ? 0 : (uint64_t)(uintptr_t)v->kvm_view;
    if (v->backend == PVMH_BASELINE_MEMFD && !v->memslots_v2) {
        struct kvm_userspace_memory_region region = {
            .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = address,
        };
        if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) FAILF("KVM_SET_USER_MEMORY_REGION%s", what);
        return 0;
    }
    struct baseline_memory_region2 region = { .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = address };
    if (v->backend == PVMH_BASELINE_GMEM) {
        // Deletion keeps the flag, as this baseline always has (pvmh clears
        // it): KVM validates the flags but ignores the fd and offset of a
        // slot it is deleting.
        region.flags = BASELINE_MEM_GUEST_MEMFD;
        if (size != 0) region.guest_memfd = (uint32_t)v->memory_fd;
    }
    if (ioctl(v->vm, BASELINE_SET_USER_MEMORY_REGION2, &region) < 0) FAILF("KVM_SET_USER_MEMORY_REGION2%s", what);
    return 0;
}

/// /dev/kvm, the VM, the guest_memfd or memfd, both mappings, the memslot (pvmh's create()).
static int create_vm(struct vm *v, enum pvmh_baseline_backend backend, uint64_t ram_size, int populate,
                     char *error, size_t error_size) {
    memset(v, 0, sizeof *v);
    v->kvm = v->vm = v->memory_fd = v->vcpu = -1;
    v->backend = backend;
    v->ram_size = ram_size;
    v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (v->kvm < 0) FAIL("open(/dev/kvm)");
    if (ioctl(v->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) FAIL("KVM_GET_API_VERSION");
    if (check_backend(v, error, error_size) < 0) return -1;
    v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
    if (v->vm < 0) FAIL("KVM_CREATE_VM");
    if (create_memory_file(v, error, error_size) < 0) return -1;
    const char *label = memory_label(v);
    if (populate && fallocate(v->memory_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)ram_size) < 0) FAILF("fallocate(KEEP_SIZE) on %s", label);
    v->kvm_view = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->memory_fd, 0);
    if (v->kvm_view == MAP_FAILED) { v->kvm_view = NULL; FAILF("mmap(%s, KVM's view)", label); }
    v->host_view = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->memory_fd, 0);
    if (v->host_view == MAP_FAILED) { v->host_view = NULL; FAILF("mmap(%s, host view)", label); }
    if (set_memslot(v, ram_size, error, error_size) < 0) return -1;
    v->slot_bound = 1;
    (void)ioctl(v->vm, KVM_CHECK_EXTENSION, BASELINE_CAP_MEMORY_ATTRIBUTES);
    // All of guest memory private: the host view goes PROT_NONE.
    if (mprotect(v->host_view, ram_size, PROT_NONE) < 0) FAIL("mprotect(host view, PROT_NONE)");
    return 0;
}

/// One vCPU with KVM's CPUID and the 32-bit flat boot state (EDI transport, ESI RAM size).
static int create_vcpu(struct vm *v, uint64_t entry, char *error, size_t error_size) {
    int size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < 0) FAIL("KVM_GET_VCPU_MMAP_SIZE");
    enum { MAX_ENTRIES = 256 };
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
    if (!cpuid) FAIL("calloc(kvm_cpuid2)");
    cpuid->nent = MAX_ENTRIES;
    int status = ioctl(v->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0 ? -1 : 0;
    if (status == 0) {
        v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
        if (v->vcpu < 0) status = -2;
    }
    if (status == 0) {
        v->run_size = (size_t)size;
        v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->vcpu, 0);
        if (v->run == MAP_FAILED) { v->run = NULL; status = -3; }
    }
    if (status == 0 && ioctl(v->vcpu, KVM_SET_CPUID2, cpuid) < 0) status = -4;
    int saved = errno;
    free(cpuid);
    errno = saved;
    static const char *const steps[] = { "", "KVM_GET_SUPPORTED_CPUID", "KVM_CREATE_VCPU", "mmap(kvm_run)", "KVM_SET_CPUID2" };
    if (status != 0) FAIL(steps[-status]);

    struct kvm_sregs sregs;
    if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs) < 0) FAIL("KVM_GET_SREGS");
    struct kvm_segment code = {
        .base = 0, .limit = 0xFFFFFFFF, .selector = 0x08, .type = 0x0B, .present = 1, .dpl = 0,
        .db = 1, .s = 1, .l = 0, .g = 1,
    };
    struct kvm_segment data = code;
    data.selector = 0x10;
    data.type = 0x03;
    sregs.cs = code;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 = (sregs.cr0 | 0x1) & ~0x80000000ull;
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs) < 0) FAIL("KVM_SET_SREGS");
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = entry;
    regs.rflags = 0x2;
    regs.rdi = TRANSPORT_DOORBELL;
    regs.rsi = v->ram_size & 0xFFFFFFFFull;
    if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) FAIL("KVM_SET_REGS");
    return 0;
}

/// PT_LOAD segments copied in through KVM's view (the host view is PROT_NONE).
static int load_elf(struct vm *v, const uint8_t *elf, size_t size, uint64_t *entry, char *error, size_t error_size) {
    const Elf64_Ehdr *header = (const Elf64_Ehdr *)elf;
    if (size < sizeof *header || memcmp(header->e_ident, ELFMAG, SELFMAG) != 0 || header->e_ident[EI_CLASS] != ELFCLASS64 ||
        header->e_machine != EM_X86_64 || header->e_phentsize != sizeof(Elf64_Phdr) ||
        header->e_phoff > size || (size - header->e_phoff) / sizeof(Elf64_Phdr) < header->e_phnum) {
        set_error(error, error_size, "the guest is not an x86_64 ELF64 executable");
        return -1;
    }
    const Elf64_Phdr *program = (const Elf64_Phdr *)(elf + header->e_phoff);
    for (int i = 0; i < header->e_phnum; i++) {
        const Elf64_Phdr *p = &program[i];
        if (p->p_type != PT_LOAD || p->p_memsz == 0) continue;
        if (p->p_offset > size || p->p_filesz > size - p->p_offset || p->p_filesz > p->p_memsz ||
            p->p_paddr > v->ram_size || p->p_memsz > v->ram_size - p->p_paddr) {
            set_error(error, error_size, "PT_LOAD %d does not fit the file or guest RAM", i);
            return -1;
        }
        memcpy(v->kvm_view + p->p_paddr, elf + p->p_offset, p->p_filesz);
    }
    *entry = header->e_entry;
    return 0;
}

static int page_shared(const struct vm *v, uint64_t page) { return (v->shared[page / 8] >> (page % 8)) & 1; }
static void set_page(struct vm *v, uint64_t page, int shared) {
    if (shared) v->shared[page / 8] |= (uint8_t)(1u << (page % 8));
    else v->shared[page / 8] &= (uint8_t)~(1u << (page % 8));
}

/// KVM_HC_MAP_GPA_RANGE with the demo's rules: aligned, inside RAM, every
/// page in the opposite state (all-or-nothing); then the host view follows.
static int64_t map_gpa_range(struct vm *v, uint64_t gpa, uint64_t pages, uint64_t attributes) {
    int make_shared = (attributes & 0x10) == 0;
    if (gpa % PAGE != 0 || pages == 0 || (attributes & 0xF) != 0) return REJECTED;
    uint64_t first = gpa / PAGE, total = v->ram_size / PAGE;
    if (first >= total || pages > total - first) return REJECTED;
    for (uint64_t page = first; page < first + pages; page++) {
        if (page_shared(v, page) == make_shared) return REJECTED;
    }
    for (uint64_t page = first; page < first + pages; page++) set_page(v, page, make_shared);
    if (mprotect(v->host_view + gpa, pages * PAGE, make_shared ? PROT_READ | PROT_WRITE : PROT_NONE) < 0) return REJECTED;
    return 0;
}

static int run_guest(struct vm *v, int sync_regs, struct pvmh_baseline_result *result, char *error, size_t error_size) {
    if (sync_regs) {
        if (ioctl(v->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) <= 0) FAIL("KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS)");
        v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;
    }
    for (;;) {
        result->exits++;
        if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            FAIL("KVM_RUN");
        }
        struct kvm_run *run = v->run;
        switch (run->exit_reason) {
        case KVM_EXIT_HLT:
            return 0;
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            if (run->io.direction == KVM_EXIT_IO_IN) {
                memset(data, 0xFF, (size_t)run->io.size * run->io.count);
                break;
            }
            if (run->io.port == PORT_CONSOLE) {
                result->console_bytes += run->io.count;
            } else if (run->io.port == PORT_DOORBELL || run->io.port == PORT_REPORT) {
                struct kvm_regs local;
                struct kvm_regs *regs_ptr = &run->s.regs.regs;
                if (!sync_regs) {
                    if (ioctl(v->vcpu, KVM_GET_REGS, &local) < 0) FAIL("KVM_GET_REGS");
                    regs_ptr = &local;
                }
                struct kvm_regs regs = *regs_ptr;
                if (run->io.port == PORT_DOORBELL) {
                    int64_t answer = REJECTED;
                    if (regs.rax == HC_MAP_GPA_RANGE) {
                        result->memory_requests++;
                        answer = map_gpa_range(v, regs.rbx, regs.rcx, regs.rdx);
                        if (answer != 0) result->rejected_requests++;
                    }
                    regs.rax = (uint64_t)answer;
                    if (sync_regs) {
                        run->s.regs.regs.rax = regs.rax;
                        run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
                    } else if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) {
                        FAIL("KVM_SET_REGS");
                    }
                } else {
                    switch (regs.rax & 0xFFFFFFFF) {
                    case 2: if (regs.rcx == 1) result->checks_passed++; else result->checks_failed++; break;
                    case 3: result->guest_status = (int64_t)regs.rbx; break;
                    default: break;   // MESSAGE: nothing to read in the baseline
                    }
                }
            } else if (run->io.port == PORT_BENCH) {
                result->bench_exits++;
            }
            break;
        }
        default:
            set_error(error, error_size, "the guest stopped with exit reason %u", run->exit_reason);
            return -1;
        }
    }
}

/// Reclaim (punch the private ranges, host view readable again), unbind,
/// release, destroy: pvmh's safe order. Timed by the teardown benchmark.
static int teardown(struct vm *v, char *error, size_t error_size) {
    int failed = 0;
    if (v->memory_fd >= 0 && v->host_view) {
        uint64_t total = v->ram_size / PAGE;
        uint64_t page = 0;
        while (page < total) {
            if (v->shared && page_shared(v, page)) { page++; continue; }
            uint64_t end = page;
            while (end < total && !(v->shared && page_shared(v, end))) end++;
            if (fallocate(v->memory_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(page * PAGE), (off_t)((end - page) * PAGE)) < 0 && !failed) {
                set_error(error, error_size, "fallocate(PUNCH_HOLE) on %s failed: %s", memory_label(v), strerror(errno));
                failed = 1;
            }
            page = end;
        }
        if (mprotect(v->host_view, v->ram_size, PROT_READ | PROT_WRITE) < 0 && !failed) {
            set_error(error, error_size, "mprotect(host view) failed: %s", strerror(errno));
            failed = 1;
        }
    }
    if (v->slot_bound) {
        // The first error is the one reported; a later one is dropped.
        char slot_error[192];
        if (set_memslot(v, 0, slot_error, sizeof slot_error) < 0 && !failed) {
            set_error(error, error_size, "%s", slot_error);
            failed = 1;
        }
        v->slot_bound = 0;
    }
    if (v->kvm_view) munmap(v->kvm_view, v->ram_size);
    if (v->host_view) munmap(v->host_view, v->ram_size);
    if (v->memory_fd >= 0) close(v->memory_fd);
    if (v->run) munmap(v->run, v->run_size);
    if (v->vcpu >= 0) close(v->vcpu);
    if (v->vm >= 0) close(v->vm);
    if (v->kvm >= 0) close(v->kvm);
    free(v->shared);
    memset(v, 0, sizeof *v);
    v->kvm = v->vm = v->memory_fd = v->vcpu = -1;
    return failed ? -1 : 0;
}

int pvmh_baseline_lifecycle(const uint8_t *elf, size_t elf_size, uint64_t ram_size, enum pvmh_baseline_backend backend,
                            unsigned flags, struct pvmh_baseline_result *result) {
    memset(result, 0, sizeof *result);
    result->guest_status = -1;
    char *error = result->error;
    size_t error_size = sizeof result->error;
    if (ram_size == 0 || ram_size % PAGE != 0) {
        set_error(error, error_size, "guest RAM must be a non-zero multiple of 4096 bytes");
        return -1;
    }
    struct vm v;
    uint64_t entry = 0;
    int status = create_vm(&v, backend, ram_size, 0, error, error_size);
    if (status == 0) {
        v.shared = calloc((size_t)(ram_size / PAGE + 7) / 8, 1);
        if (!v.shared) { set_error(error, error_size, "out of memory for the page bitmap"); status = -1; }
    }
    if (status == 0) status = load_elf(&v, elf, elf_size, &entry, error, error_size);
    if (status == 0) status = create_vcpu(&v, entry, error, error_size);
    if (status == 0) status = run_guest(&v, (flags & PVMH_BASELINE_SYNC_REGS) != 0, result, error, error_size);
    char teardown_error[sizeof result->error] = "";
    if (teardown(&v, teardown_error, sizeof teardown_error) < 0 && status == 0) {
        memcpy(result->error, teardown_error, sizeof teardown_error);
        status = -1;
    }
    return status;
}

/// The untimed setup of the teardown and zero-check measurements: the size
/// checked, a VM with `bytes` of memory allocated up front and one vCPU;
/// with `written`, a word stored into every page through KVM's view, as a
/// guest that wrote all of its memory leaves it (fallocate alone leaves
/// shmem pages SEEK_DATA calls holes). On failure it tears down what it made.
static int populated_vm(struct vm *v, enum pvmh_baseline_backend backend, uint64_t bytes, int written,
                        char *error, size_t error_size) {
    if (bytes == 0 || bytes % PAGE != 0) {
        set_error(error, error_size, "the size must be a non-zero multiple of 4096 bytes");
        return -1;
    }
    int status = create_vm(v, backend, bytes, 1, error, error_size);
    if (status == 0) status = create_vcpu(v, 0x100000, error, error_size);
    for (uint64_t page = 0; status == 0 && written && page < bytes / PAGE; page++)
        ((volatile uint64_t *)((uint8_t *)v->kvm_view + page * PAGE))[0] = 0;
    if (status != 0) {
        char ignored[8];
        teardown(v, ignored, sizeof ignored);
        return -1;
    }
    return 0;
}

/// `teardown` timed; `status` says whether the setup before it worked.
static int timed_teardown(struct vm *v, int status, uint64_t *teardown_ns, char *error, size_t error_size) {
    if (status != 0) {
        char ignored[8];
        teardown(v, ignored, sizeof ignored);
        return -1;
    }
    uint64_t start = now_ns();
    status = teardown(v, error, error_size);
    *teardown_ns = now_ns() - start;
    return status;
}

int pvmh_baseline_teardown(enum pvmh_baseline_backend backend, uint64_t bytes, uint64_t *teardown_ns,
                           char *error, size_t error_size) {
    struct vm v;
    *teardown_ns = 0;
    if (populated_vm(&v, backend, bytes, 0, error, error_size) < 0) return -1;
    return timed_teardown(&v, 0, teardown_ns, error, error_size);
}

int pvmh_baseline_teardown_stressed(enum pvmh_baseline_backend backend, uint64_t bytes, const uint64_t *shared_runs,
                                    size_t run_count, uint64_t *teardown_ns, char *error, size_t error_size) {
    struct vm v;
    *teardown_ns = 0;
    if (populated_vm(&v, backend, bytes, 1, error, error_size) < 0) return -1;
    int status = 0;
    v.shared = calloc((size_t)(bytes / PAGE + 7) / 8, 1);
    if (!v.shared) { set_error(error, error_size, "out of memory for the page bitmap"); status = -1; }
    // The state a stress guest leaves: these runs shared (host view open), the rest private.
    for (size_t i = 0; status == 0 && i < run_count; i++) {
        uint64_t start = shared_runs[2 * i], count = shared_runs[2 * i + 1];
        if (count == 0 || start + count > bytes / PAGE) { set_error(error, error_size, "shared run %zu is outside guest memory", i); status = -1; break; }
        for (uint64_t page = start; page < start + count; page++) set_page(&v, page, 1);
        if (mprotect((uint8_t *)v.host_view + start * PAGE, count * PAGE, PROT_READ | PROT_WRITE) < 0) {
            set_error(error, error_size, "mprotect(host view, shared run) failed: %s", strerror(errno));
            status = -1;
        }
    }
    return timed_teardown(&v, status, teardown_ns, error, error_size);
}

int pvmh_baseline_zero_check(enum pvmh_baseline_backend backend, uint64_t bytes, int punched, uint64_t *check_ns,
                             uint64_t *nonzero_pages, char *error, size_t error_size) {
    struct vm v;
    *check_ns = 0;
    *nonzero_pages = 0;
    if (populated_vm(&v, backend, bytes, 1, error, error_size) < 0) return -1;
    int status = 0;
    if (punched && fallocate(v.memory_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)bytes) < 0) {
        set_error(error, error_size, "fallocate(PUNCH_HOLE) on %s failed: %s", memory_label(&v), strerror(errno));
        status = -1;
    }
    if (status == 0 && mprotect(v.host_view, bytes, PROT_READ) < 0) {
        set_error(error, error_size, "mprotect(host view, PROT_READ) failed: %s", strerror(errno));
        status = -1;
    }
    if (status != 0) {
        char ignored[8];
        teardown(&v, ignored, sizeof ignored);
        return -1;
    }
    uint64_t start = now_ns();
    // Holes first (SEEK_DATA/SEEK_HOLE where the file can seek), then every
    // page of every data extent read through the host view and scanned.
    off_t offset = 0;
    uint64_t nonzero = 0;
    while ((uint64_t)offset < bytes) {
        off_t data = lseek(v.memory_fd, offset, SEEK_DATA);
        off_t hole = (off_t)bytes;
        if (data < 0) {
            if (errno == ENXIO) break;              // no data past offset: all holes
            data = offset;                          // cannot seek (guest_memfd): read the rest
        } else {
            hole = lseek(v.memory_fd, data, SEEK_HOLE);
            if (hole < 0 || (uint64_t)hole > bytes) hole = (off_t)bytes;
        }
        for (off_t page = data; page < hole; page += PAGE) {
            const uint64_t *words = (const uint64_t *)((const uint8_t *)v.host_view + page);
            uint64_t any = 0;
            for (size_t w = 0; w < PAGE / 8; w++) any |= words[w];
            if (any) nonzero++;
        }
        offset = hole;
    }
    *check_ns = now_ns() - start;
    *nonzero_pages = nonzero;
    char ignored[8];
    teardown(&v, ignored, sizeof ignored);
    return 0;
}

#else  // !__x86_64__

// The baseline is the x86_64 KVM platform's; elsewhere (arm64 builds of
// pvmh) it exists only so the package links, and says so.
int pvmh_baseline_lifecycle(const uint8_t *elf, size_t elf_size, uint64_t ram_size, enum pvmh_baseline_backend backend,
                            unsigned flags, struct pvmh_baseline_result *result) {
    (void)elf; (void)elf_size; (void)ram_size; (void)backend; (void)flags;
    memset(result, 0, sizeof *result);
    result->guest_status = -1;
    snprintf(result->error, sizeof result->error, "the C baseline runs on x86_64 only");
    return -1;
}

int pvmh_baseline_teardown(enum pvmh_baseline_backend backend, uint64_t bytes, uint64_t *teardown_ns,
                           char *error, size_t error_size) {
    (void)backend; (void)bytes;
    *teardown_ns = 0;
    if (error && error_size) snprintf(error, error_size, "the C baseline runs on x86_64 only");
    return -1;
}
int pvmh_baseline_teardown_stressed(enum pvmh_baseline_backend backend, uint64_t bytes, const uint64_t *shared_runs,
                                    size_t run_count, uint64_t *teardown_ns, char *error, size_t error_size) {
    (void)backend; (void)bytes; (void)shared_runs; (void)run_count;
    *teardown_ns = 0;
    if (error && error_size) snprintf(error, error_size, "the C baseline runs on x86_64 only");
    return -1;
}

int pvmh_baseline_zero_check(enum pvmh_baseline_backend backend, uint64_t bytes, int punched, uint64_t *check_ns,
                             uint64_t *nonzero_pages, char *error, size_t error_size) {
    (void)backend; (void)bytes; (void)punched;
    *check_ns = 0;
    *nonzero_pages = 0;
    if (error && error_size) snprintf(error, error_size, "the C baseline runs on x86_64 only");
    return -1;
}
#endif
