/**
 * Atomic file writes: the bytes go to a temporary file in the same folder,
 * are flushed to disk (fsync), then renamed over the target. A crash or a
 * `kill -9` at any moment leaves either the old file or the new one, never a
 * torn one (rename within one folder is atomic on POSIX file systems).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
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
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    if (options.mkdir ?? true) await mkdir(dir, { recursive: true });
    const file = await open(tmp, 'wx');
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const reason = e instanceof Error ? ((e as NodeJS.ErrnoException).code ?? e.message) : String(e);
    throw new MAEError(`cannot write ${JSON.stringify(path)}: ${reason}`);
  }
  await syncFolder(dir);
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
