// The rough edges a new user hit on the command line (issue 13), one test each: help for a
// command, the version, one exit-code rule for every command (2: the command line was wrong,
// 1: it failed), read-only library commands that never create a library, a scan that does not
// advise a repair it cannot do, one line per model import with the model's own name, a token
// checked for its shape, flag names (not field names) in messages, an npm that stays quiet, and
// the Node versions each part needs. Command lines go through the CLI's own `main` in this process
// (a process per case costs about a second of CPU and checks nothing more); `--version` runs as a
// process, for the exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { test } from 'node:test';
import { run as library } from '../../cli/library.js';
import { run as models, type ModelsIO } from '../../cli/models.js';
import { openLibrary } from '../../main/library/index.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { makePng, tempDir } from '../main/helpers.js';
import { repoRoot, schnell, schnellInProcess } from './cli-harness.js';

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };

test('`schnell help generate` is `schnell generate --help`; an unknown command after help is exit code 2', async () => {
  const home = tempDir();
  const help = await schnellInProcess(['help', 'generate'], { home });
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /schnell generate/);
  assert.match(help.stdout, /--cfg-scale/);
  const direct = await schnellInProcess(['generate', '--help'], { home });
  assert.equal(help.stdout, direct.stdout);
  const nope = await schnellInProcess(['help', 'frobnicate'], { home });
  assert.equal(nope.code, 2);
  assert.match(nope.stderr, /unknown command 'frobnicate'/);
});

test('every command answers an unknown option with one sentence and exit code 2', async () => {
  const home = tempDir();
  for (const command of ['generate', 'serve', 'conformance', 'devices', 'demo-model', 'models list', 'library list']) {
    const r = await schnellInProcess([...command.split(' '), '--frobnicate'], { home });
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, /--frobnicate/, command);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${command}: no stack trace`);
  }
});

test('a bad value is exit code 2 and names the flag, not the request field (--cfg-scale, not cfg_scale)', async () => {
  const home = tempDir();
  const demo = path.join(home, 'demo');
  writeDemoModel(demo);
  const r = await schnellInProcess(['generate', 'a lighthouse', '--model', demo, '--cfg-scale', '30', '--out', path.join(home, 'x.png')], { home });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--cfg-scale/);
  assert.doesNotMatch(r.stderr, /cfg_scale/);
  assert.ok(!fs.existsSync(path.join(home, 'x.png')));
  const device = await schnellInProcess(['devices', '--json', 'extra'], { home });
  assert.equal(device.code, 2, device.stderr);
});

test('`schnell --version` prints the package version', async () => {
  const r = await schnell(['--version'], { home: tempDir() });
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), `schnell ${pkg.version}`);
});

async function quietly(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => void (out += `${a.join(' ')}\n`);
  console.error = (...a: unknown[]) => void (err += `${a.join(' ')}\n`);
  try {
    return { code: await run(), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('reading a library that is not there names it (exit code 2) and creates nothing; writing creates one', async () => {
  const root = tempDir();
  const typo = path.join(root, 'Pictres', 'schnell');
  for (const command of [['list'], ['search', 'cat'], ['show', '01ARZ3NDEKTSV4RRFFQ69G5FAV'], ['scan'], ['scan', '--verify']]) {
    const r = await quietly(() => library([...command, '--library', typo]));
    assert.equal(r.code, 2, command.join(' '));
    assert.match(r.err, new RegExp(`there is no library at ${typo.replace(/[/\\]/g, '.')}; check --library`));
    assert.ok(!fs.existsSync(path.join(root, 'Pictres')), `${command.join(' ')} created nothing`);
  }
  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty);
  const notLib = await quietly(() => library(['list', '--library', empty]));
  assert.equal(notLib.code, 2);
  assert.match(notLib.err, /is not a library \(it has no catalog\.sqlite\)/);
  assert.deepEqual(fs.readdirSync(empty), []);
  const img = path.join(root, 'a.png');
  fs.writeFileSync(img, await makePng(16, 16, 1));
  const imported = await quietly(() => library(['import', img, '--library', typo]));
  assert.equal(imported.code, 0, imported.err);
  assert.equal(JSON.parse((await quietly(() => library(['list', '--library', typo, '--json']))).out).items.length, 1);
});

test('after scan --repair, scan --verify reports the rows already marked missing without advising --repair again', async () => {
  const dir = tempDir();
  const lib = await openLibrary(dir);
  const kept = await lib.recordGeneration({ prompt: 'kept', seed: 1, model: 'm', backend: 'local', image: await makePng(16, 16, 1) });
  const lost = await lib.recordGeneration({ prompt: 'lost', seed: 2, model: 'm', backend: 'local', image: await makePng(16, 16, 2) });
  lib.close();
  assert.ok(kept.id);
  const file = fs.readdirSync(path.join(dir, 'images'), { recursive: true, encoding: 'utf8' }).map((f) => path.join(dir, 'images', f)).find((f) => fs.statSync(f).isFile() && f.includes(lost.imageHash));
  assert.ok(file, 'the lost generation has a file');
  fs.rmSync(file);
  const before = await quietly(() => library(['scan', '--library', dir]));
  assert.match(before.out, /rows without a file: 1\n/);
  assert.match(before.out, /run 'schnell library scan --repair'/);
  const repair = await quietly(() => library(['scan', '--repair', '--library', dir]));
  assert.equal(repair.code, 0, repair.err);
  const after = await quietly(() => library(['scan', '--verify', '--library', dir]));
  assert.equal(after.code, 0, after.err);
  assert.match(after.out, /rows without a file: 1 \(all already marked missing\)/);
  assert.doesNotMatch(after.out, /--repair/);
});

function modelsIO(env: NodeJS.ProcessEnv, stdin = ''): { io: ModelsIO; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => new Writable({ write(chunk, _e, cb) { add(String(chunk)); cb(); } });
  return {
    io: { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), stdin: Readable.from([stdin]) as unknown as NodeJS.ReadableStream, env },
    out: () => out,
    err: () => err,
  };
}

test('models import prints one result line with the model folder\'s own name; models list shows that name', async () => {
  const home = tempDir();
  const env = { ...process.env, SCHNELL_HOME: home };
  const demo = path.join(home, 'demo');
  writeDemoModel(demo);
  for (const extra of [[], ['--copy', '--id', 'demo-copy']]) {
    const r = modelsIO(env);
    assert.equal(await models(['import', demo, ...extra], r.io), 0, r.err());
    // Progress ("copying FILE") may come on stderr; the result is said once.
    const results = `${r.out()}${r.err()}`.split('\n').filter((l) => /imported/i.test(l));
    assert.equal(results.length, 1, results.join('\n'));
    assert.match(results[0]!, /^Imported demo \(untrained\) as \S+ /);
    assert.equal(r.out().trim().split('\n').length, 1, 'stdout is the one result line');
  }
  const list = modelsIO(env);
  assert.equal(await models(['list'], list.io), 0);
  assert.match(list.out(), /^ {2}demo-copy +demo \(untrained\) /m);
  assert.match(list.out(), /^ {2}flux1-schnell-demo-untrained +demo \(untrained\) /m);
});

test('models login refuses what is not a Hugging Face token (exit code 2, never echoed, nothing stored)', async () => {
  const home = tempDir();
  const env = { ...process.env, SCHNELL_HOME: home };
  for (const bad of ['hf_short', 'ghp_0123456789abcdefghijklmnopqrstuvwxyz', 'my password is hunter2']) {
    const r = modelsIO(env, `${bad}\n`);
    assert.equal(await models(['login'], r.io), 2, bad);
    assert.match(r.err(), bad.includes(' ') ? /spaces or control characters/ : /not a Hugging Face token .*starts with hf_/);
    assert.ok(!r.err().includes(bad) && !r.out().includes(bad), 'the value is not echoed');
    assert.ok(!fs.existsSync(path.join(home, 'secrets.json')));
  }
  const good = modelsIO(env, 'hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567\n');
  assert.equal(await models(['login'], good.io), 0, good.err());
});

test('npm runs in this project without warnings about its configuration (no NuGet fetch at install either)', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /npm warn/i);
  const allow = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { allowScripts: Record<string, boolean> }).allowScripts;
  assert.equal(allow['onnxruntime-node'], false, "onnxruntime-node's installer (which fetches CUDA from NuGet) never runs at install");
  assert.equal(allow['better-sqlite3'], true, 'the SQLite addon is built at install');
});

test('the README states the Node versions: engines for the CLI and runtime, and what Electron\'s tooling requires', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const cli = /^>=(\d+)$/.exec(pkg.engines.node)?.[1];
  assert.ok(cli, `engines.node is a lower bound (${pkg.engines.node})`);
  assert.match(readme, new RegExp(`Node ${cli} or later`));
  const electron = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/electron/package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node;
  const needed = /(\d+\.\d+)/.exec(electron ?? '')?.[1];
  assert.ok(needed, `electron declares the Node it needs (${electron})`);
  assert.match(readme, new RegExp(`Node ${needed.replace('.', '\\.')} or later`));
});
