"""Kernel confinement of task processes: the layers under the language-level sandbox.

Everything here runs in the stdlib-only worker and its forked task processes
(no Trio, no attrs, no ``typing`` at run time).  The runner only builds the
plan (:mod:`.plan`) and reads the report the worker sends back.

* :mod:`.seccomp`: a BPF syscall filter, built here in code, per task;
* :mod:`.landlock`: file-system, TCP and signal/abstract-socket scoping;
* :mod:`.privileges`: ``PR_SET_NO_NEW_PRIVS`` and dropping every capability;
* :mod:`.namespaces`: user, PID, network, mount and IPC namespaces per worker;
* :mod:`.layers`: the layer names, the modes and the report.
"""
