/**
 * NumPy `.npy` files (format version 1.0) of float32 arrays: `np.load` reads
 * them as is. Used by `tfjs-mae embed` for `[N, D]` features.
 */
import { MAEError } from 'tfjs-mae';
import { writeFileAtomic } from './atomicFile';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * The `.npy` bytes of a little-endian float32 array of shape `shape` (C order).
 * @param data `prod(shape)` numbers
 */
export function encodeNpy(data: Float32Array, shape: readonly number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (!(data instanceof Float32Array) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0) || data.length !== count) {
    throw new MAEError(`encodeNpy: expected a Float32Array of ${count} numbers for shape [${shape.join(', ')}], got ${data?.length}`);
  }
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + dict + '\n', padded with spaces to a multiple of 64.
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + dict.length + data.byteLength);
  out.set(MAGIC, 0);
  out.set([1, 0], 6);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) out.set(body, 10 + dict.length);
  else {
    const view = new DataView(out.buffer, 10 + dict.length);
    for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  }
  return out;
}

/** Reads back a float32 `.npy` written by {@link encodeNpy} (C order, `<f4`); throws on anything else. */
export function decodeNpy(bytes: Uint8Array, name = 'bytes'): {
  /** The values, C order. */
  data: Float32Array;
  /** The array's shape. */
  shape: number[];
} {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b) || bytes[6] !== 1) throw new MAEError(`${name}: not a version 1 .npy file`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  const shape = /'shape': \(([\d, ]*)\)/.exec(header);
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False") || !shape) {
    throw new MAEError(`${name}: expected a C-order float32 .npy, got header ${header.trim()}`);
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  // a copy (Node's Buffer#slice is a view into a shared pool, at any offset), aligned for Float32Array
  const body = new Uint8Array(bytes.subarray(10 + headerLength));
  if (body.byteLength !== count * 4) throw new MAEError(`${name}: expected ${count * 4} data bytes for shape [${dims}], got ${body.byteLength}`);
  return { data: new Float32Array(body.buffer, 0, count), shape: dims };
}

/** Writes a float32 array to `path` as `.npy`, atomically. */
export async function writeNpy(path: string, data: Float32Array, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape));
}
