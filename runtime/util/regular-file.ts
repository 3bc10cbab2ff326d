// Opening a path a user named (a checkpoint, an autoencoder, a tokenizer file, an image to import,
// a manifest): it must be a regular file. A FIFO blocks open() until someone writes to it, a
// device such as /dev/zero reads forever, a socket cannot be opened at all; each would hang or
// confuse the command. So the file is opened without blocking (O_NONBLOCK: a FIFO opens at once,
// a regular file is unaffected), its type is checked on the open descriptor (no window for a swap
// between check and use), and anything but a regular file is refused in one sentence.
import fs from 'node:fs';

export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

/** What a non-regular file is, in words. */
export function fileKind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a folder';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function refusal(file: string, what: string, kind: string): NotRegularFileError {
  return new NotRegularFileError(`the ${what} ${file} is ${kind}, not a regular file; give the path of the file itself`, file);
}

function check(fd: number, file: string, what: string): void {
  const st = fs.fstatSync(fd);
  if (!st.isFile()) {
    fs.closeSync(fd);
    throw refusal(file, what, fileKind(st));
  }
}

/** Refuses before opening when the path is there and not a regular file (for APIs that open by path). */
export function assertRegularFile(file: string, what = 'file'): fs.Stats {
  const st = fs.statSync(file);
  if (!st.isFile()) throw refusal(file, what, fileKind(st));
  return st;
}

/**
 * Opens a regular file for reading and returns its descriptor; anything else throws
 * NotRegularFileError (errors of the open itself, e.g. ENOENT, pass through; a socket's ENXIO is
 * named). `flags` adds to O_RDONLY (e.g. O_NOFOLLOW).
 */
export function openRegularFileSync(file: string, what = 'file', flags = 0): number {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NONBLOCK | flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw refusal(file, what, 'a socket');
    throw err;
  }
  check(fd, file, what);
  return fd;
}

/** The whole content of a regular file (see openRegularFileSync). */
export function readRegularFileSync(file: string, what?: string): Buffer;
export function readRegularFileSync(file: string, what: string | undefined, encoding: BufferEncoding): string;
export function readRegularFileSync(file: string, what = 'file', encoding?: BufferEncoding): Buffer | string {
  const fd = openRegularFileSync(file, what);
  try {
    const bytes = fs.readFileSync(fd);
    return encoding ? bytes.toString(encoding) : bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** openRegularFileSync for async code: a FileHandle on a regular file. */
export async function openRegularFile(file: string, what = 'file', flags = 0): Promise<fs.promises.FileHandle> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, fs.constants.O_RDONLY | O_NONBLOCK | flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw refusal(file, what, 'a socket');
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw refusal(file, what, fileKind(st));
  }
  return fh;
}

/** A read stream over a regular file (fs.createReadStream would open a FIFO and wait). */
export async function regularFileStream(file: string, what = 'file', opts: { highWaterMark?: number; start?: number; end?: number } = {}): Promise<fs.ReadStream> {
  const fh = await openRegularFile(file, what);
  return fh.createReadStream({ ...opts, autoClose: true });
}
