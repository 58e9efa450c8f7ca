"""The messages the broker passes on between a task's runner and its requester."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..messages import (
    BrokerNodeTypes,
    BrokerNodeTypesRequest,
    BrokerRpc,
    BrokerRpcResponse,
    BrokerTaskDataRequest,
    BrokerTaskDataResponse,
    BrokerToRequester,
    BrokerToRunner,
    RequesterNodeTypesResponse,
    RequesterRpcResponse,
    RequesterTaskDataResponse,
    RunnerNodeTypesRequest,
    RunnerRpc,
    RunnerTaskAccepted,
    RunnerTaskDataRequest,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerTaskRejected,
)

__all__ = ["ABOUT_A_TASK", "TO_REQUESTER", "TO_RUNNER"]

#: While a task is in flight, a runner's message of this type -> what its requester gets.
TO_REQUESTER: Final[dict[type[Any], Callable[[Any], BrokerToRequester]]] = {
    RunnerRpc: lambda m: BrokerRpc(m.call_id, m.task_id, m.name, m.params),
    RunnerTaskDataRequest: lambda m: BrokerTaskDataRequest(
        m.task_id, m.request_id, m.request_params
    ),
    RunnerNodeTypesRequest: lambda m: BrokerNodeTypesRequest(
        m.task_id, m.request_id, m.request_params
    ),
}
#: While a task is in flight, a requester's message of this type -> what its runner gets.
TO_RUNNER: Final[dict[type[Any], Callable[[Any], BrokerToRunner]]] = {
    RequesterTaskDataResponse: lambda m: BrokerTaskDataResponse(m.task_id, m.request_id, m.data),
    RequesterNodeTypesResponse: lambda m: BrokerNodeTypes(m.task_id, m.request_id, m.node_types),
    RequesterRpcResponse: lambda m: BrokerRpcResponse(m.call_id, m.task_id, m.status, m.data),
}

#: Runner messages about one task: the runner must have been given it.
ABOUT_A_TASK: Final = (
    RunnerTaskAccepted,
    RunnerTaskRejected,
    RunnerTaskDeferred,
    RunnerTaskDone,
    RunnerTaskError,
    RunnerRpc,
    RunnerTaskDataRequest,
    RunnerNodeTypesRequest,
)
