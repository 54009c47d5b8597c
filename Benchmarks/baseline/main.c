// main.c — the C baseline as its own process, for `pvmh bench`'s
// whole-process comparison (pvmh run vs this vs QEMU).
//
//   pvmh-baseline [--memory-backend gmem|memfd] ELF [RAM_BYTES]
//       one lifecycle of ELF (default 4 MiB); exit 0 when the guest reported
//       status 0
//   pvmh-baseline [--memory-backend gmem|memfd] --teardown BYTES
//       populate BYTES of guest memory, then print the teardown time in
//       nanoseconds
//
// --memory-backend names the file behind guest RAM as `pvmh run` does: gmem
// (guest_memfd, the default, as before the option existed) or memfd. The
// bench always gives it, so each row compares the same kernel work; unlike
// pvmh, this process never picks a backend by probing.
//
// Built by `pvmh bench` with the Swift toolchain's clang:
//   clang -O2 -o pvmh-baseline main.c baseline.c -Iinclude
#include "pvmh_baseline.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: pvmh-baseline [--memory-backend gmem|memfd] ELF [RAM_BYTES]\n"
                    "       pvmh-baseline [--memory-backend gmem|memfd] --teardown BYTES\n");
    return 2;
}

int main(int argc, char **argv) {
    enum pvmh_baseline_backend backend = PVMH_BASELINE_GMEM;
    if (argc >= 3 && strcmp(argv[1], "--memory-backend") == 0) {
        if (strcmp(argv[2], "gmem") == 0) backend = PVMH_BASELINE_GMEM;
        else if (strcmp(argv[2], "memfd") == 0) backend = PVMH_BASELINE_MEMFD;
        else {
            fprintf(stderr, "pvmh-baseline: --memory-backend %s is not a backend; use gmem or memfd\n", argv[2]);
            return 2;
        }
        // The rest parses as if the option were not there.
        argv += 2;
        argc -= 2;
    }
    if (argc == 3 && strcmp(argv[1], "--teardown") == 0) {
        uint64_t ns = 0;
        char error[192] = "";
        if (pvmh_baseline_teardown(backend, strtoull(argv[2], NULL, 0), &ns, error, sizeof error) != 0) {
            fprintf(stderr, "pvmh-baseline: %s\n", error);
            return 1;
        }
        printf("%" PRIu64 "\n", ns);
        return 0;
    }
    if (argc < 2 || argc > 3 || argv[1][0] == '-') return usage();
    uint64_t ram = argc == 3 ? strtoull(argv[2], NULL, 0) : 4u << 20;
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    struct stat info;
    if (fd < 0 || fstat(fd, &info) != 0 || info.st_size <= 0) {
        fprintf(stderr, "pvmh-baseline: cannot read %s\n", argv[1]);
        return 2;
    }
    uint8_t *elf = malloc((size_t)info.st_size);
    size_t have = 0;
    while (elf && have < (size_t)info.st_size) {
        ssize_t n = read(fd, elf + have, (size_t)info.st_size - have);
        if (n <= 0) break;
        have += (size_t)n;
    }
    close(fd);
    if (!elf || have != (size_t)info.st_size) {
        fprintf(stderr, "pvmh-baseline: cannot read %s\n", argv[1]);
        return 2;
    }
    struct pvmh_baseline_result result;
    int status = pvmh_baseline_lifecycle(elf, have, ram, backend, 0, &result);
    free(elf);
    if (status != 0) {
        fprintf(stderr, "pvmh-baseline: %s\n", result.error);
        return 1;
    }
    return result.guest_status == 0 ? 0 : 1;
}
