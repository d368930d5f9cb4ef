/**
 * Image files as data, in any environment: which files are images (by
 * content), what a bad file is, and how it is reported. Shared by the Node
 * image folders (`tfjs-mae/node`) and the browser's `imageFilesSource`.
 */
import { DataError } from '../errors';

/** A file that cannot be used, and why. */
export interface BadImageFile {
  /** The file: an absolute path (Node), a `webkitRelativePath` or name (browser `File`), or a URL. */
  path: string;
  /** What is wrong, e.g. `'empty file'`, `'not an image (content)'`, `'corrupt or truncated: …'`. */
  reason: string;
  /** The kind of problem, for counting. */
  kind: BadImageKind;
}

/** Kinds of bad files: empty, not an image by content, over the pixel limit, undecodable. */
export type BadImageKind = 'empty' | 'not-an-image' | 'too-many-pixels' | 'corrupt';

/** Extensions of the formats read (any case); other files are ignored unless their content is an image. */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp'];

/** Image formats recognised by their first bytes. */
export type ImageFormat = 'jpeg' | 'png' | 'webp';

/** Bytes of a file's head that {@link sniffImageFormat} looks at. */
export const IMAGE_HEAD_BYTES = 12;

/** The format of a file from its first 12 bytes (magic numbers), or `undefined`. */
export function sniffImageFormat(head: Uint8Array): ImageFormat | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (head.length >= 8 && png.every((b, i) => head[i] === b)) return 'png';
  const ascii = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (head.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** An image's size in pixels. */
export interface ImageSize {
  /** Width, pixels. */
  width: number;
  /** Height, pixels. */
  height: number;
}

/** Bytes of a file's head that {@link imageHeaderSize} reads (a JPEG's size may come later: then it is not known). */
export const IMAGE_SIZE_HEAD_BYTES = 65536;

/**
 * The `width × height` an image file's header claims, from its first bytes
 * (PNG's IHDR, WebP's VP8/VP8L/VP8X header, the first JPEG SOF marker), or
 * `undefined` when they do not tell (not an image, or a JPEG whose frame
 * header lies further on). Lets a decoder refuse a decompression bomb before
 * decoding it.
 */
export function imageHeaderSize(head: Uint8Array): ImageSize | undefined {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const has = (n: number) => head.length >= n;
  const format = sniffImageFormat(head);
  if (format === 'png') {
    // the first chunk must be IHDR, else the bytes are garbage (a corrupt file, left to the decoder)
    const ihdr = has(24) && String.fromCharCode(...head.subarray(12, 16)) === 'IHDR';
    return ihdr ? { width: view.getUint32(16), height: view.getUint32(20) } : undefined;
  }
  if (format === 'webp') {
    const chunk = String.fromCharCode(...head.subarray(12, 16));
    if (chunk === 'VP8 ' && has(30)) return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    if (chunk === 'VP8L' && has(25)) {
      const bits = view.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    const u24 = (at: number) => head[at] | (head[at + 1] << 8) | (head[at + 2] << 16);
    if (chunk === 'VP8X' && has(30)) return { width: u24(24) + 1, height: u24(27) + 1 };
    return undefined;
  }
  if (format !== 'jpeg') return undefined;
  let i = 2;
  while (has(i + 4)) {
    if (head[i] !== 0xff) return undefined;
    const marker = head[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (sof) return has(i + 9) ? { width: view.getUint16(i + 7), height: view.getUint16(i + 5) } : undefined;
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) i += 2; // markers without a length
    else i += 2 + view.getUint16(i + 2);
  }
  return undefined;
}

/** Whether `name` ends with one of {@link IMAGE_EXTENSIONS} (any case). */
export function hasImageExtension(name: string): boolean {
  const dot = name.lastIndexOf('.');
  const slash = Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\'));
  return dot > slash && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}

/**
 * What a file is, from its name, size and first bytes: `'image'` (JPEG, PNG
 * or WebP content, whatever the name), `'ignore'` (another file without an
 * image extension: `.txt`, `.DS_Store`), or why a file named as an image is
 * bad (empty, other content).
 */
export function classifyImageFile(name: string, size: number, head: Uint8Array): 'image' | 'ignore' | Omit<BadImageFile, 'path'> {
  if (sniffImageFormat(head) !== undefined) return 'image';
  if (!hasImageExtension(name)) return 'ignore';
  return size === 0 ? { kind: 'empty', reason: 'empty file (0 bytes)' } : { kind: 'not-an-image', reason: 'not an image (its content is not JPEG, PNG or WebP)' };
}

/** The default report of a bad file: one `console.warn` line. */
export function warnBadFile(file: BadImageFile): void {
  console.warn(`tfjs-mae: skipping ${file.path}: ${file.reason}`);
}

/** Throws (strict) or reports a bad file. */
export function reportBadFile(file: BadImageFile, o: { strict?: boolean; onBadFile?: (f: BadImageFile) => void }): void {
  if (o.strict) throw new DataError(`${file.path}: ${file.reason} (strict: stopped at the first bad file)`);
  (o.onBadFile ?? warnBadFile)(file);
}

/** A decoder's error as the reason of a corrupt file (its first line). */
export function corruptFile(err: unknown): Omit<BadImageFile, 'path'> {
  const message = String((err as Error)?.message ?? err).split('\n')[0].trim();
  return { kind: 'corrupt', reason: `corrupt or truncated: ${message}` };
}
