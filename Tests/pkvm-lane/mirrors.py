#!/usr/bin/env python3
"""Finds this machine's Debian mirrors in its own apt sources.

The lane never names a package archive itself: it downloads from the mirror
the machine already uses. This reads /etc/apt/sources.list,
/etc/apt/sources.list.d/*.list (one-line format) and
/etc/apt/sources.list.d/*.sources (deb822), in apt's order, and prints

    main URI        the first `deb` URI serving a Debian suite (bookworm,
                    trixie-updates, sid, stable, …) that is not a security suite
    security URI    the first `deb` URI serving a Debian security suite
                    (bookworm-security, bullseye-security, buster/updates), if any

usage: mirrors.py [--root DIR]
  --root DIR   read DIR/etc/apt/… instead of /etc/apt/… (for tests)

Exit 0 when a main mirror was found (the security line only when there is
one); otherwise exit 1 with one sentence on stderr saying what was read.
Disabled entries (`Enabled: no`), deb-src, and URIs apt-get and debootstrap
cannot both fetch from (cdrom:, mirror+…, tor+…) are ignored; so is every
suite that is not Debian's (Ubuntu's jammy, a vendor's "nodistro", …).
"""
import glob
import os
import re
import sys

# Debian's release code names and suite aliases. A suite counts when its part
# before the first '-' or '/' is one of these (bookworm-backports,
# trixie-security, buster/updates, sid).
DEBIAN_SUITES = {
    "hamm", "slink", "potato", "woody", "sarge", "etch", "lenny", "squeeze",
    "wheezy", "jessie", "stretch", "buster", "bullseye", "bookworm", "trixie",
    "forky", "duke", "sid", "experimental", "rc-buggy",
    "oldoldstable", "oldstable", "stable", "testing", "unstable",
}
FETCHABLE = re.compile(r"^(https?|ftp|file):", re.IGNORECASE)


def suite_kind(suite):
    """'main', 'security' or None for a suite name."""
    suite = suite.strip()
    base = re.split(r"[-/]", suite, maxsplit=1)[0].lower()
    if base not in DEBIAN_SUITES:
        return None
    if suite.endswith("-security") or suite.endswith("/updates"):
        return "security"
    return "main"


def one_line_entries(text):
    """(types, uris, suites) from a one-line-format sources.list."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        # Options in brackets may contain blanks: "deb [ arch=amd64 ] URI …".
        line = re.sub(r"\[[^\]]*\]", " ", line)
        fields = line.split()
        if len(fields) < 3:
            continue
        yield [fields[0]], [fields[1]], [fields[2]]


def deb822_entries(text):
    """(types, uris, suites) from each stanza of a deb822 .sources file."""
    stanzas = re.split(r"\n[ \t]*\n", text)
    for stanza in stanzas:
        fields = {}
        key = None
        for raw in stanza.splitlines():
            if raw.startswith("#"):
                continue
            if raw[:1] in (" ", "\t") and key:
                fields[key] += " " + raw.strip()
                continue
            name, sep, value = raw.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            fields[key] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "uris" not in fields or "suites" not in fields:
            continue
        yield fields.get("types", "deb").split(), fields["uris"].split(), fields["suites"].split()


def source_files(root):
    etc = os.path.join(root, "etc/apt")
    files = []
    main = os.path.join(etc, "sources.list")
    if os.path.isfile(main):
        files.append((main, "list"))
    for path in sorted(glob.glob(os.path.join(etc, "sources.list.d", "*"))):
        if path.endswith(".list"):
            files.append((path, "list"))
        elif path.endswith(".sources"):
            files.append((path, "sources"))
    return files


def find(root="/"):
    found = {}
    files = source_files(root)
    for path, kind in files:
        try:
            with open(path, "r", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        entries = one_line_entries(text) if kind == "list" else deb822_entries(text)
        for types, uris, suites in entries:
            if "deb" not in types:
                continue
            for uri in uris:
                if not FETCHABLE.match(uri):
                    continue
                for suite in suites:
                    which = suite_kind(suite)
                    if which and which not in found:
                        found[which] = uri.rstrip("/")
    return found, [path for path, _ in files]


def main(argv):
    root = "/"
    args = argv[1:]
    if args[:1] == ["--root"] and len(args) == 2:
        root = args[1]
    elif args:
        sys.stderr.write(__doc__)
        return 2
    found, files = find(root)
    if "main" not in found:
        read = ", ".join(files) if files else "no apt sources file at all"
        sys.stderr.write("no deb line or stanza in this machine's apt sources serves a Debian suite (read: %s)\n" % read)
        return 1
    print("main", found["main"])
    if "security" in found:
        print("security", found["security"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
