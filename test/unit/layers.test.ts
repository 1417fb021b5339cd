import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering of src/ (README "Layout"), checked on the import
// statements themselves — type-only imports included: a type is a dependency too.

const SRC = path.resolve(import.meta.dirname, '..', '..', 'src');

interface Edge {
  from: string;
  to: string;
  line: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every import of every file in src/: relative ones resolved to src-relative paths, packages by name. */
function imports(): { internal: Edge[]; packages: Edge[] } {
  const internal: Edge[] = [];
  const packages: Edge[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    const from = path.relative(SRC, file);
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2]!;
      const line = text.slice(0, m.index).split('\n').length + (text[m.index] === '\n' ? 1 : 0);
      if (spec.startsWith('.')) {
        const to = path.relative(SRC, path.resolve(path.dirname(file), spec)).replace(/\.js$/, '.ts');
        internal.push({ from, to, line });
      } else if (!spec.startsWith('node:')) {
        packages.push({ from, to: spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!, line });
      }
    }
  }
  return { internal, packages };
}

const layer = (file: string) => (file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, ''));
const show = (edges: Edge[]) => edges.map((e) => `${e.from}:${e.line} → ${e.to}`);

describe('layers (src/)', () => {
  const { internal, packages } = imports();

  it('finds the imports it checks', () => {
    expect(internal.length).toBeGreaterThan(200);
    expect(
      internal.every((e) => sourceFiles(SRC).includes(path.join(SRC, e.to))),
      show(internal.filter((e) => !sourceFiles(SRC).includes(path.join(SRC, e.to)))).join('\n'),
    ).toBe(true);
  });

  it('only src/pkcs11 imports pkcs11js or graphene-pk11', () => {
    expect(show(packages.filter((e) => (e.to === 'pkcs11js' || e.to === 'graphene-pk11') && layer(e.from) !== 'pkcs11'))).toEqual([]);
  });

  it('the domain does not import pkcs11/', () => {
    expect(show(internal.filter((e) => layer(e.from) === 'domain' && layer(e.to) === 'pkcs11'))).toEqual([]);
  });

  it('neither api/ nor console/ imports store/', () => {
    expect(show(internal.filter((e) => (layer(e.from) === 'api' || layer(e.from) === 'console') && layer(e.to) === 'store'))).toEqual([]);
  });

  it('store/ imports neither the domain nor the API', () => {
    expect(show(internal.filter((e) => layer(e.from) === 'store' && ['domain', 'api', 'console', 'crypto', 'pkcs11', 'audit'].includes(layer(e.to))))).toEqual([]);
  });

  it('crypto/ does not import store/ (nor anything above it)', () => {
    expect(show(internal.filter((e) => layer(e.from) === 'crypto' && ['store', 'domain', 'api', 'console', 'audit'].includes(layer(e.to))))).toEqual([]);
  });

  it('auth/ is pure: it imports nothing but itself and the shared model', () => {
    expect(show(internal.filter((e) => layer(e.from) === 'auth' && !['auth', 'model'].includes(layer(e.to))))).toEqual([]);
    expect(show(packages.filter((e) => layer(e.from) === 'auth'))).toEqual([]);
  });

  it('model/ holds types and constants only: it imports nothing of ours outside itself', () => {
    expect(show(internal.filter((e) => layer(e.from) === 'model' && layer(e.to) !== 'model'))).toEqual([]);
  });

  it('nothing imports api/ or console/ but the wiring (app.ts) and the API itself', () => {
    const wiring = new Set(['app', 'server', 'cli']);
    expect(show(internal.filter((e) => layer(e.to) === 'api' && !wiring.has(layer(e.from)) && layer(e.from) !== 'api'))).toEqual([]);
    expect(show(internal.filter((e) => layer(e.to) === 'console' && !wiring.has(layer(e.from)) && layer(e.from) !== 'console'))).toEqual([]);
  });

  it('has no import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const e of internal) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    // Tarjan's strongly connected components: any component of more than one file is a cycle.
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const cycles: string[][] = [];
    const visit = (v: string): void => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v) ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const scc: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          scc.push(w);
        } while (w !== v);
        if (scc.length > 1) cycles.push(scc.sort());
      }
    };
    for (const v of graph.keys()) if (!idx.has(v)) visit(v);
    expect(cycles).toEqual([]);
  });
});
