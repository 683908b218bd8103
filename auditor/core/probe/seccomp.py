"""A seccomp filter that keeps a probe from creating user namespaces, for bubblewrap's `--seccomp FD`.

Inside a new user namespace an unprivileged process holds every capability over what it then creates: it could mount
a tmpfs of its own past the size of the sandbox's /tmp, or reach kernel code that is otherwise closed to it. bwrap's
own `--disable-userns` needs a user namespace of the sandbox's, which forkaudit running as root does not use, so the
filter does it: `unshare` and `clone` with CLONE_NEWUSER fail with EPERM, and `clone3` (whose flags a classic BPF
filter cannot read) with ENOSYS, which makes the C library fall back to `clone`. Everything else is allowed.

The program is classic BPF (`struct sock_filter` records), written here because libseccomp has no binding in the
environment forkaudit runs from.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

CLONE_NEWUSER = 0x10000000

# (AUDIT_ARCH_*, unshare, clone, clone3, the bit of another ABI's numbers that must not pass: x32 on x86_64)
_ARCHES = {
    "x86_64": (0xC000003E, 272, 56, 435, 0x40000000),
    "aarch64": (0xC00000B7, 97, 220, 435, 0),
}

# BPF opcodes (linux/filter.h, linux/seccomp.h)
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_KILL_PROCESS = 0x80000000
_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (the low word of args[0] on little-endian machines)


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def no_user_namespaces_filter(machine: str | None = None) -> bytes | None:
    """The filter program for this machine's architecture, or None where it is not known."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, unshare, clone, clone3, other_abi = arch
    deny = _ERRNO | errno.EPERM
    program = [
        _op(_LD_W_ABS, _ARCH),
        _op(_JEQ_K, audit_arch, jt=1),
        _op(_RET_K, _KILL_PROCESS),  # a system call of another architecture
        _op(_LD_W_ABS, _NR),
    ]
    if other_abi:
        program += [_op(_JGE_K, other_abi, jf=1), _op(_RET_K, deny)]
    program += [
        _op(_JEQ_K, clone3, jf=1),
        _op(_RET_K, _ERRNO | errno.ENOSYS),
        _op(_JEQ_K, unshare, jt=1),
        _op(_JEQ_K, clone, jf=3),
        _op(_LD_W_ABS, _ARG0),
        _op(_JSET_K, CLONE_NEWUSER, jf=1),
        _op(_RET_K, deny),
        _op(_RET_K, _ALLOW),
    ]
    return b"".join(program)


def filter_fd(program: bytes) -> int:
    """A file descriptor from which bwrap reads `program` (the caller passes it on and closes it)."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, program)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write_end)
    return read_end
