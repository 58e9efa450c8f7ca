"""A minimal n8n task runner for launcher tests: task type ``echo``, result = the settings.

Run as ``python fake_echo_runner.py`` with the environment a launcher gives a
runner (docs/launcher.md): it connects with ``N8N_RUNNERS_GRANT_TOKEN`` to
``N8N_RUNNERS_TASK_BROKER_URI``, answers ``GET /healthz`` on
``N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT`` and exits 0 after
``N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT`` idle seconds (0: never). It exits 4 when
the broker closes the connection (its grant token is spent, like our runner)
and on SIGTERM dies at once (no handler): it never holds a task for long.

Built on the sans-IO :class:`~trio_launcher.protocol.runner.RunnerConnection`,
in the loop its docstring shows.
"""

from __future__ import annotations

import math
import os
import sys
from urllib.parse import urlsplit

import trio
import trio_websocket

from trio_launcher.protocol import decode, encode
from trio_launcher.protocol.messages import RunnerToBroker
from trio_launcher.protocol.runner import (
    DrainRequested,
    Registered,
    RunnerConnection,
    StartTask,
    Step,
    TaskAccepted,
)
from trio_launcher.transport.http_messages import Request, Response
from trio_launcher.transport.http_server import serve_http_connection

TASK_TYPE = "echo"
EXIT_IDLE = 0
EXIT_CONNECTION_LOST = 4


async def serve_health(port: int, *, task_status: trio.TaskStatus[None]) -> None:
    host = os.environ.get("N8N_RUNNERS_HEALTH_CHECK_SERVER_HOST", "127.0.0.1")
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started()

    async def on_request(request: Request) -> Response:
        if request.path != "/healthz":
            return Response.json(404, {"message": "Not Found"})
        return Response.json(200, {"status": "ok"})

    async def refuse(request: Request, stream: trio.abc.Stream) -> Response:
        return Response.json(404, {"message": "Not Found"})

    async def serve(stream: trio.SocketStream) -> None:
        await serve_http_connection(stream, on_request, refuse, max_body=4096)

    await trio.serve_listeners(serve, listeners)


class EchoRunner:
    def __init__(self, idle_timeout: float) -> None:
        self.machine = RunnerConnection(
            name="echo test runner", task_types=[TASK_TYPE], max_concurrency=2
        )
        self.idle_timeout = idle_timeout
        self.idle_deadline = math.inf
        self.draining = False

    def touch(self) -> None:
        if self.idle_timeout > 0:
            self.idle_deadline = trio.current_time() + self.idle_timeout

    def handle(self, step: Step) -> list[RunnerToBroker]:
        """Carry out ``step``'s events; every message to send, in order."""
        to_send = list(step.to_send)
        for event in step.events:
            if isinstance(event, Registered | TaskAccepted):
                self.touch()
            elif isinstance(event, StartTask):
                to_send += self.machine.task_done(event.task_id, {"result": event.settings})
                self.touch()
            elif isinstance(event, DrainRequested):
                self.draining = True
        return to_send

    async def serve(self, ws: trio_websocket.WebSocketConnection) -> int:
        machine = self.machine
        while True:
            offer_deadline = machine.next_deadline()
            wake_at = min(
                math.inf if offer_deadline is None else offer_deadline, self.idle_deadline
            )
            steps = []
            with trio.move_on_at(wake_at):
                try:
                    frame = await ws.get_message()
                except trio_websocket.ConnectionClosed:
                    return EXIT_CONNECTION_LOST
                steps.append(machine.receive(decode(frame), trio.current_time()))
            now = trio.current_time()
            steps.append(machine.expire_waiting(now))
            for step in steps:
                for message in self.handle(step):
                    await ws.send_message(encode(message))
            for offer in machine.offers_due(now):
                await ws.send_message(encode(offer))
            if (now >= self.idle_deadline or self.draining) and machine.is_idle:
                machine.stop_offering()
                await ws.aclose()
                return EXIT_IDLE


async def main() -> int:
    grant_token = os.environ["N8N_RUNNERS_GRANT_TOKEN"]
    netloc = urlsplit(os.environ["N8N_RUNNERS_TASK_BROKER_URI"]).netloc
    health_port = int(os.environ["N8N_RUNNERS_HEALTH_CHECK_SERVER_PORT"])
    runner = EchoRunner(float(os.environ.get("N8N_RUNNERS_AUTO_SHUTDOWN_TIMEOUT", "0")))
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_health, health_port)
        async with trio_websocket.open_websocket_url(
            f"ws://{netloc}/runners/_ws?id=echo{os.getpid()}",
            extra_headers=[(b"Authorization", f"Bearer {grant_token}".encode())],
        ) as ws:
            code = await runner.serve(ws)
        nursery.cancel_scope.cancel()
    print(f"echo runner exits with code {code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(trio.run(main))
