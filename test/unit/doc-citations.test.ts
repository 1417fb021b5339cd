import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// Comments and documents cite the project's own docs (docs/contract/… for the API contract and
// the measured token facts). Every such citation must name a file that exists and, with a
// fragment, an anchor in it; and nothing may cite documents outside the repository.

const REPO = path.resolve(import.meta.dirname, '..', '..');

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(REPO, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && ext.test(e.name))
    .map((e) => path.relative(REPO, path.join(e.parentPath, e.name)));
}

/** The anchors of a Markdown file: explicit `<a id>`s and GitHub-style heading slugs. */
function anchorsOf(file: string): Set<string> {
  const text = readFileSync(path.join(REPO, file), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/<a id="([^"]+)"/g)) out.add(m[1]!);
  for (const m of text.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(
      m[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s-]/gu, '')
        .replace(/\s/g, '-'),
    );
  }
  return out;
}

const SOURCES = [...files('src', /\.ts$/), ...files('test', /\.ts$/), ...files('bench', /\.ts$/), ...files('hsm', /\.json$/), ...files('docs', /\.md$/), 'README.md'];

describe('citations of the project’s own documents', () => {
  const citations = SOURCES.flatMap((file) =>
    [...readFileSync(path.join(REPO, file), 'utf8').matchAll(/\bdocs\/[a-z0-9/-]+\.md(?:#[a-z0-9-]+)?/g)].map((m) => ({ file, cite: m[0] })),
  );

  it('finds citations to check', () => {
    expect(citations.length).toBeGreaterThan(100);
  });

  it('every cited document exists, and every cited anchor is in it', () => {
    const bad = citations.filter(({ cite }) => {
      const [doc, anchor] = cite.split('#');
      if (!existsSync(path.join(REPO, doc!))) return true;
      return anchor !== undefined && !anchorsOf(doc!).has(anchor);
    });
    expect(bad.map((b) => `${b.file}: ${b.cite}`)).toEqual([]);
  });

  it('nothing cites documents outside the repository', () => {
    // The sources above and the files that configure, build and run the project.
    const more = ['softhsm.conf', 'Dockerfile', 'vitest.config.ts', 'package.json', '.ci/run', ...files('scripts', /^[^.]+$/)].filter((f) => existsSync(path.join(REPO, f)));
    const outside = [...SOURCES, ...more]
      .filter((file) => !file.startsWith('test/unit/doc-citations'))
      .filter((file) => /\.\.\/shared|\/work\/shared|kms-api\.md|hsm-notes\.md|whitebox-notes\.md|interface\.md|STYLE\.md/.test(readFileSync(path.join(REPO, file), 'utf8')));
    expect(outside).toEqual([]);
  });
});
