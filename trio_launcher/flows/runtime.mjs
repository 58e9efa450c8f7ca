// The shipped Node.js runtime of the flow runtime pipe protocol, version 0:
//
//     node runtime.mjs IN_FIFO OUT_FIFO
//
// See docs/flow-runtime-protocol.md. Standard library only. It sends `hello`
// first, then handles the runner's frames in the order they come, from one run
// queue, and exits 0 at end of IN. The frames produced while handling one chunk
// of input go out in one write.
//
// A module's source defines `function handle(message, context, send)`:
// `send(port, message)` emits, every property set on `context` is written
// through to the runner, returning ends the invocation (`done`) and throwing
// reports an `error` with the line of the module's source.

import fs from "node:fs";
import net from "node:net";
import process from "node:process";
import vm from "node:vm";

const PROTOCOL = 0;
const CAPABILITIES = ["sync-modules"];
const MAX_FRAME_LENGTH = 64 * 1024 * 1024;
const MAX_HEADER_LENGTH = 0xffff;
const REQUIRED_FIELDS = {
  load: ["module"],
  unload: ["module"],
  invoke: ["id", "module"],
  ping: ["id"],
};

class ModuleError extends Error {
  constructor(message, line) {
    super(message);
    this.line = line;
  }
}

class FrameError extends Error {}

function encodeFrame(header, body) {
  const head = Buffer.from(JSON.stringify(header), "utf8");
  if (head.length > MAX_HEADER_LENGTH) {
    throw new FrameError(`frame header of ${head.length} bytes is over ${MAX_HEADER_LENGTH}`);
  }
  const length = 2 + head.length + body.length;
  if (length > MAX_FRAME_LENGTH) {
    throw new FrameError(`frame length ${length} is over the limit of ${MAX_FRAME_LENGTH}`);
  }
  const prefix = Buffer.allocUnsafe(6);
  prefix.writeUInt32BE(length, 0);
  prefix.writeUInt16BE(head.length, 4);
  return Buffer.concat([prefix, head, body]);
}

function jsonBytes(value) {
  return Buffer.from(JSON.stringify(value === undefined ? null : value), "utf8");
}

// Splits the byte stream from the runner into frames, however it is chunked.
class FrameReader {
  constructor() {
    this.chunks = [];
    this.size = 0;
  }

  feed(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const frames = [];
    let needed = this.nextFrameEnd();
    while (needed !== null && this.size >= needed) {
      const buffer = this.take(needed);
      frames.push(parseFrame(buffer.subarray(4)));
      needed = this.nextFrameEnd();
    }
    return frames;
  }

  nextFrameEnd() {
    if (this.size < 4) {
      return null;
    }
    const first = this.chunks[0].length >= 4 ? this.chunks[0] : this.join();
    const length = first.readUInt32BE(0);
    if (length > MAX_FRAME_LENGTH) {
      throw new FrameError(`frame length ${length} is over the limit of ${MAX_FRAME_LENGTH}`);
    }
    if (length < 2) {
      throw new FrameError(`frame length ${length} is too short for a header length`);
    }
    return 4 + length;
  }

  join() {
    const whole = Buffer.concat(this.chunks, this.size);
    this.chunks = [whole];
    return whole;
  }

  take(count) {
    const whole = this.chunks.length === 1 ? this.chunks[0] : this.join();
    const rest = whole.subarray(count);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return whole.subarray(0, count);
  }
}

function parseFrame(frame) {
  const headLength = frame.readUInt16BE(0);
  const bodyStart = 2 + headLength;
  if (bodyStart > frame.length) {
    throw new FrameError(`header length ${headLength} is over the frame's ${frame.length - 2}`);
  }
  let header;
  try {
    header = JSON.parse(frame.toString("utf8", 2, bodyStart));
  } catch (error) {
    throw new FrameError(`frame header is not JSON: ${error.message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new FrameError("frame header is not a JSON object");
  }
  if (typeof header.t !== "string") {
    throw new FrameError("frame header has no type 't' (a string)");
  }
  return { header, body: frame.subarray(bodyStart) };
}

function filenameOf(module) {
  return `<flow module ${module}>`;
}

// The innermost line of the module's source in `error`'s stack, or null.
function lineIn(error, filename) {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`${escaped}:(\\d+)`).exec(stack);
  return match ? Number(match[1]) : null;
}

function moduleError(error, filename) {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ModuleError(message, lineIn(error, filename));
}

// The `handle` function that `source` defines, as module `module`.
function compile(module, source) {
  const filename = filenameOf(module);
  const body = `${source}\n;return typeof handle === "function" ? handle : undefined;`;
  let define;
  try {
    define = vm.compileFunction(body, [], { filename });
  } catch (error) {
    throw moduleError(error, filename);
  }
  let handle;
  try {
    handle = define();
  } catch (error) {
    throw moduleError(error, filename);
  }
  if (typeof handle !== "function") {
    throw new ModuleError("the module defines no function handle(message, context, send)", null);
  }
  return handle;
}

// A module's context: an object whose every property set is written through.
function writeThroughContext(data, writeThrough) {
  return new Proxy(data, {
    set(target, key, value) {
      if (typeof key !== "string") {
        throw new TypeError("context keys are strings");
      }
      writeThrough(key, value);
      target[key] = value;
      return true;
    },
    deleteProperty() {
      throw new TypeError("context keys cannot be deleted (protocol v0); set them to null");
    },
  });
}

function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}

// Turns the runner's frames into calls of module functions, and results into frames.
class Runtime {
  constructor(write) {
    this.write = write;
    this.modules = new Map();
    this.queue = [];
    this.handlers = {
      load: (frame) => this.load(frame),
      unload: (frame) => this.modules.delete(frame.header.module),
      invoke: (frame) => this.invoke(frame),
      ping: (frame) => this.send({ t: "pong", id: frame.header.id }),
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
    for (const frame of this.queue.splice(0)) {
      const type = frame.header.t;
      const handler = Object.hasOwn(this.handlers, type) ? this.handlers[type] : null;
      if (handler === null) {
        this.log("", "warning", `unknown frame type '${type}' ignored`);
        continue;
      }
      const missing = REQUIRED_FIELDS[type].find((field) => !(field in frame.header));
      if (missing !== undefined) {
        this.log("", "warning", `'${type}' frame without '${missing}' ignored`);
        continue;
      }
      handler(frame);
    }
  }

  send(header, body) {
    this.write(encodeFrame(header, body === undefined ? Buffer.alloc(0) : jsonBytes(body)));
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
    } catch (error) {
      this.error(name, new ModuleError(`bad load body: ${error}`, null));
      return;
    }
    let handle;
    try {
      handle = compile(name, spec.source);
    } catch (error) {
      this.error(name, error);
      return;
    }
    const data = { ...(spec.context ?? {}) };
    const context = writeThroughContext(data, (key, value) => {
      this.send({ t: "ctx.set", module: name }, { key, value: value ?? null });
    });
    this.modules.set(name, { name, handle, context, filename: filenameOf(name) });
    this.send({ t: "loaded", module: name });
  }

  invoke(frame) {
    const { id: invocation, module: name } = frame.header;
    const module = this.modules.get(name);
    if (module === undefined) {
      const error = new ModuleError(`no module ${JSON.stringify(name)} is loaded`, null);
      this.error(name, error, invocation);
      return;
    }
    try {
      const message = frame.body.length ? JSON.parse(frame.body.toString("utf8")) : null;
      const result = module.handle(message, module.context, this.sender(module, invocation));
      if (isThenable(result)) {
        result.then(undefined, () => {});
        throw new TypeError("handle returned a promise; this runtime runs sync modules only");
      }
    } catch (error) {
      this.error(name, moduleError(error, module.filename), invocation);
      return;
    }
    this.send({ t: "done", id: invocation });
  }

  sender(module, invocation) {
    return (port, message) => {
      this.send({ t: "emit", id: invocation, module: module.name, port }, message);
    };
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
  const runtime = new Runtime((data) => output.write(data));
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
