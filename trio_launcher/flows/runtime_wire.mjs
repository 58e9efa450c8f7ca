// The frames of the flow runtime pipe protocol, version 0, for runtime.mjs:
// u32 N (big-endian), then u16 H, H bytes of header (JSON, with the type `t`),
// and N - 2 - H bytes of body. See docs/flow-runtime-protocol.md.

const MAX_FRAME_LENGTH = 64 * 1024 * 1024;
const MAX_HEADER_LENGTH = 0xffff;

export class FrameError extends Error {}

export function encodeFrame(header, body) {
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

export function jsonBytes(value) {
  return Buffer.from(JSON.stringify(value === undefined ? null : value), "utf8");
}

// Splits the byte stream from the runner into frames, however it is chunked.
export class FrameReader {
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

// The items of a batched body: each a u32 length (big-endian) and its bytes.
export function unpackItems(body) {
  const items = [];
  let start = 0;
  while (start < body.length) {
    if (body.length - start < 4) {
      throw new FrameError("a batched body ends inside an item's length");
    }
    const end = start + 4 + body.readUInt32BE(start);
    if (end > body.length) {
      throw new FrameError("a batched item is over the body's end");
    }
    items.push(body.subarray(start + 4, end));
    start = end;
  }
  return items;
}

function packItems(items) {
  const parts = [];
  for (const item of items) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(item.length, 0);
    parts.push(length, item);
  }
  return Buffer.concat(parts);
}

const FLUSH_AGE_MS = 2;
const BATCH_BYTES = 1 << 20;

// Frames to send, batched once the runner asked for batches: consecutive emits of one
// module's port become one emit of `n` items (`id` of the first's invocation, `to` of
// the last's), consecutive dones of consecutive ids one done with `n`. A done may wait
// behind later emits; any other frame first writes what waits, emits before dones.
// What waits is written once it is FLUSH_AGE_MS old, and `flush` is called then.
export class FrameWriter {
  constructor(write, flush) {
    this.write = write;
    this.flushOut = flush;
    this.batches = false;
    this.emits = [];
    this.emitBytes = 0;
    this.emitKey = null;
    this.emitFirst = this.emitLast = "";
    this.doneFirst = -1;
    this.doneCount = 0;
    this.since = null;
  }

  frame(data) {
    this.close();
    this.write(data);
    this.age();
  }

  emit(id, module, port, data) {
    if (!this.batches) {
      this.write(encodeFrame({ t: "emit", id, module, port }, data));
      this.age();
      return;
    }
    const key = `${module}\u0000${port}`;
    if (this.emitKey !== key || this.emitBytes >= BATCH_BYTES) {
      this.closeEmits();
      this.emitKey = key;
      this.emitModule = module;
      this.emitPort = port;
      this.emitFirst = id;
    }
    this.emits.push(data);
    this.emitBytes += data.length;
    this.emitLast = id;
    this.age();
  }

  done(id) {
    const number = this.batches && /^\d+$/.test(id) ? Number(id) : -1;
    if (this.doneCount && number === this.doneFirst + this.doneCount) {
      this.doneCount += 1;
      this.age();
      return;
    }
    this.close();
    if (number < 0) {
      this.write(encodeFrame({ t: "done", id }, Buffer.alloc(0)));
    } else {
      this.doneFirst = number;
      this.doneCount = 1;
    }
    this.age();
  }

  close() {
    this.closeEmits();
    if (this.doneCount) {
      const header = { t: "done", id: String(this.doneFirst) };
      if (this.doneCount > 1) {
        header.n = this.doneCount;
      }
      this.write(encodeFrame(header, Buffer.alloc(0)));
      this.doneCount = 0;
    }
  }

  flush() {
    this.close();
    this.since = null;
    return this.flushOut();
  }

  age() {
    const now = performance.now();
    if (this.since === null) {
      this.since = now;
    } else if (now - this.since >= FLUSH_AGE_MS) {
      this.flush();
    }
  }

  closeEmits() {
    const emits = this.emits;
    if (!emits.length) {
      return;
    }
    const header = { t: "emit", id: this.emitFirst, module: this.emitModule, port: this.emitPort };
    if (emits.length === 1) {
      this.write(encodeFrame(header, emits[0]));
    } else {
      header.n = emits.length;
      header.to = this.emitLast;
      this.write(encodeFrame(header, packItems(emits)));
    }
    this.emits = [];
    this.emitBytes = 0;
    this.emitKey = null;
  }
}
