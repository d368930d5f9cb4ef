/**
 * gzip decompression with the platform `DecompressionStream` (Node ≥ 18 and
 * every current browser), bounded so that a small hostile stream cannot
 * expand into gigabytes.
 */
import { DataError } from '../errors';
import { concatBytes } from '../util/bytes';

/** `true` when `bytes` starts with the gzip magic number `0x1f 0x8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses a gzip stream (one or more members).
 *
 * @param bytes The compressed bytes.
 * @param maxBytes The largest decompressed size accepted; a larger output
 *   stops decompression with a `DataError`.
 * @param what The argument name used in error messages.
 * @returns The decompressed bytes, in one new buffer.
 */
export async function gunzip(bytes: Uint8Array, maxBytes: number, what = 'bytes'): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') {
    throw new DataError(
      `${what}: expected a platform with DecompressionStream('gzip') (Node >= 18 or a current browser) to read gzip data, got none`,
    );
  }
  // A copy into a fresh ArrayBuffer: Blob parts must not be shared buffers.
  const input = new Uint8Array(bytes.length);
  input.set(bytes);
  const stream = new Blob([input]).stream().pipeThrough(new DecompressionStream('gzip'));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new DataError(
          `${what}: expected gzip data that decompresses to at most ${maxBytes} bytes (maxBytes), got more than that`,
        );
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new DataError(`${what}: expected a valid gzip stream, got a corrupt or truncated one (${reason})`);
  }
  return concatBytes(chunks, total);
}
