// The import rules (tests/layering-rules.ts) hold for the code base, and the check catches each kind
// of break when one is planted in a small source tree written to a temp folder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkLayering } from './layering-rules.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A small tree that follows every rule; each case adds one file that breaks one. */
const CLEAN: Record<string, string> = {
  'runtime/util/files.ts': `import fs from 'node:fs';\nexport const f = fs;\n`,
  'runtime/api/index.ts': `import { f } from '../util/files.js';\nexport const SIZES = [f];\nexport type Request = { prompt: string };\n`,
  'runtime/onnx/session.ts': `import ort from 'onnxruntime-node';\nexport const s = ort;\n`,
  'runtime/flux/pipeline.ts': `import { s } from '../onnx/session.js';\nexport const p = s;\n`,
  'runtime/cloud/client.ts': `import type { Request } from '../api/index.js';\nexport const c = (r: Request) => r;\n`,
  'runtime/engine/engine.ts': `import { p } from '../flux/pipeline.js';\nimport { c } from '../cloud/client.js';\nexport const e = [p, c];\n`,
  'main/contract.ts': `import type { Request } from '../runtime/api/index.js';\nexport type Job = { request: Request };\nexport const VALUE = 1;\n`,
  'main/electron/app.ts': `import { app } from 'electron';\nimport { e } from '../../runtime/engine/engine.js';\nexport const a = [app, e];\n`,
  'cli/index.ts': `import { e } from '../runtime/engine/engine.js';\nimport type { Job } from '../main/contract.js';\nexport const run = (j: Job) => [e, j];\n`,
  'renderer/src/App.tsx': `import { useState } from 'react';\nimport type { Job } from '../../main/contract.js';\nimport { SIZES } from '../../runtime/api/index.js';\nexport const App = (j: Job) => [useState, SIZES, j];\n`,
};

function tree(extra: Record<string, string>): { root: string; cleanup(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-layers-'));
  for (const [file, text] of Object.entries({ ...CLEAN, ...extra })) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  }
  return { root, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

test('the code base keeps every import rule', () => {
  assert.deepEqual(checkLayering(repoRoot), []);
});

test('a tree that follows the rules passes', () => {
  const t = tree({});
  try {
    assert.deepEqual(checkLayering(t.root), []);
  } finally {
    t.cleanup();
  }
});

const PLANTED: [string, Record<string, string>, RegExp][] = [
  ['an upward import inside runtime/ (flux → engine)', { 'runtime/flux/up.ts': `import { e } from '../engine/engine.js';\nexport const u = e;\n` }, /runtime\/flux\/up\.ts:1 imports '\.\.\/engine\/engine\.js': runtime\/flux sits below runtime\/engine/],
  ['runtime/ importing main/', { 'runtime/engine/studio.ts': `import type { Job } from '../../main/contract.js';\nexport type J = Job;\n` }, /runtime\/engine\/studio\.ts:1 .*runtime\/ never imports main\//],
  ['main/ importing cli/', { 'main/library/x.ts': `export { run } from '../../cli/index.js';\n` }, /main\/library\/x\.ts:1 .*main\/ never imports cli\//],
  ['electron outside main/electron/', { 'main/studio.ts': `import { app } from 'electron';\nexport const a = app;\n` }, /main\/studio\.ts:1 imports 'electron': only main\/electron\/ may import electron/],
  ['onnxruntime-node outside runtime/onnx/', { 'runtime/flux/ort.ts': `const ort = await import('onnxruntime-node');\nexport default ort;\n` }, /runtime\/flux\/ort\.ts:1 imports 'onnxruntime-node': only runtime\/onnx\//],
  ['a value (not a type) from main/contract.ts in the renderer', { 'renderer/src/v.ts': `import { VALUE } from '../../main/contract.js';\nexport const v = VALUE;\n` }, /renderer\/src\/v\.ts:1 .*only types from main\/contract\.ts/],
  ['the renderer reaching into the engine', { 'renderer/src/e.ts': `import type { e } from '../../runtime/engine/engine.js';\nexport type E = typeof e;\n` }, /renderer\/src\/e\.ts:1 .*only types from main\/contract\.ts, and runtime\/api/],
  ['a Node built-in in the renderer', { 'renderer/src/fs.ts': `import fs from 'node:fs';\nexport const x = fs;\n` }, /renderer\/src\/fs\.ts:1 .*browser page/],
  ['a runtime folder without a layer', { 'runtime/extras/x.ts': `import { f } from '../util/files.js';\nexport const x = f;\n` }, /runtime\/extras has no place in the runtime's layers/],
  ['a folder-level cycle between two main/ folders', { 'main/catalog/a.ts': `import { b } from '../library/b.js';\nexport const a = b;\n`, 'main/library/b.ts': `export const b = 1;\nexport type A = typeof import('../catalog/a.js');\n` }, /folder-level import cycle: main\/catalog → main\/library \(main\/catalog\/a\.ts:1\), main\/library → main\/catalog \(main\/library\/b\.ts:2\)/],
];

for (const [name, extra, expected] of PLANTED) {
  test(`the check catches ${name}`, () => {
    const t = tree(extra);
    try {
      const problems = checkLayering(t.root);
      assert.ok(problems.some((p) => expected.test(p)), `expected ${expected} in:\n${problems.join('\n')}`);
    } finally {
      t.cleanup();
    }
  });
}
