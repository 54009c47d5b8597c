#!/usr/bin/env python3
"""Recognises an arm64 Linux kernel image and turns it into the raw Image that
QEMU 7.2's `-kernel` boots.

Formats understood:
  raw Image     arch/arm64/boot/Image: "ARM\\x64" at offset 0x38
                (Documentation/arch/arm64/booting.rst). Debian's arm64
                vmlinuz (bookworm's 6.1, trixie's 6.12, 7.x) is this: an
                uncompressed Image with the EFI stub's "MZ" in front.
  gzip          Image.gz: a gzip stream of a raw Image.
  EFI zboot     vmlinuz.efi (CONFIG_EFI_ZBOOT): "MZ", "zimg" at offset 4, the
                payload's offset and size at 8 and 12 (le32), its compression
                at 24 ("gzip", "xz", "zstd", …; gzip and xz are unpacked here,
                zstd where this Python has compression.zstd). QEMU only learned
                to boot these in 8.x.

usage: kimage.py check FILE        exit 0 and print the format if FILE is (or
                                   wraps) a little-endian arm64 Image; else exit
                                   1 with one sentence on stderr
       kimage.py unpack FILE OUT   write the raw Image to OUT (a copy for a raw
                                   one); print the format; exit 1 as for check
"""
import lzma
import os
import struct
import sys
import zlib

ARM64_MAGIC = b"ARM\x64"
MAGIC_OFFSET = 0x38


class NotAnImage(Exception):
    pass


def raw_image(data, what):
    if len(data) < 64 or data[MAGIC_OFFSET:MAGIC_OFFSET + 4] != ARM64_MAGIC:
        raise NotAnImage("%s has no arm64 Image magic \"ARM\\x64\" at offset 0x38" % what)
    flags, = struct.unpack_from("<Q", data, 0x30)
    if flags & 1:
        raise NotAnImage("%s is a big-endian arm64 Image; the lane boots little-endian kernels" % what)
    return data


def gunzip(data):
    # wbits 47: gzip or zlib, whatever trails the stream is ignored.
    decompressor = zlib.decompressobj(47)
    out = decompressor.decompress(data)
    if not decompressor.eof:
        raise NotAnImage("the gzip stream is truncated")
    return out


def zboot_payload(data):
    offset, size = struct.unpack_from("<II", data, 8)
    kind = data[24:56].split(b"\0", 1)[0].decode("ascii", "replace")
    if offset >= len(data) or size == 0:
        raise NotAnImage("its EFI zboot header points outside the file (payload at %d, %d bytes)" % (offset, size))
    payload = data[offset:]
    if kind == "gzip":
        return kind, gunzip(payload)
    if kind in ("xz", "lzma"):
        decompressor = lzma.LZMADecompressor()
        return kind, decompressor.decompress(payload)
    if kind == "zstd":
        try:
            from compression import zstd  # Python 3.14+
        except ImportError:
            raise NotAnImage("it is an EFI zboot image with a zstd payload, which this python3 cannot unpack; give the kernel's arch/arm64/boot/Image instead")
        return kind, zstd.ZstdDecompressor().decompress(payload)
    raise NotAnImage("it is an EFI zboot image with a %r payload, which the lane cannot unpack; give the kernel's arch/arm64/boot/Image instead" % kind)


def unpack(path):
    """(format description, raw Image bytes) or NotAnImage."""
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        try:
            inner = gunzip(data)
        except (zlib.error, NotAnImage) as error:
            raise NotAnImage("it is gzip data that does not decompress (%s)" % error)
        return "gzip'd arm64 Image", raw_image(inner, "its gzip content")
    if data[:2] == b"MZ" and data[4:8] == b"zimg":
        try:
            kind, inner = zboot_payload(data)
        except (zlib.error, lzma.LZMAError) as error:
            raise NotAnImage("its EFI zboot payload does not decompress (%s)" % error)
        return "EFI zboot image with a %s payload" % kind, raw_image(inner, "its EFI zboot payload")
    if data[:4] == b"\x7fELF":
        raise NotAnImage("it is an ELF file (vmlinux?), not an arm64 Image; give arch/arm64/boot/Image")
    return "raw arm64 Image" + (" with an EFI stub" if data[:2] == b"MZ" else ""), raw_image(data, "it")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("check", "unpack") or (argv[1] == "unpack") != (len(argv) == 4):
        sys.stderr.write(__doc__)
        return 2
    path = argv[2]
    try:
        described, image = unpack(path)
    except NotAnImage as error:
        sys.stderr.write("%s is not an arm64 kernel Image: %s.\n" % (path, error))
        return 1
    except OSError as error:
        sys.stderr.write("%s cannot be read: %s.\n" % (path, error.strerror or error))
        return 1
    if argv[1] == "unpack":
        temporary = argv[3] + ".tmp"
        with open(temporary, "wb") as handle:
            handle.write(image)
        os.replace(temporary, argv[3])
    print("%s, %d bytes unpacked" % (described, len(image)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
