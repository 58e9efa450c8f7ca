"""Answers to the data requests of n8n's JS runner, built from the caller's items.

n8n's JS runner receives no input in its settings: it asks the broker for the
task's data (``runner:taskdatarequest``) and for node-type descriptions. With
no n8n behind the broker, we answer from what the caller of
:meth:`Broker.run_task` gave: the input items, and a one-node workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["task_data_response"]

NODE_NAME = "Code"


def task_data_response(items: Sequence[Any], settings: Any) -> dict[str, Any]:
    """A DataRequestResponse (reference 3.4) holding ``items`` as the Code node's input."""
    settings = settings if isinstance(settings, dict) else {}
    node = {
        "id": "trio-launcher-code-node",
        "name": NODE_NAME,
        "type": "n8n-nodes-base.code",
        "typeVersion": 2,
        "position": [0, 0],
        "parameters": {
            "mode": settings.get("nodeMode", "runOnceForAllItems"),
            "language": "javaScript",
            "jsCode": settings.get("code", ""),
        },
    }
    return {
        "workflow": {
            "id": "trio-launcher",
            "name": "trio-launcher task",
            "active": False,
            "connections": {},
            "nodes": [node],
            "settings": {"executionOrder": "v1"},
            "staticData": {},
            "pinData": {},
        },
        "inputData": {"main": [list(items)]},
        "connectionInputSource": {"main": [None]},
        "node": node,
        "runExecutionData": {
            "version": 1,
            "startData": {},
            "resultData": {"runData": {}, "pinData": {}},
            "executionData": {
                "contextData": {},
                "nodeExecutionStack": [],
                "metadata": {},
                "waitingExecution": {},
                "waitingExecutionSource": {},
            },
        },
        "runIndex": 0,
        "itemIndex": 0,
        "activeNodeName": NODE_NAME,
        "siblingParameters": {},
        "mode": settings.get("workflowMode", "manual"),
        "envProviderState": {"env": {}, "isEnvAccessBlocked": True, "isProcessAvailable": False},
        "defaultReturnRunIndex": -1,
        "selfData": {},
        "contextNodeName": NODE_NAME,
        "additionalData": {
            "restApiUrl": "",
            "instanceBaseUrl": "",
            "formWaitingBaseUrl": "",
            "webhookBaseUrl": "",
            "webhookWaitingBaseUrl": "",
            "webhookTestBaseUrl": "",
            "variables": {},
        },
    }
