/**
 * A {@link ByteSource} over a file on disk (Node): `FileHandle.read` at a
 * position, so files of any size (over 2 GiB, where `fs.readFile` fails) are
 * read by ranges in bounded memory. `node:fs/promises` is imported lazily,
 * so this module is harmless in a browser bundle (it throws there when called).
 */
import { CheckpointError } from '../errors';
import { type ByteSource, SourceNotFound, checkLength, checkRange } from './byteSource';
import { nodeFs } from './nodeFolder';

/** Bytes per `FileHandle.read` call (Node refuses single reads of 2 GiB or more). */
const MAX_READ = 2 ** 30;

/**
 * Opens `path` for reading by ranges. Close it with `source.close()` (or
 * use `withSource`). Node only.
 *
 * ```ts
 * import { fileSource } from 'tfjs-mae/node';
 * const weights = await openWeights(await fileSource('mae_pretrain_vit_huge.pth'));
 * ```
 *
 * @throws CheckpointError naming the path when it does not exist or is a folder, or outside Node.
 */
export async function fileSource(path: string): Promise<ByteSource> {
  if (typeof path !== 'string' || path === '') throw new CheckpointError(`path must be a non-empty string, got ${JSON.stringify(path)}`);
  const fs = await nodeFs(`cannot read the local path ${JSON.stringify(path)} outside Node; pass a URL, a Blob or the bytes`);
  let info;
  try {
    info = await fs.stat(path);
  } catch {
    throw new SourceNotFound(`cannot read ${JSON.stringify(path)}: no such file`);
  }
  if (info.isDirectory()) throw new CheckpointError(`${JSON.stringify(path)} is a folder; expected a file`);
  const handle = await fs.open(path, 'r');
  const source: ByteSource = {
    name: path,
    size: info.size,
    async read(offset, length) {
      checkRange(source, offset, length);
      // A fresh buffer per read (never Node's shared pool): byteOffset 0, so float32 data can be viewed in place.
      const bytes = new Uint8Array(new ArrayBuffer(length));
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(bytes, done, Math.min(length - done, MAX_READ), offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return checkLength(source, bytes.subarray(0, done), offset, length);
    },
    async close() {
      await handle.close();
    },
  };
  return source;
}
