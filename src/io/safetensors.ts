/**
 * safetensors reader and writer (host only for parsing; no tfjs backend is
 * touched until `readSafetensors` creates tensors).
 *
 * Layout: `[u64 little-endian n][n bytes of UTF-8 JSON header][data]`. The
 * header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}`
 * (offsets relative to the data section, end exclusive) plus an optional
 * `__metadata__` object of string → string.
 *
 * The reader treats the file as untrusted: every number in the header is
 * checked against the file before anything is allocated, so a lying header
 * fails with a {@link CheckpointError} instead of allocating gigabytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../errors';
import { describeUntrusted } from './describeUntrusted';
import { LITTLE_ENDIAN_HOST, codecOf, decodeElements } from './dtypes';
import { type HostTensor, type HostTensors, toTfTensors } from './hostTensor';
import { scanJsonKeys } from './jsonKeys';

/** The largest JSON header accepted, in bytes (100 MiB, as the reference implementation). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100 * 1024 * 1024;

/** What {@link parseSafetensors} returns. */
export interface ParsedSafetensors {
  /** Tensors in header order; floats become float32, integers int32 (`sourceDtype` keeps the file dtype). */
  tensors: HostTensors;
  /** The `__metadata__` object (empty when the file has none). */
  metadata: Record<string, string>;
}

const METADATA_KEY = '__metadata__';

function fail(message: string): never {
  throw new CheckpointError(`safetensors: ${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Reads the u64 header length from the file's first (at least 8) bytes;
 * fails unless it fits in the `fileSize`-byte file and under the cap. A
 * reader by ranges calls this, then {@link parseSafetensorsHeader} on the
 * bytes that follow: the same checks as {@link parseSafetensors}.
 */
export function readSafetensorsHeaderLength(bytes: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || bytes.length < 8) {
    fail(`file is ${fileSize} bytes, expected at least 8 (the u64 header length)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const n = high * 4294967296 + low;
  if (high >= 2 ** 21 || n > MAX_SAFETENSORS_HEADER_BYTES) {
    fail(`header length ${high >= 2 ** 21 ? 'above 2^53' : n} bytes exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte cap`);
  }
  if (n > fileSize - 8) {
    fail(`header length ${n} bytes runs past the end of the ${fileSize}-byte file`);
  }
  return n;
}

/** Decodes and parses the `n`-byte JSON header; refuses non-objects and repeated keys. */
function readHeader(headerBytes: Uint8Array, n: number): { header: Record<string, unknown>; keys: string[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(`header (${n} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    // The engine's message quotes header text: keep it to one short line.
    const reason = (e instanceof Error ? e.message : String(e)).replace(/[\u0000-\u001f\u2028\u2029]/g, ' ').slice(0, 120);
    fail(`header (${n} bytes) is not valid JSON (${reason})`);
  }
  if (!isPlainObject(header)) {
    fail(`header must be a JSON object of tensor entries, got ${Array.isArray(header) ? 'an array' : describeUntrusted(header)}`);
  }
  const scan = scanJsonKeys(text);
  if (scan.duplicate !== undefined) {
    const { key, path } = scan.duplicate;
    if (path.length === 0) fail(`duplicate tensor name ${describeUntrusted(key)} in header`);
    fail(`duplicate key ${describeUntrusted(key)} in the header entry ${describeUntrusted(path[0])}`);
  }
  return { header, keys: scan.topLevelKeys };
}

function readMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) fail(`"__metadata__" must be an object of strings, got ${describeUntrusted(value)}`);
  const entries: [string, string][] = [];
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') fail(`"__metadata__" value of ${describeUntrusted(key)} must be a string, got ${describeUntrusted(v)}`);
    entries.push([key, v]);
  }
  return Object.fromEntries(entries);
}

/** One tensor of a safetensors header, validated against the file. */
export interface SafetensorsEntry {
  name: string;
  /** The file dtype (`F32`, `BF16`, ...). */
  dtype: string;
  shape: number[];
  /** Byte range in the data section (end exclusive). */
  begin: number;
  end: number;
  numel: number;
}

/** A validated safetensors header: where the data starts, the tensors in header order, the metadata. */
export interface SafetensorsHeader {
  /** Byte offset of the data section in the file (`8 + header length`). */
  dataStart: number;
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
}

/** Validates one header entry against the data section size. */
function readEntry(name: string, value: unknown, dataSize: number): SafetensorsEntry {
  const what = `tensor ${describeUntrusted(name)}`;
  if (!isPlainObject(value)) fail(`${what}: entry must be an object {dtype, shape, data_offsets}, got ${describeUntrusted(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;
  const codec = codecOf(dtype);
  if (codec === undefined) fail(`${what}: unknown dtype ${describeUntrusted(dtype)}`);
  if (!Array.isArray(shape)) fail(`${what}: shape must be an array of dimensions, got ${describeUntrusted(shape)}`);
  for (const d of shape) {
    if (!isCount(d)) fail(`${what}: shape ${describeUntrusted(shape)} has a dimension ${describeUntrusted(d)} that is not a non-negative safe integer`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
    fail(`${what}: data_offsets must be [begin, end] of non-negative safe integers, got ${describeUntrusted(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataSize) {
    fail(`${what}: data_offsets [${begin}, ${end}] outside the ${dataSize}-byte data section`);
  }
  // numel × size must equal end - begin ≤ dataSize; stop multiplying as soon as that is impossible.
  const dims = shape as number[];
  let numel = dims.includes(0) ? 0 : 1;
  const limit = Math.floor(dataSize / codec.size);
  for (const d of dims) {
    if (numel === 0) break;
    numel *= d;
    if (numel > limit) {
      fail(`${what}: shape ${describeUntrusted(dims)} of ${dtype} needs more bytes than the ${dataSize}-byte data section`);
    }
  }
  if (numel * codec.size !== end - begin) {
    fail(`${what}: shape ${describeUntrusted(dims)} of ${dtype} needs ${numel * codec.size} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { name, dtype: dtype as string, shape: dims.slice(), begin, end, numel };
}

/** Fails when two tensors share bytes. */
function checkNoOverlap(entries: SafetensorsEntry[]): void {
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) {
      fail(`tensor ${describeUntrusted(cur.name)}: bytes [${cur.begin}, ${cur.end}) overlap tensor ${describeUntrusted(prev.name)} at [${prev.begin}, ${prev.end})`);
    }
  }
}

/**
 * Parses a safetensors file on the host (no tfjs).
 *
 * Accepted dtypes: F32, F64, F16, BF16 (→ float32); I32, I64, U32, I16, U16,
 * I8, U8, BOOL (→ int32; an I64/U32 value outside int32 is an error). Tensors
 * may start at any byte offset; gaps between tensors are allowed, overlaps
 * are not.
 *
 * @param bytes the whole file.
 * @throws CheckpointError naming the tensor and the problem for every
 *   malformed input (truncated file, header length past the end or above
 *   {@link MAX_SAFETENSORS_HEADER_BYTES}, invalid or non-object JSON, duplicate
 *   names, unknown dtype, bad shape, offsets outside the data, byte size not
 *   `prod(shape) × dtype size`, overlapping tensors, non-string metadata).
 */
export function parseSafetensors(bytes: Uint8Array): ParsedSafetensors {
  if (!(bytes instanceof Uint8Array)) fail(`bytes must be a Uint8Array, got ${describeUntrusted(bytes)}`);
  const n = readSafetensorsHeaderLength(bytes, bytes.length);
  const { dataStart, entries, metadata } = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.length);
  const tensors: HostTensors = new Map();
  for (const e of entries) tensors.set(e.name, decodeEntry(e, bytes, dataStart + e.begin, true));
  return { tensors, metadata };
}

/**
 * Validates the JSON header (`n` bytes read after the u64 length) against a
 * file of `fileSize` bytes: every entry's dtype, shape and data offsets,
 * no overlaps, string metadata. No tensor data is needed.
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number): SafetensorsHeader {
  const n = headerBytes.length;
  const { header, keys } = readHeader(headerBytes, n);
  const dataStart = 8 + n;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const key of keys) {
    if (key === METADATA_KEY) metadata = readMetadata(header[key]);
    else entries.push(readEntry(key, header[key], dataSize));
  }
  checkNoOverlap(entries);
  return { dataStart, entries, metadata };
}

/**
 * One tensor's values from `bytes` (its element 0 at `start`). `copy: false`
 * lets aligned float32/int32 data be a view of `bytes` (for buffers the
 * reader owns); `true` never aliases them.
 */
export function decodeEntry(e: SafetensorsEntry, bytes: Uint8Array, start: number, copy: boolean): HostTensor {
  const data = decodeElements(bytes, start, e.numel, e.dtype, `safetensors: tensor ${describeUntrusted(e.name)}`, copy);
  return { dtype: codecOf(e.dtype)!.host, shape: e.shape.slice(), data, sourceDtype: e.dtype };
}

/**
 * Reads a safetensors file into tf tensors (float32 / int32, see
 * {@link parseSafetensors}). The caller owns the returned tensors and must
 * dispose them.
 *
 * @throws CheckpointError for a malformed file (nothing is allocated then).
 */
export function readSafetensors(bytes: Uint8Array): Record<string, tf.Tensor> {
  return toTfTensors(parseSafetensors(bytes).tensors);
}

function fileDtypeOf(name: string, dtype: string): 'F32' | 'I32' {
  if (dtype === 'float32') return 'F32';
  if (dtype === 'int32') return 'I32';
  throw new CheckpointError(
    `safetensors: tensor ${describeUntrusted(name)} has dtype ${describeUntrusted(dtype)}; only float32 and int32 can be written (cast it first)`,
  );
}

function checkMetadata(metadata: Record<string, string>): void {
  if (!isPlainObject(metadata)) fail(`metadata must be an object of strings, got ${describeUntrusted(metadata)}`);
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') fail(`metadata value of ${describeUntrusted(k)} must be a string, got ${describeUntrusted(v)}`);
  }
}

/** What {@link safetensorsHeader} needs of a tensor: its host dtype and shape. */
export interface TensorLayout {
  /** `'float32'` (written as F32) or `'int32'` (I32). */
  dtype: string;
  /** The shape (`[]` for a scalar). */
  shape: number[];
}

/** A safetensors header laid out from names, dtypes and shapes alone. */
export interface SafetensorsLayout {
  /** The file's first bytes: u64 length, the JSON header, space padding to a multiple of 8. */
  header: Uint8Array;
  /** Where each tensor's bytes start in the file (tensors packed in the given order, without gaps). */
  offsets: number[];
  /** The whole file's size in bytes. */
  size: number;
}

/**
 * Lays out a safetensors file before any value is known: F32 for float32,
 * I32 for int32, tensors in the given order packed without gaps, the JSON
 * header space-padded to a multiple of 8 bytes (every tensor 4-byte aligned).
 * The one header encoder: {@link encodeSafetensors} and the streaming writer
 * of `tfjs-mae/node` both use it.
 *
 * @throws CheckpointError for a reserved name, a dtype other than float32/int32, a bad shape or metadata.
 */
export function safetensorsHeader(tensors: Iterable<[string, TensorLayout]>, metadata?: Record<string, string>): SafetensorsLayout {
  // The header is assembled by hand so names keep the given order (object keys
  // that look like integers would otherwise be moved first by JSON.stringify).
  const fields: string[] = [];
  if (metadata !== undefined) {
    checkMetadata(metadata);
    if (Object.keys(metadata).length > 0) fields.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  const starts: number[] = [];
  for (const [name, t] of tensors) {
    if (name === METADATA_KEY) fail(`tensor name "__metadata__" is reserved`);
    const fileDtype = fileDtypeOf(name, t.dtype);
    if (!Array.isArray(t.shape) || !t.shape.every(isCount)) fail(`tensor ${describeUntrusted(name)}: shape ${describeUntrusted(t.shape)} is not a list of sizes`);
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const entry = { dtype: fileDtype, shape: t.shape, data_offsets: [offset, offset + 4 * numel] };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(entry)}`);
    starts.push(offset);
    offset += 4 * numel;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const header = new Uint8Array(8 + n);
  const view = new DataView(header.buffer);
  view.setUint32(0, n % 4294967296, true);
  view.setUint32(4, Math.floor(n / 4294967296), true);
  header.set(json, 8);
  header.fill(0x20, 8 + json.length);
  return { header, offsets: starts.map((o) => 8 + n + o), size: 8 + n + offset };
}

/**
 * A host tensor's values as little-endian file bytes: a view of its data on
 * little-endian hosts (no copy), a converted copy otherwise.
 *
 * @throws CheckpointError when the data does not match the shape or dtype.
 */
export function tensorBytes(name: string, t: HostTensor): Uint8Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  if (numel !== t.data.length) fail(`tensor ${describeUntrusted(name)}: shape ${describeUntrusted(t.shape)} does not match ${t.data.length} values`);
  if ((fileDtypeOf(name, t.dtype) === 'F32') !== t.data instanceof Float32Array) {
    fail(`tensor ${describeUntrusted(name)}: dtype ${t.dtype} does not match its ${t.data.constructor.name}`);
  }
  const { data } = t;
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (data instanceof Float32Array) data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else data.forEach((v, i) => view.setInt32(4 * i, v, true));
  return out;
}

/**
 * Encodes host tensors as a safetensors file: F32 for float32, I32 for
 * int32, tensors in map order and packed without gaps, the JSON header
 * space-padded to a multiple of 8 bytes (so every tensor is 4-byte aligned).
 *
 * @param host tensors to write; `data.length` must equal `prod(shape)`.
 * @param metadata optional `__metadata__` (string → string). Defaults to none.
 * @throws CheckpointError for a reserved or inconsistent tensor.
 */
export function encodeSafetensors(host: HostTensors, metadata?: Record<string, string>): Uint8Array {
  const layout = safetensorsHeader(host, metadata);
  const parts = [...host].map(([name, t]) => tensorBytes(name, t));
  const out = new Uint8Array(layout.size);
  out.set(layout.header);
  parts.forEach((bytes, i) => out.set(bytes, layout.offsets[i]));
  return out;
}

function isHostTensor(t: tf.Tensor | HostTensor): t is HostTensor {
  return typeof (t as { data: unknown }).data !== 'function';
}

/**
 * Writes tf tensors (or host tensors) as a safetensors file, reading tensor
 * values with `await t.data()` (safe on GPU backends). The tensors are not
 * disposed; the caller still owns them.
 *
 * @param tensors name → tensor, written in the given order; float32 → F32, int32 → I32.
 * @param metadata optional `__metadata__` (string → string). Defaults to none.
 * @throws CheckpointError for a bool/complex/string tensor or a reserved name.
 */
export async function writeSafetensors(
  tensors: Record<string, tf.Tensor | HostTensor>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const host: HostTensors = new Map();
  for (const [name, t] of Object.entries(tensors)) {
    if (isHostTensor(t)) {
      host.set(name, t);
      continue;
    }
    const fileDtype = fileDtypeOf(name, t.dtype);
    const data = (await t.data()) as Float32Array | Int32Array;
    host.set(name, {
      dtype: t.dtype as 'float32' | 'int32',
      shape: t.shape.slice(),
      data,
      sourceDtype: fileDtype,
    });
  }
  return encodeSafetensors(host, metadata);
}
