/**
 * Reader of the IDX format of MNIST and Fashion-MNIST: a 4-byte magic
 * `0x00 0x00 <type> <ndim>`, `ndim` big-endian uint32 dimensions, then the
 * values in C order, big-endian. `readIdx` also accepts the `.gz` files as
 * distributed.
 */
import { DataError } from '../errors';
import { gunzip, isGzip } from './gunzip';

/** The element types the IDX format defines. */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array holding the values of each `IdxDType`. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** An n-dimensional array read from an IDX file. `data.length === prod(shape)`, C order. */
export interface IdxArray {
  /** The element type the file declares (`uint8` for the MNIST-family files). */
  dtype: IdxDType;
  /** E.g. `[N, 28, 28]` for an image file, `[N]` for a label file. */
  shape: number[];
  /** The values in host byte order. */
  data: IdxData;
}

/** Options of `parseIdx` and `readIdx`. */
export interface IdxReadOptions {
  /**
   * The largest payload (values, in bytes) accepted; larger files, and gzip
   * streams that would decompress to more, are refused with a `DataError`.
   * Defaults to 2^30 (1 GiB); the full Fashion-MNIST training images are 47 MB.
   */
  maxBytes?: number;
}

/** The largest number of dimensions accepted (the format allows 255). */
export const IDX_MAX_NDIM = 16;

const DEFAULT_MAX_BYTES = 2 ** 30;

const TYPES: Record<number, { dtype: IdxDType; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

function hex(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

function resolveMaxBytes(options: IdxReadOptions): number {
  const m = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(m) || m < 0) {
    throw new DataError(`maxBytes: expected a non-negative safe integer, got ${String(m)}`);
  }
  return m;
}

/**
 * Parses an uncompressed IDX file.
 *
 * Every field is checked before any allocation: the magic, the type code,
 * `1 ≤ ndim ≤ IDX_MAX_NDIM`, the product of the dimensions (a safe integer,
 * at most `maxBytes` bytes of values) and the exact file length (no missing
 * and no trailing bytes). Any failure throws a `DataError`.
 *
 * For the 1-byte types (`uint8`, `int8`) `data` is a view on `bytes`, not a
 * copy; wider types are converted from big-endian into a new array.
 *
 * @param bytes The whole file.
 * @param options See `IdxReadOptions`.
 * @returns `{ dtype, shape, data }`.
 */
export function parseIdx(bytes: Uint8Array, options: IdxReadOptions = {}): IdxArray {
  const maxBytes = resolveMaxBytes(options);
  if (!(bytes instanceof Uint8Array)) {
    throw new DataError(`bytes: expected a Uint8Array holding an IDX file, got ${Object.prototype.toString.call(bytes)}`);
  }
  if (bytes.length < 4) {
    throw new DataError(`bytes: expected an IDX file of at least 4 bytes, got ${bytes.length}`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const hint = isGzip(bytes) ? ' (a gzip stream: use readIdx)' : '';
    throw new DataError(
      `bytes: expected the IDX magic 0x00 0x00 at offset 0, got ${hex(bytes[0])} ${hex(bytes[1])}${hint}`,
    );
  }
  const type = TYPES[bytes[2]];
  if (type === undefined) {
    throw new DataError(
      `bytes: expected an IDX type code 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e at offset 2, got ${hex(bytes[2])}`,
    );
  }
  const ndim = bytes[3];
  if (ndim < 1 || ndim > IDX_MAX_NDIM) {
    throw new DataError(`bytes: expected 1 to ${IDX_MAX_NDIM} IDX dimensions at offset 3, got ${ndim}`);
  }
  const headerBytes = 4 + 4 * ndim;
  if (bytes.length < headerBytes) {
    throw new DataError(
      `bytes: expected an IDX header of ${headerBytes} bytes for ${ndim} dimensions, got a file of ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    const dim = view.getUint32(4 + 4 * d, false);
    shape.push(dim);
    count *= dim;
    // Each factor is < 2^32, so one step past the cap cannot lose integer precision.
    if (count * type.size > maxBytes) {
      throw new DataError(
        `bytes: expected IDX values of at most ${maxBytes} bytes (maxBytes), got dimensions starting [${shape.join(', ')}] of ${type.dtype}`,
      );
    }
  }
  const payload = count * type.size;
  if (bytes.length !== headerBytes + payload) {
    throw new DataError(
      `bytes: expected ${headerBytes + payload} bytes for an IDX ${type.dtype} array of shape [${shape.join(', ')}], got ${bytes.length}`,
    );
  }
  return { dtype: type.dtype, shape, data: decode(view, headerBytes, count, type.dtype, bytes) };
}

function decode(view: DataView, offset: number, count: number, dtype: IdxDType, bytes: Uint8Array): IdxData {
  switch (dtype) {
    case 'uint8':
      return bytes.subarray(offset, offset + count);
    case 'int8':
      return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count);
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i, false);
      return out;
    }
  }
}

/**
 * Reads an IDX file, raw or gzip-compressed (detected by the `0x1f 0x8b`
 * magic, decompressed with the platform `DecompressionStream`, so this works
 * in Node ≥ 18 and in browsers).
 *
 * @param bytes The file as read from disk or fetched, e.g.
 *   `train-images-idx3-ubyte.gz`.
 * @param options See `IdxReadOptions`; `maxBytes` also bounds decompression.
 * @returns `{ dtype, shape, data }`, e.g. `uint8` `[60000, 28, 28]`.
 * @throws DataError on a corrupt gzip stream or a malformed IDX file.
 */
export async function readIdx(bytes: Uint8Array, options: IdxReadOptions = {}): Promise<IdxArray> {
  const maxBytes = resolveMaxBytes(options);
  if (bytes instanceof Uint8Array && isGzip(bytes)) {
    const raw = await gunzip(bytes, maxBytes + 4 + 4 * IDX_MAX_NDIM);
    return parseIdx(raw, { maxBytes });
  }
  return parseIdx(bytes, { maxBytes });
}
