#!/usr/bin/env python3
"""Search a process's memory for a string (standard library only).

Usage: find_in_memory.py PID NEEDLE
Reads every readable mapping of /proc/PID/mem except those marked
MADV_DONTDUMP ("dd" in VmFlags of /proc/PID/smaps): the agent keeps its
cached PINs in such locked pages on purpose.  Prints one line per mapping
that holds NEEDLE (its /proc/PID/maps line and the count).  Exit status: 0
not found, 1 found, 77 the memory cannot be read (needs root or ptrace
rights over PID)."""
import sys


def mappings(pid):
    """(start, end, maps line, VmFlags) of each mapping."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                lo, hi = (int(x, 16) for x in head.split("-"))
                cur = [lo, hi, line.rstrip("\n"), ""]
                out.append(cur)
            elif head == "VmFlags:" and cur is not None:
                cur[3] = line.split(":", 1)[1].split()
    return out


def main():
    pid, needle = int(sys.argv[1]), sys.argv[2].encode()
    found = scanned = 0
    try:
        mem = open("/proc/%d/mem" % pid, "rb", buffering=0)
    except OSError as e:
        print("cannot open the memory of %d: %s" % (pid, e))
        return 77
    with mem:
        for lo, hi, line, flags in mappings(pid):
            perms = line.split()[1]
            if perms[0] != "r" or "dd" in flags:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except OSError:
                continue  # [vvar] and the like
            scanned += 1
            n = data.count(needle)
            if n:
                print("%s: %d time(s)" % (line, n))
                found += 1
    if scanned == 0:
        print("no mapping of %d could be read" % pid)
        return 77
    return 1 if found else 0


sys.exit(main())
