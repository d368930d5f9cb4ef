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
