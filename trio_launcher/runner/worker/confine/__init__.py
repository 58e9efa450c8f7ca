"""Kernel confinement of task processes: the layers under the language-level sandbox.

Everything here runs in the stdlib-only worker and its forked task processes
(no Trio, no attrs, no ``typing`` at run time).  The runner only builds the
plan (:mod:`trio_launcher.runner.sandbox.kernel_plan`) and reads the report
the worker sends back (:mod:`trio_launcher.runner.sandbox.confinement_check`).

* :mod:`.seccomp`: a BPF syscall filter, built here in code, per task;
* :mod:`.syscalls`: the system call numbers it names, per architecture;
* :mod:`.landlock`: file-system, TCP and signal/abstract-socket scoping;
* :mod:`.privileges`: ``PR_SET_NO_NEW_PRIVS`` and dropping every capability;
* :mod:`.namespaces`: user, PID, network, mount and IPC namespaces per worker;
* :mod:`.layers`: the layer names, the order they are applied in, and the report.
"""
