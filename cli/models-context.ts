// What every `schnell models` command shares: its streams and home (ModelsContext), the usage text,
// argument parsing, the download state database, the manifest, progress on stderr and Ctrl-C as
// "pause". The commands themselves are in models-download.ts and models-manage.ts.
import path from 'node:path';
import { parseArgs } from 'node:util';
import type Database from 'better-sqlite3';
import { PAUSE, type DownloadProgress } from '../runtime/models/download.js';
import type { ModelManifest } from '../runtime/models/manifest.js';
import { loadModelCatalogue } from '../runtime/models/mirror.js';
import { progressLine } from '../runtime/models/progress.js';
import { RegistryError } from '../runtime/models/registry.js';
import type { FileSecretStore } from '../runtime/models/secrets.js';
import { DownloadState, openStateDatabase } from '../runtime/models/state.js';
import { catalogFile, studioLibraryDir } from '../runtime/settings/index.js';
import { argsErrorMessage, UsageError } from './usage.js';

export interface ModelsIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Ctrl-C: the CLI pauses a running download on it. */
  onInterrupt?: (handler: () => void) => () => void;
}

/** One run of a models command: where it writes, its $SCHNELL_HOME and secret store. */
export interface ModelsContext {
  io: ModelsIO;
  home: string;
  secrets: FileSecretStore;
  out(line: string): void;
  err(line: string): void;
  /** A token in use, kept out of every message. */
  token?: string;
}

export const USAGE = `usage: schnell models <command> [options]

  list [--json]                               installed models, downloads in progress, and what can be downloaded
  download <id> [--json]                      download a model from the manifest (resumes; Ctrl-C pauses)
  download <url> --sha256 HEX --out FILE      download one file, verified against its SHA-256
  import <path…> [--copy|--move] [--id ID]    register files you already have (in place by default)
         [--name NAME] [--dry-run] [--transformer|--autoencoder|--t5|--clip PATH] [--clip-tokenizer|--t5-tokenizer DIR]
  verify <id> [--quick] [--json]              re-check sizes, checksums and headers of an installed model
  remove <id> [--json]                        delete an installed model (in-place imports keep your files)
  fit <id|path> [--device cpu|gpu] [--gpu-memory GB] [--width W --height H] [--json]
                                              will it fit this machine's memory? (exit code 1 if not)
  login                                       store a Hugging Face token (read from stdin) for gated models
  logout                                      forget it

Options for every command: --state FILE (download state database, default the studio catalog, $SCHNELL_HOME/library/catalog.sqlite),
--manifest FILE (default $SCHNELL_MODEL_MANIFEST, else resources/models.json). Models live in $SCHNELL_HOME/models.
Behind a firewall or offline: SCHNELL_MODEL_MIRROR=URL (or HF_ENDPOINT, or "modelMirror" in config.json) fetches
every huggingface.co file from that mirror instead, at the same path.`;


const COMMON = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  state: { type: 'string' },
  manifest: { type: 'string' },
} as const;

export function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(argsErrorMessage(err as Error, 'models'));
  }
}

export function openState(file: string | undefined, home: string): { db: Database.Database; state: DownloadState } {
  // One database for the studio: the catalog's file in the studio library (runtime/settings names it).
  const where = file ?? catalogFile(studioLibraryDir(home));
  let db: Database.Database | undefined;
  try {
    db = openStateDatabase(where);
    return { db, state: new DownloadState(db) };
  } catch (e) {
    db?.close();
    const why = (e as NodeJS.ErrnoException).code === 'ENOTDIR' || (e as NodeJS.ErrnoException).code === 'EEXIST' ? 'a folder on its path is a file' : (e as Error).message;
    throw new RegistryError(`cannot open the download state database ${where} (${why}); check --state or SCHNELL_HOME`);
  }
}

export function help(ctx: ModelsContext): number {
  ctx.out(USAGE);
  return 0;
}

/** --manifest, else SCHNELL_MODEL_MANIFEST, else the bundled catalogue; on the model mirror when one is set. */
export function manifestOf(file: string | undefined, home?: string, env?: NodeJS.ProcessEnv): ModelManifest {
  return loadModelCatalogue({ file: file ? path.resolve(file) : undefined, ...(home ? { home } : {}), ...(env ? { env } : {}) });
}

/** Progress on stderr: a redrawn bar on a terminal, a line per 10% otherwise, nothing for --json. */
export function progressPrinter(ctx: ModelsContext, json: boolean | undefined) {
  const { io, err } = ctx;
  const tty = Boolean(io.stderr.isTTY);
  let lastDecile = -1;
  let lastName = '';
  return {
    show(name: string, p: DownloadProgress) {
      if (json) return;
      if (tty) {
        io.stderr.write(`\r${progressLine(name, p, Math.max(40, (io.stderr.columns ?? 100) - 1))}`);
        if (p.phase === 'done') io.stderr.write('\n');
        return;
      }
      const decile = p.total ? Math.floor((10 * p.bytes) / p.total) : -1;
      if (name !== lastName) {
        lastName = name;
        lastDecile = -1;
      }
      if (p.phase === 'done' || (p.phase === 'downloading' && decile > lastDecile)) {
        lastDecile = decile;
        err(progressLine(name, p, 120).replace(/\s+/g, ' ').trim());
      }
    },
    log(message: string) {
      if (json) return;
      if (tty) io.stderr.write('\r\x1b[K');
      err(message);
    },
    /** Wipes the progress line before an answer on stdout. */
    clear() {
      if (!json && tty) io.stderr.write('\r\x1b[K');
    },
  };
}

/** Runs `work` with Ctrl-C wired to pause it. */
export async function pausable<T>(ctx: ModelsContext, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const { io } = ctx;
  const ac = new AbortController();
  let presses = 0;
  const off = io.onInterrupt?.(() => {
    presses++;
    if (presses > 1) process.exit(130);
    ac.abort(PAUSE);
  });
  try {
    return await work(ac.signal);
  } finally {
    off?.();
  }
}
