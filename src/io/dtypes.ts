/**
 * Element codecs shared by the weight-file readers: how many bytes one
 * element takes in the file and how it becomes a float32 or int32 host value.
 * Every file dtype is little-endian.
 */
import { CheckpointError } from '../errors';
import type { HostDType } from './hostTensor';

/** How one file dtype is read. */
export interface ElementCodec {
  /** Bytes per element in the file. */
  readonly size: number;
  /** The host dtype it becomes (float32 for every float, int32 for every integer). */
  readonly host: HostDType;
  /** Reads the element starting at `byteOffset` (little-endian). */
  read(view: DataView, byteOffset: number): number;
}

let halfTable: Float32Array | undefined;

/** IEEE binary16 bits → the exact float value (table built on first use, 256 KiB). */
function halfToFloat(bits: number): number {
  if (halfTable === undefined) {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >> 10) & 0x1f;
      const frac = h & 0x3ff;
      if (exp === 0) table[h] = sign * frac * 2 ** -24;
      else if (exp === 31) table[h] = frac === 0 ? sign * Infinity : NaN;
      else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
    }
    halfTable = table;
  }
  return halfTable[bits];
}

const bf16Scratch = new DataView(new ArrayBuffer(4));

/** bfloat16 bits → float (the upper half of a float32). */
function bf16ToFloat(bits: number): number {
  bf16Scratch.setUint32(0, bits << 16, true);
  return bf16Scratch.getFloat32(0, true);
}

/**
 * The file dtypes the readers accept, by safetensors name. PyTorch storages
 * map onto the same names (`FloatStorage` → `F32`, ...).
 */
export const CODECS: Readonly<Record<string, ElementCodec>> = Object.freeze({
  F32: { size: 4, host: 'float32', read: (v, o) => v.getFloat32(o, true) },
  F64: { size: 8, host: 'float32', read: (v, o) => v.getFloat64(o, true) },
  F16: { size: 2, host: 'float32', read: (v, o) => halfToFloat(v.getUint16(o, true)) },
  BF16: { size: 2, host: 'float32', read: (v, o) => bf16ToFloat(v.getUint16(o, true)) },
  I64: {
    size: 8,
    host: 'int32',
    read: (v, o) => v.getInt32(o + 4, true) * 4294967296 + v.getUint32(o, true),
  },
  I32: { size: 4, host: 'int32', read: (v, o) => v.getInt32(o, true) },
  U32: { size: 4, host: 'int32', read: (v, o) => v.getUint32(o, true) },
  I16: { size: 2, host: 'int32', read: (v, o) => v.getInt16(o, true) },
  U16: { size: 2, host: 'int32', read: (v, o) => v.getUint16(o, true) },
  I8: { size: 1, host: 'int32', read: (v, o) => v.getInt8(o) },
  U8: { size: 1, host: 'int32', read: (v, o) => v.getUint8(o) },
  BOOL: { size: 1, host: 'int32', read: (v, o) => (v.getUint8(o) === 0 ? 0 : 1) },
});

/** Returns the codec of a file dtype, or undefined when it is not supported. */
export function codecOf(dtype: unknown): ElementCodec | undefined {
  return typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(CODECS, dtype)
    ? CODECS[dtype]
    : undefined;
}

/** True on little-endian hosts (all common ones), where typed-array views match the file byte order. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Decodes elements of `dtype` from `bytes` into a new host array.
 *
 * @param start byte offset in `bytes` of element 0 (any alignment).
 * @param elements either a count (contiguous elements `0..count-1`) or the
 *   element indices to gather (each relative to `start`). The caller has
 *   checked that every element lies inside `bytes`.
 * @param label names the tensor in error messages.
 * @param copy `false`: aligned little-endian F32/I32 data comes back as a
 *   view of `bytes` (no second copy; for buffers the reader owns). Defaults to `true`.
 * @throws CheckpointError when an integer does not fit in int32.
 */
export function decodeElements(
  bytes: Uint8Array,
  start: number,
  elements: number | ArrayLike<number>,
  dtype: string,
  label: string,
  copy = true,
): Float32Array | Int32Array {
  const codec = CODECS[dtype];
  const n = typeof elements === 'number' ? elements : elements.length;
  const absolute = bytes.byteOffset + start;
  if (typeof elements === 'number' && LITTLE_ENDIAN_HOST && absolute % codec.size === 0) {
    // Fast path: an aligned typed-array view; copied (unless `copy` is false) so the result never aliases the file.
    if (dtype === 'F32') return copy ? new Float32Array(bytes.buffer, absolute, n).slice() : new Float32Array(bytes.buffer, absolute, n);
    if (dtype === 'I32') return copy ? new Int32Array(bytes.buffer, absolute, n).slice() : new Int32Array(bytes.buffer, absolute, n);
    if (dtype === 'F64') return Float32Array.from(new Float64Array(bytes.buffer, absolute, n));
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = codec.host === 'float32' ? new Float32Array(n) : new Int32Array(n);
  const checkInt = codec.host === 'int32' && (dtype === 'I64' || dtype === 'U32');
  for (let i = 0; i < n; i++) {
    const index = typeof elements === 'number' ? i : elements[i];
    const value = codec.read(view, start + index * codec.size);
    if (checkInt && (value > 2147483647 || value < -2147483648)) {
      throw new CheckpointError(
        `${label}: element ${i} = ${value} (${dtype}) does not fit in int32; only int32-range integers can be loaded`,
      );
    }
    out[i] = value;
  }
  return out;
}
