"""A flow in two languages: Python doubles each number, Node.js adds one, Python counts.

Run it with ``python examples/flows_two_languages.py`` (Node.js on PATH).
"""

import trio

from trio_launcher.flows.runner import open_flow_runner

FLOW = {
    "id": "numbers",
    "inports": {"in": {"process": "double", "port": "in"}},
    "outports": {"out": {"process": "count", "port": "out"}},
    "processes": {
        "double": {
            "component": "double",
            "metadata": {
                "runtime": "python",
                "source": "def handle(message, context, send):\n    send('out', message * 2)\n",
            },
        },
        "add": {
            "component": "add",
            "metadata": {
                "runtime": "node",
                "source": "function handle(message, context, send) {\n"
                "  send('out', message + 1);\n}\n",
            },
        },
        "count": {
            "component": "count",
            "metadata": {
                "runtime": "python",
                "source": "def handle(message, context, send):\n"
                "    context['seen'] = context.get('seen', 0) + 1\n"
                "    send('out', {'value': message, 'seen': context['seen']})\n",
            },
        },
    },
    "connections": [
        {"src": {"process": "double", "port": "out"}, "tgt": {"process": "add", "port": "in"}},
        {"src": {"process": "add", "port": "out"}, "tgt": {"process": "count", "port": "in"}},
    ],
}


async def main() -> None:
    async with open_flow_runner() as runner:
        await runner.add_or_update_flow(FLOW)
        await runner.start_flow("numbers")
        async with runner.output("numbers", "out") as results:
            for n in range(3):
                await runner.send("numbers", "in", n)
                print(await anext(results))
        await runner.stop_flow("numbers")


if __name__ == "__main__":
    trio.run(main)
