"""The kernel layers, applied in the worker and in each task process, and their report.

Order matters, and nothing applied can be undone by what follows:

0. in the worker, first of all: namespaces of its own (*namespaces*: user,
   PID, network, mount, IPC; :mod:`.namespaces`);
1. in the worker, once: ``PR_SET_NO_NEW_PRIVS`` and every capability dropped
   (*privileges*), the Landlock file-system and TCP domain (*landlock*), the
   worker's seccomp filter (*seccomp*);
2. in each task process, before it receives its task: a Landlock domain of
   its own that scopes signals and abstract sockets (*landlock*, ABI 6),
   then the short per-task seccomp filter (*seccomp*), unless nothing is
   left for it to do: it keeps the task in its process group, which does
   not matter once the task has a cgroup of its own (the plan's
   ``task_cgroup``), and limits signals where Landlock cannot.

A layer that cannot be applied is reported, never fatal here: the runner
reads the report (:meth:`Confinement.report`) and decides, by its sandbox
mode, whether to run without it.
"""

from __future__ import annotations

from trio_launcher.runner.worker.confine import landlock, namespaces, privileges, seccomp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMESPACES = "namespaces"
PRIVILEGES = "privileges"
LANDLOCK = "landlock"
SECCOMP = "seccomp"
#: A cgroup per task (:mod:`trio_launcher.runner.executor.task_cgroups`): set up by the runner.
CGROUP = "cgroup"
#: Every layer, in the order it is applied.
LAYERS = (NAMESPACES, PRIVILEGES, LANDLOCK, SECCOMP, CGROUP)
#: A layer's status when it is in force.
ON = "on"


class Confinement:
    """The kernel layers of one worker, from the plan in its command-line config.

    *plan* is :func:`trio_launcher.runner.sandbox.kernel_plan.worker_plan`'s result:
    ``{"layers": [...], "read": [...], "execute": [...], "read_write": [...],
    "allow_exec": bool, "task_cgroup": bool}``.
    """

    __slots__ = ("_loader", "_plan", "_scope", "_status", "_task_program")

    def __init__(self, plan: dict[str, Any]) -> None:
        self._plan = plan
        self._status: dict[str, str] = {
            name: "off (disabled)" for name in LAYERS if name not in plan["layers"]
        }
        self._scope: landlock.TaskScope | None = None
        self._loader: seccomp.FilterLoader | None = None
        self._task_program = b""

    def wants(self, layer: str) -> bool:
        """Whether the plan asks for *layer*."""
        return layer in self._plan["layers"]

    def report(self) -> dict[str, str]:
        """Each layer's status: ``on``, ``on (detail)``, ``off (disabled)`` or why not."""
        return dict(self._status)

    def enter_namespaces(self) -> None:
        """Step 0: from here on this process is PID 1 of its own namespaces, if the host lets it.

        Raises :class:`OSError` if the process was left half-way (a user
        namespace without its uid map): the worker must not go on.
        """
        if not self.wants(NAMESPACES):
            return
        try:
            detail = namespaces.enter()
        except namespaces.NamespacesUnavailable as exc:
            self._status[NAMESPACES] = (
                f"unavailable: {exc.strerror or exc}; the worker stays in the runner's namespaces"
            )
            return
        self._status[NAMESPACES] = f"{ON} ({detail})"

    @property
    def in_own_pid_namespace(self) -> bool:
        """Whether pids this process sees are those of its own PID namespace."""
        return self._status.get(NAMESPACES, "").startswith(ON)

    def apply_to_worker(self) -> None:
        """Step 1 of the module docstring, in the worker, before it forks a task."""
        if self.wants(PRIVILEGES):
            self._apply_privileges()
        abi = landlock.abi_version()
        if self.wants(LANDLOCK):
            self._apply_landlock(abi)
        if self.wants(SECCOMP):
            self._apply_seccomp(scope_signals=self._scope is not None)

    def apply_to_task(self, pid: int) -> None:
        """Step 2, in the task process *pid*; raises :class:`OSError` if a layer fails."""
        if self._scope is not None:
            self._scope.apply()
        if self._task_program:
            assert self._loader is not None
            self._loader.attach(seccomp.bind_pid(self._task_program, pid))

    def _apply_privileges(self) -> None:
        if not privileges.set_no_new_privs():
            self._status[PRIVILEGES] = "unavailable: prctl(PR_SET_NO_NEW_PRIVS) failed"
        elif not privileges.drop_capabilities():
            self._status[PRIVILEGES] = "unavailable: could not drop every capability"
        else:
            self._status[PRIVILEGES] = ON

    def _apply_landlock(self, abi: int) -> None:
        if abi < 1:
            self._status[LANDLOCK] = "unavailable: the kernel has no Landlock (Linux >= 5.13)"
            return
        try:
            landlock.restrict_filesystem(
                abi,
                read=self._plan["read"],
                execute=self._plan["execute"],
                read_write_files=self._plan["read_write"],
            )
        except landlock.LandlockUnavailable as exc:
            self._status[LANDLOCK] = f"unavailable: {exc.strerror or exc}"
            return
        detail = ["files"]
        if abi >= landlock.ABI_NET:
            detail.append("tcp")
        if abi >= landlock.ABI_SCOPE:
            self._scope = landlock.TaskScope()
            detail.append("signals")
        self._status[LANDLOCK] = f"{ON} (ABI {abi}: {', '.join(detail)})"

    def _apply_seccomp(self, *, scope_signals: bool) -> None:
        try:
            program = seccomp.worker_filter(allow_exec=bool(self._plan["allow_exec"]))
            task_program = (
                b""
                if scope_signals and self._plan.get("task_cgroup")
                else seccomp.task_filter(scope_signals=scope_signals)
            )
            loader = seccomp.FilterLoader()
            loader.attach(program)
        except (seccomp.SeccompUnavailable, OSError) as exc:
            self._status[SECCOMP] = f"unavailable: {exc.strerror or exc}"
            return
        self._loader, self._task_program = loader, task_program
        self._status[SECCOMP] = ON if scope_signals else f"{ON} (signals limited to the task)"
