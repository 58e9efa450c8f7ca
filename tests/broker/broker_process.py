"""A broker in a process of its own: ``python broker_process.py AUTH REQUESTER``.

Prints ``{"port": N}`` on stdout once it listens and serves until its stdin
closes (so it ends with the test that started it).
"""

from __future__ import annotations

import json
import os
import sys

import trio

from trio_launcher.broker import BrokerConfig, serve_broker


async def main(auth_token: str, requester_token: str) -> None:
    config = BrokerConfig(port=0, auth_token=auth_token, requester_token=requester_token)
    async with trio.open_nursery() as nursery:
        broker = await nursery.start(serve_broker, config)
        print(json.dumps({"port": broker.port}), flush=True)
        stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
        while await stdin.receive_some():
            pass
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2])
