"""The requester's side of one task: request, settings, RPCs, data requests, outcome."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from ..mailbox import Mailbox
from ..protocol import (
    ABSENT,
    BrokerNodeTypesRequest,
    BrokerRequestExpired,
    BrokerRpc,
    BrokerTaskDataRequest,
    BrokerTaskDone,
    BrokerTaskError,
    BrokerTaskReady,
    Message,
    RequesterNodeTypesResponse,
    RequesterRpcResponse,
    RequesterTaskDataResponse,
    RequesterTaskSettings,
    n8n_errors,
)
from ..protocol.reasons import EXPIRED_DRAINING
from .errors import (
    BrokerDraining,
    RunnerDisconnected,
    TaskError,
    TaskFailed,
    TaskRequestTimedOut,
    TaskTimedOut,
)
from .task_data import task_data_response

__all__ = ["RpcHandler", "TaskResult", "run_task"]

log = logging.getLogger(__name__)

#: ``await on_rpc(name, params)`` -> the RPC's result data; raise to answer with an error.
RpcHandler = Callable[[str, Any], Awaitable[Any]]

#: Error ``name`` set by the broker core -> the exception raised to the requester.
_BROKER_ERRORS: dict[str, type[TaskError]] = {
    n8n_errors.EXECUTION_TIMEOUT: TaskTimedOut,
    n8n_errors.TIMEOUT: TaskTimedOut,
    n8n_errors.DISCONNECTED: RunnerDisconnected,
    n8n_errors.FAILED_HEARTBEAT: RunnerDisconnected,
    n8n_errors.SHUTDOWN: BrokerDraining,
}


@attrs.frozen
class TaskResult:
    """What a task produced: n8n's TaskResultData."""

    result: Any
    custom_data: Any = None
    static_data: Any = None

    @classmethod
    def from_data(cls, data: Any) -> TaskResult:
        """Build from the ``data`` of ``runner:taskdone``."""
        if not isinstance(data, dict):
            return cls(result=data)
        return cls(data.get("result"), data.get("customData"), data.get("staticData"))


async def run_task(
    inbox: Mailbox[Message],
    send: Callable[[Message], None],
    *,
    settings: Any,
    items: Sequence[Any],
    on_rpc: RpcHandler | None,
) -> TaskResult:
    """Drive one task whose request has been sent: answer the broker until an outcome."""
    while True:
        message = await inbox.get()
        if isinstance(message, BrokerTaskReady):
            send(RequesterTaskSettings(message.task_id, settings))
        elif isinstance(message, BrokerTaskDone):
            return TaskResult.from_data(message.data)
        elif isinstance(message, BrokerTaskError):
            raise task_error(message.error)
        elif isinstance(message, BrokerRequestExpired):
            if message.reason == EXPIRED_DRAINING:
                raise BrokerDraining("the broker is shutting down and takes no new tasks")
            raise TaskRequestTimedOut("no runner took the task before the request timed out")
        elif isinstance(message, BrokerRpc):
            send(await _answer_rpc(message, on_rpc))
        elif isinstance(message, BrokerTaskDataRequest):
            data = task_data_response(items, settings)
            send(RequesterTaskDataResponse(message.task_id, message.request_id, data))
        elif isinstance(message, BrokerNodeTypesRequest):
            send(RequesterNodeTypesResponse(message.task_id, message.request_id, []))


def task_error(error: Any) -> TaskError:
    """The typed exception for a ``broker:taskerror`` error object."""
    message = error.get("message") if isinstance(error, dict) else None
    name = error.get("name") if isinstance(error, dict) else None
    cls = _BROKER_ERRORS.get(name, TaskFailed) if isinstance(name, str) else TaskFailed
    return cls(str(message or error), error=error)


async def _answer_rpc(message: BrokerRpc, on_rpc: RpcHandler | None) -> RequesterRpcResponse:
    if on_rpc is None:
        log.debug("task %s: %s%r", message.task_id, message.name, message.params)
        return RequesterRpcResponse(message.task_id, message.call_id, "success")
    try:
        data = await on_rpc(message.name, message.params)
    except Exception as exc:
        return RequesterRpcResponse(message.task_id, message.call_id, "error", str(exc))
    result = ABSENT if data is None else data
    return RequesterRpcResponse(message.task_id, message.call_id, "success", result)
