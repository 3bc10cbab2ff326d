// What a downloaded file must look like before it gets its name, beyond the checksum (which many
// files do not publish): a safetensors file's header must be whole and describe the component the
// manifest promises; tokenizer files must parse; an ONNX file must start like one.
import fs from 'node:fs';
import { detectCheckpoint } from '../flux/checkpoints/checkpoint.js';
import type { ManifestFile } from './manifest.js';
import { openRegularFileSync, readRegularFileSync } from '../util/regular-file.js';

const KIND_TEXT: Record<string, string> = {
  transformer: 'a FLUX transformer', autoencoder: 'a FLUX autoencoder', t5: 'a T5 text encoder', clip: 'a CLIP text encoder',
  checkpoint: 'a single-file checkpoint with every component',
};

function readHead(file: string, n: number): Buffer {
  const fd = openRegularFileSync(file, 'model file');
  try {
    const buf = Buffer.alloc(n);
    const got = fs.readSync(fd, buf, 0, n, 0);
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** Throws an Error saying what is wrong with `file` as the manifest entry `f`. */
export async function checkDownloadedFile(file: string, f: Pick<ManifestFile, 'format' | 'kind' | 'file'>): Promise<void> {
  const size = fs.statSync(file).size;
  if (size === 0) throw new Error('the file is empty');
  switch (f.format) {
    case 'safetensors': {
      // Reads and checks the whole header: every tensor's bytes must lie inside the file.
      const report = detectCheckpoint(file);
      const kinds = report.components.map((c) => c.kind);
      const want = f.kind === 'checkpoint' ? ['transformer', 'autoencoder', 't5', 'clip'] : [f.kind];
      const missing = want.filter((k) => !kinds.includes(k as never));
      if (missing.length || report.format === 'unknown') {
        throw new Error(`it is not ${KIND_TEXT[f.kind] ?? f.kind}: ${report.message.replace(/^\S+ is /, 'it is ')}`);
      }
      const incomplete = report.components.filter((c) => want.includes(c.kind) && !c.complete);
      if (incomplete.length) throw new Error(report.message.replace(/^\S+ is /, 'it is '));
      return;
    }
    case 'json': {
      if (size > 256 * 1024 * 1024) throw new Error(`a ${size}-byte JSON file is not a tokenizer file`);
      try {
        JSON.parse(readRegularFileSync(file, 'tokenizer file', 'utf8'));
      } catch {
        throw new Error('it is not valid JSON');
      }
      return;
    }
    case 'text': {
      const head = readHead(file, 4096);
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 4)));
      } catch {
        throw new Error('it is not UTF-8 text');
      }
      if (f.file === 'merges.txt' && !/^(#version|\S+ \S+)/.test(head.toString('utf8'))) throw new Error('it does not look like a BPE merges file');
      return;
    }
    case 'onnx': {
      // An ONNX ModelProto starts with field 1 (ir_version, a varint): tag byte 0x08.
      const head = readHead(file, 2);
      if (head[0] !== 0x08 || size < 64) throw new Error('it is not an ONNX model');
      return;
    }
    case 'binary':
      return;
  }
}
