#!/usr/bin/env python3
"""Checks that a CUDA binary holds machine code for every requested target.

Reads the ELF's .nv_fatbin section directly (cuobjdump is not on CPU-only
machines). Each fatbin entry header records the SM number; the arch-specific
targets (sm_90a) set bit 0x100000 in the entry flags.
usage: check_cuda_targets.py BINARY "75;80;90a"
"""
import struct
import sys

FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_CUBIN = 1, 2
ARCH_SPECIFIC_FLAG = 0x100000


def elf_section(data, wanted):
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise SystemExit("not a 64-bit ELF file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    for h in headers:
        name = data[strtab + h[0]:data.index(b"\0", strtab + h[0])].decode()
        if name == wanted:
            return data[h[4]:h[4] + h[5]]
    return b""


def fatbin_targets(section):
    """Yields ('sm_90a' | 'compute_90', ...) for every entry."""
    off = 0
    while off + 16 <= len(section):
        magic, _version, header_size, size = struct.unpack_from("<IHHQ", section, off)
        if magic != FATBIN_MAGIC:
            break
        entry, end = off + header_size, off + header_size + size
        while entry < end:
            kind, _v, entry_header_size, payload = struct.unpack_from("<HHIQ", section, entry)
            arch = struct.unpack_from("<I", section, entry + 28)[0]
            flags = struct.unpack_from("<Q", section, entry + 40)[0]
            suffix = "a" if flags & ARCH_SPECIFIC_FLAG else ""
            prefix = "sm" if kind == KIND_CUBIN else "compute"
            yield f"{prefix}_{arch}{suffix}"
            entry += entry_header_size + payload
        off = end


def expected_targets(archs):
    for a in archs.split(";"):
        a = a.strip()
        if not a:
            continue
        if a.endswith("-virtual"):
            yield "compute_" + a[: -len("-virtual")]
        else:
            yield "sm_" + a.replace("-real", "")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data = open(sys.argv[1], "rb").read()
    found = set(fatbin_targets(elf_section(data, ".nv_fatbin")))
    want = set(expected_targets(sys.argv[2]))
    print("targets in binary:", " ".join(sorted(found)) or "none")
    missing = want - found
    if missing:
        print("MISSING:", " ".join(sorted(missing)))
        return 1
    print(f"all {len(want)} requested targets present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
