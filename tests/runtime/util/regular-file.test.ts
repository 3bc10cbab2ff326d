// Non-regular files named as inputs (issue 13, defect 3): a FIFO (made with mkfifo, nobody writing
// to it), a character device and a socket, named as a checkpoint, an autoencoder, a tokenizer file,
// a model to import or verify, or an image to import, are refused at once with a sentence naming
// the kind of file, instead of blocking forever. Every test has a timeout: a hang fails it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { CheckpointError, openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { readSafetensorsHeader } from '../../../runtime/flux/checkpoints/safetensors.js';
import { loadClipTokenizer, loadT5Tokenizer } from '../../../runtime/flux/text/tokenizers.js';
import { importModel } from '../../../runtime/models/import.js';
import { verifyInstalled } from '../../../runtime/models/verify.js';
import { NotRegularFileError, readRegularFileSync } from '../../../runtime/util/regular-file.js';
import { openLibrary } from '../../../main/library/index.js';
import { looseFiles, tokenizers } from '../models/checkpoints.js';
import { tempDir } from '../../main/helpers.js';
import { fifo } from '../../main/library/hostile-files.js';

const LIMIT = { timeout: 30_000 };

/** Replaces a file with a FIFO of the same name. */
const swapForFifo = (file: string) => fifo(file);

test('the helper refuses a FIFO, a character device and a socket by name', LIMIT, async () => {
  const dir = tempDir();
  assert.throws(() => readRegularFileSync(fifo(path.join(dir, 'pipe')), 'checkpoint file'), (e: Error) => e instanceof NotRegularFileError && /the checkpoint file .*pipe is a FIFO \(named pipe\), not a regular file/.test(e.message));
  assert.throws(() => readRegularFileSync('/dev/zero', 'tokenizer file'), /is a character device, not a regular file/);
  const sock = path.join(dir, 'sock');
  const server = net.createServer().listen(sock);
  await new Promise((r) => server.once('listening', r));
  try {
    assert.throws(() => readRegularFileSync(sock, 'import source'), /is a socket, not a regular file/);
  } finally {
    server.close();
  }
  fs.writeFileSync(path.join(dir, 'ok'), 'fine');
  assert.equal(readRegularFileSync(path.join(dir, 'ok'), 'file', 'utf8'), 'fine');
});

test('a FIFO or a device as a checkpoint, an autoencoder or a tokenizer file: refused, not waited on', LIMIT, async () => {
  const dir = tempDir();
  assert.throws(() => readSafetensorsHeader(fifo(path.join(dir, 'model.safetensors'))), (e: Error) => e instanceof CheckpointError && /FIFO/.test(e.message));
  assert.throws(() => readSafetensorsHeader('/dev/zero'), (e: Error) => e instanceof CheckpointError && /character device/.test(e.message));

  const src = path.join(dir, 'loose');
  const files = looseFiles(src);
  tokenizers(src);
  swapForFifo(files.autoencoder);
  assert.throws(
    () => openModelSet({ transformer: files.transformer, autoencoder: files.autoencoder, t5: files.t5, clip: files.clip, t5_tokenizer: path.join(src, 'tokenizer_2'), clip_tokenizer: path.join(src, 'tokenizer') } as never),
    (e: Error) => /FIFO/.test(e.message),
  );

  swapForFifo(path.join(src, 'tokenizer', 'vocab.json'));
  await assert.rejects(loadClipTokenizer(path.join(src, 'tokenizer')), /FIFO/);
  fs.copyFileSync(path.join(src, 'tokenizer_2', 'tokenizer.json'), path.join(dir, 't5.json'));
  swapForFifo(path.join(src, 'tokenizer_2', 'tokenizer.json'));
  await assert.rejects(loadT5Tokenizer(path.join(src, 'tokenizer_2')), /FIFO/);
});

test('models import and verify with a FIFO among the files refuse it by name', LIMIT, async () => {
  const dir = tempDir();
  const home = path.join(dir, 'home');
  const src = path.join(dir, 'src');
  const files = looseFiles(src);
  tokenizers(src);
  // A FIFO as the model file given to import.
  const pipe = fifo(path.join(dir, 'flux1-schnell.safetensors'));
  await assert.rejects(importModel({ paths: [pipe], home }), /FIFO/);
  // Imported with --copy while regular; then a FIFO replaces one of the installed files.
  const { model } = await importModel({ paths: [src], home, mode: 'copy' } as never);
  const installed = fs.readdirSync(model.folder, { recursive: true }).map(String).find((f) => f.endsWith('ae.safetensors'));
  assert.ok(installed, 'the autoencoder was copied in');
  swapForFifo(path.join(model.folder, installed));
  const report = await verifyInstalled(model.id, { home });
  assert.equal(report.ok, false);
  assert.match(JSON.stringify(report), /FIFO/);
  void files;
});

test('library import of a FIFO, named or inside a folder, fails that entry in one sentence and imports the rest', LIMIT, async () => {
  const src = tempDir();
  fifo(path.join(src, 'pipe.png'));
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const named = await lib.importFrom([path.join(src, 'pipe.png')]);
    assert.equal(named.failed.length, 1);
    assert.match(named.failed[0]!.error, /is a FIFO \(named pipe\), not an image file or a folder/);
    const folder = await lib.importFrom([src]);
    assert.deepEqual(folder.imported, []);
  } finally {
    lib.close();
  }
});

