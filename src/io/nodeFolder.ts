/**
 * A tf.io IOHandler for a folder in Node (`model.json` + `weights.bin`),
 * without tfjs-node. `node:fs/promises` is imported lazily, only when the
 * handler runs, so bundling this module for a browser is harmless.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';

/** The weights file name inside the folder. */
export const WEIGHTS_FILE = 'weights.bin';
/** The model file name inside the folder. */
export const MODEL_FILE = 'model.json';

/** The part of Node's `fs/promises` these helpers use (declared here, so this isomorphic module names no Node module). */
export interface FsPromises {
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  writeFile(path: string, data: Uint8Array | string): Promise<void>;
  readFile(path: string): Promise<Uint8Array>;
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  stat(path: string): Promise<{ isDirectory(): boolean; size: number }>;
  open(path: string, flags: 'r'): Promise<FileHandleLike>;
}

/** The part of Node's `FileHandle` the file source uses. */
export interface FileHandleLike {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/**
 * `node:fs/promises`, imported lazily (a browser bundle never resolves it).
 *
 * @param inBrowser what to do instead in a browser, for the error message
 * @throws CheckpointError outside Node
 */
export async function nodeFs(inBrowser = 'nodeFolderHandler needs Node (node:fs/promises); in a browser use an indexeddb:// or downloads:// URL'): Promise<FsPromises> {
  // A variable specifier keeps browser bundlers from trying to resolve it.
  const specifier = 'node:fs/promises';
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as FsPromises;
  } catch {
    throw new CheckpointError(inBrowser);
  }
}

function join(dir: string, file: string): string {
  return dir.endsWith('/') || dir.endsWith('\\') ? `${dir}${file}` : `${dir}/${file}`;
}

function asBytes(data: tf.io.WeightData): Uint8Array {
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/**
 * The `model.json` of a tfjs model folder: the artifacts' topology, format
 * and metadata, and one manifest group whose weights are stored, in order,
 * across `paths` (the shards, concatenated).
 */
export function modelJSON(artifacts: Omit<tf.io.ModelArtifacts, 'weightData'>, paths: string[]): tf.io.ModelJSON {
  return {
    modelTopology: artifacts.modelTopology ?? {},
    weightsManifest: [{ paths, weights: artifacts.weightSpecs ?? [] }],
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
  };
}

/**
 * A save + load handler for the folder `dir` (created on save): `model.json`
 * in the tfjs layout (`modelTopology`, `weightsManifest: [{ paths: ['weights.bin'], weights }]`)
 * and the weights in `weights.bin`.
 *
 * ```ts
 * import { nodeFolderHandler } from 'tfjs-mae/node';
 * await saveModel(mae, nodeFolderHandler('out/mae'));
 * const again = await loadModel(nodeFolderHandler('out/mae'));
 * ```
 *
 * @param dir the folder path (a `file://` prefix is accepted and removed)
 */
export function nodeFolderHandler(dir: string): tf.io.IOHandler {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new CheckpointError(`dir must be a non-empty folder path, got ${describe(dir)}`);
  }
  const folder = dir.startsWith('file://') ? dir.slice('file://'.length) : dir;
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) {
        throw new CheckpointError('nodeFolderHandler saves JSON model topologies only, got an ArrayBuffer');
      }
      const fs = await nodeFs();
      const weights = artifacts.weightData ? asBytes(artifacts.weightData) : new Uint8Array(0);
      const json = modelJSON(artifacts, [WEIGHTS_FILE]);
      await fs.mkdir(folder, { recursive: true });
      await fs.writeFile(join(folder, WEIGHTS_FILE), weights);
      await fs.writeFile(join(folder, MODEL_FILE), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData: weights.buffer as ArrayBuffer }) };
    },

    async load(): Promise<tf.io.ModelArtifacts> {
      const fs = await nodeFs();
      const file = join(folder, MODEL_FILE);
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await fs.readFile(file, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        throw new CheckpointError(`cannot read ${describe(file)}: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (json === null || typeof json !== 'object' || !Array.isArray(json.weightsManifest)) {
        throw new CheckpointError(`${describe(file)} is not a tfjs model.json (no weightsManifest array)`);
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const parts: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            if (p.includes('..') || p.startsWith('/')) throw new CheckpointError(`weights path ${describe(p)} leaves the model folder`);
            const bytes = await fs.readFile(join(folder, p));
            parts.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.CompositeArrayBuffer.join(parts)];
      });
    },
  };
}
