"""The standard reason strings of n8n's protocol, as they appear on the wire."""

from __future__ import annotations

from typing import Final

# runner:taskrejected reasons (reference 3.2, 5.2)
OFFER_EXPIRED: Final = "Offer expired - not accepted within validity window"
AT_CAPACITY: Final = "No open task slots - runner already at capacity"
SHUTTING_DOWN: Final = "Runner is shutting down"

# broker:taskcancel reasons (reference 3.1)
CANCELLED_BY_USER: Final = "Task cancelled by user"
TASK_TIMED_OUT: Final = "Task execution timed out"
ACCEPT_WINDOW_ELAPSED: Final = "Acknowledgement window elapsed"
REQUEST_EXPIRED: Final = "Task request expired"
REQUESTER_TOO_SLOW: Final = "Requester took too long to acknowledge the task"
BROKER_SHUTTING_DOWN: Final = "Task aborted because this n8n instance is shutting down"

# broker:requestexpired reasons (reference 3.3)
EXPIRED_TIMEOUT: Final = "timeout"
EXPIRED_DRAINING: Final = "draining"

# WebSocket close codes used by the broker (reference 4.7)
CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_POLICY_VIOLATION: Final = 1008
CLOSE_MESSAGE_TOO_BIG: Final = 1009
