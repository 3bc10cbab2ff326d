// `schnell models list|download|import|verify|remove|fit|login|logout`: the model library from the
// command line. Downloads show a progress bar on a terminal, pause on Ctrl-C (run the same command
// to resume), and keep their state in the catalog database so a resume survives a restart.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import type Database from 'better-sqlite3';
import { CheckpointError } from '../runtime/flux/checkpoints/checkpoint.js';
import { downloadFile, DownloadError, formatBytes, PAUSE, remoteFileName, type DownloadProgress } from '../runtime/models/download.js';
import { cpuMemory, queryNvidiaGpus, reportedGpu, type DeviceMemory } from '../runtime/models/fit.js';
import { fitModel } from '../runtime/models/fit-model.js';
import { ImportError, importModel, planImport, ROLE_FLAG, type ImportMode } from '../runtime/models/import.js';
import { installFromManifest } from '../runtime/models/install.js';
import { loadManifest, ManifestError, DEFAULT_MANIFEST, type ModelManifest } from '../runtime/models/manifest.js';
import { isSlug, modelsRoot, schnellHome, SLUG_RULE, UnsafePathError } from '../runtime/models/paths.js';
import { progressLine } from '../runtime/models/progress.js';
import { getInstalled, installedModelSource, listInstalled, RegistryError, removeInstalled } from '../runtime/models/registry.js';
import { checkHuggingFaceTokenShape, FileSecretStore, HF_TOKEN_SECRET, huggingFaceToken, redact } from '../runtime/models/secrets.js';
import { DownloadState, openStateDatabase } from '../runtime/models/state.js';
import { verifyInstalled } from '../runtime/models/verify.js';
import { argsErrorMessage, UsageError } from './usage.js';
import { ROLES, type Role } from '../runtime/models/detect.js';

export interface ModelsIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Ctrl-C: the CLI pauses a running download on it. */
  onInterrupt?: (handler: () => void) => () => void;
}

const processIO = (): ModelsIO => ({
  stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env,
  onInterrupt: (h) => {
    process.on('SIGINT', h);
    return () => process.off('SIGINT', h);
  },
});

const USAGE = `usage: schnell models <command> [options]

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
--manifest FILE (default resources/models.json). Models live in $SCHNELL_HOME/models.`;


const COMMON = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  state: { type: 'string' },
  manifest: { type: 'string' },
} as const;

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(argsErrorMessage(err as Error, 'models'));
  }
}

function openState(file: string | undefined, home: string): { db: Database.Database; state: DownloadState } {
  // One database for the studio: the catalog's file, $SCHNELL_HOME/library/catalog.sqlite.
  const where = file ?? path.join(home, 'library', 'catalog.sqlite');
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

/** Plain words for the file-system errors a mistyped path or a full disk causes. */
const ERRNO_WORDS: Record<string, string> = {
  ENOTDIR: 'a folder on that path is a file', EEXIST: 'a file is in the way', EACCES: 'permission denied', EPERM: 'permission denied',
  EROFS: 'the file system is read-only', ENOSPC: 'the disk is full', EISDIR: 'it is a folder, not a file', ENOENT: 'it does not exist',
};

export async function run(argv: string[], io: ModelsIO = processIO()): Promise<number> {
  const out = (s: string) => io.stdout.write(`${s}\n`);
  const err = (s: string) => io.stderr.write(`${s}\n`);
  const [command, ...rest] = argv;
  const home = schnellHome(io.env);
  const secrets = new FileSecretStore(path.join(home, 'secrets.json'));
  let token: string | undefined;
  try {
    switch (command) {
      case 'list': return await list(rest);
      case 'download': return await download(rest);
      case 'import': return await doImport(rest);
      case 'verify': return await verify(rest);
      case 'remove': return await remove(rest);
      case 'fit': return await fit(rest);
      case 'login': return await login(rest);
      case 'logout': {
        parse(rest, {});
        await secrets.delete(HF_TOKEN_SECRET);
        out('The stored Hugging Face token was removed.');
        return 0;
      }
      case undefined: case 'help': case '--help': case '-h':
        out(USAGE);
        return command ? 0 : 2;
      default:
        err(`schnell models: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`schnell models ${command}: ${e.message}`);
      return 2;
    }
    if (e instanceof DownloadError || e instanceof ImportError || e instanceof ManifestError || e instanceof RegistryError || e instanceof UnsafePathError || e instanceof CheckpointError) {
      const json = rest.includes('--json');
      const message = redact(e.message, [token]);
      if (json) out(JSON.stringify({ ok: false, error: message, code: (e as DownloadError).code ?? e.name, ...(e instanceof ImportError && e.plan ? { plan: e.plan } : {}) }, null, 2));
      err(`schnell models ${command}: ${message}`);
      return (e as DownloadError).code === 'paused' ? 130 : 1;
    }
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys?.code === 'string' && ERRNO_WORDS[sys.code] && typeof sys.path === 'string') {
      const message = `cannot use ${sys.path}: ${ERRNO_WORDS[sys.code]} (check the path, SCHNELL_HOME or --state)`;
      if (rest.includes('--json')) out(JSON.stringify({ ok: false, error: message, code: 'io' }, null, 2));
      err(`schnell models ${command}: ${message}`);
      return 1;
    }
    throw e;
  }

  function help(): number {
    out(USAGE);
    return 0;
  }

  function manifestOf(file: string | undefined): ModelManifest {
    return loadManifest(file ? path.resolve(file) : DEFAULT_MANIFEST);
  }

  /** Progress on stderr: a redrawn bar on a terminal, a line per 10% otherwise, nothing for --json. */
  function progressPrinter(json: boolean | undefined) {
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
  async function pausable<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
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

  async function list(args: string[]): Promise<number> {
    const { values } = parse(args, {});
    if (values.help) return help();
    const manifest = manifestOf(values.manifest);
    const installed = listInstalled(home);
    const { db, state } = openState(values.state, home);
    const rows = state.list();
    db.close();
    const partial = rows.filter((r) => r.status !== 'complete').map((r) => ({
      model: r.model_id, file: r.dest, status: r.status, bytes: r.received_bytes, total: r.total_bytes ?? r.expected_bytes, error: r.error,
    }));
    const available = manifest.models.map((m) => ({
      id: m.id, name: m.name, kind: m.kind, default: Boolean(m.default), alternative_of: m.alternative_of ?? null,
      disk_bytes: m.disk_bytes, memory: m.memory, gated: manifest.filesOf(m).some((f) => f.gated),
      installed: installed.some((i) => i.id === m.id && i.status === 'installed'),
    }));
    if (values.json) {
      out(JSON.stringify({
        models_folder: modelsRoot(home),
        installed: installed.map((i) => ({ id: i.id, status: i.status, folder: i.folder, name: i.record?.name ?? null, kind: i.record?.kind ?? null, source: i.record?.source ?? null, mode: i.record?.mode ?? null, bytes: i.record?.files.reduce((n, f) => n + f.bytes, 0) ?? null, verified_at: i.record?.verified_at ?? null, problem: i.problem ?? null })),
        downloads: partial,
        available,
      }, null, 2));
      return 0;
    }
    out(`Installed models (${modelsRoot(home)}):`);
    const done = installed.filter((i) => i.status === 'installed');
    if (!done.length) out('  none yet: `schnell models download flux1-schnell-fp8`, or `schnell models import PATH` for files you have');
    const idWidth = Math.max(28, ...done.map((i) => i.id.length + 2));
    for (const i of done) {
      const r = i.record!;
      const how = r.source === 'download' ? 'downloaded' : r.mode === 'in-place' ? 'imported, used in place' : 'imported';
      out(`  ${i.id.padEnd(idWidth)} ${r.name}  ${formatBytes(r.files.reduce((n, f) => n + f.bytes, 0))}  ${how}${r.verified_at ? `, verified ${r.verified_at.slice(0, 10)}` : ''}`);
    }
    const unfinished = installed.filter((i) => i.status === 'partial');
    if (unfinished.length || partial.length) {
      out('\nUnfinished downloads:');
      for (const i of unfinished) {
        const files = partial.filter((p) => p.model === i.id || p.file.startsWith(i.folder + path.sep));
        const got = files.reduce((n, p) => n + p.bytes, 0);
        out(`  ${i.id.padEnd(28)} ${files.map((f) => f.status).join(', ') || 'incomplete'}${got ? ` (${formatBytes(got)} kept)` : ''}${isSlug(i.id) && manifest.models.some((m) => m.id === i.id) ? ` — resume with \`schnell models download ${i.id}\`` : ''}`);
      }
      for (const p of partial.filter((x) => !x.model)) out(`  ${p.file} ${p.status} (${formatBytes(p.bytes)}${p.total ? ` of ${formatBytes(p.total)}` : ''})`);
    }
    out(`\nAvailable to download (${manifest.source}):`);
    for (const a of available) {
      const mem = a.memory.gpu_bytes ? `, about ${formatBytes(a.memory.gpu_bytes)} GPU memory` : '';
      out(`  ${a.default ? '*' : ' '} ${a.id.padEnd(26)} ${a.name}: ${formatBytes(a.disk_bytes)} on disk${mem}${a.gated ? ', needs a Hugging Face token' : ''}${a.installed ? ' (installed)' : ''}`);
    }
    return 0;
  }

  async function download(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, {
      sha256: { type: 'string' }, out: { type: 'string' }, retries: { type: 'string' }, 'stall-timeout': { type: 'string' },
    });
    if (values.help) return help();
    const target = positionals[0];
    if (!target || positionals.length > 1) throw new UsageError('give one model id (see `schnell models list`) or one URL');
    const numeric = (v: string | undefined, what: string) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new UsageError(`${what} must be a non-negative number`);
      return n;
    };
    const tuning = {
      ...(values.retries !== undefined ? { retries: numeric(values.retries, '--retries') } : {}),
      ...(values['stall-timeout'] !== undefined ? { stallTimeoutMs: numeric(values['stall-timeout'], '--stall-timeout')! * 1000 } : {}),
    };
    const progress = progressPrinter(values.json);
    const { db, state } = openState(values.state, home);
    try {
      if (/^https?:\/\//i.test(target)) {
        if (!values.sha256 || !/^[0-9a-fA-F]{64}$/.test(values.sha256)) throw new UsageError('a URL download needs --sha256 HEX (the file\'s 64-digit SHA-256): an unverified file is never installed');
        if (!values.out) throw new UsageError('a URL download needs --out FILE (or --out DIR/)');
        const host = new URL(target).hostname;
        token = host === 'huggingface.co' || host.endsWith('.huggingface.co') ? await huggingFaceToken(secrets, io.env) : undefined;
        let dest = path.resolve(values.out);
        const isDir = values.out.endsWith('/') || values.out.endsWith(path.sep) || (fs.existsSync(dest) && fs.statSync(dest).isDirectory());
        if (isDir) dest = path.join(dest, await remoteFileName(target, { token }));
        const r = await pausable((signal) => downloadFile({
          ...tuning, url: target, dest, sha256: values.sha256!.toLowerCase(), state, token, signal,
          onProgress: (p) => progress.show(path.basename(dest), p), onLog: (m) => progress.log(m),
        }));
        if (values.json) out(JSON.stringify({ ok: true, path: r.path, bytes: r.bytes, sha256: r.sha256, resumed_from: r.resumedFrom }, null, 2));
        else out(`${r.path}: ${formatBytes(r.bytes)}, SHA-256 verified`);
        return 0;
      }
      const manifest = manifestOf(values.manifest);
      token = await huggingFaceToken(secrets, io.env);
      const model = manifest.model(target);
      const r = await pausable((signal) => installFromManifest({
        manifest, modelId: model.id, home, state, secrets, env: io.env, signal, download: tuning,
        onProgress: (f, p, i, n) => progress.show(`${f.file} (${i + 1}/${n})`, p),
        onLog: (m) => progress.log(m),
      }));
      if (values.json) out(JSON.stringify({ ok: true, id: model.id, folder: r.model.folder, already_installed: r.alreadyInstalled, downloaded_bytes: r.downloadedBytes, kept_files: r.keptFiles }, null, 2));
      else out(r.alreadyInstalled ? `${model.name} is already installed in ${r.model.folder} (check it with \`schnell models verify ${model.id}\`)` : `${model.name} is installed in ${r.model.folder}`);
      return 0;
    } finally {
      db.close();
    }
  }

  async function doImport(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, {
      copy: { type: 'boolean' }, move: { type: 'boolean' }, id: { type: 'string' }, name: { type: 'string' }, 'dry-run': { type: 'boolean' },
      transformer: { type: 'string' }, autoencoder: { type: 'string' }, t5: { type: 'string' }, clip: { type: 'string' },
      'clip-tokenizer': { type: 'string' }, 't5-tokenizer': { type: 'string' },
    });
    if (values.help) return help();
    if (values.copy && values.move) throw new UsageError('choose --copy or --move, not both');
    const roles: Partial<Record<Role, string>> = {};
    for (const role of ROLES) {
      const v = (values as Record<string, unknown>)[ROLE_FLAG[role].slice(2)];
      if (typeof v === 'string') roles[role] = v;
    }
    if (!positionals.length && !Object.keys(roles).length) throw new UsageError('give the file(s) or folder(s) to import');
    if (values.id !== undefined && !isSlug(values.id)) throw new UsageError(`--id ${JSON.stringify(values.id)} is not a valid id: ${SLUG_RULE}`);
    const mode: ImportMode = values.copy ? 'copy' : values.move ? 'move' : 'in-place';
    if (values['dry-run']) {
      const plan = planImport({ paths: positionals, roles, home });
      if (values.json) out(JSON.stringify(plan, null, 2));
      else {
        out(plan.message);
        for (const n of plan.notes) out(`note: ${n}`);
      }
      return plan.complete ? 0 : 1;
    }
    const progress = progressPrinter(values.json);
    const r = await importModel({
      paths: positionals, roles, mode, home, ...(values.id ? { id: values.id } : {}), ...(values.name ? { name: values.name } : {}),
      onLog: (m) => progress.log(m),
    });
    if (values.json) out(JSON.stringify({ ok: true, id: r.model.id, folder: r.model.folder, mode, plan: r.plan }, null, 2));
    else out(`Imported ${r.model.record!.name} as ${r.model.id} (${mode === 'in-place' ? 'files used where they are' : `${mode === 'copy' ? 'copied' : 'moved'} into ${r.model.folder}`}).`);
    return 0;
  }

  async function verify(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, { quick: { type: 'boolean' } });
    if (values.help) return help();
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('give one installed model id');
    const progress = progressPrinter(values.json);
    const r = await verifyInstalled(id, {
      home, quick: values.quick,
      onProgress: (file, bytes, total) => progress.show(path.basename(file), { phase: 'checking', dest: file, bytes, total, rate: 0, etaSeconds: null, attempt: 0, resumedFrom: 0 }),
    });
    if (values.json) out(JSON.stringify(r, null, 2));
    else {
      // The verdict is the command's answer: stdout when intact, stderr (as an error) when not.
      if (r.ok) {
        progress.clear();
        out(r.message);
      } else progress.log(r.message);
      for (const n of r.notes) out(`note: ${n}`);
    }
    return r.ok ? 0 : 1;
  }

  async function remove(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, {});
    if (values.help) return help();
    const id = positionals[0];
    if (!id || positionals.length > 1) throw new UsageError('give one installed model id');
    if (!isSlug(id)) throw new UsageError(`${JSON.stringify(id)} is not a model id`);
    const m = getInstalled(id, home);
    const { db, state } = openState(values.state, home);
    try {
      const r = removeInstalled(id, home, state);
      if (values.json) out(JSON.stringify({ ok: true, id, folder: r.folder, freed_bytes: r.freedBytes, in_place: m?.record?.mode === 'in-place' }, null, 2));
      else out(`Removed ${id} (${formatBytes(r.freedBytes)} freed${m?.record?.mode === 'in-place' ? '; your imported files were left where they are' : ''}).`);
      return 0;
    } finally {
      db.close();
    }
  }

  async function fit(args: string[]): Promise<number> {
    const { values, positionals } = parse(args, {
      device: { type: 'string' }, 'gpu-memory': { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, batch: { type: 'string' },
    });
    if (values.help) return help();
    const target = positionals[0];
    if (!target || positionals.length > 1) throw new UsageError('give one model id or model path');
    const dims = ['width', 'height', 'batch'].map((k) => {
      const v = (values as Record<string, string | undefined>)[k];
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0 || n > 16384) throw new UsageError(`--${k} must be a whole number from 1 to 16384 (got ${v})`);
      return n;
    });
    let device: DeviceMemory;
    const kind = values.device ?? 'auto';
    if (!['auto', 'cpu', 'gpu'].includes(kind)) throw new UsageError('--device must be cpu, gpu or auto');
    if (values['gpu-memory'] !== undefined) {
      const gb = Number(values['gpu-memory']);
      if (!Number.isFinite(gb) || gb <= 0) throw new UsageError('--gpu-memory must be a positive number of GiB');
      device = reportedGpu(gb * 1024 ** 3);
    } else if (kind === 'cpu') device = cpuMemory();
    else {
      const gpus = await queryNvidiaGpus();
      if (!gpus[0] && kind === 'gpu') throw new UsageError('no NVIDIA GPU answered nvidia-smi; give its memory with --gpu-memory GB');
      device = gpus[0] ?? cpuMemory();
    }
    const r = await fitModel(target, {
      home, manifest: manifestOf(values.manifest), device,
      ...(dims[0] ? { width: dims[0] } : {}), ...(dims[1] ? { height: dims[1] } : {}), ...(dims[2] ? { batch: dims[2] } : {}),
    });
    if (values.json) out(JSON.stringify(r, null, 2));
    else out(r.message);
    return r.fits ? 0 : 1;
  }

  async function login(args: string[]): Promise<number> {
    const { values } = parse(args, {});
    if (values.help) return help();
    if (io.stdin.isTTY) io.stderr.write('Paste your Hugging Face token (https://huggingface.co/settings/tokens; input hidden) and press Enter: ');
    const value = await readSecretLine(io);
    if (!value) throw new UsageError('no token was given');
    token = value;
    try {
      checkHuggingFaceTokenShape(value);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    await secrets.set(HF_TOKEN_SECRET, value);
    out(`Token stored in ${secrets.file} (readable by you only). Downloads of gated models will use it.`);
    return 0;
  }
}

/** One line from stdin without echoing it on a terminal. */
function readSecretLine(io: ModelsIO): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: io.stdin, output: io.stdin.isTTY ? io.stderr : undefined, terminal: Boolean(io.stdin.isTTY) });
    if (io.stdin.isTTY) (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
    let done = false;
    rl.on('line', (line) => {
      done = true;
      rl.close();
      if (io.stdin.isTTY) io.stderr.write('\n');
      resolve(line.trim());
    });
    rl.on('close', () => {
      if (!done) resolve('');
    });
  });
}
