/**
 * Tensors held on the host (plain typed arrays), as the weight-file readers
 * produce them. Readers never touch a tfjs backend, so the CLI and untrusted
 * inputs can be handled without an engine.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The dtypes tfjs can hold; wider or narrower file dtypes are converted on read. */
export type HostDType = 'float32' | 'int32';

/** One tensor on the host. `data.length === prod(shape)`, C order. */
export interface HostTensor {
  dtype: HostDType;
  shape: number[];
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
