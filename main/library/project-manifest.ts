import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';
import { isId, type Source } from '../catalog/index.js';
import { LibraryError } from './errors.js';

// The catalog file of an exported project folder, and how it is read back without trusting it:
//
//   <folder>/schnell-project.json   the project (name, settings, cover, archive flag), the number of
//                                   generations and the SHA-256 of the list below
//   <folder>/generations.jsonl      one generation a line: its catalog fields, its file, the file's
//                                   SHA-256 and the hash it had in the library it came from
//   <folder>/images/…               the images, each with its metadata embedded (as any export)
//
// JSON Lines so a project of any size is written and read a line at a time; every line and the
// header are checked with zod before anything is imported, and each line's length is capped, so a
// tampered or damaged folder is refused with the line and field named.

export const PROJECT_HEADER = 'schnell-project.json';
export const PROJECT_LIST = 'generations.jsonl';
export const PROJECT_IMAGES = 'images';
export const PROJECT_FORMAT = 1;
const MAX_HEADER_BYTES = 1024 * 1024;
/** Prompts may hold a million characters each; a line holds two of them and the rest. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoDate = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'must be an ISO date');
const id = z.string().refine(isId, 'must be a 26-character generation id');

export const projectHeaderSchema = z.strictObject({
  schnellProject: z.literal(PROJECT_FORMAT),
  exportedAt: isoDate,
  project: z.strictObject({
    name: z.string().min(1).max(128),
    createdAt: isoDate,
    archived: z.boolean(),
    coverId: id.nullable(),
    /** Checked again by the catalog (checkProjectDefaults) when the project is created. */
    defaults: z.record(z.string(), z.unknown()),
  }),
  generations: z.number().int().min(0),
  list: z.literal(PROJECT_LIST),
  listSha256: hex64,
});
export type ProjectHeader = z.infer<typeof projectHeaderSchema>;

/**
 * A plain file name under images/: no folders, no '..', no NUL or control characters, no leading
 * dot (so no '.', '..' or hidden names), an image extension.
 */
const imageFile = z
  .string()
  .max(300)
  .regex(/^images\/[^/\\\u0000-\u001f]+\.(png|jpg)$/, "must be a file name under images/ ending in .png or .jpg, with no folders")
  .refine((f) => !f.slice(PROJECT_IMAGES.length + 1).startsWith('.'), 'must not start with a dot');

/** The catalog fields of one generation; the catalog's own checks (checkGeneration) run on insert. */
const generationSchema = z.object({
  id,
  prompt: z.string(),
  negativePrompt: z.string(),
  width: z.number().int(),
  height: z.number().int(),
  steps: z.number().int().nullable(),
  cfgScale: z.number().nullable(),
  sampler: z.string().nullable(),
  samples: z.number().int(),
  seed: z.number().int().nullable(),
  sampleIndex: z.number().int(),
  finishReason: z.string(),
  model: z.string(),
  backend: z.enum(['local', 'cloud', 'imported']),
  device: z.string().nullable(),
  durationMs: z.number().nullable(),
  fallbackReason: z.string().nullable(),
  format: z.enum(['png', 'jpeg']),
  favorite: z.boolean(),
  rating: z.number().int().min(0).max(5),
  parentId: id.nullable(),
  project: z.string().nullable(),
  tags: z.array(z.string()).max(1000),
  source: z.string().max(32) as z.ZodType<Source>,
  createdAt: isoDate,
});

export const projectEntrySchema = z.strictObject({
  file: imageFile,
  sha256: hex64,
  /** The file's hash in the library it was exported from (its bytes there, before re-embedding). */
  sourceHash: hex64,
  /** false: an ancestor from outside the project, exported so that lineage stays whole. */
  inProject: z.boolean(),
  generation: generationSchema,
});
export type ProjectEntry = z.infer<typeof projectEntrySchema>;

function describe(err: z.ZodError): string {
  const issue = err.issues[0]!;
  if (issue.code === 'unrecognized_keys') return `has an unknown field '${issue.keys[0]}'`;
  const field = issue.path.join('.');
  return `${field ? `field '${field}' ` : ''}${issue.message.replace(/^Invalid input: /, 'is not valid: ')}`;
}

/** Reads and checks schnell-project.json (a regular file, not a link, of bounded size). */
export async function readProjectHeader(file: string): Promise<ProjectHeader> {
  const bytes = await readRegularFile(file, MAX_HEADER_BYTES, PROJECT_HEADER);
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new LibraryError(`${PROJECT_HEADER} is not valid JSON (${(err as Error).message}); the export is damaged`);
  }
  const version = (raw as { schnellProject?: unknown } | null)?.schnellProject;
  if (typeof version === 'number' && version > PROJECT_FORMAT) {
    throw new LibraryError(`${PROJECT_HEADER} is project format ${version}, newer than this studio reads (${PROJECT_FORMAT}); update Schnell Studio to import it`);
  }
  const r = projectHeaderSchema.safeParse(raw);
  if (!r.success) throw new LibraryError(`${PROJECT_HEADER} ${describe(r.error)}; the export is damaged or was edited`);
  return r.data;
}

/** Opens without following a link and insists on a regular file (a FIFO would block forever). */
export async function readRegularFile(file: string, maxBytes: number, what: string): Promise<Buffer> {
  const st = await fs.promises.lstat(file).catch(() => undefined);
  if (!st) throw new LibraryError(`${what} is missing from the project folder; is this a Schnell Studio project export?`);
  if (st.isSymbolicLink()) throw new LibraryError(`${what} is a symbolic link; a project export holds plain files only`);
  if (!st.isFile()) throw new LibraryError(`${what} is not a regular file`);
  if (st.size > maxBytes) throw new LibraryError(`${what} is ${st.size} bytes, over the ${maxBytes}-byte limit`);
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  try {
    if (!(await fh.stat()).isFile()) throw new LibraryError(`${what} is not a regular file`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * The lines of generations.jsonl, each parsed and checked, with their line numbers. A line over
 * MAX_LINE_BYTES stops the read (it is never buffered whole). `sha256` receives every byte.
 */
export async function* readProjectEntries(file: string, hash?: ReturnType<typeof createHash>): AsyncGenerator<{ line: number; entry: ProjectEntry }> {
  const st = await fs.promises.lstat(file).catch(() => undefined);
  if (!st) throw new LibraryError(`${PROJECT_LIST} is missing from the project folder`);
  if (st.isSymbolicLink() || !st.isFile()) throw new LibraryError(`${PROJECT_LIST} is not a regular file (links are not followed)`);
  const fh = await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  let line = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const parse = (bytes: Buffer) => {
    line++;
    let raw: unknown;
    try {
      raw = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new LibraryError(`${PROJECT_LIST} line ${line} is not valid JSON; the export is damaged or was edited`);
    }
    const r = projectEntrySchema.safeParse(raw);
    if (!r.success) throw new LibraryError(`${PROJECT_LIST} line ${line} ${describe(r.error)}; the export is damaged or was edited`);
    return { line, entry: r.data };
  };
  try {
    for await (const chunk of fh.createReadStream({ highWaterMark: 256 * 1024, autoClose: false }) as AsyncIterable<Buffer>) {
      hash?.update(chunk);
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        const piece = chunk.subarray(start, nl);
        const whole = pending.length === 0 ? piece : Buffer.concat([...pending, piece]);
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        if (whole.length > MAX_LINE_BYTES) throw new LibraryError(`${PROJECT_LIST} line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes; the export is damaged`);
        if (whole.length > 0) yield parse(whole);
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > MAX_LINE_BYTES) throw new LibraryError(`${PROJECT_LIST} line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes; the export is damaged`);
      }
    }
    if (pendingBytes > 0) yield parse(Buffer.concat(pending));
  } finally {
    await fh.close();
  }
}
