// Node-RED embedded without its editor or HTTP endpoints, for the benchmarks.
//
// NODE_RED_HOME is the folder whose node_modules holds node-red (the benchmark's
// cache); each start gets a temporary userDir that stop() removes.

import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

const home = process.env.NODE_RED_HOME;
if (!home) throw new Error("NODE_RED_HOME is not set");
const RED = createRequire(path.join(home, "package.json"))("node-red");

/** The next emission of a Node-RED runtime event, as a promise. */
export function nextEvent(name) {
  return new Promise((resolve) => RED.events.once(name, resolve));
}

/**
 * Start Node-RED with `globals` as functionGlobalContext and `settings` added to the
 * benchmark's own; resolves once its flows run.
 */
export async function startNodeRed(globals = {}, settings = {}) {
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-node-red-"));
  RED.init(http.createServer(), {
    userDir,
    flowFile: "flows.json",
    httpAdminRoot: false,
    httpNodeRoot: false,
    disableEditor: true,
    credentialSecret: false,
    functionGlobalContext: globals,
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    logging: { console: { level: "error", metrics: false, audit: false } },
    ...settings,
  });
  // RED.start() resolves before the first start of the flows; a setFlows before that
  // start is overwritten by it.
  const started = nextEvent("flows:started");
  await RED.start();
  await started;
  return {
    RED,
    /**
     * Deploy `flows` (a list of nodes) as a deploy of `type`; resolves once the new
     * nodes run, with the ms until setFlows resolved and until flows:started.
     */
    async deploy(flows, type) {
      const started = nextEvent("flows:started");
      const begin = performance.now();
      await RED.runtime.flows.setFlows({ flows: { flows }, deploymentType: type });
      const setFlowsMs = performance.now() - begin;
      await started;
      return { setFlowsMs, startedMs: performance.now() - begin };
    },
    node: (id) => RED.nodes.getNode(id),
    async stop() {
      await RED.stop();
      fs.rmSync(userDir, { recursive: true, force: true });
    },
  };
}

/** A function node of tab `z` running `func`, wired to `wires` (output 0); x and y make it a flow node, not a config node. */
export function functionNode(id, z, func, wires, extra = {}) {
  return { id, z, type: "function", func, outputs: 1, wires: [wires], x: 100, y: 100, ...extra };
}

/** A tab. */
export function tab(id) {
  return { id, type: "tab", label: id };
}

/** Median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Print one JSON line on stdout (the Python wrapper reads the last line). */
export function report(value) {
  process.stdout.write(JSON.stringify({ node: process.version, ...value }) + "\n");
}
