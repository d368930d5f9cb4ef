/**
 * Atomic file writes: the bytes go to a temporary file in the same folder,
 * are flushed to disk (fsync), then renamed over the target. A crash or a
 * `kill -9` at any moment leaves either the old file or the new one, never a
 * torn one (rename within one folder is atomic on POSIX file systems).
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MAEError } from 'tfjs-mae';

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Create the folder (and its parents) when missing. Defaults to `true`. */
  mkdir?: boolean;
}

/** The temporary files {@link writeFileAtomic} uses look like `.NAME.<pid>.<random>.tmp`. */
export function isAtomicTemp(name: string): boolean {
  return /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/.test(name);
}

/**
 * Writes `data` to `path` atomically: temp file in the same folder, fsync,
 * rename, then an fsync of the folder (best effort) so the rename survives a
 * power cut. On failure the temp file is removed and a `MAEError` names `path`.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, options: WriteFileAtomicOptions = {}): Promise<void> {
  await writeFileAtomicWith(path, (file) => file.writeFile(data), options);
}

/**
 * {@link writeFileAtomic} for output written in pieces (e.g. tensor by
 * tensor): `write` fills the temp file through its handle; then fsync,
 * rename, folder fsync. When `write` throws, the temp file is removed and
 * the error is rethrown as is if it is a `MAEError` (else a `MAEError` naming `path`).
 */
export async function writeFileAtomicWith(
  path: string,
  write: (file: FileHandle) => Promise<void>,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    if (options.mkdir ?? true) await mkdir(dir, { recursive: true });
    const file = await open(tmp, 'wx');
    try {
      await write(file);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof MAEError) throw e;
    const reason = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e);
    throw new MAEError(`cannot write ${JSON.stringify(path)}: ${reason}`);
  }
  await syncFolder(dir);
}

/**
 * Writes a folder (e.g. a tfjs model: `model.json` + weight shards) as a
 * whole: `write` fills a temporary folder beside `dir` (its files are
 * fsynced by `write`), which then replaces `dir`. A reader never sees a mix
 * of old and new files; after a crash, `dir` is the old folder or the new
 * one (or, between the two renames of a replacement, absent, with the old
 * one kept beside it as `.NAME.<pid>.<random>.old`).
 * When `write` throws, the temporary folder is removed, `dir` is untouched,
 * and the error is rethrown as is if it is a `MAEError` (else a `MAEError` naming `dir`).
 */
export async function writeFolderAtomicWith(dir: string, write: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = dirname(dir);
  const stem = `.${basename(dir)}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const tmp = join(parent, `${stem}.tmp`);
  const old = join(parent, `${stem}.old`);
  try {
    await mkdir(tmp, { recursive: true });
    await write(tmp);
    await syncFolder(tmp);
    const existing = await stat(dir).catch(() => undefined);
    if (existing !== undefined && !existing.isDirectory()) throw new MAEError(`cannot write ${JSON.stringify(dir)}: it is a file, expected a folder`);
    if (existing !== undefined) await rename(dir, old);
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof MAEError) throw e;
    const reason = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e);
    throw new MAEError(`cannot write ${JSON.stringify(dir)}: ${reason}`);
  }
  await rm(old, { recursive: true, force: true });
  await syncFolder(parent);
}

async function syncFolder(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every platform can fsync a folder (Windows); the rename itself is done.
  }
}
