// The full-width few-layer model set the memory tests measure (T5-XXL 4096 wide with 2 layers, the
// transformer 3072 wide with 1 double + 1 single block, the real CLIP and autoencoder: 1.6 GB,
// about 17 s to write on two cores), written once and shared: session-memory.test.ts and
// stage-memory.test.ts run in parallel processes under `npm test`, and the first to ask writes it
// while the other waits. The folder is named by a hash of the writer's source, so a changed writer
// writes a new set; it is left in the temp folder for the next run (a fresh machine pays the write
// once per run of the suite), and sets of other writer versions unused for an hour are removed.
// SCHNELL_FULLWIDTH_DIR names a set made by
// `schnell demo-model --size full --double-blocks 1 --single-blocks 1 --t5-layers 2` instead.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFullSizeModel } from '../../../runtime/flux/demo/fullsize-model.js';
import { MODEL_SET_MANIFEST } from '../../../runtime/flux/checkpoints/model-set.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DEPTH = { doubleBlocks: 1, singleBlocks: 1, t5Layers: 2 };
const PREFIX = 'schnell-test-fullwidth-';
/** What decides the bytes written: the demo writers, the file formats, the default config. */
const WRITER_SOURCES = [
  'runtime/flux/demo', 'runtime/flux/checkpoints/safetensors.ts', 'runtime/flux/checkpoints/model-set.ts',
  'runtime/flux/model-config.ts', 'runtime/flux/text/tokenizer-components.ts', 'runtime/flux/text/tokenizers.ts',
];
const WAIT_MS = 10 * 60_000;
const STALE_MS = 60 * 60_000;

function writerKey(): string {
  const h = crypto.createHash('sha256').update(JSON.stringify(DEPTH));
  const files = WRITER_SOURCES.flatMap((p) => {
    const abs = path.join(root, p);
    return fs.statSync(abs).isDirectory() ? fs.readdirSync(abs).filter((f) => f.endsWith('.ts')).sort().map((f) => path.join(abs, f)) : [abs];
  });
  for (const f of files) h.update(path.relative(root, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the writer's lock (a file holding our pid, linked into place atomically); false when another live process holds it. */
function tryLock(lock: string): boolean {
  const mine = `${lock}.${process.pid}`;
  fs.writeFileSync(mine, String(process.pid));
  try {
    fs.linkSync(mine, lock);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner: number;
    try {
      owner = Number(fs.readFileSync(lock, 'utf8'));
    } catch {
      return false; // released just now: the next try takes it or finds the set
    }
    if (owner && !alive(owner)) fs.rmSync(lock, { force: true }); // its writer died: the next try takes it
    return false;
  } finally {
    fs.rmSync(mine, { force: true });
  }
}

/** Removes what dead writers left (half-written sets, lock candidates) and other versions' sets unused for an hour. */
function sweep(tmp: string, keep: string): void {
  for (const name of fs.readdirSync(tmp)) {
    if (!name.startsWith(PREFIX) || name === path.basename(keep) || name.endsWith('.lock')) continue;
    const p = path.join(tmp, name);
    const writer = /\.(?:tmp-|lock\.)(\d+)$/.exec(name);
    try {
      if (writer ? !alive(Number(writer[1])) : Date.now() - fs.statSync(p).mtimeMs > STALE_MS) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another run removed it first
    }
  }
}

/** The shared full-width set's folder, written first if no finished one exists. */
export function fullWidthSet(): string {
  if (process.env.SCHNELL_FULLWIDTH_DIR) return process.env.SCHNELL_FULLWIDTH_DIR;
  const tmp = os.tmpdir();
  const dir = path.join(tmp, PREFIX + writerKey());
  const lock = `${dir}.lock`;
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    // A set is renamed into place only when complete, so its manifest means it is whole.
    if (fs.existsSync(path.join(dir, MODEL_SET_MANIFEST))) {
      const now = new Date();
      fs.utimesSync(dir, now, now); // in use: not stale for other versions' sweeps
      return dir;
    }
    if (tryLock(lock)) {
      try {
        if (fs.existsSync(path.join(dir, MODEL_SET_MANIFEST))) continue;
        sweep(tmp, dir);
        const part = `${dir}.tmp-${process.pid}`;
        fs.rmSync(part, { recursive: true, force: true });
        writeFullSizeModel(part, DEPTH);
        fs.rmSync(dir, { recursive: true, force: true });
        fs.renameSync(part, dir);
      } finally {
        fs.rmSync(lock, { force: true });
      }
      continue;
    }
    if (Date.now() > deadline) throw new Error(`waited ${WAIT_MS / 60_000} minutes for another process to write the full-width test set at ${dir}; remove ${lock} if no test is running`);
    sleep(250);
  }
}
