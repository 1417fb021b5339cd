// node dist/bench/cpuprofile.js <file.cpuprofile> — where a server's main thread spent its busy
// time, from a profile written by `BENCH_CPU_PROF=<dir> npm run bench:api` (node --cpu-prof).
// Each sample is charged to the innermost frame that belongs to a known part of the data plane
// (docs/benchmarks.md "Where the time goes"); the rest is "other". Prints a JSON line per part,
// then the busy share per half second (to see the measured window against start-up and idle).
import { readFileSync } from 'node:fs';

interface Frame {
  functionName: string;
  url: string;
}
interface ProfileNode {
  id: number;
  callFrame: Frame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const PARTS: Array<[string, (f: Frame) => boolean]> = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['gc', (f) => f.functionName === '(garbage collector)'],
  ['audit', (f) => /audit\/audit-log|store\/audit-repo/.test(f.url) || (/src\/app\.js$/.test(f.url) && f.functionName === 'record')],
  ['token', (f) => /pkcs11/.test(f.url)],
  ['tc3 and request parsing', (f) => /api\/wire\//.test(f.url)],
  ['request log', (f) => /pino|sonic-boom/.test(f.url)],
  ['cache epoch', (f) => /store\/cache-epoch|domain\/cache\.js/.test(f.url) && /start|read|next|fresh/.test(f.functionName)],
  ['cam', (f) => /auth\/policy|domain\/access/.test(f.url)],
  ['validation', (f) => /api\/validation|api\/actions\/fields|zod/.test(f.url)],
  ['http', (f) => /node:_http|node:net|streams\/|stream_base/.test(f.url) || f.functionName === 'writev'],
];

const file = process.argv[2];
if (!file) {
  console.error('usage: node dist/bench/cpuprofile.js <file.cpuprofile>');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const totals = new Map<string, number>();
const windows: Array<{ busy: number; all: number }> = [];
let t = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  t += dt;
  let part = 'other';
  find: for (let id: number | undefined = p.samples[i]; id !== undefined; id = parent.get(id)) {
    const frame = byId.get(id)!.callFrame;
    for (const [name, test] of PARTS) {
      if (test(frame)) {
        part = name;
        break find;
      }
    }
  }
  totals.set(part, (totals.get(part) ?? 0) + dt);
  const w = (windows[Math.floor(t / 500_000)] ??= { busy: 0, all: 0 });
  w.all += dt;
  if (part !== 'idle') w.busy += dt;
}
const busy = [...totals].filter(([k]) => k !== 'idle').reduce((a, [, v]) => a + v, 0);
for (const [part, us] of [...totals].filter(([k]) => k !== 'idle').sort((a, b) => b[1] - a[1])) {
  console.log(JSON.stringify({ part, share_of_busy: Math.round((1000 * us) / busy) / 10, ms: Math.round(us / 1000) }));
}
console.log(JSON.stringify({ busy_per_half_second: windows.map((w) => (w?.all ? Math.round((100 * w.busy) / w.all) : 0)) }));
