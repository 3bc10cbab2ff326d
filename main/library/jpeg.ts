// Our metadata in JPEGs: COM segments right after SOI, each starting with "schnell:" and carrying a
// slice of the JSON (a segment holds at most 65,533 bytes). Reading walks the segment headers up
// to the image data, checking every length against the file.

export class JpegError extends Error {
  override name = 'JpegError';
}

const PREFIX = Buffer.from('schnell:', 'latin1');
const MAX_SEGMENT_DATA = 65533;
const MAX_COMMENT_BYTES = 16 * 1024 * 1024;

export function isJpeg(buf: Buffer): boolean {
  return buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
}

export interface Segment {
  marker: number;
  offset: number; // of the 0xFF
  end: number; // one past the segment
  data: Buffer;
}

export function readSegments(buf: Buffer): Segment[] {
  if (!isJpeg(buf)) throw new JpegError('not a JPEG file (no SOI marker)');
  const out: Segment[] = [];
  let offset = 2;
  while (offset < buf.length) {
    if (buf[offset] !== 0xff) throw new JpegError(`the JPEG has no marker at byte ${offset}`);
    let marker = buf[offset + 1];
    while (marker === 0xff) marker = buf[++offset + 1]; // fill bytes
    if (marker === undefined) throw new JpegError('the JPEG is truncated inside a marker');
    if (marker === 0xd9 || marker === 0xda) break; // EOI, or SOS: entropy-coded data follows
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += 2;
      continue;
    }
    if (offset + 4 > buf.length) throw new JpegError(`the JPEG is truncated at byte ${offset}`);
    const length = buf.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > buf.length) {
      throw new JpegError(`the JPEG segment 0x${marker.toString(16)} at byte ${offset} claims ${length} bytes, past the end of the file`);
    }
    out.push({ marker, offset, end: offset + 2 + length, data: buf.subarray(offset + 4, offset + 2 + length) });
    offset += 2 + length;
  }
  return out;
}

/** Our JSON text from the COM segments, or null when there is none. */
export function readJpegComment(buf: Buffer): string | null {
  const parts = readSegments(buf)
    .filter((s) => s.marker === 0xfe && s.data.subarray(0, PREFIX.length).equals(PREFIX))
    .map((s) => s.data.subarray(PREFIX.length));
  if (parts.length === 0) return null;
  const total = parts.reduce((n, p) => n + p.length, 0);
  if (total > MAX_COMMENT_BYTES) throw new JpegError(`the JPEG's metadata comments hold ${total} bytes, over the ${MAX_COMMENT_BYTES}-byte limit`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(parts));
  } catch {
    throw new JpegError('the JPEG metadata comment is not valid UTF-8');
  }
}

/** A copy of the JPEG with `text` in COM segments after SOI, replacing any of ours. */
export function withJpegComment(buf: Buffer, text: string): Buffer {
  const segments = readSegments(buf);
  const body = Buffer.from(text, 'utf8');
  if (body.length > MAX_COMMENT_BYTES) throw new JpegError(`the metadata is over ${MAX_COMMENT_BYTES} bytes`);
  const parts: Buffer[] = [buf.subarray(0, 2)];
  const room = MAX_SEGMENT_DATA - PREFIX.length;
  for (let i = 0; i < body.length; i += room) {
    const slice = body.subarray(i, i + room);
    const head = Buffer.from([0xff, 0xfe, 0, 0]);
    head.writeUInt16BE(2 + PREFIX.length + slice.length, 2);
    parts.push(head, PREFIX, slice);
  }
  // Keep every other byte as it was; drop only our old comments.
  let cursor = 2;
  for (const s of segments) {
    if (s.marker === 0xfe && s.data.subarray(0, PREFIX.length).equals(PREFIX)) {
      parts.push(buf.subarray(cursor, s.offset));
      cursor = s.end;
    }
  }
  parts.push(buf.subarray(cursor));
  return Buffer.concat(parts);
}
