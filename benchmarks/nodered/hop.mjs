// Hop cost: generator -> 10 `return msg;` function nodes -> sink, MESSAGES messages a run.
//
// argv: MESSAGES RUNS. Prints {"messages", "hops", "us_per_hop_runs", "us_per_hop_p50"}:
// a hop is one delivery along one wire (11 wires), timed from the first message the
// generator takes to the last one the sink gets, after a warm-up run of a tenth.

import { functionNode, median, report, startNodeRed, tab } from "./embed.mjs";

const messages = Number(process.argv[2] ?? 200000);
const runs = Number(process.argv[3] ?? 3);
const CHAIN = 10;
const HOPS = CHAIN + 1;
const CHUNK = 1000;

let received = 0;
let expected = 0;
let finished = () => {};
function sink() {
  received += 1;
  if (received === expected) finished();
}

function chain() {
  const ids = Array.from({ length: CHAIN }, (_, i) => `f${i}`);
  const nodes = [tab("hop")];
  nodes.push(functionNode("gen", "hop", "return msg;", [ids[0]]));
  ids.forEach((id, i) => nodes.push(functionNode(id, "hop", "return msg;", [ids[i + 1] ?? "sink"])));
  nodes.push(functionNode("sink", "hop", "global.get('sink')(); return null;", []));
  return nodes;
}

/** Feed `count` messages to the generator in chunks (the event loop runs between them). */
function timedRun(red, count) {
  received = 0;
  expected = count;
  const done = new Promise((resolve) => (finished = resolve));
  const gen = red.node("gen");
  const begin = performance.now();
  let sent = 0;
  const feed = () => {
    for (const end = Math.min(count, sent + CHUNK); sent < end; sent += 1) gen.receive({ seq: sent });
    if (sent < count) setImmediate(feed);
  };
  feed();
  return done.then(() => performance.now() - begin);
}

const red = await startNodeRed({ sink });
await red.deploy(chain(), "full");
await timedRun(red, Math.ceil(messages / 10));
const perHop = [];
for (let run = 0; run < runs; run += 1) {
  const ms = await timedRun(red, messages);
  perHop.push(Number(((ms * 1000) / (messages * HOPS)).toFixed(3)));
}
await red.stop();
report({ messages, hops: HOPS, us_per_hop_runs: perHop, us_per_hop_p50: median(perHop) });
