// `schnell models download ID` (a model of the manifest, every file verified) and
// `schnell models download URL --sha256 HEX --out FILE` (one file). Both resume from the state in
// the catalog database, pause on Ctrl-C (run the same command again to resume) and show progress.
import fs from 'node:fs';
import path from 'node:path';
import { downloadFile, formatBytes, remoteFileName } from '../runtime/models/download.js';
import { installFromManifest } from '../runtime/models/install.js';
import { huggingFaceToken } from '../runtime/models/secrets.js';
import type { DownloadState } from '../runtime/models/state.js';
import { help, manifestOf, type ModelsContext, openState, parse, pausable, progressPrinter } from './models-context.js';
import { UsageError } from './usage.js';

type Values = ReturnType<typeof parseDownloadArgs>['values'];
type Progress = ReturnType<typeof progressPrinter>;
/** --retries and --stall-timeout, as the downloader takes them. */
type Tuning = { retries?: number; stallTimeoutMs?: number };

function parseDownloadArgs(args: string[]) {
  return parse(args, { sha256: { type: 'string' }, out: { type: 'string' }, retries: { type: 'string' }, 'stall-timeout': { type: 'string' } });
}

function tuningOf(values: Values): Tuning {
  const numeric = (v: string, what: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${what} must be a non-negative number`);
    return n;
  };
  return {
    ...(values.retries !== undefined ? { retries: numeric(values.retries, '--retries') } : {}),
    ...(values['stall-timeout'] !== undefined ? { stallTimeoutMs: numeric(values['stall-timeout'], '--stall-timeout') * 1000 } : {}),
  };
}

export async function download(ctx: ModelsContext, args: string[]): Promise<number> {
  const { values, positionals } = parseDownloadArgs(args);
  if (values.help) return help(ctx);
  const target = positionals[0];
  if (!target || positionals.length > 1) throw new UsageError('give one model id (see `schnell models list`) or one URL');
  const isUrl = /^https?:\/\//i.test(target);
  if (isUrl) checkUrlArgs(values);
  const tuning = tuningOf(values);
  const progress = progressPrinter(ctx, values.json);
  const { db, state } = openState(values.state, ctx.home);
  try {
    return isUrl ? await downloadUrl(ctx, target, values, tuning, state, progress) : await downloadModel(ctx, target, values, tuning, state, progress);
  } finally {
    db.close();
  }
}

function checkUrlArgs(values: Values): void {
  if (!values.sha256 || !/^[0-9a-fA-F]{64}$/.test(values.sha256)) throw new UsageError('a URL download needs --sha256 HEX (the file\'s 64-digit SHA-256): an unverified file is never installed');
  if (!values.out) throw new UsageError('a URL download needs --out FILE (or --out DIR/)');
}

/** One file from a URL to --out (a file, or a folder: then the server's file name). */
async function downloadUrl(ctx: ModelsContext, url: string, values: Values, tuning: Tuning, state: DownloadState, progress: Progress): Promise<number> {
  const host = new URL(url).hostname;
  ctx.token = host === 'huggingface.co' || host.endsWith('.huggingface.co') ? await huggingFaceToken(ctx.secrets, ctx.io.env) : undefined;
  const out = values.out!;
  let dest = path.resolve(out);
  const isDir = out.endsWith('/') || out.endsWith(path.sep) || (fs.existsSync(dest) && fs.statSync(dest).isDirectory());
  if (isDir) dest = path.join(dest, await remoteFileName(url, { token: ctx.token }));
  const r = await pausable(ctx, (signal) => downloadFile({
    ...tuning, url, dest, sha256: values.sha256!.toLowerCase(), state, token: ctx.token, signal,
    onProgress: (p) => progress.show(path.basename(dest), p), onLog: (m) => progress.log(m),
  }));
  if (values.json) ctx.out(JSON.stringify({ ok: true, path: r.path, bytes: r.bytes, sha256: r.sha256, resumed_from: r.resumedFrom }, null, 2));
  else ctx.out(`${r.path}: ${formatBytes(r.bytes)}, SHA-256 verified`);
  return 0;
}

/** Every file of a manifest model into $SCHNELL_HOME/models/ID, then registered. */
async function downloadModel(ctx: ModelsContext, id: string, values: Values, tuning: Tuning, state: DownloadState, progress: Progress): Promise<number> {
  const manifest = manifestOf(values.manifest, ctx.home, ctx.io.env);
  ctx.token = await huggingFaceToken(ctx.secrets, ctx.io.env);
  const model = manifest.model(id);
  const r = await pausable(ctx, (signal) => installFromManifest({
    manifest, modelId: model.id, home: ctx.home, state, secrets: ctx.secrets, env: ctx.io.env, signal, download: tuning,
    onProgress: (f, p, i, n) => progress.show(`${f.file} (${i + 1}/${n})`, p),
    onLog: (m) => progress.log(m),
  }));
  if (values.json) ctx.out(JSON.stringify({ ok: true, id: model.id, folder: r.model.folder, already_installed: r.alreadyInstalled, downloaded_bytes: r.downloadedBytes, kept_files: r.keptFiles }, null, 2));
  else ctx.out(r.alreadyInstalled ? `${model.name} is already installed in ${r.model.folder} (check it with \`schnell models verify ${model.id}\`)` : `${model.name} is installed in ${r.model.folder}`);
  return 0;
}
