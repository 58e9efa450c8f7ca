// The shipped Node.js runtime of the flow runtime pipe protocol, version 0:
//
//     node runtime.mjs IN_FIFO OUT_FIFO
//
// See docs/flow-runtime-protocol.md. Standard library only. It sends `hello`
// first, then handles the runner's frames in the order they come, from one run
// queue, and exits 0 at end of IN. The frames produced while handling one chunk
// of input, or by one turn of the event loop's async invocations, go out in one
// write.
//
// A module's source defines `function handle(message, context, send)`:
// `send(port, message)` emits, every property set on `context` is written
// through to the runner, returning ends the invocation (`done`) and throwing
// reports an `error` with the line of the module's source. Its `require` finds
// packages in `node_modules` of the first of the load's `paths`. A `handle`
// that returns a promise (an `async function`) ends when it settles; many run
// at once. Messages sent on a port wired to local targets are delivered to them
// here, as local invocations on the run queue, within the invocation id of the
// runner's `invoke`.

import {
  ModuleError,
  arePaths,
  builtin,
  compile,
  filenameOf,
  isAsyncFunction,
  isThenable,
  moduleError,
  moduleRequire,
  writeThroughContext,
} from "./runtime_module.mjs";
import { FrameReader, FrameWriter, encodeFrame, jsonBytes, unpackItems } from "./runtime_wire.mjs";

const fs = await builtin("node:fs");
const net = await builtin("node:net");

const PROTOCOL = 0;
const CAPABILITIES = ["sync-modules", "async-modules", "local-edges", "batches", "packages"];
const REQUIRED_FIELDS = {
  load: ["module"],
  unload: ["module"],
  invoke: ["id", "module"],
  wire: ["module"],
  release: [],
  drain: ["module"],
  "ctx.put": ["module"],
  ping: ["id"],
  batches: [],
};

// The invocations rooted at one `invoke` of the runner; `done` when none is left.
class Cascade {
  constructor(id) {
    this.id = id;
    this.pending = 1;
  }
}

// Turns the runner's frames into calls of module functions, and results into frames.
//
// A module's output port wired to local targets has a route:
// { targets: [[module, port], ...], runner: bool, holds: [array or null, ...] }; a
// target's hold queues its deliveries until the runner releases the fence.
class Runtime {
  constructor(write, flush) {
    this.writer = new FrameWriter(write, flush);
    this.modules = new Map();
    this.routes = new Map(); // module -> Map(port -> route)
    this.fences = new Map(); // fence -> held deliveries
    this.queue = [];
    this.local = [];
    this.tasks = new Map(); // module -> async invocations running
    this.drains = [];
    this.running = false; // within run(): a send needs no wake
    this.woken = false;
    this.handlers = {
      load: (frame) => this.load(frame),
      unload: (frame) => this.unload(frame.header.module),
      invoke: (frame) => this.invoke(frame),
      wire: (frame) => this.wire(frame),
      release: (frame) => this.release(frame),
      drain: (frame) => this.drain(frame.header.module),
      "ctx.put": (frame) => this.ctxPut(frame),
      ping: (frame) => this.send({ t: "pong", id: frame.header.id }),
      batches: () => {
        this.writer.batches = true; // the runner takes batched emits and dones
      },
    };
  }

  hello() {
    this.send(
      { t: "hello" },
      {
        protocol: PROTOCOL,
        runtime: "node",
        name: "trio-launcher-node",
        version: process.env.TRIO_LAUNCHER_VERSION || "0",
        pid: process.pid,
        capabilities: CAPABILITIES,
      },
    );
  }

  enqueue(frames) {
    this.queue.push(...frames);
  }

  run() {
    this.running = true;
    try {
      this.runLocal();
      for (const frame of this.queue.splice(0)) {
        this.handle(frame);
        this.runLocal();
      }
      if (this.drains.length) {
        this.answerDrains();
      }
      this.writer.close(); // what a batch holds is written by the end of each run
    } finally {
      this.running = false;
    }
  }

  handle(frame) {
    const type = frame.header.t;
    const handler = Object.hasOwn(this.handlers, type) ? this.handlers[type] : null;
    if (handler === null) {
      this.log("", "warning", `unknown frame type '${type}' ignored`);
      return;
    }
    const missing = REQUIRED_FIELDS[type].find((field) => !(field in frame.header));
    if (missing !== undefined) {
      this.log("", "warning", `'${type}' frame without '${missing}' ignored`);
      return;
    }
    try {
      handler(frame);
    } catch (error) {
      this.log("", "warning", `'${type}' frame with a bad body ignored: ${error}`);
    }
  }

  send(header, body) {
    this.writer.frame(encodeFrame(header, body === undefined ? Buffer.alloc(0) : jsonBytes(body)));
  }

  error(module, error, invocation) {
    const header = { t: "error", module };
    if (invocation !== undefined) {
      header.id = invocation;
    }
    this.send(header, { message: error.message, line: error.line });
  }

  log(module, level, message) {
    this.send({ t: "log", module }, { level, message });
  }

  load(frame) {
    const name = frame.header.module;
    let spec;
    try {
      spec = JSON.parse(frame.body.toString("utf8"));
      if (typeof spec?.source !== "string") {
        throw new TypeError("no source text");
      }
      if (spec.paths !== undefined && !arePaths(spec.paths)) {
        const given = JSON.stringify(spec.paths);
        throw new TypeError(`'paths' is not a list of absolute paths: ${given}`);
      }
    } catch (error) {
      this.error(name, new ModuleError(`bad load body: ${error}`, null));
      return;
    }
    let handle;
    try {
      const log = (level, text) => this.log(name, level, text);
      handle = compile(name, spec.source, log, moduleRequire(spec.paths ?? []));
    } catch (error) {
      this.error(name, error);
      return;
    }
    const data = { ...(spec.context ?? {}) };
    const context = writeThroughContext(data, (key, value) => {
      this.send({ t: "ctx.set", module: name }, { key, value: value ?? null });
    });
    const routes = this.routesOf(name);
    const module = { name, handle, context, data, routes, filename: filenameOf(name) };
    this.modules.set(name, module);
    this.send({ t: "loaded", module: name }, { async: isAsyncFunction(handle) });
  }

  unload(name) {
    this.modules.delete(name);
    this.routesOf(name).clear();
    for (const routes of this.routes.values()) {
      for (const route of routes.values()) {
        const kept = route.targets.map((target, index) => [target, route.holds[index]]);
        const others = kept.filter(([target]) => target[0] !== name);
        route.targets = others.map(([target]) => target);
        route.holds = others.map(([, hold]) => hold);
      }
    }
  }

  ctxPut(frame) {
    const { context } = JSON.parse(frame.body.toString("utf8"));
    const module = this.modules.get(frame.header.module);
    if (module !== undefined) {
      for (const key of Object.keys(module.data)) {
        delete module.data[key];
      }
      Object.assign(module.data, context);
    }
  }

  invoke(frame) {
    const { id, module: name, n } = frame.header;
    if (n === undefined) {
      this.invokeOne(name, id, frame.body);
      return;
    }
    const first = Number(id); // a batch: invocations id, id + 1, ... of one module
    unpackItems(frame.body).forEach((body, offset) => {
      this.invokeOne(name, String(first + offset), body);
      this.runLocal();
    });
  }

  invokeOne(name, id, body) {
    const cascade = new Cascade(id);
    let message;
    try {
      message = body.length ? JSON.parse(body.toString("utf8")) : null;
    } catch (error) {
      this.error(name, new ModuleError(`the message is not JSON: ${error.message}`, null), id);
      this.end(cascade);
      return;
    }
    this.call(name, message, cascade);
  }

  runLocal() {
    const local = this.local;
    while (local.length) {
      const [target, message, cascade] = local.shift();
      this.call(target[0], message, cascade);
    }
  }

  // One invocation of module `name` within `cascade`; an async one ends when it settles.
  call(name, message, cascade) {
    const module = this.modules.get(name);
    if (module === undefined) {
      const error = new ModuleError(`no module ${JSON.stringify(name)} is loaded`, null);
      this.error(name, error, cascade.id);
      this.end(cascade);
      return;
    }
    let result;
    try {
      result = module.handle(message, module.context, this.sender(module, cascade));
    } catch (error) {
      this.error(name, moduleError(error, module.filename), cascade.id);
    }
    if (isThenable(result)) {
      this.tasks.set(name, (this.tasks.get(name) ?? 0) + 1);
      result.then(
        () => this.settled(name, cascade),
        (error) => {
          this.error(name, moduleError(error, module.filename), cascade.id);
          this.settled(name, cascade);
        },
      );
      return;
    }
    this.end(cascade);
  }

  settled(name, cascade) {
    this.tasks.set(name, this.tasks.get(name) - 1);
    this.end(cascade);
    this.wake();
  }

  end(cascade) {
    cascade.pending -= 1;
    if (cascade.pending === 0) {
      this.writer.done(cascade.id);
    }
  }

  // Work produced outside `run` (an async invocation went on): run it, then flush.
  wake() {
    if (!this.woken) {
      this.woken = true;
      setImmediate(() => {
        this.woken = false;
        this.run();
        this.writer.flush();
      });
    }
  }

  // `send` of one invocation; it carries the cascade, so it is right after an await too.
  sender(module, cascade) {
    const { name, routes } = module;
    return (port, message) => {
      const route = routes.get(port);
      if (route === undefined) {
        this.emit(cascade, name, port, message);
      } else {
        this.route(route, cascade, name, port, message);
      }
      if (!this.running) {
        this.wake();
      }
    };
  }

  emit(cascade, name, port, message) {
    this.writer.emit(cascade.id, name, port, jsonBytes(message));
  }

  // Delivers `message` to the route's local targets: the first gets the object itself.
  route(route, cascade, name, port, message) {
    if (route.runner) {
      this.emit(cascade, name, port, message);
    }
    const { targets, holds } = route;
    for (let index = 0; index < targets.length; index += 1) {
      cascade.pending += 1;
      const queue = holds[index] ?? this.local;
      queue.push([targets[index], index ? structuredClone(message) : message, cascade]);
    }
  }

  routesOf(name) {
    let routes = this.routes.get(name);
    if (routes === undefined) {
      routes = new Map();
      this.routes.set(name, routes);
    }
    return routes;
  }

  wire(frame) {
    const name = frame.header.module;
    const { ports, fence } = JSON.parse(frame.body.toString("utf8"));
    if (fence === undefined) {
      throw new TypeError("no 'fence' (a string or null)");
    }
    let held = null;
    if (fence !== null) {
      held = this.fences.get(String(fence)) ?? [];
      this.fences.set(String(fence), held);
    }
    const current = this.routesOf(name);
    const routes = new Map();
    for (const [port, spec] of Object.entries(ports)) {
      const targets = spec.local.map(([module, into]) => [String(module), String(into)]);
      if (typeof spec.runner !== "boolean") {
        throw new TypeError(`port ${port}: 'runner' is not a boolean`);
      }
      const before = current.get(port);
      const holds = targets.map((target) => {
        const kept = holdBefore(before, target);
        return kept === undefined ? held : kept;
      });
      routes.set(port, { targets, runner: spec.runner, holds });
    }
    for (const [port, route] of routes) {
      current.set(port, route);
    }
    this.send({ t: "wired", module: name }, { fence });
  }

  release(frame) {
    const { fence } = JSON.parse(frame.body.toString("utf8"));
    const held = this.fences.get(fence);
    if (held === undefined) {
      this.log("", "warning", `release of unknown fence ${JSON.stringify(fence)} ignored`);
      return;
    }
    this.fences.delete(fence);
    this.local.push(...held);
    for (const routes of this.routes.values()) {
      for (const route of routes.values()) {
        route.holds = route.holds.map((hold) => (hold === held ? null : hold));
      }
    }
  }

  drain(name) {
    if (this.idle(name)) {
      this.send({ t: "drained", module: name });
    } else {
      this.drains.push(name);
    }
  }

  // Whether no invocation of `name` runs or waits (the local queue is empty here).
  idle(name) {
    if (this.tasks.get(name)) {
      return false;
    }
    for (const held of this.fences.values()) {
      if (held.some(([target]) => target[0] === name)) {
        return false;
      }
    }
    return true;
  }

  answerDrains() {
    const waiting = this.drains.splice(0);
    for (const name of waiting) {
      if (this.idle(name)) {
        this.send({ t: "drained", module: name });
      } else {
        this.drains.push(name);
      }
    }
  }
}

// Buffers the frames to send; `flush` writes them to OUT in one write.
class Output {
  constructor(socket) {
    this.socket = socket;
    this.pending = [];
  }

  write(data) {
    this.pending.push(data);
  }

  flush() {
    const data = Buffer.concat(this.pending.splice(0));
    return data.length === 0 || this.socket.write(data);
  }
}

// The hold of `target` in `route` (null: none) if it lists the target; undefined if not.
function holdBefore(route, target) {
  if (route === undefined) {
    return undefined;
  }
  const index = route.targets.findIndex(([module, port]) => module === target[0] && port === target[1]);
  return index < 0 ? undefined : route.holds[index];
}

// Non-blocking, so that the open does not wait for the other end; IN is opened
// read-only, so that it reaches end of file when the runner's ends close.
function openFifo(path, access, options) {
  const fd = fs.openSync(path, access | fs.constants.O_NONBLOCK);
  return new net.Socket({ fd, ...options });
}

function main(argv) {
  if (argv.length < 2) {
    process.stderr.write("usage: node runtime.mjs IN_FIFO OUT_FIFO\n");
    return 2;
  }
  const [inPath, outPath] = argv.slice(-2);
  const out = openFifo(outPath, fs.constants.O_RDWR, { readable: false, writable: true });
  const output = new Output(out);
  const input = openFifo(inPath, fs.constants.O_RDONLY, { readable: true, writable: false });
  const runtime = new Runtime(
    (data) => output.write(data),
    () => output.flush(),
  );
  const reader = new FrameReader();
  runtime.hello();
  output.flush();
  input.on("data", (chunk) => {
    runtime.enqueue(reader.feed(chunk));
    runtime.run();
    if (!output.flush()) {
      input.pause();
      output.socket.once("drain", () => input.resume());
    }
  });
  input.on("end", () => output.socket.end(() => process.exit(0)));
  return null;
}

const status = main(process.argv.slice(2));
if (status !== null) {
  process.exit(status);
}
