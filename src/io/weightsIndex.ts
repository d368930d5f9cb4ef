/**
 * Weights files read by ranges: a header-level index (names, dtypes, shapes,
 * metadata) from the safetensors header or the `.pth` pickle, without
 * reading tensor data, and each tensor read on demand — so a file of any
 * size goes to a backend (or to another file) one tensor at a time.
 */
import { CheckpointError } from '../errors';
import type { ByteSource } from './byteSource';
import { describeUntrusted } from './describeUntrusted';
import { codecOf } from './dtypes';
import { type HostDType, type HostTensor, HOST_ROWS, checkThirds } from './hostTensor';
import type { RowOps } from './naming';
import { decodeEntry, parseSafetensorsHeader, readSafetensorsHeaderLength } from './safetensors';
import { type TorchCheckpointWrapper, openTorchCheckpointSource } from './torch/checkpoint';

/** What the index knows of one tensor before reading it. */
export interface TensorInfo {
  /** The name in the file. */
  name: string;
  /** The dtype as stored in the file (`F32`, `F16`, `BF16`, `I64`, ...). */
  sourceDtype: string;
  /** The dtype it is read as (`float32` for every float, `int32` for every integer). */
  dtype: HostDType;
  /** The shape (`[]` for a scalar). */
  shape: number[];
}

/** A tensor not read yet: its dtype and shape, and how to read it. */
export interface LazyHostTensor {
  /** The host dtype `load()` gives. */
  dtype: HostDType;
  /** The shape `load()` gives. */
  shape: number[];
  /** The file dtype (for a merged q/k/v: the first part's). */
  sourceDtype: string;
  /** Reads the values (every call reads again; nothing is cached). */
  load(): Promise<HostTensor>;
}

/** A weights file opened by ranges: what is in it, and each tensor on demand. */
export interface WeightsIndex {
  /** Where the bytes come from (its `name` is in every message). */
  readonly source: ByteSource;
  /** `'pytorch'` (a `torch.save` zip) or `'safetensors'`. */
  readonly format: 'pytorch' | 'safetensors';
  /** Every tensor in file order; no tensor data has been read. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The safetensors `__metadata__` (`{}` for a `.pth`). */
  readonly metadata: Record<string, string>;
  /** Conversions the reads will do (e.g. float16 widened) and ignored checkpoint entries, one line each. */
  readonly warnings: string[];
  /** For a `.pth`: where the state dict was found. */
  readonly wrapper?: TorchCheckpointWrapper;
  /**
   * Reads one tensor by range (a `.pth` storage is CRC-checked as it is
   * read). Aligned little-endian float32/int32 data is a view of the bytes
   * read, not a second copy.
   * @throws CheckpointError naming the file and the tensor.
   */
  read(name: string): Promise<HostTensor>;
  /** Every tensor as a {@link LazyHostTensor}, in file order (for renaming and streaming). */
  lazy(): Array<[string, LazyHostTensor]>;
}

/** Runs `f`, prefixing the message of a CheckpointError with the source's name (once). */
async function inFile<T>(source: ByteSource, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof CheckpointError && !e.message.startsWith(`${source.name}: `)) {
      const named = new CheckpointError(`${source.name}: ${e.message}`);
      named.stack = e.stack;
      throw named;
    }
    throw e;
  }
}

function makeIndex(
  fields: Omit<WeightsIndex, 'read' | 'lazy'>,
  readTensor: (name: string) => Promise<HostTensor>,
): WeightsIndex {
  const index: WeightsIndex = {
    ...fields,
    read(name) {
      return inFile(fields.source, async () => {
        if (!fields.tensors.has(name)) throw new CheckpointError(`no tensor ${describeUntrusted(name)} in the file`);
        return readTensor(name);
      });
    },
    lazy() {
      return [...fields.tensors.values()].map((t) => [
        t.name,
        { dtype: t.dtype, shape: t.shape.slice(), sourceDtype: t.sourceDtype, load: () => index.read(t.name) },
      ]);
    },
  };
  return index;
}

/**
 * Opens a safetensors file by ranges: the u64 header length, the JSON header
 * (checked as {@link parseSafetensors} checks it), then each tensor's bytes
 * when it is read.
 */
export function openSafetensors(source: ByteSource): Promise<WeightsIndex> {
  return inFile(source, async () => {
    const n = readSafetensorsHeaderLength(await source.read(0, Math.min(8, source.size)), source.size);
    const { dataStart, entries, metadata } = parseSafetensorsHeader(await source.read(8, n), source.size);
    const byName = new Map(entries.map((e) => [e.name, e]));
    const tensors = new Map<string, TensorInfo>(
      entries.map((e) => [e.name, { name: e.name, sourceDtype: e.dtype, dtype: codecOf(e.dtype)!.host, shape: e.shape.slice() }]),
    );
    return makeIndex({ source, format: 'safetensors', tensors, metadata, warnings: [] }, async (name) => {
      const e = byName.get(name)!;
      return decodeEntry(e, await source.read(dataStart + e.begin, e.end - e.begin), 0, false);
    });
  });
}

/**
 * Opens a PyTorch zip checkpoint by ranges: the zip end records and central
 * directory, the pickle (checked as {@link parseTorchCheckpoint} checks it),
 * then each storage when a tensor is read.
 */
export function openTorchCheckpoint(source: ByteSource): Promise<WeightsIndex> {
  return inFile(source, async () => {
    const ckpt = await openTorchCheckpointSource(source);
    const tensors = new Map<string, TensorInfo>();
    for (const [name, t] of ckpt.refs) {
      const { dtype } = t.storage;
      tensors.set(name, { name, sourceDtype: dtype, dtype: codecOf(dtype)!.host, shape: t.size.slice() });
    }
    const fields = { source, format: 'pytorch' as const, tensors, metadata: {}, warnings: ckpt.warnings, wrapper: ckpt.wrapper };
    return makeIndex(fields, (name) => ckpt.read(name));
  });
}

/**
 * Opens an official `.pth` checkpoint or a safetensors file (official or HF
 * names) by ranges, telling them apart by the first bytes (`PK\x03\x04` =
 * zip), as {@link readWeights} does for bytes in memory.
 *
 * ```ts
 * const weights = await openWeights(blobSource(file)); // a browser File
 * for (const [name, t] of weights.tensors) console.log(name, t.sourceDtype, t.shape);
 * ```
 *
 * @throws CheckpointError naming the file for anything malformed.
 */
export function openWeights(source: ByteSource): Promise<WeightsIndex> {
  return inFile(source, async () => {
    const head = await source.read(0, Math.min(9, source.size));
    if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return openTorchCheckpoint(source);
    if (head.length < 9 || head[8] !== 0x7b /* { */) {
      const shown = Array.from(head.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ') || 'none: empty file';
      throw new CheckpointError(`neither a PyTorch zip checkpoint nor a safetensors file (first bytes ${shown})`);
    }
    return openSafetensors(source);
  });
}

/**
 * Row operations on lazy tensors, for `renameToHF` / `renameFromHF`: a fused
 * q/k/v is split and a query/key/value triple merged when the result is
 * loaded, one tensor at a time.
 */
export const LAZY_ROWS: RowOps<LazyHostTensor> = {
  split3(t) {
    // The three thirds are usually loaded one after the other: read the fused tensor once for them.
    let whole: Promise<[HostTensor, HostTensor, HostTensor]> | undefined;
    let taken = 0;
    const shape = [t.shape[0] / 3, ...t.shape.slice(1)];
    const part = (i: number): LazyHostTensor => ({
      ...t,
      shape,
      async load() {
        whole ??= t.load().then((h) => HOST_ROWS.split3(h));
        const parts = whole;
        if (++taken % 3 === 0) whole = undefined;
        return (await parts)[i];
      },
    });
    return [part(0), part(1), part(2)];
  },
  concat3(parts) {
    checkThirds(parts.map((p) => p.shape));
    const [a] = parts;
    return {
      ...a,
      shape: [parts.reduce((rows, p) => rows + (p.shape[0] ?? 0), 0), ...a.shape.slice(1)],
      async load() {
        const host: HostTensor[] = [];
        for (const p of parts) host.push(await p.load());
        return HOST_ROWS.concat3(host as [HostTensor, HostTensor, HostTensor]);
      },
    };
  },
};
