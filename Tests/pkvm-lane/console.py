#!/usr/bin/env python3
"""Reads the serial console of one pKVM-lane boot and decides it.

The initramfs's /init (Tests/pkvm-lane/init) prints each step between

    @@@ pvmh-lane begin STEP: COMMAND
    ...output...
    @@@ pvmh-lane end STEP rc=N seconds=S

then the kernel log (step "dmesg") and "@@@ pvmh-lane done".

usage: console.py CONSOLE_LOG [--banner TEXT]... [--expect STEP=RC]...
                  [--expect-line STEP=REGEX]... [--red STEP=REGEX]

  --banner TEXT             a kernel line that must appear (e.g. "Protected
                            nVHE mode initialized"); repeat for several
  --expect STEP=RC          STEP must have run and ended with exit code RC
  --expect-line STEP=REGEX  a line of STEP's output must match REGEX (e.g.
                            probe="run would use: arm64-memfd")
  --red STEP=REGEX          negative control: STEP must end with rc 1 and
                            report a KTAP "not ok" line matching REGEX

Prints one line per step (its rc, time, KTAP totals, and for the probe the
platform `pvmh run` picks), every problem found, and exits 0 when the boot
is as expected, 1 when it is not. When the probe found no usable /dev/kvm,
the verdict is that one sentence (the KVM steps failing is its consequence,
not news).
"""
import re
import sys

# printk lines: "[    1.234567] message". Only kernel lines are searched for
# warnings, so pvmh's own text (which may quote the kernel) cannot trip it.
PRINTK = re.compile(r"^\[\s*\d+\.\d+\]\s?(.*)$")
KERNEL_PROBLEMS = [
    "WARNING:", "BUG:", "kernel BUG", "Oops", "Internal error:", "Kernel panic",
    "Unable to handle kernel", "Call trace:", "refcount_t:", "list_add corruption",
    "list_del corruption", "UBSAN:", "KASAN:", "general protection fault", "hyp panic",
    "HYP panic", "rcu: INFO: rcu_", "soft lockup", "hung_task",
]
BEGIN = re.compile(r"^@@@ pvmh-lane begin ([\w-]+): (.*)$")
END = re.compile(r"^@@@ pvmh-lane end ([\w-]+) rc=(\d+)(?: seconds=(\d+))?$")
NO_KVM = re.compile(r"^kvm: (\S+) unusable: (.*)$")
RUN_WOULD_USE = re.compile(r"^run would use: (\S+)")
KVM_KERNEL_LINE = re.compile(r"kvm \[\d+\]: .*(not available|error|disabled|failed)", re.IGNORECASE)
KTAP_RESULT = re.compile(r"^(not ok|ok) (\d+) (\S+)(?: # (.*))?$")
TOTALS = re.compile(r"^# Totals: (.*)$")


def parse(lines):
    steps = {}
    order = []
    current = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        begin = BEGIN.match(line)
        if begin:
            current = begin.group(1)
            steps[current] = {"command": begin.group(2), "rc": None, "seconds": None, "lines": []}
            order.append(current)
            continue
        end = END.match(line)
        if end and end.group(1) in steps:
            steps[end.group(1)]["rc"] = int(end.group(2))
            if end.group(3) is not None:
                steps[end.group(1)]["seconds"] = int(end.group(3))
            current = None
            continue
        if current is not None:
            steps[current]["lines"].append(line)
    return steps, order


def ktap(step):
    results = []
    totals = None
    for line in step["lines"]:
        match = KTAP_RESULT.match(line)
        if match:
            results.append((match.group(1), match.group(3), match.group(4) or ""))
        total = TOTALS.match(line)
        if total:
            totals = total.group(1)
    return results, totals


def main(argv):
    args = argv[1:]
    if not args or args[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    path = args.pop(0)
    banners, expects, reds, expected_lines = [], {}, {}, []
    while args:
        option = args.pop(0)
        if not args:
            sys.stderr.write("console.py: %s needs a value\n" % option)
            return 2
        value = args.pop(0)
        if option == "--banner":
            banners.append(value)
        elif option == "--expect":
            step, _, rc = value.partition("=")
            expects[step] = int(rc)
        elif option == "--expect-line":
            step, _, pattern = value.partition("=")
            expected_lines.append((step, pattern))
        elif option == "--red":
            step, _, text = value.partition("=")
            reds[step] = text
        else:
            sys.stderr.write("console.py: unknown option %s\n" % option)
            return 2

    with open(path, "r", encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
    problems = []
    for banner in banners:
        if not any(banner in line for line in lines):
            problems.append("the kernel never printed %r" % banner)
    kernel_problems = []
    for line in lines:
        match = PRINTK.match(line.rstrip("\r\n"))
        if match and any(pattern in match.group(1) for pattern in KERNEL_PROBLEMS):
            if line not in kernel_problems:
                kernel_problems.append(line.rstrip())
    for line in kernel_problems[:10]:
        problems.append("the kernel logged: %s" % line)
    if not any(line.startswith("@@@ pvmh-lane done") for line in lines):
        problems.append("/init never finished (no '@@@ pvmh-lane done': a hang, a crash or the boot timeout)")

    steps, order = parse(lines)
    for name in order:
        step = steps[name]
        results, totals = ktap(step)
        failed = [r for r in results if r[0] == "not ok"]
        summary = "  %-12s rc=%s" % (name, "?" if step["rc"] is None else step["rc"])
        if step["seconds"] is not None:
            summary += "  %4d s" % step["seconds"]
        if totals:
            summary += "  KTAP %s" % totals
        for line in step["lines"]:
            chosen = RUN_WOULD_USE.match(line)
            if chosen:
                summary += "  run would use: %s" % chosen.group(1)
        print(summary)
        for result in failed:
            print("      not ok %s # %s" % (result[1], result[2]))
    for name, rc in expects.items():
        step = steps.get(name)
        if step is None:
            problems.append("step %s never ran" % name)
        elif step["rc"] is None:
            problems.append("step %s never finished" % name)
        elif step["rc"] != rc:
            problems.append("step %s (%s) exited %d, expected %d" % (name, step["command"], step["rc"], rc))
        else:
            results, _ = ktap(step)
            failed = [r for r in results if r[0] == "not ok"]
            if rc == 0 and failed:
                problems.append("step %s exited 0 but reported %d not ok" % (name, len(failed)))
    for name, text in reds.items():
        step = steps.get(name)
        if step is None or step["rc"] is None:
            problems.append("negative control: step %s never finished" % name)
            continue
        results, _ = ktap(step)
        caught = [r for r in results if r[0] == "not ok" and re.search(text, r[2])]
        if step["rc"] != 1 or not caught:
            problems.append("negative control: step %s stayed green (rc=%d, no 'not ok' saying %r)"
                            % (name, step["rc"], text))
        else:
            print("  negative control caught: not ok %s # %s" % (caught[0][1], caught[0][2][:300]))
    for name, pattern in expected_lines:
        step = steps.get(name)
        if step is None:
            problems.append("step %s never ran" % name)
        elif not any(re.search(pattern, line) for line in step["lines"]):
            problems.append("step %s printed no line matching %r" % (name, pattern))

    # A kernel without KVM: everything after the probe fails for that one
    # reason, so the verdict is that sentence (plus what the kernel logged).
    no_kvm = None
    for line in steps.get("probe", {}).get("lines", []):
        match = NO_KVM.match(line)
        if match:
            no_kvm = match
    if no_kvm:
        said = [PRINTK.match(line.rstrip("\r\n")).group(1) for line in lines
                if PRINTK.match(line.rstrip("\r\n")) and KVM_KERNEL_LINE.search(line)]
        why = no_kvm.group(2).split(";")[0]
        if said:
            sentence = "this kernel booted without KVM: %s is unusable (%s) and the kernel said \"%s\", so pvmh could only run the model" % (
                no_kvm.group(1), why, said[0].strip())
        else:
            sentence = "this kernel booted without KVM: %s is unusable (%s), so pvmh could only run the model; build the kernel with CONFIG_KVM=y (the lane's QEMU starts it at EL2)" % (
                no_kvm.group(1), why)
        problems = [sentence] + [p for p in problems if p.startswith("the kernel logged") or p.startswith("/init never")]

    for problem in problems:
        print("  PROBLEM: %s" % problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
