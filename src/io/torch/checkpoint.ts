/**
 * PyTorch checkpoint reader (`torch.save` zip format, PyTorch ≥ 1.6) for
 * state dicts: `{'model': state_dict}` as the official MAE checkpoints, the
 * `state_dict` / `module` wrappers, or a bare state dict. Host only: nothing
 * touches a tfjs backend until {@link readTorchCheckpoint} creates tensors.
 *
 * The file is untrusted: the pickle runs on a restricted machine that calls
 * no Python (see `./pickle`), every storage must exist and be large enough,
 * every view must fit inside its storage, and the total memory the tensors
 * take is bounded by a multiple of the file size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../../errors';
import { describeList, describeUntrusted } from '../describeUntrusted';
import { CODECS, decodeElements } from '../dtypes';
import { type HostTensor, type HostTensors, toTfTensors } from '../hostTensor';
import { StorageRef, TensorRef, resolveTorchGlobal, storageFromPersistentId } from './globals';
import { PyDict, describeValue, unpickle } from './pickle';
import { type ZipArchive, type ZipEntry, openZip, openZipSource } from './zip';
import type { ByteSource } from '../byteSource';

/** Which entry of the checkpoint held the state dict (`'none'`: the checkpoint is the state dict). */
export type TorchCheckpointWrapper = 'model' | 'state_dict' | 'module' | 'model_state_dict' | 'none';

/** What {@link parseTorchCheckpoint} returns. */
export interface TorchCheckpoint {
  /** State-dict tensors in file order; floats → float32, integers → int32 (`sourceDtype` keeps the storage dtype). */
  tensors: HostTensors;
  /** Conversions and ignored entries, one line each (e.g. float64 cast to float32). */
  warnings: string[];
  /** Where the state dict was found. */
  wrapper: TorchCheckpointWrapper;
}

/** Wrapper keys tried in order when the checkpoint is a dict holding the state dict. */
const WRAPPER_KEYS = ['model', 'state_dict', 'module', 'model_state_dict'] as const;

/** Tensors may take at most this many times the file size in memory (plus 1 MiB), e.g. tied weights or F16 → F32. */
const MEMORY_FACTOR = 8;

function fail(message: string): never {
  throw new CheckpointError(`torch checkpoint: ${message}`);
}

/** Refuses files that are not torch zip checkpoints, with a hint, from their first (up to 4) bytes. */
function checkMagic(head: Uint8Array): void {
  if (head.length >= 2 && head[0] === 0x80 && head[1] <= 5) {
    fail('file is a bare pickle (the legacy torch.save format before PyTorch 1.6), which is not supported; re-save it with a recent PyTorch');
  }
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b || head[2] !== 0x03 || head[3] !== 0x04) {
    fail(`not a PyTorch zip checkpoint (expected "PK\\x03\\x04" at byte 0, got ${describeUntrusted(Array.from(head.subarray(0, 4)))})`);
  }
}

/** Finds the `<stem>/` of the one `<stem>/data.pkl`; refuses TorchScript archives. */
function findStem(entries: ReadonlyMap<string, ZipEntry>): string {
  const pickles = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) fail(`expected one "<stem>/data.pkl" entry, found ${pickles.length}`);
  const stem = pickles[0].slice(0, -'data.pkl'.length);
  if (entries.has(`${stem}constants.pkl`)) {
    fail('file is a TorchScript archive (torch.jit.save), not a state-dict checkpoint; save model.state_dict() with torch.save');
  }
  return stem;
}

/** Refuses big-endian storages (the `<stem>/byteorder` entry's bytes). */
function checkByteorder(bytes: Uint8Array): void {
  const order = new TextDecoder().decode(bytes).trim();
  if (order !== 'little') fail(`storages are ${describeUntrusted(order)}-endian; only little-endian checkpoints are supported`);
}

/** Finds `<stem>/data.pkl`; refuses files that are not torch zip checkpoints with a hint. */
function openArchive(bytes: Uint8Array): { archive: ZipArchive; stem: string } {
  if (!(bytes instanceof Uint8Array)) fail(`bytes must be a Uint8Array, got ${describeUntrusted(bytes)}`);
  checkMagic(bytes.subarray(0, 4));
  const archive = openZip(bytes);
  const stem = findStem(archive.entries);
  if (archive.entries.has(`${stem}byteorder`)) checkByteorder(archive.read(`${stem}byteorder`));
  return { archive, stem };
}

/** Runs the pickle; storages are resolved against the archive's entries and checked for size. */
function loadPickle(pickle: Uint8Array, entries: ReadonlyMap<string, ZipEntry>, stem: string): unknown {
  const storages = new Map<string, StorageRef>();
  return unpickle(pickle, {
    resolveGlobal: resolveTorchGlobal,
    persistentLoad(pid) {
      const { key, dtype, numel } = storageFromPersistentId(pid);
      const known = storages.get(key);
      if (known !== undefined) {
        if (known.dtype !== dtype || known.numel !== numel) fail(`storage ${describeUntrusted(key)} is referenced with two different types or sizes`);
        return known;
      }
      const entry = entries.get(`${stem}data/${key}`);
      if (entry === undefined) fail(`storage ${describeUntrusted(key)} has no "${stem}data/${key}" entry in the archive`);
      const bytesNeeded = numel * CODECS[dtype].size;
      if (bytesNeeded > entry.size) {
        fail(`storage ${describeUntrusted(key)} claims ${numel} ${dtype} elements (${bytesNeeded} bytes) but its entry holds ${entry.size} bytes`);
      }
      const ref = new StorageRef(key, dtype, numel);
      storages.set(key, ref);
      return ref;
    },
  });
}

function isStateDict(v: unknown): v is PyDict {
  if (!(v instanceof PyDict) || v.map.size === 0) return false;
  for (const [k, t] of v.map) if (typeof k !== 'string' || !(t instanceof TensorRef)) return false;
  return true;
}

/** Explains why a dict is not a state dict, naming the first offending entry. */
function notAStateDict(v: unknown, what: string): never {
  if (!(v instanceof PyDict)) fail(`${what} must be a dict of name → tensor, got ${describeValue(v)}`);
  if (v.map.size === 0) fail(`${what} is empty`);
  for (const [k, t] of v.map) {
    if (typeof k !== 'string') fail(`${what} has a non-string key ${describeUntrusted(k)}`);
    if (!(t instanceof TensorRef)) fail(`${what} entry ${describeUntrusted(k)} is ${describeValue(t)}, not a tensor; only state dicts (name → tensor) are read`);
  }
  fail(`${what} is not a state dict`);
}

/** Picks the state dict out of the unpickled object. */
function findStateDict(root: unknown, warnings: string[]): { dict: PyDict; wrapper: TorchCheckpointWrapper } {
  if (isStateDict(root)) return { dict: root, wrapper: 'none' };
  if (root instanceof PyDict) {
    for (const key of WRAPPER_KEYS) {
      if (!root.map.has(key)) continue;
      const dict = root.map.get(key);
      if (!isStateDict(dict)) notAStateDict(dict, `checkpoint[${describeUntrusted(key)}]`);
      const ignored = [...root.map.keys()].filter((k) => k !== key);
      if (ignored.length > 0) warnings.push(`ignored checkpoint entries ${describeList(ignored)}; only ${describeUntrusted(key)} is read`);
      return { dict, wrapper: key };
    }
    const keys = describeList([...root.map.keys()]);
    if ([...root.map.values()].some((v) => v instanceof TensorRef)) notAStateDict(root, 'checkpoint');
    fail(`checkpoint is a dict with keys [${keys}] but none of ${describeList(WRAPPER_KEYS)} holds a state dict`);
  }
  fail(`checkpoint must be a state dict or a dict holding one under ${describeList(WRAPPER_KEYS)}, got ${describeValue(root)}`);
}

/** True when `stride` is the C-contiguous stride of `size` (dimensions of size 1 are free). */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expected) return false;
    expected *= size[i];
  }
  return true;
}

/** Storage element indices of a strided view, in C order. */
function viewIndices(t: TensorRef): Float64Array {
  const out = new Float64Array(t.numel);
  const rank = t.size.length;
  const counter = new Array<number>(rank).fill(0);
  let index = t.offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = index;
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      index += t.stride[d];
      if (counter[d] < t.size[d]) break;
      index -= t.stride[d] * t.size[d];
      counter[d] = 0;
    }
  }
  return out;
}

/**
 * Reads the values of one view from its storage's bytes (non-contiguous views
 * are gathered by strides). `copy: false` lets aligned float32/int32 data be a
 * view of `storage` (a buffer the reader owns).
 */
function materialise(name: string, t: TensorRef, storage: Uint8Array, copy: boolean): HostTensor {
  const { dtype } = t.storage;
  const label = `torch checkpoint: tensor ${describeUntrusted(name)}`;
  const data = isContiguous(t.size, t.stride)
    ? decodeElements(storage, t.offset * CODECS[dtype].size, t.numel, dtype, label, copy)
    : decodeElements(storage, 0, viewIndices(t), dtype, label);
  return { dtype: CODECS[dtype].host, shape: t.size.slice(), data, sourceDtype: dtype };
}

const CONVERSIONS: Readonly<Record<string, string>> = Object.freeze({
  F64: 'float64 cast to float32 (rounded)',
  F16: 'float16 widened to float32 (exact)',
  BF16: 'bfloat16 widened to float32 (exact)',
  I64: 'int64 narrowed to int32 (all values in range)',
  I16: 'int16 widened to int32 (exact)',
  I8: 'int8 widened to int32 (exact)',
  U8: 'uint8 widened to int32 (exact)',
  BOOL: 'bool stored as int32 0/1',
});

/** One warning per converted file dtype, naming the tensors (from their file dtypes alone). */
export function conversionWarnings(tensors: Iterable<[string, { sourceDtype: string }]>): string[] {
  const bySource = new Map<string, string[]>();
  for (const [name, t] of tensors) {
    if (t.sourceDtype === 'F32' || t.sourceDtype === 'I32') continue;
    bySource.set(t.sourceDtype, [...(bySource.get(t.sourceDtype) ?? []), name]);
  }
  return [...bySource].map(([source, names]) => {
    const shown = describeList(names, 5);
    const what = CONVERSIONS[source] ?? `${source} converted to ${CODECS[source].host}`;
    return `${names.length} tensor(s) ${what}: ${shown}`;
  });
}

/**
 * Parses a PyTorch zip checkpoint holding a state dict, on the host.
 *
 * Storages: float32, float16, bfloat16, float64 (→ float32) and int64, int32,
 * int16, int8, uint8, bool (→ int32; int64 outside int32 is an error).
 * Non-contiguous views are materialised in C order.
 *
 * @param bytes the whole `.pth` file.
 * @returns the state-dict tensors (`[...]` shapes as in torch), warnings for
 *   every conversion and ignored entry, and which wrapper held the state dict.
 * @throws CheckpointError for anything that is not a well-formed state-dict
 *   checkpoint: legacy or TorchScript files, a corrupt zip, a refused pickle
 *   global (e.g. `os.system`), missing or short storages, views outside
 *   their storage, or non-tensor state-dict entries.
 */
export function parseTorchCheckpoint(bytes: Uint8Array): TorchCheckpoint {
  const { archive, stem } = openArchive(bytes);
  const root = loadPickle(archive.read(`${stem}data.pkl`), archive.entries, stem);
  const { refs, warnings, wrapper } = stateDictRefs(root, bytes.length);
  const tensors: HostTensors = new Map();
  for (const [name, t] of refs) tensors.set(name, materialise(name, t, archive.read(`${stem}data/${t.storage.key}`), true));
  warnings.push(...conversionWarnings(tensors));
  return { tensors, warnings, wrapper };
}

/** The state dict's tensor views, after the memory bound (a multiple of the file size) is checked. */
function stateDictRefs(root: unknown, fileSize: number): { refs: Array<[string, TensorRef]>; warnings: string[]; wrapper: TorchCheckpointWrapper } {
  const warnings: string[] = [];
  const { dict, wrapper } = findStateDict(root, warnings);
  const budget = MEMORY_FACTOR * fileSize + 2 ** 20;
  let total = 0;
  for (const [name, t] of dict.map) {
    total += 4 * (t as TensorRef).numel;
    if (total > budget) {
      fail(`tensors up to ${describeUntrusted(name)} take ${total} bytes, more than ${MEMORY_FACTOR}× the ${fileSize}-byte file; refusing (many views of one storage?)`);
    }
  }
  return { refs: [...dict.map].map(([n, t]) => [n as string, t as TensorRef]), warnings, wrapper };
}

/** A checkpoint read by ranges: the state dict's names, dtypes and shapes from the pickle, each tensor on demand. */
export interface TorchCheckpointSource {
  /** The state-dict views in file order. */
  readonly refs: ReadonlyMap<string, TensorRef>;
  /** Ignored checkpoint entries and conversions, one line each. */
  readonly warnings: string[];
  readonly wrapper: TorchCheckpointWrapper;
  /**
   * One tensor: its storage entry is read whole (and CRC-checked), then the
   * view decoded; aligned float32/int32 data is a view of the bytes read.
   */
  read(name: string): Promise<HostTensor>;
}

/**
 * Opens a PyTorch zip checkpoint by ranges: the zip directory, the pickle and
 * the byteorder entry are read; storages only when a tensor is read. The
 * same checks as {@link parseTorchCheckpoint}.
 */
export async function openTorchCheckpointSource(source: ByteSource): Promise<TorchCheckpointSource> {
  checkMagic(await source.read(0, Math.min(4, source.size)));
  const archive = await openZipSource(source);
  const stem = findStem(archive.entries);
  if (archive.entries.has(`${stem}byteorder`)) checkByteorder(await archive.read(`${stem}byteorder`));
  const root = loadPickle(await archive.read(`${stem}data.pkl`), archive.entries, stem);
  const { refs, warnings, wrapper } = stateDictRefs(root, source.size);
  const byName = new Map(refs);
  warnings.push(...conversionWarnings(refs.map(([n, t]) => [n, { sourceDtype: t.storage.dtype }])));
  // The last storage read: views of one storage that follow each other read it once.
  let last: { key: string; bytes: Uint8Array } | undefined;
  return {
    refs: byName,
    warnings,
    wrapper,
    async read(name: string): Promise<HostTensor> {
      const t = byName.get(name);
      if (t === undefined) fail(`no tensor ${describeUntrusted(name)} in the state dict`);
      if (last?.key !== t.storage.key) {
        last = undefined; // let the previous storage go before reading the next
        last = { key: t.storage.key, bytes: await archive.read(`${stem}data/${t.storage.key}`) };
      }
      return materialise(name, t, last.bytes, false);
    },
  };
}

/**
 * Reads a PyTorch state-dict checkpoint into tf tensors (float32 / int32; see
 * {@link parseTorchCheckpoint}, which also returns the warnings). The caller
 * owns the returned tensors and must dispose them.
 *
 * @throws CheckpointError for a malformed or hostile file (nothing is allocated then).
 */
export function readTorchCheckpoint(bytes: Uint8Array): Record<string, tf.Tensor> {
  return toTfTensors(parseTorchCheckpoint(bytes).tensors);
}
