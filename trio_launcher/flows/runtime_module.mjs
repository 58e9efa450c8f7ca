// A module of runtime.mjs: its source compiled, its context, its errors.

import vm from "node:vm";

export class ModuleError extends Error {
  constructor(message, line) {
    super(message);
    this.line = line;
  }
}

export function filenameOf(module) {
  return `<flow module ${module}>`;
}

// The innermost line of the module's source in `error`'s stack, or null.
function lineIn(error, filename) {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`${escaped}:(\\d+)`).exec(stack);
  return match ? Number(match[1]) : null;
}

export function moduleError(error, filename) {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new ModuleError(message, lineIn(error, filename));
}

// The `handle` function that `source` defines, as module `module`.
export function compile(module, source) {
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
export function writeThroughContext(data, writeThrough) {
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

export function isThenable(value) {
  return value !== null && typeof value === "object" && typeof value.then === "function";
}

export function isAsyncFunction(fn) {
  return Object.prototype.toString.call(fn) === "[object AsyncFunction]";
}
