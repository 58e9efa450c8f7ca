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
from .server import Broker, BrokerStatus, open_broker, serve_broker

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
