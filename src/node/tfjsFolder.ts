/**
 * Writing a tfjs model folder (`model.json` + weight shards) one weight at a
 * time: the manifest is laid out from the weights' shapes, then each
 * weight's bytes go to the shards and are let go, so no buffer of all the
 * weights is ever made (`tf.io.encodeWeights` concatenates them all, and
 * fails past 2 GiB). The folder is written atomically.
 */
import { type FileHandle, open } from 'node:fs/promises';
import type * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import { CheckpointError, type MAELayer, type SaveModelOptions, WEIGHTS_FILE, MODEL_FILE, modelArtifacts, modelJSON } from 'tfjs-mae';
import { writeFolderAtomicWith } from './atomicFile';

/** Options of {@link writeTfjsFolder}. */
export interface WriteTfjsFolderOptions extends SaveModelOptions {
  /** Largest weight shard in bytes (a weight may span two shards, as tfjs allows). Defaults to 64 MiB. */
  shardBytes?: number;
}

/** What {@link writeTfjsFolder} wrote. */
export interface WrittenTfjsFolder {
  /** Weight bytes written. */
  bytes: number;
  /** The shard files, in order (`weights.bin` when one is enough). */
  shards: string[];
}

const DEFAULT_SHARD_BYTES = 64 * 2 ** 20;

/** Shard names: `weights.bin` alone (as `saveModel` to a folder writes), else tfjs' `group1-shardIofN.bin`. */
function shardNames(bytes: number, shardBytes: number): string[] {
  const n = Math.max(1, Math.ceil(bytes / shardBytes));
  return n === 1 ? [WEIGHTS_FILE] : Array.from({ length: n }, (_, i) => `group1-shard${i + 1}of${n}.bin`);
}

/**
 * Saves `model` as the tfjs model folder `dir`, as `saveModel(model,
 * nodeFolderHandler(dir))` does (same `model.json`, loads with `loadModel`),
 * but one weight at a time into shards of at most `shardBytes`, so the
 * memory needed is the model plus one weight, whatever its size.
 *
 * ```ts
 * import { writeTfjsFolder } from 'tfjs-mae/node';
 * await writeTfjsFolder('out/vit-huge', encoder, { metadata: { recipe } });
 * ```
 *
 * @throws CheckpointError for a model saveModel refuses; MAEError when the folder cannot be written (`dir` is then untouched)
 */
export async function writeTfjsFolder(dir: string, model: MAELayer, options: WriteTfjsFolderOptions = {}): Promise<WrittenTfjsFolder> {
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes < 1) throw new CheckpointError(`shardBytes must be a positive integer, got ${JSON.stringify(shardBytes)}`);
  const { artifacts, weights } = modelArtifacts(model, options);
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const { name, variable } of weights) {
    if (variable.dtype !== 'float32' && variable.dtype !== 'int32') throw new CheckpointError(`weight ${name} is ${variable.dtype}; only float32 and int32 are written`);
    weightSpecs.push({ name, shape: variable.shape.slice(), dtype: variable.dtype });
  }
  const bytes = weights.reduce((sum, w) => sum + w.variable.size * 4, 0);
  const shards = shardNames(bytes, shardBytes);
  await writeFolderAtomicWith(dir, async (tmp) => {
    const out = new ShardWriter(tmp, shards, shardBytes);
    try {
      for (const { variable } of weights) {
        const values = await variable.data(); // one weight on the host at a time
        await out.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      }
      await out.finish();
    } finally {
      await out.close();
    }
    const json = JSON.stringify(modelJSON({ ...artifacts, weightSpecs }, shards));
    const file = await open(join(tmp, MODEL_FILE), 'wx');
    try {
      await file.writeFile(json);
      await file.sync();
    } finally {
      await file.close();
    }
  });
  return { bytes, shards };
}

/** Bytes written in order across fixed-size shard files (each fsynced when full). */
class ShardWriter {
  private index = 0;
  private used = 0;
  private file?: FileHandle;

  constructor(
    private readonly dir: string,
    private readonly names: string[],
    private readonly shardBytes: number,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.file === undefined || this.used === this.shardBytes) await this.next();
      const n = Math.min(bytes.length - at, this.shardBytes - this.used);
      await this.file!.write(bytes, at, n);
      at += n;
      this.used += n;
    }
  }

  private async next(): Promise<void> {
    await this.close();
    if (this.index >= this.names.length) throw new CheckpointError(`more weight bytes than the ${this.names.length} shards announced`);
    this.file = await open(join(this.dir, this.names[this.index++]), 'wx');
    this.used = 0;
  }

  /** Creates the announced shards not written to (a model without weights still gets its `weights.bin`). */
  async finish(): Promise<void> {
    while (this.index < this.names.length) await this.next();
  }

  async close(): Promise<void> {
    if (this.file === undefined) return;
    const file = this.file;
    this.file = undefined;
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  }
}
