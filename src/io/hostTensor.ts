/**
 * Tensors held on the host (plain typed arrays), as the weight-file readers
 * produce them. Readers never touch a tfjs backend, so the CLI and untrusted
 * inputs can be handled without an engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';

/** The dtypes tfjs can hold; wider or narrower file dtypes are converted on read. */
export type HostDType = 'float32' | 'int32';

/** One tensor on the host. `data.length === prod(shape)`, C order. */
export interface HostTensor {
  /** `'float32'` or `'int32'`: the dtype of `data` (files' other dtypes are converted). */
  dtype: HostDType;
  /** The shape; `[]` for a scalar. */
  shape: number[];
  /** `prod(shape)` values in C (row-major) order. */
  data: Float32Array | Int32Array;
  /** The dtype as stored in the file (`F16`, `BF16`, `F64`, `I64`, `F32`, `I32`, ...). */
  sourceDtype: string;
}

/** Named host tensors in file order. */
export type HostTensors = Map<string, HostTensor>;

/** Creates tf tensors from host tensors (the caller owns and disposes them). */
export function toTfTensors(host: HostTensors): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of host) out[name] = tf.tensor(t.data, t.shape, t.dtype);
  return out;
}

/** Row operations on host tensors (C order: a third of the rows is a contiguous third of the data). */
export const HOST_ROWS = {
  split3(t: HostTensor): [HostTensor, HostTensor, HostTensor] {
    const third = t.data.length / 3;
    const shape = [t.shape[0] / 3, ...t.shape.slice(1)];
    return [0, 1, 2].map((i) => ({ ...t, shape, data: t.data.slice(i * third, (i + 1) * third) })) as [HostTensor, HostTensor, HostTensor];
  },
  concat3(parts: [HostTensor, HostTensor, HostTensor]): HostTensor {
    checkThirds(parts.map((p) => p.shape));
    const [a] = parts;
    const data = a.dtype === 'int32' ? new Int32Array(a.data.length * 3) : new Float32Array(a.data.length * 3);
    parts.forEach((p, i) => data.set(p.data, i * a.data.length));
    return { ...a, shape: [a.shape[0] * 3, ...a.shape.slice(1)], data };
  },
};

/** Fails unless three query/key/value parts have one shape (so they concatenate into a fused qkv). */
export function checkThirds(shapes: number[][]): void {
  const [a] = shapes;
  if (!shapes.every((s) => tf.util.arraysEqual(s, a))) {
    throw new CheckpointError(`query, key and value parts must have one shape to be fused into qkv, got ${shapes.map((s) => describe(s)).join(', ')}`);
  }
}
