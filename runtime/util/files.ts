// The one way to write a file: a temp file in the same folder, write, fsync, rename over the
// target, fsync the folder. A crash or a failed write leaves the old file or the new one, never
// half of either, and the temp file is removed whenever the writer is still alive to do it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Temp files are `.tmp-<pid>-<random>.tmp` beside their target: hidden, and naming the writer, so
 * a scan can sweep the ones whose process is gone (see tempFileOwner).
 */
export const TEMP_PREFIX = '.tmp-';

export interface WriteOptions {
  /** Permission bits of the new file, before the umask (default 0o666, as fs.writeFile); 0o600 for secrets. */
  mode?: number;
  /** fsync the folder after the rename, so the new name itself survives a power cut (default true). */
  fsyncDir?: boolean;
  /** Create the file's folder (and missing parents) first (default false: a missing folder is an error). */
  createFolder?: boolean;
}

/** The whole content, or a writer that puts it into the open temp file (for content built in pieces). */
export type FileContent = string | Uint8Array | ((fd: number) => void);

/** The pid of the process that wrote temp file `name`, or undefined when `name` is not one of ours. */
export function tempFileOwner(name: string): number | undefined {
  const m = /^\.tmp-(\d+)-/.exec(name);
  return m ? Number(m[1]) : undefined;
}

function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes every byte (fs.writeSync may write fewer than asked). */
export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Replaces `file` with `data` atomically and durably: it holds all of the new content or is untouched. */
export function writeFileAtomic(file: string, data: FileContent, opts: WriteOptions = {}): void {
  const dir = path.dirname(path.resolve(file));
  if (opts.createFolder) {
    const created = fs.mkdirSync(dir, { recursive: true });
    if (created && opts.fsyncDir !== false) fsyncDirSync(path.dirname(created));
  }
  const tmp = tempPathFor(file);
  let fd: number | undefined = fs.openSync(tmp, 'wx', opts.mode ?? 0o666);
  try {
    if (typeof data === 'function') data(fd);
    else writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeQuietly(fd);
    removeQuietly(tmp);
    throw err;
  }
  if (opts.fsyncDir !== false) fsyncDirSync(dir);
}

/** writeFileAtomic for async code: the same steps without blocking the event loop. */
export async function writeFileAtomicAsync(file: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  if (opts.createFolder) {
    const created = await fs.promises.mkdir(dir, { recursive: true });
    if (created && opts.fsyncDir !== false) await fsyncDir(path.dirname(created));
  }
  const tmp = tempPathFor(file);
  const fh = await fs.promises.open(tmp, 'wx', opts.mode ?? 0o666);
  let open = true;
  try {
    await fh.writeFile(data);
    await fh.sync();
    open = false;
    await fh.close();
    await fs.promises.rename(tmp, file);
  } catch (err) {
    if (open) await fh.close().catch(() => {});
    await fs.promises.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  if (opts.fsyncDir !== false) await fsyncDir(dir);
}

/** Writes `value` as indented JSON with a final newline, atomically (see writeFileAtomic). */
export function writeJsonAtomic(file: string, value: unknown, opts: WriteOptions = {}): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', opts);
}

// Codes of platforms and file systems that cannot open or fsync a folder; the rename is still atomic there.
const CANNOT_SYNC_FOLDER = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'ENOTSUP']);

/** Makes a rename or create inside `dir` durable. A no-op where folders cannot be fsynced (Windows). */
export function fsyncDirSync(dir: string): void {
  if (process.platform === 'win32') return;
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    if (!CANNOT_SYNC_FOLDER.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** fsyncDirSync for async code. */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!CANNOT_SYNC_FOLDER.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await fh?.close();
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // the write's own error is the one worth reporting
  }
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // the write's own error is the one worth reporting
  }
}
