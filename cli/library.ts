// `schnell library …`: the library from a terminal. Every command takes --library DIR (default: the
// studio's) and --json (machine-readable output on stdout, generations with their catalog fields).
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { CATALOG_FILE, catalogFile } from '../runtime/settings/index.js';
import { CatalogError, SORT_ORDERS, type Generation, type SearchQuery, type SortOrder } from '../main/catalog/index.js';
import { PROJECT_USAGE, ProjectUsageError, runProjectCommand } from './library-project.js';
import { defaultLibraryDir, LibraryError, openLibrary, type Library, type LibraryGeneration, type ScanReport } from '../main/library/index.js';
import { forTerminal, forTerminalLine } from '../runtime/util/terminal.js';

const USAGE = `usage: schnell library <command> [options]

commands:
  list                       the gallery, newest first (filters below)
  search TEXT                full-text search over prompts, negative prompts and tags (filters below)
  show ID                    one generation with its lineage (what it remixes, what remixes it)
  tag ID… [--add T,…] [--remove T,…]
  favorite ID… [--off]
  rate ID… STARS             0 (unrated) to 5
  trash ID…                  move to the trash (undo with restore)
  restore ID…
  purge [ID…]                delete trashed generations and their files (no ids: the whole trash)
  scan [--repair] [--verify] find files without rows and rows without files; --repair fixes them
  repair                     fix a damaged catalog (bad values, the search index, counters), then scan --repair
  export ID… --to DIR        copies with readable names and metadata, plus schnell-export.json
  import PATH… [--project P] [--tag T] [--recursive] [--keep-duplicates]
                             PNG/JPEG files or folders; reads Schnell, A1111, ComfyUI, InvokeAI metadata
${PROJECT_USAGE}

options:
  --library DIR              the library folder (default: ${defaultLibraryDir()})
  --json                     print JSON on stdout

filters (list, search):
  --project NAME  --size WxH  --seed N  --finish-reason R  --backend local|cloud|imported  --model M
  --tag T (repeatable)  --favorite  --rating N  --min-rating N  --since DATE  --until DATE  --trashed
  --source studio|ui|cli|api|a1111|comfyui|invokeai|unknown
  --sort newest|oldest|rating|favorites  --limit N (default 50)  --cursor C (from the previous page)`;

/** Why `dir` (which has no catalog) is not a library to read, in one clause. */
function noLibrary(dir: string): string {
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return `cannot open the library ${dir}: a folder above it is a file, not a folder`;
    return `there is no library at ${dir}`;
  }
  return stat.isDirectory() ? `${dir} is not a library (it has no ${CATALOG_FILE})` : `cannot open the library ${dir}: it is a file, not a folder`;
}

/** The commands that change a library; only these may create one where none is. */
const WRITES = new Set(['tag', 'favorite', 'rate', 'trash', 'restore', 'purge', 'repair', 'import']);

const OPTIONS = {
  library: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  project: { type: 'string' },
  size: { type: 'string' },
  seed: { type: 'string' },
  'finish-reason': { type: 'string' },
  backend: { type: 'string' },
  model: { type: 'string' },
  tag: { type: 'string', multiple: true },
  favorite: { type: 'boolean' },
  rating: { type: 'string' },
  'min-rating': { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  trashed: { type: 'boolean' },
  sort: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  add: { type: 'string', multiple: true },
  remove: { type: 'string', multiple: true },
  off: { type: 'boolean' },
  repair: { type: 'boolean' },
  verify: { type: 'boolean' },
  to: { type: 'string' },
  recursive: { type: 'boolean' },
  'keep-duplicates': { type: 'boolean' },
  source: { type: 'string' },
  as: { type: 'string' },
  merge: { type: 'boolean' },
  all: { type: 'boolean' },
  archived: { type: 'boolean' },
  clear: { type: 'boolean' },
  force: { type: 'boolean' },
  defaults: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${name} must be a whole number (got ${JSON.stringify(v)})`);
  return Number(v);
}

function date(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!Number.isFinite(Date.parse(v))) throw new UsageError(`--${name} must be a date such as 2026-11-27 or 2026-11-27T12:00:00Z (got ${JSON.stringify(v)})`);
  return v;
}

const list = (vs: string[] | undefined) => (vs ?? []).flatMap((v) => v.split(',')).map((t) => t.trim()).filter((t) => t !== '');

function queryFrom(v: Values, text?: string): SearchQuery {
  const q: SearchQuery = { limit: int('limit', v.limit) ?? 50 };
  if (text !== undefined) q.text = text;
  if (v.project !== undefined) q.project = v.project;
  if (v.size !== undefined) {
    const m = /^(\d+)x(\d+)$/i.exec(v.size.trim());
    if (!m) throw new UsageError(`--size must look like 1024x1024 (got ${JSON.stringify(v.size)})`);
    q.width = Number(m[1]);
    q.height = Number(m[2]);
  }
  q.seed = int('seed', v.seed);
  if (v['finish-reason'] !== undefined) q.finishReason = v['finish-reason'];
  if (v.backend !== undefined) {
    if (!['local', 'cloud', 'imported'].includes(v.backend)) throw new UsageError(`--backend must be local, cloud or imported (got ${JSON.stringify(v.backend)})`);
    q.backend = v.backend as SearchQuery['backend'];
  }
  if (v.model !== undefined) q.model = v.model;
  if (v.source !== undefined) q.source = v.source as SearchQuery['source'];
  if (v.tag) q.tags = list(v.tag);
  if (v.favorite) q.favorite = true;
  q.rating = int('rating', v.rating);
  q.minRating = int('min-rating', v['min-rating']);
  q.since = date('since', v.since);
  q.until = date('until', v.until);
  if (v.trashed) q.trashed = true;
  if (v.sort !== undefined) {
    if (!(SORT_ORDERS as readonly string[]).includes(v.sort)) throw new UsageError(`--sort must be ${SORT_ORDERS.join(', ')} (got ${JSON.stringify(v.sort)})`);
    q.sort = v.sort as SortOrder;
  }
  if (v.cursor !== undefined) q.cursor = v.cursor;
  for (const k of Object.keys(q) as (keyof SearchQuery)[]) if (q[k] === undefined) delete q[k];
  return q;
}

function oneLine(g: Generation): string {
  const when = g.createdAt.slice(0, 16).replace('T', ' ');
  const marks = `${g.favorite ? '♥' : ' '}${g.rating ? `${g.rating}★` : '  '}`;
  const seed = g.seed === null ? '' : `seed ${g.seed}`;
  const prompt = g.prompt ? forTerminalLine(g.prompt.replace(/\s+/g, ' ').slice(0, 60)) + (g.prompt.length > 60 ? '…' : '') : '(no prompt)';
  const flags = [g.finishReason !== 'SUCCESS' ? g.finishReason : '', g.trashedAt ? 'trashed' : '', g.missingAt ? 'FILE MISSING' : ''].filter(Boolean).join(' ');
  return `${g.id}  ${when}  ${`${g.width}x${g.height}`.padEnd(9)}  ${seed.padEnd(15)} ${marks}  ${g.project ? `[${g.project}] ` : ''}${prompt}${flags ? `  (${flags})` : ''}`;
}

function details(g: LibraryGeneration): string {
  const rows: [string, unknown][] = [
    ['id', g.id], ['prompt', g.prompt || '(no prompt)'], ['negative prompt', g.negativePrompt || '—'], ['size', `${g.width}x${g.height}`],
    ['seed', g.seed ?? '—'], ['steps', g.steps ?? '—'], ['cfg scale', g.cfgScale ?? '—'], ['sampler', g.sampler ?? 'default'],
    ['sample', `${g.sampleIndex + 1} of ${g.samples}`], ['finish reason', g.finishReason], ['model', g.model],
    ['backend', `${g.backend}${g.device ? ` (${g.device})` : ''}`], ['duration', g.durationMs === null ? '—' : `${g.durationMs} ms`],
    ['fallback reason', g.fallbackReason ?? '—'], ['project', g.project ?? '—'], ['tags', g.tags.join(', ') || '—'],
    ['favorite', g.favorite ? 'yes' : 'no'], ['rating', g.rating || 'unrated'], ['created', g.createdAt],
    ['trashed', g.trashedAt ?? 'no'], ['source', g.source], ['file', g.file + (g.missingAt ? '  (MISSING)' : '')],
  ];
  return rows.map(([k, v]) => `${k.padEnd(16)} ${String(v)}`).join('\n');
}

function print(json: boolean, data: unknown, text: () => string): void {
  // File-derived text (prompts, tags, names) is escaped for the terminal; JSON stays equal in value.
  console.log(forTerminal(json ? JSON.stringify(data, null, 2) : text()));
}

function requireIds(ids: string[], command: string): string[] {
  if (ids.length === 0) throw new UsageError(`${command} needs at least one generation id (see 'schnell library list')`);
  return ids;
}

/** One library command: its arguments after the command name, the parsed options, and how to print. */
type Handler = (lib: Library, args: string[], v: Values, out: Printer, command: string) => number | Promise<number>;
type Printer = (data: unknown, text: () => string) => void;

function showPage(out: Printer, page: { items: LibraryGeneration[]; nextCursor: string | null }): number {
  out(page, () =>
    page.items.length === 0
      ? 'no generations match'
      : [...page.items.map(oneLine), ...(page.nextCursor ? [`… more: add --cursor ${page.nextCursor}`] : [])].join('\n'),
  );
  return 0;
}

function show(lib: Library, args: string[], _v: Values, out: Printer): number {
  const [id] = requireIds(args, 'show');
  const g = lib.get(id!);
  if (!g) throw new LibraryError(`no generation with id ${JSON.stringify(id)} in this library`);
  const lineage = lib.lineage(g.id);
  out({ ...g, ancestors: lineage.ancestors.map((a) => a.id), remixes: lineage.remixes.map((r) => ({ id: r.id, depth: r.depth })) }, () =>
    [
      details(g),
      ...lineage.ancestors.map((a, i) => `${i === 0 ? 'remix of' : '    from'}        ${oneLine(a)}`),
      ...lineage.remixes.map((r) => `remixed as      ${'  '.repeat(r.depth - 1)}${oneLine(r)}`),
    ].join('\n'),
  );
  return 0;
}

function tag(lib: Library, args: string[], v: Values, out: Printer): number {
  const ids = requireIds(args, 'tag');
  const add = list(v.add);
  const remove = list(v.remove);
  if (!add.length && !remove.length) throw new UsageError('tag needs --add TAG or --remove TAG');
  const added = add.length ? lib.tag(ids, add) : 0;
  const removed = remove.length ? lib.untag(ids, remove) : 0;
  const items = lib.getMany(ids);
  out({ added, removed, items }, () => items.map((g) => `${g.id}  tags: ${g.tags.join(', ') || '—'}`).join('\n'));
  return 0;
}

function favorite(lib: Library, args: string[], v: Values, out: Printer): number {
  const ids = requireIds(args, 'favorite');
  const changed = lib.setFavorite(ids, !v.off);
  out({ changed, items: lib.getMany(ids) }, () => `${v.off ? 'unmarked' : 'marked'} ${ids.length} as favorite${changed < ids.length ? ` (${ids.length - changed} already were)` : ''}`);
  return 0;
}

function rate(lib: Library, args: string[], _v: Values, out: Printer): number {
  // The rating is the number among the arguments (ids are ULIDs, never numeric); anything
  // number-like that is not a whole star count is named, not mistaken for an id.
  const numeric = (a: string) => /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(a.trim());
  const stars = args.filter(numeric);
  const ids = args.filter((a) => !numeric(a));
  if (stars.length !== 1) throw new UsageError('rate needs one rating from 0 to 5, e.g. schnell library rate ID 4');
  if (!/^[0-5]$/.test(stars[0]!.trim())) throw new UsageError(`a rating must be a whole number from 0 (unrated) to 5 (got ${stars[0]})`);
  const rating = Number(stars[0]);
  const changed = lib.rate(requireIds(ids, 'rate'), rating);
  out({ changed, items: lib.getMany(ids) }, () => `rated ${ids.length} generation${ids.length > 1 ? 's' : ''} ${rating ? `${rating}★` : 'unrated'}`);
  return 0;
}

function trashOrRestore(lib: Library, args: string[], _v: Values, out: Printer, command: string): number {
  const ids = requireIds(args, command);
  const changed = command === 'trash' ? lib.trash(ids) : lib.restore(ids);
  out({ changed, ids }, () =>
    command === 'trash' ? `moved ${changed} to the trash (undo: schnell library restore ${ids.join(' ')})` : `restored ${changed} from the trash`,
  );
  return 0;
}

async function purge(lib: Library, args: string[], _v: Values, out: Printer): Promise<number> {
  const r = await lib.purge(args.length ? args : undefined);
  out(r, () => `purged ${r.purged.length} generation${r.purged.length === 1 ? '' : 's'}, removed ${r.filesRemoved} file${r.filesRemoved === 1 ? '' : 's'}`);
  return 0;
}

async function scan(lib: Library, args: string[], v: Values, out: Printer, command: string): Promise<number> {
  if (args.length) throw new UsageError(`${command} takes no arguments`);
  const r = await lib.scan({ repair: command === 'repair' || v.repair === true, verify: v.verify === true });
  out(r, () => scanText(r, v.verify === true));
  return 0;
}

/** A scan report as lines, ending with advice to repair only when a repair would change something. */
function scanText(r: ScanReport, verified: boolean): string {
  const adopted = r.orphans.filter((o) => o.adoptedAs).length;
  const marked = r.missing.filter((m) => m.marked).length;
  const lines = [
    `${r.images} image files, ${r.rows} rows`,
    `files without a row: ${r.orphans.length}${r.repaired ? ` (adopted ${adopted})` : ''}`,
    ...r.orphans.filter((o) => o.error).map((o) => `  ${o.file}: ${o.error}`),
    `rows without a file: ${r.missing.length}${r.repaired && r.missing.length ? ' (marked missing)' : !r.repaired && marked ? ` (${marked === r.missing.length ? 'all' : marked} already marked missing)` : ''}`,
    ...r.missing.slice(0, 20).map((m) => `  ${m.id}  ${m.file}`),
    `thumbnails missing: ${r.missingThumbnails.length}, left over: ${r.orphanThumbnails.length}`,
    `unfinished writes: ${r.tempFiles.length}; not ours (left alone): ${r.strangers.length}`,
    ...(r.damagedRows.length ? [`rows with a damaged file name: ${r.damagedRows.length} (${r.damagedRows.slice(0, 5).join(', ')})`] : []),
    ...(r.catalogRepair
      ? [
          `catalog: ${r.catalogRepair.values.length} damaged value${r.catalogRepair.values.length === 1 ? '' : 's'} fixed, search index rebuilt (${r.catalogRepair.searchIndexRebuilt} entries), counters recounted`,
          ...r.catalogRepair.values.slice(0, 20).map((f) => `  ${f.id} ${f.field}: ${f.was} → ${f.now}`),
        ]
      : []),
    ...(verified ? [`damaged (content does not match name): ${r.corrupt.length}`, ...r.corrupt.map((c) => `  ${c}`)] : []),
  ];
  // Only what a repair would change: rows an earlier repair already marked missing stay as they
  // are until their file comes back, so they are no reason to advise one again.
  const fixable = r.orphans.length + (r.missing.length - marked) + r.returned.length + r.missingThumbnails.length + r.orphanThumbnails.length + r.tempFiles.length + r.damagedRows.length;
  if (!r.repaired && fixable) lines.push("run 'schnell library scan --repair' to fix these");
  return lines.join('\n');
}

async function exportGenerations(lib: Library, args: string[], v: Values, out: Printer): Promise<number> {
  if (!v.to) throw new UsageError('export needs --to DIR');
  const r = await lib.exportTo(requireIds(args, 'export'), v.to);
  out(r, () => [...r.files.map((f) => f.file), `manifest: ${r.manifest}`].join('\n'));
  return 0;
}

async function importFiles(lib: Library, args: string[], v: Values, out: Printer): Promise<number> {
  if (args.length === 0) throw new UsageError('import needs at least one file or folder');
  const r = await lib.importFrom(args, {
    ...(v.project !== undefined ? { project: v.project } : {}),
    tags: list(v.tag),
    recursive: v.recursive === true,
    duplicates: v['keep-duplicates'] ? 'keep' : 'skip',
  });
  out(r, () =>
    [
      `imported ${r.imported.length}, skipped ${r.skipped.length}, failed ${r.failed.length}`,
      ...r.imported.flatMap((i) => [`  ${i.id}  ${i.file}  (${i.source})`, ...i.warnings.map((w) => `    warning: ${w}`)]),
      ...r.skipped.map((s) => `  skipped ${s.file}: ${s.reason}`),
      ...r.failed.map((f) => `  failed ${f.file}: ${f.error}`),
    ].join('\n'),
  );
  return r.failed.length ? 1 : 0;
}

const HANDLERS: Record<string, Handler> = {
  list: (lib, args, v, out) => {
    if (args.length) throw new UsageError(`list takes no arguments (got ${JSON.stringify(args[0])}); did you mean search?`);
    return showPage(out, lib.page(queryFrom(v)));
  },
  search: (lib, args, v, out) => {
    if (args.length === 0) throw new UsageError('search needs the text to look for');
    return showPage(out, lib.search(queryFrom(v, args.join(' '))));
  },
  show,
  tag,
  favorite,
  rate,
  trash: trashOrRestore,
  restore: trashOrRestore,
  purge,
  scan,
  repair: scan,
  export: exportGenerations,
  import: importFiles,
  project: (lib, args, v, out) => runProjectCommand(lib, args, { ...v, json: v.json === true }, out),
};

async function runCommand(lib: Library, command: string, args: string[], v: Values): Promise<number> {
  const handler = HANDLERS[command];
  if (!handler) throw new UsageError(`unknown library command '${command}'`);
  return handler(lib, args, v, (data, text) => print(v.json === true, data, text), command);
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // parseArgs reads `rate ID -1` as an unknown option '-1'; the user typed a rating.
    const negative = argv[0] === 'rate' ? argv.find((a) => /^-[\d.]/.test(a)) : undefined;
    if (negative !== undefined) {
      console.error(`schnell library rate: a rating must be a whole number from 0 (unrated) to 5 (got ${negative})`);
      return 2;
    }
    console.error(`schnell library: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command || values.help ? 0 : 2;
  }
  let lib: Library | undefined;
  const dir = values.library ?? defaultLibraryDir();
  // Only commands that write may create a library: a mistyped --library must not leave an empty one.
  const projectWrite = command === 'project' && args[0] !== undefined && args[0] !== 'list' && !(args[0] === 'defaults' && args.length < 3);
  if (!WRITES.has(command) && !projectWrite && !(command === 'scan' && values.repair) && !fs.existsSync(catalogFile(dir))) {
    console.error(`schnell library ${command}: ${noLibrary(dir)}${values.library === undefined ? ' (the studio library: nothing has been recorded in it yet)' : '; check --library'}`);
    return values.library === undefined ? 1 : 2;
  }
  try {
    lib = await openLibrary(dir);
    return await runCommand(lib, command, args, values);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ProjectUsageError) {
      console.error(`schnell library ${command}: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    if (err instanceof LibraryError || err instanceof CatalogError) {
      console.error(forTerminal(`schnell library ${command}: ${err.message}`));
      return 1;
    }
    throw err;
  } finally {
    lib?.close();
  }
}
