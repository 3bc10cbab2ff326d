// Installs a model from the manifest: every file downloaded and verified into
// `$SCHNELL_HOME/models/<id>/`, then the install record, then (last) schnell-model.json. Files
// already there and verified are kept; a `.part` from an earlier session is resumed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { checkFreeSpace, downloadFile, DownloadError, formatBytes, type DownloadOptions, type DownloadProgress } from './download.js';
import { fileSegments, type ManifestFile, type ManifestModel, type ModelManifest } from './manifest.js';
import { containedPath, modelsRoot, schnellHome } from './paths.js';
import { getInstalled, modelFolder, writeInstallRecord, writeModelJson, type InstalledFile, type InstalledModel } from './registry.js';
import { huggingFaceToken, type SecretStore } from './secrets.js';
import type { DownloadState } from './state.js';
import { checkDownloadedFile } from './verify-file.js';

export interface InstallOptions {
  manifest: ModelManifest;
  modelId: string;
  home?: string;
  state: DownloadState;
  secrets?: SecretStore;
  /** A token to use instead of HF_TOKEN / the secret store. */
  token?: string | null;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (file: ManifestFile, p: DownloadProgress, index: number, count: number) => void;
  onLog?: (message: string) => void;
  /** Passed through to downloadFile (retries, stall timeout, …). */
  download?: Partial<Pick<DownloadOptions, 'retries' | 'maxAttempts' | 'backoffMs' | 'maxBackoffMs' | 'stallTimeoutMs' | 'progressIntervalMs' | 'reserveBytes'>>;
}

export interface InstallResult {
  model: InstalledModel;
  downloadedBytes: number;
  keptFiles: number;
  alreadyInstalled: boolean;
}

async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 }) as AsyncIterable<Buffer>) {
    if (signal?.aborted) throw signal.reason;
    h.update(chunk);
  }
  return h.digest('hex');
}

function gatedHint(f: ManifestFile): string {
  const page = f.repo ? `https://huggingface.co/${f.repo}` : 'the model\'s Hugging Face page';
  return `Accept the terms at ${page}, then run \`schnell models login\` (or set HF_TOKEN) and run the download again.`;
}

/** Bytes still to fetch for `model`: its files minus what is already on disk (complete or partial). */
export function remainingBytes(manifest: ModelManifest, model: ManifestModel, home: string): number {
  let need = 0;
  for (const f of manifest.filesOf(model)) {
    const dest = path.join(modelsRoot(home), model.id, ...fileSegments(f));
    if (fs.existsSync(dest)) continue;
    let kept = 0;
    try {
      kept = fs.statSync(`${dest}.part`).size;
    } catch {
      // nothing kept
    }
    need += Math.max(0, f.bytes - kept);
  }
  return need;
}

export async function installFromManifest(o: InstallOptions): Promise<InstallResult> {
  const home = o.home ?? schnellHome();
  const model = o.manifest.model(o.modelId);
  const existing = getInstalled(model.id, home);
  if (existing?.status === 'installed') return { model: existing, downloadedBytes: 0, keptFiles: 0, alreadyInstalled: true };
  if (existing?.record && existing.record.source !== 'download') {
    throw new DownloadError('exists', `${existing.folder} holds an imported model named ${model.id}; remove it first (\`schnell models remove ${model.id}\`)`);
  }
  const files = o.manifest.filesOf(model);

  // Ask for the token before fetching anything, not after 12 GB of the first file.
  const gated = files.filter((f) => f.gated);
  const token = o.token ?? (gated.length ? await huggingFaceToken(o.secrets, o.env) : undefined);
  if (gated.length && !token) {
    const repos = [...new Set(gated.map((f) => f.repo ?? f.url))].join(', ');
    throw new DownloadError('auth', `${model.name} includes files from a gated Hugging Face repository (${repos}). ${gatedHint(gated[0]!)}`);
  }

  const folder = modelFolder(model.id, home, { create: true });
  fs.mkdirSync(folder, { recursive: true });
  checkFreeSpace(folder, remainingBytes(o.manifest, model, home), o.download?.reserveBytes);

  const installed: InstalledFile[] = [];
  let downloaded = 0;
  let kept = 0;
  for (const [i, f] of files.entries()) {
    if (o.signal?.aborted) throw new DownloadError('paused', `download of ${model.name} paused; run it again to resume`);
    const segs = fileSegments(f);
    const dest = containedPath(modelsRoot(home), [model.id, ...segs], { create: true });
    const rel = segs.join('/');
    if (fs.existsSync(dest)) {
      // Kept from an earlier run: trust it only after the same checks a download gets.
      const row = o.state.get(dest);
      const size = fs.statSync(dest).size;
      let digest = row?.status === 'complete' && row.sha256 && row.received_bytes === size ? row.sha256 : await sha256File(dest, o.signal);
      const bad = (f.sha256 && digest !== f.sha256) || (f.bytes_exact && size !== f.bytes);
      if (!bad) {
        try {
          await checkDownloadedFile(dest, f);
        } catch {
          digest = '';
        }
      }
      if (!bad && digest) {
        installed.push({ path: rel, bytes: size, sha256: digest, expected_sha256: f.sha256, role: f.kind });
        kept++;
        continue;
      }
      o.onLog?.(`${rel}: the copy on disk does not verify; downloading it again`);
      fs.rmSync(dest, { force: true });
    }
    const r = await downloadFile({
      ...o.download,
      url: f.url,
      dest,
      sha256: f.sha256,
      expectedBytes: f.bytes_exact ? f.bytes : null,
      sizeHint: f.bytes,
      state: o.state,
      modelId: model.id,
      fileId: f.id,
      token: f.gated ? token : null,
      gatedHint: gatedHint(f),
      signal: o.signal,
      onProgress: o.onProgress ? (p) => o.onProgress!(f, p, i, files.length) : undefined,
      onLog: o.onLog,
      verify: (part) => checkDownloadedFile(part, f),
    });
    downloaded += r.bytes - r.resumedFrom;
    installed.push({ path: rel, bytes: r.bytes, sha256: r.sha256, expected_sha256: f.sha256, role: f.kind });
  }

  writeInstallRecord(folder, {
    version: 1, id: model.id, name: model.name, kind: model.kind, source: 'download', mode: 'managed',
    manifest_id: model.id, created_at: new Date().toISOString(), verified_at: new Date().toISOString(), files: installed,
  });
  if (model.kind === 'flux') {
    const c = model.components;
    const at = (id: string) => fileSegments(o.manifest.file(id)).join('/');
    writeModelJson(folder, model.name, {
      transformer: at(c.transformer), autoencoder: at(c.autoencoder), t5: at(c.t5), clip: at(c.clip),
      clip_tokenizer: c.clip_tokenizer, t5_tokenizer: c.t5_tokenizer,
    });
  }
  o.onLog?.(`${model.name} installed in ${folder} (${formatBytes(installed.reduce((n, f) => n + f.bytes, 0))})`);
  return { model: getInstalled(model.id, home)!, downloadedBytes: downloaded, keptFiles: kept, alreadyInstalled: false };
}
