// Runs test files in the order given, `concurrency` at a time, for tests/run.mjs: `node --test`
// sorts its files by path, so a long file late in the alphabet would start last and run nearly
// alone at the end. Started with `--import tsx`, which the runner passes on to each file's process.
// Reports as `node --test` does (spec on a terminal, TAP otherwise); exits 1 when a test fails.
// Usage: node --import tsx tests/run-files.mjs CONCURRENCY FILE...
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';

const [concurrency, ...files] = process.argv.slice(2);
const stream = run({ files, concurrency: Number(concurrency) });
stream.on('test:fail', () => {
  process.exitCode = 1;
});
stream.compose(process.stdout.isTTY ? spec : tap).pipe(process.stdout);
