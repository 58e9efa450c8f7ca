// A module of runtime.mjs: its source compiled, its context, its errors.

// A built-in module, through getBuiltinModule where Node has it (20.16+, 22.3+): the ESM
// facades that `import` builds for built-ins cost ~1.5 MB of RSS.
export async function builtin(name) {
  return process.getBuiltinModule?.(name) ?? (await import(name)).default;
}

const nodeModule = await builtin("node:module");
const path = await builtin("node:path");
const util = await builtin("node:util");
const vm = await builtin("node:vm");

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

const CONSOLE_LEVELS = { debug: "debug", log: "info", info: "info", warn: "warning", error: "error" };

// A module's `console`: what it logs goes to `log(level, text)`; the rest is the process's.
function moduleConsole(log) {
  const own = Object.create(console);
  for (const [method, level] of Object.entries(CONSOLE_LEVELS)) {
    own[method] = (...values) => log(level, util.format(...values));
  }
  return own;
}

// Whether `paths` (a load's `paths`) is an array of absolute paths.
export function arePaths(paths) {
  const absolute = (entry) => typeof entry === "string" && path.isAbsolute(entry);
  return Array.isArray(paths) && paths.every(absolute);
}

// A module's `require`: from `paths[0]/node_modules` (and up), or, without paths, from
// this file, which finds the built-ins. Node caches a package by the file it resolved
// to, so modules loaded with different paths each get the version their paths hold.
export function moduleRequire(paths) {
  const base = paths.length ? path.join(paths[0], "package.json") : import.meta.url;
  return nodeModule.createRequire(base);
}

// The `handle` function that `source` defines, as module `module`; its console logs to
// `log`, and its `require` is `require`.
export function compile(module, source, log, require) {
  const filename = filenameOf(module);
  const body = `${source}\n;return typeof handle === "function" ? handle : undefined;`;
  let define;
  try {
    define = vm.compileFunction(body, ["console", "require"], { filename });
  } catch (error) {
    throw moduleError(error, filename);
  }
  let handle;
  try {
    handle = define(moduleConsole(log), require);
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
