"""The embedded task broker, wire-compatible with n8n's task runners."""

from .config import BrokerConfig
from .errors import (
    BrokerDraining,
    RunnerDisconnected,
    TaskError,
    TaskFailed,
    TaskRequestTimedOut,
    TaskTimedOut,
)
from .requester import RpcHandler, TaskResult
from .serve import open_broker, serve_broker
from .server import Broker, BrokerStatus

__all__ = [
    "Broker",
    "BrokerConfig",
    "BrokerDraining",
    "BrokerStatus",
    "RpcHandler",
    "RunnerDisconnected",
    "TaskError",
    "TaskFailed",
    "TaskRequestTimedOut",
    "TaskResult",
    "TaskTimedOut",
    "open_broker",
    "serve_broker",
]
