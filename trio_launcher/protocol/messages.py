"""Every message of n8n's task broker protocol, one frozen attrs class each.

Field names are snake_case here; the codec (:mod:`.codec`) maps them to the
camelCase wire names (``task_id`` <-> ``taskId``). Opaque payloads
(``settings``, ``data``, ``error``, ``params``, ``request_params``,
``node_types``) are typed ``Any`` and passed through untouched. A field whose
default is :data:`ABSENT` is optional and left out of the wire JSON when absent.

The ``TYPE`` class attribute is the wire ``type`` string.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, TypeAlias

import attrs

__all__ = [
    "ABSENT",
    "BROKER_TO_REQUESTER",
    "BROKER_TO_RUNNER",
    "MESSAGE_TYPES",
    "REQUESTER_TO_BROKER",
    "RUNNER_TO_BROKER",
    "Absent",
    "BrokerDrain",
    "BrokerInfoRequest",
    "BrokerNodeTypes",
    "BrokerNodeTypesRequest",
    "BrokerRequestExpired",
    "BrokerRpc",
    "BrokerRpcResponse",
    "BrokerRunnerRegistered",
    "BrokerTaskCancel",
    "BrokerTaskDataRequest",
    "BrokerTaskDataResponse",
    "BrokerTaskDone",
    "BrokerTaskError",
    "BrokerTaskOfferAccept",
    "BrokerTaskReady",
    "BrokerTaskSettings",
    "Message",
    "RequesterNodeTypesResponse",
    "RequesterRpcResponse",
    "RequesterTaskCancel",
    "RequesterTaskDataResponse",
    "RequesterTaskRequest",
    "RequesterTaskSettings",
    "RunnerInfo",
    "RunnerNodeTypesRequest",
    "RunnerRpc",
    "RunnerTaskAccepted",
    "RunnerTaskDataRequest",
    "RunnerTaskDeferred",
    "RunnerTaskDone",
    "RunnerTaskError",
    "RunnerTaskOffer",
    "RunnerTaskRejected",
    "UnknownMessage",
]


class Absent:
    """Type of :data:`ABSENT`, the value of an optional field left out of the wire JSON."""

    _instance: ClassVar[Absent | None] = None

    def __new__(cls) -> Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = Absent()


# --- broker -> runner (reference 3.1) ---------------------------------------


@attrs.frozen
class BrokerInfoRequest:
    """Sent by the broker as soon as a runner's WebSocket opens."""

    TYPE: ClassVar[str] = "broker:inforequest"


@attrs.frozen
class BrokerRunnerRegistered:
    """Reply to :class:`RunnerInfo`: the runner may now send offers."""

    TYPE: ClassVar[str] = "broker:runnerregistered"


@attrs.frozen
class BrokerTaskOfferAccept:
    """The broker picked one of the runner's offers for a new task."""

    TYPE: ClassVar[str] = "broker:taskofferaccept"
    task_id: str
    offer_id: str


@attrs.frozen
class BrokerTaskSettings:
    """The task's payload, forwarded verbatim from the requester."""

    TYPE: ClassVar[str] = "broker:tasksettings"
    task_id: str
    settings: Any


@attrs.frozen
class BrokerTaskCancel:
    """Cancel a waiting or running task."""

    TYPE: ClassVar[str] = "broker:taskcancel"
    task_id: str
    reason: str


@attrs.frozen
class BrokerRpcResponse:
    """Result of a runner's :class:`RunnerRpc` call."""

    TYPE: ClassVar[str] = "broker:rpcresponse"
    call_id: str
    task_id: str
    status: str
    data: Any = ABSENT


@attrs.frozen
class BrokerTaskDataResponse:
    """Answer to :class:`RunnerTaskDataRequest` (JS runner only)."""

    TYPE: ClassVar[str] = "broker:taskdataresponse"
    task_id: str
    request_id: str
    data: Any


@attrs.frozen
class BrokerNodeTypes:
    """Answer to :class:`RunnerNodeTypesRequest` (JS runner only)."""

    TYPE: ClassVar[str] = "broker:nodetypes"
    task_id: str
    request_id: str
    node_types: Any


@attrs.frozen
class BrokerDrain:
    """The broker is shutting down: stop offering, finish running tasks."""

    TYPE: ClassVar[str] = "broker:drain"


# --- runner -> broker (reference 3.2) ---------------------------------------


@attrs.frozen
class RunnerInfo:
    """First message of a runner: who it is and which task types it runs."""

    TYPE: ClassVar[str] = "runner:info"
    name: str
    types: tuple[str, ...]


@attrs.frozen
class RunnerTaskOffer:
    """An offer to take one task of ``task_type``; ``valid_for`` ms, or -1 for never expiring."""

    TYPE: ClassVar[str] = "runner:taskoffer"
    offer_id: str
    task_type: str
    valid_for: int


@attrs.frozen
class RunnerTaskAccepted:
    """The runner takes the task of a :class:`BrokerTaskOfferAccept`."""

    TYPE: ClassVar[str] = "runner:taskaccepted"
    task_id: str


@attrs.frozen
class RunnerTaskRejected:
    """The runner declines the task of a :class:`BrokerTaskOfferAccept`."""

    TYPE: ClassVar[str] = "runner:taskrejected"
    task_id: str
    reason: str


@attrs.frozen
class RunnerTaskDeferred:
    """Launcher only: hold the task until the real runner connects."""

    TYPE: ClassVar[str] = "runner:taskdeferred"
    task_id: str


@attrs.frozen
class RunnerTaskDone:
    """The task finished; ``data`` is ``{"result": ..., "customData"?, "staticData"?}``."""

    TYPE: ClassVar[str] = "runner:taskdone"
    task_id: str
    data: Any


@attrs.frozen
class RunnerTaskError:
    """The task failed; ``error`` is an error object (``message``, ``description``, ...)."""

    TYPE: ClassVar[str] = "runner:taskerror"
    task_id: str
    error: Any


@attrs.frozen
class RunnerRpc:
    """A call from task code to the requester (``logNodeOutput``, ``helpers.*``)."""

    TYPE: ClassVar[str] = "runner:rpc"
    call_id: str
    task_id: str
    name: str
    params: Any


@attrs.frozen
class RunnerTaskDataRequest:
    """The JS runner asks for the task's input data."""

    TYPE: ClassVar[str] = "runner:taskdatarequest"
    task_id: str
    request_id: str
    request_params: Any


@attrs.frozen
class RunnerNodeTypesRequest:
    """The JS runner asks for node-type descriptions."""

    TYPE: ClassVar[str] = "runner:nodetypesrequest"
    task_id: str
    request_id: str
    request_params: Any


# --- requester -> broker (reference 3.3) ------------------------------------


@attrs.frozen
class RequesterTaskRequest:
    """Ask for a runner of ``task_type``."""

    TYPE: ClassVar[str] = "requester:taskrequest"
    request_id: str
    task_type: str


@attrs.frozen
class RequesterTaskSettings:
    """The task's payload, sent after :class:`BrokerTaskReady`."""

    TYPE: ClassVar[str] = "requester:tasksettings"
    task_id: str
    settings: Any


@attrs.frozen
class RequesterTaskCancel:
    """Cancel a task the requester no longer wants."""

    TYPE: ClassVar[str] = "requester:taskcancel"
    task_id: str
    reason: str


@attrs.frozen
class RequesterTaskDataResponse:
    """Answer to :class:`BrokerTaskDataRequest`."""

    TYPE: ClassVar[str] = "requester:taskdataresponse"
    task_id: str
    request_id: str
    data: Any


@attrs.frozen
class RequesterNodeTypesResponse:
    """Answer to :class:`BrokerNodeTypesRequest`."""

    TYPE: ClassVar[str] = "requester:nodetypesresponse"
    task_id: str
    request_id: str
    node_types: Any


@attrs.frozen
class RequesterRpcResponse:
    """Answer to :class:`BrokerRpc`."""

    TYPE: ClassVar[str] = "requester:rpcresponse"
    task_id: str
    call_id: str
    status: str
    data: Any = ABSENT


# --- broker -> requester (reference 3.3) ------------------------------------


@attrs.frozen
class BrokerTaskReady:
    """A runner accepted the request's task: send its settings now."""

    TYPE: ClassVar[str] = "broker:taskready"
    request_id: str
    task_id: str


@attrs.frozen
class BrokerTaskDone:
    """The task finished with ``data`` (the runner's TaskResultData)."""

    TYPE: ClassVar[str] = "broker:taskdone"
    task_id: str
    data: Any


@attrs.frozen
class BrokerTaskError:
    """The task failed: the runner's error, or a broker error (timeout, disconnect)."""

    TYPE: ClassVar[str] = "broker:taskerror"
    task_id: str
    error: Any


@attrs.frozen
class BrokerRequestExpired:
    """No runner took the request in time (``"timeout"``), or the broker is ``"draining"``."""

    TYPE: ClassVar[str] = "broker:requestexpired"
    request_id: str
    reason: str


@attrs.frozen
class BrokerTaskDataRequest:
    """A runner's data request, forwarded to the requester."""

    TYPE: ClassVar[str] = "broker:taskdatarequest"
    task_id: str
    request_id: str
    request_params: Any


@attrs.frozen
class BrokerNodeTypesRequest:
    """A runner's node-types request, forwarded to the requester."""

    TYPE: ClassVar[str] = "broker:nodetypesrequest"
    task_id: str
    request_id: str
    request_params: Any


@attrs.frozen
class BrokerRpc:
    """A runner's RPC call, forwarded to the requester."""

    TYPE: ClassVar[str] = "broker:rpc"
    call_id: str
    task_id: str
    name: str
    params: Any


# --- anything else ------------------------------------------------------------


@attrs.frozen
class UnknownMessage:
    """A message whose ``type`` this version does not know; ``raw`` is the whole object."""

    type: str
    raw: dict[str, Any]


BrokerToRunner: TypeAlias = (
    BrokerInfoRequest
    | BrokerRunnerRegistered
    | BrokerTaskOfferAccept
    | BrokerTaskSettings
    | BrokerTaskCancel
    | BrokerRpcResponse
    | BrokerTaskDataResponse
    | BrokerNodeTypes
    | BrokerDrain
)
RunnerToBroker: TypeAlias = (
    RunnerInfo
    | RunnerTaskOffer
    | RunnerTaskAccepted
    | RunnerTaskRejected
    | RunnerTaskDeferred
    | RunnerTaskDone
    | RunnerTaskError
    | RunnerRpc
    | RunnerTaskDataRequest
    | RunnerNodeTypesRequest
)
RequesterToBroker: TypeAlias = (
    RequesterTaskRequest
    | RequesterTaskSettings
    | RequesterTaskCancel
    | RequesterTaskDataResponse
    | RequesterNodeTypesResponse
    | RequesterRpcResponse
)
BrokerToRequester: TypeAlias = (
    BrokerTaskReady
    | BrokerTaskDone
    | BrokerTaskError
    | BrokerRequestExpired
    | BrokerTaskDataRequest
    | BrokerNodeTypesRequest
    | BrokerRpc
)
Message: TypeAlias = (
    BrokerToRunner | RunnerToBroker | RequesterToBroker | BrokerToRequester | UnknownMessage
)

BROKER_TO_RUNNER: Final[tuple[type[Any], ...]] = BrokerToRunner.__args__
RUNNER_TO_BROKER: Final[tuple[type[Any], ...]] = RunnerToBroker.__args__
REQUESTER_TO_BROKER: Final[tuple[type[Any], ...]] = RequesterToBroker.__args__
BROKER_TO_REQUESTER: Final[tuple[type[Any], ...]] = BrokerToRequester.__args__

#: Wire ``type`` string -> message class, for every known message.
MESSAGE_TYPES: Final[dict[str, type[Any]]] = {
    cls.TYPE: cls
    for cls in (*BROKER_TO_RUNNER, *RUNNER_TO_BROKER, *REQUESTER_TO_BROKER, *BROKER_TO_REQUESTER)
}
