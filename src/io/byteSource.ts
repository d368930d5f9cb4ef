/**
 * Byte sources: a weights file read by ranges, whatever holds it (bytes in
 * memory, a browser `Blob`/`File`, a URL, or — in `tfjs-mae/node` — a file
 * handle). Readers ask for the header, then one tensor at a time, so a file
 * of any size (over 2 GiB included) is read in bounded memory.
 */
import { CheckpointError, describe } from '../errors';
import { concatBytes } from '../util/bytes';

/** A file or URL that does not exist (HTTP 404, no such file): optional files of a model folder are skipped on it. */
export class SourceNotFound extends CheckpointError {}

/** A file read by ranges. */
export interface ByteSource {
  /** What the bytes are (a path, a URL, a file name); every error message names it. */
  readonly name: string;
  /** Total size in bytes (a safe integer; files over 2 GiB are fine). */
  readonly size: number;
  /**
   * Exactly `length` bytes starting at `offset`.
   * @throws CheckpointError when the range leaves the source or fewer bytes came.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the source holds open (a file handle). Optional. */
  close?(): Promise<void>;
}

/** Checks a requested range against the source size (the one check every source makes). */
export function checkRange(source: Pick<ByteSource, 'name' | 'size'>, offset: number, length: number): void {
  const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0;
  if (!ok || offset + length > source.size) {
    throw new CheckpointError(
      `${source.name}: cannot read ${describe(length)} bytes at byte ${describe(offset)} of a ${source.size}-byte file`,
    );
  }
}

/** Fails when a read returned fewer bytes than asked (a file that shrank, a server that cut the body). */
export function checkLength(source: Pick<ByteSource, 'name'>, bytes: Uint8Array, offset: number, length: number): Uint8Array {
  if (bytes.length !== length) {
    throw new CheckpointError(`${source.name}: read ${bytes.length} of ${length} bytes at byte ${offset} (file changed or truncated while reading?)`);
  }
  return bytes;
}

/**
 * A source over bytes already in memory. Reads are views (no copies).
 *
 * @param bytes the whole file.
 * @param name names the bytes in messages. Defaults to `'bytes'`.
 */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  if (!(bytes instanceof Uint8Array)) throw new CheckpointError(`bytes must be a Uint8Array, got ${describe(bytes)}`);
  const source: ByteSource = {
    name,
    size: bytes.length,
    async read(offset, length) {
      checkRange(source, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
  return source;
}

/**
 * A source over a `Blob` (a browser `File` included; Node ≥ 18 has `Blob`
 * too): each read is `blob.slice(...).arrayBuffer()`, so only the ranges read
 * are ever in memory.
 *
 * @param name names the blob in messages. Defaults to the `File`'s name, else `'blob'`.
 */
export function blobSource(blob: Blob, name?: string): ByteSource {
  if (typeof Blob === 'undefined' || !(blob instanceof Blob)) {
    throw new CheckpointError(`blob must be a Blob or File, got ${describe(blob)}`);
  }
  const fileName = (blob as { name?: unknown }).name;
  const source: ByteSource = {
    name: name ?? (typeof fileName === 'string' && fileName !== '' ? fileName : 'blob'),
    size: blob.size,
    async read(offset, length) {
      checkRange(source, offset, length);
      const bytes = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      return checkLength(source, bytes, offset, length);
    },
  };
  return source;
}

/** Options of {@link urlSource}. */
export interface UrlSourceOptions {
  /** The fetch to use. Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. an authorization). Defaults to none. */
  headers?: Record<string, string>;
  /**
   * Called as a download without range support streams in: bytes so far and
   * the total when the server sent a `Content-Length`. Defaults to none.
   */
  onProgress?: (loaded: number, total: number | undefined) => void;
}

/** Tries of one request before a network error (not an HTTP status) fails the read. */
const FETCH_ATTEMPTS = 3;

/** `bytes 0-0/12345` → 12345 (undefined when absent or `*`). */
function totalOfContentRange(header: string | null): number | undefined {
  const m = header === null ? null : /^bytes\s+\d+-\d+\/(\d+)\s*$/i.exec(header);
  const n = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Reads a response body into one buffer, reporting progress per chunk. */
async function download(response: Response, name: string, onProgress?: UrlSourceOptions['onProgress']): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length'));
  const total = Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined;
  if (response.body === null) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onProgress?.(bytes.length, total);
    return bytes;
  }
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  // With a declared length the chunks go straight into one buffer (no second copy at the end).
  let buffer = total !== undefined ? new Uint8Array(total) : undefined;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (buffer !== undefined && loaded + value.length <= buffer.length) buffer.set(value, loaded);
    else {
      if (buffer !== undefined) chunks.push(buffer.subarray(0, loaded));
      buffer = undefined;
      chunks.push(value);
    }
    loaded += value.length;
    onProgress?.(loaded, total);
  }
  if (buffer !== undefined) {
    if (loaded !== buffer.length) throw new CheckpointError(`${name}: download ended after ${loaded} of ${buffer.length} bytes`);
    return buffer;
  }
  return concatBytes(chunks, loaded);
}

/**
 * A source over a URL. The server is asked for byte 0 with a `Range`
 * header: when it answers `206` with the total size, every read is a Range
 * request (only the header and one tensor at a time are in memory);
 * otherwise the whole body is streamed into memory once, reporting progress.
 *
 * @throws CheckpointError naming the URL when the request fails.
 */
export async function urlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const name = String(url);
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new CheckpointError(`${name}: no fetch available (pass options.fetch)`);
  const get = async (headers: Record<string, string>): Promise<Response> => {
    let response: Response | undefined;
    // A GET is safe to repeat: a dropped connection (a keep-alive socket the server just closed,
    // a network blip) is retried, so one of the hundreds of Range requests of a big file does not end the load.
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        response = await doFetch(name, { headers: { ...options.headers, ...headers } });
      } catch (e) {
        if (attempt >= FETCH_ATTEMPTS) {
          throw new CheckpointError(`${name}: request failed ${attempt} times (${e instanceof Error ? e.message : String(e)})`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
      }
    }
    if (!response.ok) {
      await response.body?.cancel();
      const NotOk = response.status === 404 ? SourceNotFound : CheckpointError;
      throw new NotOk(`${name}: HTTP ${response.status} ${response.statusText}`.trim());
    }
    return response;
  };
  const probe = await get({ Range: 'bytes=0-0' });
  const size = probe.status === 206 ? totalOfContentRange(probe.headers.get('content-range')) : undefined;
  if (size === undefined) {
    // No range support: this response is the whole file.
    return bytesSource(await download(probe, name, options.onProgress), name);
  }
  await probe.body?.cancel();
  const source: ByteSource = {
    name,
    size,
    async read(offset, length) {
      checkRange(source, offset, length);
      if (length === 0) return new Uint8Array(0);
      const response = await get({ Range: `bytes=${offset}-${offset + length - 1}` });
      if (response.status !== 206) {
        await response.body?.cancel();
        throw new CheckpointError(`${name}: the server stopped honouring Range requests (HTTP ${response.status})`);
      }
      return checkLength(source, new Uint8Array(await response.arrayBuffer()), offset, length);
    },
  };
  return source;
}

/** Runs `use(source)`, then closes the source (also when `use` throws). */
export async function withSource<T>(source: ByteSource, use: (source: ByteSource) => Promise<T>): Promise<T> {
  try {
    return await use(source);
  } finally {
    await source.close?.();
  }
}
