#!/usr/bin/env python3
"""Writes a gzipped newc cpio archive (an initramfs) from a list of entries.

The host has no cpio(1), and the kernel only needs the "newc" format, which is
a 110-byte ASCII header per entry, the name, and the data, each padded to 4
bytes, ending with a TRAILER!!! entry (Documentation/driver-api/early-userspace/
buffer-format.rst).

usage: mkinitramfs.py OUTPUT.gz SPEC...
  SPEC is one of
    dir:PATH                       a directory (mode 0755)
    file:PATH=SOURCE[:MODE]        a file copied from SOURCE (MODE octal, default 0644)
    symlink:PATH=TARGET            a symbolic link
    nod:PATH=c:MAJOR:MINOR[:MODE]  a character device node (e.g. /dev/console)
Entries are written in the order given; parents must come before children.
Timestamps are 0 and owners root, so the same inputs give the same archive.
"""
import gzip
import os
import stat
import sys


def header(ino, mode, size, name, rdevmajor=0, rdevminor=0, nlink=1):
    fields = [
        ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevmajor, rdevminor,
        len(name) + 1, 0,
    ]
    text = "070701" + "".join("%08X" % value for value in fields)
    return text.encode("ascii")


def pad(data_length):
    return b"\0" * ((4 - data_length % 4) % 4)


def entry(ino, mode, name, data=b"", rdev=(0, 0)):
    name_bytes = name.encode()
    head = header(ino, mode, len(data), name_bytes, rdev[0], rdev[1],
                  nlink=2 if stat.S_ISDIR(mode) else 1)
    record = head + name_bytes + b"\0"
    record += pad(len(record))
    record += data + pad(len(data))
    return record


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    output, specs = argv[1], argv[2:]
    chunks = []
    ino = 1
    for spec in specs:
        kind, _, rest = spec.partition(":")
        ino += 1
        if kind == "dir":
            chunks.append(entry(ino, stat.S_IFDIR | 0o755, rest.lstrip("/")))
        elif kind == "file":
            path, _, source = rest.partition("=")
            mode = 0o644
            if ":" in source:
                source, _, mode_text = source.rpartition(":")
                mode = int(mode_text, 8)
            with open(source, "rb") as handle:
                data = handle.read()
            chunks.append(entry(ino, stat.S_IFREG | mode, path.lstrip("/"), data))
        elif kind == "symlink":
            path, _, target = rest.partition("=")
            chunks.append(entry(ino, stat.S_IFLNK | 0o777, path.lstrip("/"), target.encode()))
        elif kind == "nod":
            path, _, device = rest.partition("=")
            parts = device.split(":")
            if parts[0] != "c" or len(parts) not in (3, 4):
                sys.stderr.write("mkinitramfs.py: %s: give nod:PATH=c:MAJOR:MINOR[:MODE]\n" % spec)
                return 2
            mode = int(parts[3], 8) if len(parts) == 4 else 0o600
            chunks.append(entry(ino, stat.S_IFCHR | mode, path.lstrip("/"), rdev=(int(parts[1]), int(parts[2]))))
        else:
            sys.stderr.write("mkinitramfs.py: unknown entry kind in %r; use dir:, file:, symlink: or nod:\n" % spec)
            return 2
    chunks.append(entry(0, 0, "TRAILER!!!"))
    archive = b"".join(chunks)
    archive += b"\0" * ((512 - len(archive) % 512) % 512)
    temporary = output + ".tmp"
    with open(temporary, "wb") as raw:
        # mtime=0: reproducible; level 6 is plenty for a 20 MB archive.
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as compressed:
            compressed.write(archive)
    os.replace(temporary, output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
