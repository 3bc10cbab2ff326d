// The one atomic file writer: whole content or untouched, never a temp file left by a writer that
// lived to clean up, and a SIGKILLed writer leaves the old version or the new one, never half.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fsyncDir, fsyncDirSync, TEMP_PREFIX, tempFileOwner, writeAll, writeFileAtomic, writeFileAtomicAsync, writeJsonAtomic,
} from '../../../runtime/util/files.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = path.join(tmp, `d${++n}`);
  fs.mkdirSync(d);
  return d;
};
const temps = (dir: string) => fs.readdirSync(dir).filter((f) => tempFileOwner(f) !== undefined || f.endsWith('.tmp'));

test('writes strings, bytes and pieces; replaces what was there; leaves no temp file', () => {
  const dir = freshDir();
  const file = path.join(dir, 'out.bin');
  writeFileAtomic(file, 'héllo\n');
  assert.equal(fs.readFileSync(file, 'utf8'), 'héllo\n');
  writeFileAtomic(file, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
  // A view into a larger buffer writes only its own bytes.
  const big = new Uint8Array([9, 9, 4, 5, 9]);
  writeFileAtomic(file, big.subarray(2, 4));
  assert.deepEqual([...fs.readFileSync(file)], [4, 5]);
  writeFileAtomic(file, (fd) => {
    writeAll(fd, Buffer.from('ab'));
    writeAll(fd, Buffer.from('cd'));
  });
  assert.equal(fs.readFileSync(file, 'utf8'), 'abcd');
  writeFileAtomic(file, '', { fsyncDir: false });
  assert.equal(fs.statSync(file).size, 0);
  assert.deepEqual(fs.readdirSync(dir), ['out.bin']);
});

test('writeJsonAtomic writes indented JSON with a final newline', () => {
  const file = path.join(freshDir(), 'x.json');
  writeJsonAtomic(file, { a: [1, 'b'], c: null });
  assert.equal(fs.readFileSync(file, 'utf8'), '{\n  "a": [\n    1,\n    "b"\n  ],\n  "c": null\n}\n');
});

test('mode sets the new file\'s permissions, also when it replaces a looser file', () => {
  const dir = freshDir();
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, 'old', { mode: 0o644 });
  writeFileAtomic(file, 'new', { mode: 0o600 });
  assert.equal(fs.readFileSync(file, 'utf8'), 'new');
  if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('a writer that throws halfway leaves the old file intact and no temp file', () => {
  const dir = freshDir();
  const file = path.join(dir, 'model.safetensors');
  fs.writeFileSync(file, 'the old, complete version');
  const boom = new Error('disk on fire');
  assert.throws(() => writeFileAtomic(file, (fd) => {
    writeAll(fd, Buffer.alloc(100_000, 7));
    throw boom;
  }), (e) => e === boom);
  assert.equal(fs.readFileSync(file, 'utf8'), 'the old, complete version');
  assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
});

test('a failed rename (the target is a folder) removes the temp file and reports the error', async () => {
  const dir = freshDir();
  const target = path.join(dir, 'taken');
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'inside'), 'keep me');
  assert.throws(() => writeFileAtomic(target, 'x'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  await assert.rejects(writeFileAtomicAsync(target, 'x'), (e: NodeJS.ErrnoException) => typeof e.code === 'string');
  assert.deepEqual(fs.readdirSync(dir), ['taken']);
  assert.equal(fs.readFileSync(path.join(target, 'inside'), 'utf8'), 'keep me');
});

test('a missing folder is an error unless createFolder is given', async () => {
  const dir = freshDir();
  assert.throws(() => writeFileAtomic(path.join(dir, 'no', 'such', 'f.txt'), 'x'), { code: 'ENOENT' });
  await assert.rejects(writeFileAtomicAsync(path.join(dir, 'no', 'f.txt'), 'x'), { code: 'ENOENT' });
  assert.deepEqual(fs.readdirSync(dir), []);
  writeFileAtomic(path.join(dir, 'a', 'b', 'f.txt'), 'sync', { createFolder: true });
  await writeFileAtomicAsync(path.join(dir, 'c', 'd', 'f.txt'), 'async', { createFolder: true });
  assert.equal(fs.readFileSync(path.join(dir, 'a', 'b', 'f.txt'), 'utf8'), 'sync');
  assert.equal(fs.readFileSync(path.join(dir, 'c', 'd', 'f.txt'), 'utf8'), 'async');
});

test('concurrent async writers to one file: one whole version wins, no temp file is left', async () => {
  const dir = freshDir();
  const file = path.join(dir, 'busy.txt');
  const versions = Array.from({ length: 16 }, (_, i) => `version ${i} `.repeat(5000));
  await Promise.all(versions.map((v) => writeFileAtomicAsync(file, v)));
  assert.ok(versions.includes(fs.readFileSync(file, 'utf8')));
  assert.deepEqual(fs.readdirSync(dir), ['busy.txt']);
});

test('temp files are hidden, in the target\'s folder, and name their writer', () => {
  const dir = freshDir();
  const file = path.join(dir, 'f.txt');
  let seen: string[] = [];
  writeFileAtomic(file, () => {
    seen = fs.readdirSync(dir);
  });
  assert.equal(seen.length, 1);
  assert.ok(seen[0]!.startsWith(TEMP_PREFIX) && seen[0]!.endsWith('.tmp'), seen[0]);
  assert.equal(tempFileOwner(seen[0]!), process.pid);
  assert.equal(tempFileOwner('.tmp-999999999-abcdef'), 999999999); // older library temp names
  for (const other of ['f.txt', 'tmp-12-x', '.tmp-x-1', '.tmp-', 'a.tmp-1-b']) assert.equal(tempFileOwner(other), undefined, other);
});

test('fsyncDir works on a folder and reports a missing one', async () => {
  const dir = freshDir();
  fsyncDirSync(dir);
  await fsyncDir(dir);
  if (process.platform !== 'win32') {
    assert.throws(() => fsyncDirSync(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(fsyncDir(path.join(dir, 'missing')), { code: 'ENOENT' });
  }
});

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'atomic-writer-child.ts');
const KILLS = 6;
const SIZE = 2 * 1024 * 1024;

function runAndKill(file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, file, String(SIZE)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      if (!timer && d.toString().includes('ready')) timer = setTimeout(() => child.kill('SIGKILL'), 20 + Math.random() * 200);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const failsafe = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(failsafe);
      if (signal !== 'SIGKILL' || !timer) reject(new Error(`the writer stopped by itself (code ${code}): ${err}`));
      else resolve();
    });
  });
}

test(`SIGKILL at ${KILLS} random moments: the file is always one whole version`, { timeout: 120_000 }, async () => {
  const dir = freshDir();
  const file = path.join(dir, 'state.bin');
  for (let round = 0; round < KILLS; round++) {
    await runAndKill(file);
    const bytes = fs.readFileSync(file);
    assert.equal(bytes.length, SIZE, `round ${round}: the file has ${bytes.length} bytes`);
    assert.ok(bytes.every((b) => b === bytes[0]), `round ${round}: the file mixes two versions`);
    // What a killed writer leaves is a temp file naming it, which a scan can sweep.
    for (const t of temps(dir)) {
      assert.notEqual(tempFileOwner(t), undefined, t);
      fs.rmSync(path.join(dir, t));
    }
  }
});
