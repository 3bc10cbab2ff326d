// `schnell models verify`: is an installed model still exactly what was installed? Every file is
// found (inside its folder, no links), has its size and — unless quick — its SHA-256 (the
// published one where there is one, else the one computed at install), and the model opens.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError, openModelSet } from '../flux/checkpoints/checkpoint.js';
import { checkModelSetLoads } from './load-check.js';
import { readSafetensorsHeader } from '../flux/checkpoints/safetensors.js';
import { containedRelative } from './paths.js';
import { getInstalled, installedModelSource, RegistryError, writeInstallRecord, INSTALL_RECORD } from './registry.js';
import { schnellHome } from './paths.js';
import { fileKind, regularFileStream } from '../util/regular-file.js';

export interface FileCheck {
  path: string;
  ok: boolean;
  problem?: string;
  /** Computed now (full check only). */
  sha256?: string;
}

export interface VerifyReport {
  id: string;
  ok: boolean;
  quick: boolean;
  files: FileCheck[];
  problems: string[];
  notes: string[];
  message: string;
}

async function sha256Of(file: string, onBytes?: (n: number) => void): Promise<string> {
  const h = crypto.createHash('sha256');
  let n = 0;
  for await (const chunk of (await regularFileStream(file, 'model file', { highWaterMark: 4 * 1024 * 1024 })) as AsyncIterable<Buffer>) {
    h.update(chunk);
    n += chunk.length;
    onBytes?.(n);
  }
  return h.digest('hex');
}

function linksIn(dir: string, out: string[] = []): string[] {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isSymbolicLink()) out.push(p);
    else if (d.isDirectory()) linksIn(p, out);
  }
  return out;
}

export async function verifyInstalled(id: string, opts: { home?: string; quick?: boolean; onProgress?: (file: string, bytes: number, total: number) => void } = {}): Promise<VerifyReport> {
  const home = opts.home ?? schnellHome();
  const m = getInstalled(id, home);
  if (!m) throw new RegistryError(`model ${id} is not installed; see \`schnell models list\``);
  if (!m.record) throw new RegistryError(`model ${id} is not completely installed (${m.problem ?? `no ${INSTALL_RECORD}`}); run its download or import again`);
  const rec = m.record;
  const files: FileCheck[] = [];
  const problems: string[] = [];
  const notes: string[] = [];

  if (rec.mode === 'managed') {
    for (const l of linksIn(m.folder)) problems.push(`${l} is a symbolic link; a model folder must hold real files`);
  }
  for (const f of rec.files) {
    const check: FileCheck = { path: f.path, ok: false };
    files.push(check);
    let abs: string;
    try {
      abs = path.isAbsolute(f.path) && rec.mode === 'in-place' ? f.path : containedRelative(m.folder, f.path);
    } catch (e) {
      check.problem = (e as Error).message;
      continue;
    }
    let st: fs.Stats;
    try {
      st = fs.statSync(abs);
    } catch {
      check.problem = `${abs} is missing`;
      continue;
    }
    if (!st.isFile()) {
      check.problem = `${abs} is ${fileKind(st)}, not a regular file`;
      continue;
    }
    if (st.size !== f.bytes) {
      check.problem = `${abs} has ${st.size} bytes, ${f.bytes} were installed`;
      continue;
    }
    if (f.mtime_ms !== undefined && Math.abs(st.mtimeMs - f.mtime_ms) > 1) notes.push(`${abs} was modified since it was imported`);
    if (abs.endsWith('.safetensors')) {
      try {
        readSafetensorsHeader(abs);
      } catch (e) {
        check.problem = (e as Error).message;
        continue;
      }
    }
    const want = f.expected_sha256 ?? f.sha256;
    if (!opts.quick && want) {
      check.sha256 = await sha256Of(abs, (n) => opts.onProgress?.(abs, n, st.size));
      if (check.sha256 !== want) {
        check.problem = `${abs} does not match its checksum (expected ${want}, got ${check.sha256}); it is damaged or was replaced: remove the model and install it again`;
        continue;
      }
    }
    check.ok = true;
  }
  for (const c of files) if (!c.ok && c.problem) problems.push(c.problem);

  if (rec.kind === 'flux' && problems.length === 0) {
    try {
      notes.push(...checkModelSetLoads(openModelSet(installedModelSource(id, home))));
    } catch (e) {
      if (!(e instanceof CheckpointError) && !(e instanceof RegistryError)) throw e;
      problems.push(e.message.replace(/\.$/, ''));
    }
  }
  const ok = problems.length === 0;
  if (ok && !opts.quick) writeInstallRecord(m.folder, { ...rec, verified_at: new Date().toISOString() });
  const unchecked = rec.files.filter((f) => !(f.expected_sha256 ?? f.sha256)).length;
  if (ok && unchecked && !opts.quick) notes.push(`${unchecked} file(s) have no recorded checksum (used in place); they were checked by size and header`);
  const message = ok
    ? `${id} is intact: ${files.length} file(s) ${opts.quick ? 'checked by size and header' : 'verified'}`
    : `${id} is damaged: ${problems.join('; ')}`;
  return { id, ok, quick: Boolean(opts.quick), files, problems, notes, message };
}
