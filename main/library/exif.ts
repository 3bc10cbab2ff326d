// The A1111 `parameters` text in a JPEG where A1111-compatible readers look for it: EXIF
// UserComment (tag 0x9286 in the Exif IFD), "UNICODE\0" + UTF-16 — what A1111 writes with piexif
// and reads back, and what exiftool, Civitai and most image viewers show. Written in big-endian
// TIFF order (as piexif does), so the UTF-16 is big-endian too. Our full JSON stays in the COM
// segments (jpeg.ts); this is the copy other tools read.
import { readSegments } from './jpeg.js';

const EXIF_HEADER = Buffer.from('Exif\0\0', 'latin1');
const UNICODE_PREFIX = Buffer.from('UNICODE\0', 'latin1');
/** An APP1 segment holds 65,533 bytes after its length: Exif header 6 + TIFF 8 + two IFDs 36. */
const MAX_COMMENT_BYTES = 65533 - EXIF_HEADER.length - 8 - 36 - UNICODE_PREFIX.length;

function utf16be(text: string): Buffer {
  const le = Buffer.from(text, 'utf16le');
  return le.swap16();
}

/** The TIFF block: IFD0 → ExifIFD pointer; Exif IFD → UserComment. */
function exifBlock(text: string): Buffer {
  let body = utf16be(text);
  if (body.length > MAX_COMMENT_BYTES) {
    // Cut at a whole UTF-16 unit, never inside a surrogate pair.
    let end = MAX_COMMENT_BYTES - (MAX_COMMENT_BYTES % 2);
    const last = body.readUInt16BE(end - 2);
    if (last >= 0xd800 && last <= 0xdbff) end -= 2;
    body = body.subarray(0, end);
  }
  const comment = Buffer.concat([UNICODE_PREFIX, body]);
  const ifd0 = 8; // right after the TIFF header
  const exifIfd = ifd0 + 2 + 12 + 4;
  const data = exifIfd + 2 + 12 + 4;
  const tiff = Buffer.alloc(data + comment.length);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(ifd0, 4);
  // IFD0: one entry, ExifIFDPointer (0x8769), LONG, 1, offset of the Exif IFD.
  tiff.writeUInt16BE(1, ifd0);
  tiff.writeUInt16BE(0x8769, ifd0 + 2);
  tiff.writeUInt16BE(4, ifd0 + 4);
  tiff.writeUInt32BE(1, ifd0 + 6);
  tiff.writeUInt32BE(exifIfd, ifd0 + 10);
  tiff.writeUInt32BE(0, ifd0 + 14); // no next IFD
  // Exif IFD: one entry, UserComment (0x9286), UNDEFINED, byte count, offset of the bytes.
  tiff.writeUInt16BE(1, exifIfd);
  tiff.writeUInt16BE(0x9286, exifIfd + 2);
  tiff.writeUInt16BE(7, exifIfd + 4);
  tiff.writeUInt32BE(comment.length, exifIfd + 6);
  tiff.writeUInt32BE(data, exifIfd + 10);
  tiff.writeUInt32BE(0, exifIfd + 14);
  comment.copy(tiff, data);
  return tiff;
}

/**
 * A copy of the JPEG with `parameters` as its EXIF UserComment: an APP1 Exif segment after SOI and
 * any JFIF APP0, replacing an Exif segment already there (the encoder writes none of its own).
 */
export function withExifUserComment(buf: Buffer, parameters: string): Buffer {
  const segments = readSegments(buf);
  const tiff = exifBlock(parameters);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(2 + EXIF_HEADER.length + tiff.length, 2);
  const app1 = Buffer.concat([head, EXIF_HEADER, tiff]);
  const isExif = (s: { marker: number; data: Buffer }) => s.marker === 0xe1 && s.data.subarray(0, EXIF_HEADER.length).equals(EXIF_HEADER);
  let insertAt = 2;
  for (const s of segments) {
    if (s.marker !== 0xe0 || s.offset !== insertAt) break;
    insertAt = s.end;
  }
  const parts: Buffer[] = [buf.subarray(0, insertAt), app1];
  let cursor = insertAt;
  for (const s of segments) {
    if (s.offset >= insertAt && isExif(s)) {
      parts.push(buf.subarray(cursor, s.offset));
      cursor = s.end;
    }
  }
  parts.push(buf.subarray(cursor));
  return Buffer.concat(parts);
}
