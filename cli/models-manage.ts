// `schnell models list|import|verify|remove|fit|login|logout`: the installed models, registering
// files the user already has, checking them, what fits this machine, and the Hugging Face token.
import path from 'node:path';
import readline from 'node:readline';
import { formatBytes } from '../runtime/models/download.js';
import { cpuMemory, queryNvidiaGpus, reportedGpu, type DeviceMemory } from '../runtime/models/fit.js';
import { fitModel } from '../runtime/models/fit-model.js';
import { importModel, planImport, ROLE_FLAG, type ImportMode } from '../runtime/models/import.js';
import { isSlug, modelsRoot, SLUG_RULE } from '../runtime/models/paths.js';
import { getInstalled, listInstalled, removeInstalled } from '../runtime/models/registry.js';
import { checkHuggingFaceTokenShape, HF_TOKEN_SECRET } from '../runtime/models/secrets.js';
import { verifyInstalled } from '../runtime/models/verify.js';
import { ROLES, type Role } from '../runtime/models/detect.js';
import { help, manifestOf, type ModelsContext, type ModelsIO, openState, parse, progressPrinter } from './models-context.js';
import { UsageError } from './usage.js';

export async function list(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out, home } = ctx;
  const { values } = parse(args, {});
  if (values.help) return help(ctx);
  const manifest = manifestOf(values.manifest, ctx.home, ctx.io.env);
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

export async function importModels(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out, home } = ctx;
  const { values, positionals } = parse(args, {
    copy: { type: 'boolean' }, move: { type: 'boolean' }, id: { type: 'string' }, name: { type: 'string' }, 'dry-run': { type: 'boolean' },
    transformer: { type: 'string' }, autoencoder: { type: 'string' }, t5: { type: 'string' }, clip: { type: 'string' },
    'clip-tokenizer': { type: 'string' }, 't5-tokenizer': { type: 'string' },
  });
  if (values.help) return help(ctx);
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
  const progress = progressPrinter(ctx, values.json);
  const r = await importModel({
    paths: positionals, roles, mode, home, ...(values.id ? { id: values.id } : {}), ...(values.name ? { name: values.name } : {}),
    onLog: (m) => progress.log(m),
  });
  if (values.json) out(JSON.stringify({ ok: true, id: r.model.id, folder: r.model.folder, mode, plan: r.plan }, null, 2));
  else out(`Imported ${r.model.record!.name} as ${r.model.id} (${mode === 'in-place' ? 'files used where they are' : `${mode === 'copy' ? 'copied' : 'moved'} into ${r.model.folder}`}).`);
  return 0;
}

export async function verify(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out, home } = ctx;
  const { values, positionals } = parse(args, { quick: { type: 'boolean' } });
  if (values.help) return help(ctx);
  const id = positionals[0];
  if (!id || positionals.length > 1) throw new UsageError('give one installed model id');
  const progress = progressPrinter(ctx, values.json);
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

export async function remove(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out, home } = ctx;
  const { values, positionals } = parse(args, {});
  if (values.help) return help(ctx);
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

export async function fit(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out, home } = ctx;
  const { values, positionals } = parse(args, {
    device: { type: 'string' }, 'gpu-memory': { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, batch: { type: 'string' },
  });
  if (values.help) return help(ctx);
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
    home, manifest: manifestOf(values.manifest, ctx.home, ctx.io.env), device,
    ...(dims[0] ? { width: dims[0] } : {}), ...(dims[1] ? { height: dims[1] } : {}), ...(dims[2] ? { batch: dims[2] } : {}),
  });
  if (values.json) out(JSON.stringify(r, null, 2));
  else out(r.message);
  return r.fits ? 0 : 1;
}

export async function login(ctx: ModelsContext, args: string[]): Promise<number> {
  const { out } = ctx;
  const { values } = parse(args, {});
  if (values.help) return help(ctx);
  if (ctx.io.stdin.isTTY) ctx.io.stderr.write('Paste your Hugging Face token (https://huggingface.co/settings/tokens; input hidden) and press Enter: ');
  const value = await readSecretLine(ctx.io);
  if (!value) throw new UsageError('no token was given');
  ctx.token = value;
  try {
    checkHuggingFaceTokenShape(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  await ctx.secrets.set(HF_TOKEN_SECRET, value);
  out(`Token stored in ${ctx.secrets.file} (readable by you only). Downloads of gated models will use it.`);
  return 0;
}

export async function logout(ctx: ModelsContext, args: string[]): Promise<number> {
  parse(args, {});
  await ctx.secrets.delete(HF_TOKEN_SECRET);
  ctx.out('The stored Hugging Face token was removed.');
  return 0;
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
