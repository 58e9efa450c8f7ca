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
