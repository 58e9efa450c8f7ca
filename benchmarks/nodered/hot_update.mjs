// Hot update under load: generator -> module under test -> sink, with `nodes` deploys
// that change only the module, while the generator sends RATE messages a second.
//
// argv: MODULE DEPLOYS [STORE] [RATE] [GAP_MS]. MODULE is one of:
//   sync    `return msg;`
//   async   20 ms of work a message (setTimeout 20, then node.send)
//   buffer  holds the last 400 messages in its node context, releases the oldest
//           beyond 400, and everything it holds on a `flush` message
//   delay   Node-RED's delay node, 200 ms a message (the module held in the instance)
// STORE is `default` (Node-RED's settings as shipped: no contextStorage, so a node's
// context is deleted when the node closes) or `memory` (contextStorage.default set to
// the memory module, which keeps the context of a node that is redeployed).
// A function module counts its invocations in its context; its finalize code reports
// the count as the old instance closes and its initialize code as the new one starts.
// DEPLOYS deploys, GAP_MS apart, change the module's code (a comment with a counter)
// or the delay (200 <-> 201 ms). Then the generator stops, a `flush` and an `end`
// message follow, and the figures are counted once the sink has the `end`.

import { functionNode, median, report, startNodeRed, tab } from "./embed.mjs";

const [moduleName = "sync", deploysArg = "1", store = "default", rateArg = "2000", gapArg = "50"] =
  process.argv.slice(2);
const STORES = { default: {}, memory: { contextStorage: { default: { module: "memory" } } } };
const DEPLOYS = Number(deploysArg);
const RATE = Number(rateArg);
const GAP_MS = Number(gapArg);
const WARM_MS = 500;
const TAIL_MS = 500;
const END_TIMEOUT_MS = 10000;
const HELD = 400;

const COUNT = "context.set('count', (context.get('count') || 0) + 1);";
const BODIES = {
  sync: `${COUNT}\nreturn msg;`,
  async: `${COUNT}\nsetTimeout(() => { node.send(msg); node.done(); }, 20);\nreturn null;`,
  buffer: `${COUNT}
const held = context.get('held') || [];
if (msg.flush) { context.set('held', []); return [held]; }
if (msg.end) return msg;
held.push(msg);
context.set('held', held);
return held.length > ${HELD} ? held.shift() : null;`,
};
const REPORT = (when) => `global.get('instance')('${when}', context.get('count') || 0);`;

function moduleNode(revision) {
  if (moduleName === "delay") {
    const timeout = String(200 + (revision % 2));
    return {
      id: "mod", z: "hot", type: "delay", pauseType: "delay", timeout,
      timeoutUnits: "milliseconds", rate: "1", nbRateUnits: "1", rateUnits: "second",
      randomFirst: "1", randomLast: "5", randomUnits: "seconds", drop: false,
      outputs: 1, wires: [["sink"]], x: 100, y: 100,
    };
  }
  const func = `${BODIES[moduleName]}\n// revision ${revision}`;
  return functionNode("mod", "hot", func, ["sink"], {
    initialize: REPORT("start"),
    finalize: REPORT("stop"),
  });
}

function flows(revision) {
  return [
    tab("hot"),
    functionNode("gen", "hot", "return msg;", ["mod"]),
    moduleNode(revision),
    functionNode("sink", "hot", "global.get('sink')(msg); return null;", []),
  ];
}

const received = [];
let ended = () => {};
const end = new Promise((resolve) => (ended = resolve));
function sink(msg) {
  if (msg.end) ended(true);
  else if (msg.seq !== undefined) received.push(msg.seq);
}
const instances = [];
function instance(when, count) {
  instances.push([when, count]);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Send RATE messages a second to the generator until stop() (ticks of 1 ms). */
function generator(red) {
  const begin = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - begin) * RATE) / 1000);
    const gen = red.node("gen");
    while (sent < due) gen.receive({ seq: sent++ });
  }, 1);
  return () => {
    clearInterval(timer);
    return sent;
  };
}

/** Lost, duplicated and reordered sequence numbers among `sent`. */
function delivery(sent) {
  const seen = new Set();
  let duplicated = 0;
  let reordered = 0;
  let highest = -1;
  for (const seq of received) {
    if (seen.has(seq)) duplicated += 1;
    seen.add(seq);
    if (seq < highest) reordered += 1;
    highest = Math.max(highest, seq);
  }
  return { lost: sent - seen.size, duplicated, reordered };
}

/** Whether each new instance started with the count its predecessor closed with. */
function contextKept() {
  if (moduleName === "delay") return { context_kept: null };
  const changes = instances.slice(1);
  const pairs = [];
  for (let i = 0; i + 1 < changes.length; i += 2) pairs.push([changes[i], changes[i + 1]]);
  const kept = pairs.filter(([[a, before], [b, after]]) => a === "stop" && b === "start" && before === after);
  return {
    context_kept: pairs.length === DEPLOYS && kept.length === DEPLOYS,
    context_count_end: instances.at(-1)?.[1] ?? null,
    context_reset_at: pairs.filter((pair) => !kept.includes(pair)).map(([[, a], [, b]]) => [a, b]).slice(0, 5),
  };
}

const red = await startNodeRed({ sink, instance }, STORES[store]);
await red.deploy(flows(0), "full");
const stopGenerator = generator(red);
await sleep(WARM_MS);
const setFlowsMs = [];
const startedMs = [];
for (let revision = 1; revision <= DEPLOYS; revision += 1) {
  const { setFlowsMs: setMs, startedMs: upMs } = await red.deploy(flows(revision), "nodes");
  setFlowsMs.push(setMs);
  startedMs.push(upMs);
  if (revision < DEPLOYS) await sleep(GAP_MS);
}
await sleep(TAIL_MS);
const sent = stopGenerator();
red.node("gen").receive({ flush: true });
red.node("gen").receive({ end: true });
let timeout;
const gaveUp = new Promise((resolve) => (timeout = setTimeout(resolve, END_TIMEOUT_MS, false)));
const drained = await Promise.race([end, gaveUp]);
clearTimeout(timeout);
await red.stop();
const round = (ms) => Number(ms.toFixed(2));
report({
  scenario: moduleName,
  deploys: DEPLOYS,
  context_store: store,
  rate: RATE,
  sent,
  ...delivery(sent),
  ...contextKept(),
  deploy_ms_p50: round(median(setFlowsMs)),
  deploy_ms_max: round(Math.max(...setFlowsMs)),
  deploy_to_started_ms_p50: round(median(startedMs)),
  drained,
});
