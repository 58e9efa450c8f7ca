"""System call numbers of the architectures the seccomp filter supports.

Only the calls the filter names are listed.  Numbers from 424 up are the same
on every architecture.  ``tests/runner/test_confine_seccomp.py`` checks the
tables against the kernel headers where they are installed.
"""

from __future__ import annotations

import os

#: ``AUDIT_ARCH_*`` values the kernel puts in ``seccomp_data.arch``.
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
#: x32 system calls (x86_64 only) have this bit set in their number.
X32_SYSCALL_BIT = 0x40000000

_COMMON = {
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "clone3": 435,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "process_mrelease": 448,
    "statmount": 457,
    "listmount": 458,
}

X86_64 = {
    **_COMMON,
    "ioctl": 16, "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50,
    "socketpair": 53, "clone": 56, "execve": 59, "kill": 62, "ptrace": 101, "syslog": 103,
    "setuid": 105, "setgid": 106, "setpgid": 109, "setsid": 112, "setreuid": 113,
    "setregid": 114, "setgroups": 116, "setresuid": 117, "setresgid": 119, "getpgid": 121,
    "setfsuid": 122, "setfsgid": 123, "getsid": 124, "capset": 126, "rt_sigqueueinfo": 129,
    "personality": 135, "setpriority": 141, "sched_setparam": 142, "sched_setscheduler": 144,
    "vhangup": 153, "pivot_root": 155, "adjtimex": 159, "setrlimit": 160, "chroot": 161,
    "acct": 163, "settimeofday": 164, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "sethostname": 170, "setdomainname": 171, "iopl": 172,
    "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179, "tkill": 200,
    "sched_setaffinity": 203, "clock_settime": 227, "tgkill": 234, "add_key": 248,
    "request_key": 249, "keyctl": 250, "migrate_pages": 256, "unshare": 272,
    "get_robust_list": 274, "move_pages": 279, "accept4": 288, "rt_tgsigqueueinfo": 297,
    "perf_event_open": 298, "fanotify_init": 300, "prlimit64": 302, "name_to_handle_at": 303,
    "open_by_handle_at": 304, "clock_adjtime": 305, "setns": 308, "process_vm_readv": 310,
    "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "sched_setattr": 314,
    "kexec_file_load": 320, "bpf": 321, "execveat": 322, "userfaultfd": 323,
    "kexec_load": 246,
}  # fmt: skip

AARCH64 = {
    **_COMMON,
    "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "quotactl": 60,
    "acct": 89, "capset": 91, "personality": 92, "unshare": 97, "get_robust_list": 100,
    "kexec_load": 104, "init_module": 105, "delete_module": 106, "clock_settime": 112,
    "syslog": 116, "ptrace": 117, "sched_setparam": 118, "sched_setscheduler": 119,
    "sched_setaffinity": 122, "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
    "setpriority": 140, "reboot": 142, "setregid": 143, "setgid": 144, "setreuid": 145,
    "setuid": 146, "setresuid": 147, "setresgid": 149, "setfsuid": 151, "setfsgid": 152,
    "setpgid": 154, "getpgid": 155, "getsid": 156, "setsid": 157, "setgroups": 159,
    "sethostname": 161, "setdomainname": 162, "setrlimit": 164, "settimeofday": 170,
    "adjtimex": 171, "socket": 198, "socketpair": 199, "bind": 200, "listen": 201,
    "accept": 202, "connect": 203, "add_key": 217, "request_key": 218, "keyctl": 219,
    "clone": 220, "execve": 221, "swapon": 224, "swapoff": 225, "migrate_pages": 238,
    "move_pages": 239, "rt_tgsigqueueinfo": 240, "perf_event_open": 241, "accept4": 242,
    "prlimit64": 261, "fanotify_init": 262, "name_to_handle_at": 264, "open_by_handle_at": 265,
    "clock_adjtime": 266, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271,
    "kcmp": 272, "finit_module": 273, "sched_setattr": 274, "bpf": 280, "execveat": 281,
    "userfaultfd": 282, "kexec_file_load": 294, "vhangup": 58,
}  # fmt: skip

#: Calls above this number (reviewed up to Linux 6.18) fail with ``ENOSYS``.
HIGHEST_REVIEWED = 462

_MACHINES = {
    "x86_64": (AUDIT_ARCH_X86_64, X86_64),
    "amd64": (AUDIT_ARCH_X86_64, X86_64),
    "aarch64": (AUDIT_ARCH_AARCH64, AARCH64),
    "arm64": (AUDIT_ARCH_AARCH64, AARCH64),
}


def native() -> tuple[int, dict[str, int]] | None:
    """``(audit arch, numbers)`` of this machine, or None if the filter does not know it."""
    return _MACHINES.get(os.uname().machine.lower())
