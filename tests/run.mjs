#!/usr/bin/env node
// Runs the type checker, then every tests/**/*.test.ts with Node's test runner (TypeScript via tsx).
// Usage: node tests/run.mjs [substring …]   — only test files whose path contains a substring.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);

function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures-out' ? [] : find(p);
    return e.name.endsWith('.test.ts') || e.name.endsWith('.test.tsx') ? [p] : [];
  });
}

if (filters.length === 0 && !process.env.SKIP_TYPECHECK) {
  console.log('typecheck: tsc --noEmit');
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root, '--noEmit'], { stdio: 'inherit' });
  if (tsc.status !== 0) process.exit(tsc.status ?? 1);
}

const files = find(path.join(root, 'tests')).filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, SCHNELL_FIXTURES: process.env.SCHNELL_FIXTURES ?? path.resolve(root, '../shared/fixtures') },
});
process.exit(r.status ?? 1);
