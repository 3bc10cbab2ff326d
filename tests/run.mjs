#!/usr/bin/env node
// Runs the type checker beside the test files, which run with Node's test runner (TypeScript via tsx).
// Two sets, so that `npm test` stays a few minutes on two cores and CI still runs everything:
//   node tests/run.mjs [substring …]        every tests/**/*.test.ts except *.e2e.test.ts
//   node tests/run.mjs --e2e [substring …]  only the long suites, tests/**/*.e2e.test.ts
// With substrings, only the files whose path contains one of them run, and the type check is
// skipped. The reference fixtures come from ../shared (beside this checkout) or $SCHNELL_FIXTURES.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const e2e = args.includes('--e2e');
const filters = args.filter((a) => a !== '--e2e');

function isE2e(file) {
  return /\.e2e\.test\.tsx?$/.test(file);
}

function find(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures-out' || e.name === 'node_modules' ? [] : find(p);
    return /\.test\.tsx?$/.test(e.name) ? [p] : [];
  });
}

const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(root, '../shared/fixtures');
if (!fs.existsSync(fixtures)) {
  console.error(`The tests need the shared reference fixtures at ${fixtures}: put the shared folder beside this checkout (../shared) or set SCHNELL_FIXTURES to its fixtures folder.`);
  process.exit(1);
}

/** A child process's exit code; its output captured (`capture`) or passed through; `priority`: its nice value. */
function run(args, opts, capture = false) {
  return new Promise((resolve) => {
    const { priority, ...spawnOpts } = opts;
    const child = spawn(process.execPath, args, { ...spawnOpts, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    if (priority !== undefined && child.pid !== undefined) {
      try {
        os.setPriority(child.pid, priority);
      } catch {
        /* not allowed here: only slower */
      }
    }
    let output = '';
    if (capture) for (const s of [child.stdout, child.stderr]) s.on('data', (d) => (output += d));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), output }));
  });
}

// The files that take a minute or more of the two cores start first (tests/run-files.mjs keeps
// this order), so that they overlap the quick ones instead of running nearly alone at the end.
const LONG_FIRST = ['tests/runtime/flux/session-memory.test.ts', 'tests/runtime/flux/stage-memory.test.ts'];
const rank = (f) => {
  const i = LONG_FIRST.indexOf(path.relative(root, f).split(path.sep).join('/'));
  return i < 0 ? LONG_FIRST.length : i;
};
const files = find(path.join(root, 'tests'))
  .filter((f) => isE2e(f) === e2e)
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
if (files.length === 0) {
  console.error(`no ${e2e ? 'e2e ' : ''}test files matched${filters.length ? `: ${filters.join(' ')}` : ''}`);
  process.exit(1);
}
// The type check runs beside the tests rather than before them: it keeps one core busy for about
// 20 s, during which the other would otherwise sit idle; at a lower priority (its main thread,
// where it works), so that it fills the gaps the tests leave. Its errors are printed after the
// tests (so they are not lost in the middle of the test report), and fail the run.
let typecheck;
if (filters.length === 0 && !e2e && !process.env.SKIP_TYPECHECK) {
  console.log('typecheck: tsc --noEmit (beside the tests; its result comes at the end)');
  typecheck = run([path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root, '--noEmit'], { cwd: root, priority: 10 }, true);
}

// The quick suite spends much of its time waiting on child processes and sockets, so four files
// at once fill two cores (measured: 3.0 min against 4.2 min at two); the long suites (browsers,
// servers, model writers) stay at two so they never starve each other.
const concurrency = e2e ? 2 : 4;
const tests = await run(['--import', 'tsx', path.join(root, 'tests/run-files.mjs'), String(concurrency), ...files], {
  cwd: root,
  env: { ...process.env, SCHNELL_FIXTURES: fixtures },
});
if (typecheck) {
  const tsc = await typecheck;
  if (tsc.code !== 0) {
    process.stdout.write(tsc.output);
    console.error(`typecheck: tsc --noEmit failed (exit code ${tsc.code}); the errors are above`);
    process.exit(tsc.code);
  }
  console.log('typecheck: tsc --noEmit passed');
}
process.exit(tests.code);
