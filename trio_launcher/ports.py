"""What to tell a user whose server cannot listen: the setting, the address, what to do.

For a port in use, also who holds it, when this user may see that process.
"""

from __future__ import annotations

import errno

__all__ = ["cannot_listen_message", "first_os_error", "port_holders"]


def first_os_error(exc: BaseException) -> OSError | None:
    """The first :class:`OSError` in ``exc`` or in its exception groups, if any."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = first_os_error(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, OSError) else None


def port_holders(port: int) -> list[str]:
    """``pid N (name)`` of each process this user may see listening on TCP ``port``."""
    import psutil  # type: ignore[import-untyped]

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return []
    pids = sorted(
        {
            c.pid
            for c in connections
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
        }
    )
    holders = []
    for pid in pids:
        try:
            holders.append(f"pid {pid} ({psutil.Process(pid).name()})")
        except psutil.Error:
            holders.append(f"pid {pid}")
    return holders


def cannot_listen_message(
    error: OSError,
    *,
    host: str,
    port: int,
    port_setting: str,
    host_setting: str,
    where_set: str = "",
) -> str:
    """One line: which setting to change, for ``error`` met listening on ``host:port``.

    ``where_set`` says where else the setting may come from (appended in parentheses).
    """
    also = f" ({where_set})" if where_set else ""
    if error.errno == errno.EADDRINUSE:
        holders = port_holders(port)
        held = f", held by {', '.join(holders)}" if holders else ""
        return (
            f"{port_setting}: {host}:{port} is already in use{held}; "
            f"stop that process or set {port_setting} to a free port{also}"
        )
    if error.errno == errno.EACCES:
        return (
            f"{port_setting}: not allowed to listen on port {port} (ports below 1024 need "
            f"privileges); choose a port from 1024 to 65535{also}"
        )
    reason = error.strerror or str(error)
    return (
        f"{host_setting}: cannot listen on {host}:{port} ({reason}); "
        "give an address of this machine"
    )
