// Shared by the catalog and library tests: temp folders that clean up, real PNGs from sharp, and
// a generation with every required field.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import sharp from 'sharp';
import type { NewGeneration } from '../../main/catalog/index.js';

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A small PNG whose pixels depend on `n`, so different n give different bytes. */
export async function makePng(width = 32, height = 24, n = 0): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + n * 97) & 0xff;
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

export async function makeJpeg(width = 32, height = 24, n = 0): Promise<Buffer> {
  return sharp(await makePng(width, height, n)).jpeg().toBuffer();
}

let hashCounter = 0;

export function fakeHash(): string {
  return (++hashCounter).toString(16).padStart(64, '0');
}

export function generation(over: Partial<NewGeneration> = {}): NewGeneration {
  return {
    prompt: 'a cat in the rain',
    width: 1024,
    height: 1024,
    model: 'flux-1-schnell-fp8',
    backend: 'local',
    imageHash: fakeHash(),
    format: 'png',
    seed: 42,
    ...over,
  };
}
