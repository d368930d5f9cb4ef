/**
 * loadPretrainedFrom: a file opened by ranges loads exactly as
 * loadPretrained loads the same file read whole (report and weights: .pth,
 * HF names with q/k/v merged, `module.` prefixes, resampled position tables),
 * one tensor at a time, without leaks, on cpu and wasm.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import { bytesSource } from '../../src/io/byteSource';
import { loadPretrained, loadPretrainedFrom, readWeights } from '../../src/io/releases';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors';
import { type WeightsIndex, openWeights } from '../../src/io/weightsIndex';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { ViTEncoder } from '../../src/encode/ViTEncoder';
import { describeBackends, expectNoLeaks } from '../../src/testing';
import { FIXTURES_DIR, readBytes } from '../helpers/fixtures';

const MAE_TINY = { imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, seed: 11 };

/** The official parameters of the mae_tiny fixture as a safetensors file, names mapped by `rename`. */
function officialFile(rename: (name: string) => string): Uint8Array {
  const ref = parseSafetensors(readBytes(path.join(FIXTURES_DIR, 'mae_tiny.safetensors'))).tensors;
  return encodeSafetensors(new Map([...ref].filter(([k]) => k.startsWith('param.')).map(([k, t]) => [rename(k.slice(6)), t])));
}

/** Records, at every tensor read, how many tensors and bytes the backend holds. */
function watched(index: WeightsIndex): { index: WeightsIndex; peaks: Array<{ tensors: number; bytes: number }> } {
  const peaks: Array<{ tensors: number; bytes: number }> = [];
  const read = (name: string) => {
    const m = tf.memory();
    peaks.push({ tensors: m.numTensors, bytes: m.numBytes });
    return index.read(name);
  };
  return { index: { ...index, read }, peaks };
}

async function weightsOf(model: MaskedAutoencoder | ViTEncoder): Promise<Float32Array[]> {
  return Promise.all(model.stateEntries().map(async (e) => (await e.variable.read().data()) as Float32Array));
}

describeBackends(['cpu', 'wasm'], () => {
  const cases: Array<[string, () => Uint8Array, object]> = [
    ['mae_tiny.pth', () => readBytes(path.join(FIXTURES_DIR, 'mae_tiny.pth')), MAE_TINY],
    ['mae_tiny.hf.safetensors', () => readBytes(path.join(FIXTURES_DIR, 'mae_tiny.hf.safetensors')), MAE_TINY],
    ['module.-prefixed, 4×4 tables into a 6×6 model', () => officialFile((n) => `module.${n}`), { ...MAE_TINY, imgSize: 48 }],
  ];
  for (const [what, bytesOf, config] of cases) {
    it(`${what}: the report and weights of loadPretrained, one tensor at a time, no leaks`, async () => {
      const bytes = bytesOf();
      const whole = readWeights(bytes);
      const a = new MaskedAutoencoder(config);
      a.ensureBuilt();
      const expected = loadPretrained(a, whole.tensors);
      tf.dispose(Object.values(whole.tensors));

      const b = new MaskedAutoencoder(config);
      b.ensureBuilt();
      const start = tf.memory();
      const { index, peaks } = watched(await openWeights(bytesSource(bytes, what)));
      const report = await expectNoLeaks(() => loadPretrainedFrom(b, index), 'streaming load');
      expect(report).toEqual(expected);
      // Before each read the backend holds the model plus at most the other parts of one q/k/v.
      const largest = Math.max(...[...index.tensors.values()].map((t) => 4 * t.shape.reduce((x, y) => x * y, 1)));
      for (const p of peaks) {
        expect(p.tensors - start.numTensors).toBeLessThanOrEqual(2);
        expect(p.bytes - start.numBytes).toBeLessThanOrEqual(largest);
      }
      expect(peaks.length).toBeGreaterThan(0);
      const [wa, wb] = [await weightsOf(a), await weightsOf(b)];
      wa.forEach((w, i) => expect(Buffer.compare(Buffer.from(w.buffer, w.byteOffset, w.byteLength), Buffer.from(wb[i].buffer, wb[i].byteOffset, wb[i].byteLength)), b.stateEntries()[i].name).toBe(0));
      a.dispose();
      b.dispose();
    });
  }

  it('mis-shaped files throw naming the file before anything is read or written', async () => {
    const model = new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 48, depth: 2, numHeads: 4 });
    model.ensureBuilt();
    const { index, peaks } = watched(await openWeights(bytesSource(officialFile((n) => n), 'tiny.safetensors')));
    await expectNoLeaks(async () => {
      await expect(loadPretrainedFrom(model, index)).rejects.toThrow(CheckpointError);
    }, 'refused load');
    await expect(loadPretrainedFrom(model, index)).rejects.toThrow(/^tiny\.safetensors: state dict does not match the model: .*mis-shaped 30: cls_token expected \[1, 1, 48\]/);
    expect(peaks).toEqual([]);
    await expect(loadPretrainedFrom(model, {} as WeightsIndex)).rejects.toThrow('weights must be a WeightsIndex from openWeights()');
    model.dispose();
  });
}, { describe, beforeAll });
