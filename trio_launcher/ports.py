"""What to tell a user whose port is taken: the setting, the port, and who holds it."""

from __future__ import annotations

import errno

__all__ = ["address_in_use", "port_holders", "port_in_use_message"]


def address_in_use(exc: BaseException) -> OSError | None:
    """The ``EADDRINUSE`` error in ``exc`` (or in its exception groups), if any."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = address_in_use(inner)
            if found is not None:
                return found
        return None
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return exc
    return None


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


def port_in_use_message(setting: str, host: str, port: int) -> str:
    """One line naming ``setting``, the address, who holds it when known, and what to do."""
    holders = port_holders(port)
    held = f", held by {', '.join(holders)}" if holders else ""
    return (
        f"{setting}: port {port} on {host} is already in use{held}; "
        f"stop that process or set {setting} to a free port"
    )
