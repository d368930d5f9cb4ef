import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAEMemoryError,
  MaskedAutoencoder,
  ViTEncoder,
  checkWasmMemory,
  describeModel,
  estimateMemory,
  extractFeatures,
  type MaskedAutoencoderArgs,
  WASM_HEAP_LIMIT,
  WASM_HEAP_SLACK_BYTES,
  WASM_PACKED_WEIGHTS_MAX_BYTES,
} from '../../src';
import { describeBackends, expectNoLeaks } from '../../src/testing';

const small: MaskedAutoencoderArgs = { imgSize: 32, patchSize: 8, inChans: 3, embedDim: 64, depth: 2, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4, seed: 1 };
const heapBytes = (): number => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;

describe('estimateMemory', () => {
  beforeAll(() => tf.setBackend('cpu'));
  it('counts exactly the numbers of our layers (MAE and encoder alone)', () => {
    const mae = new MaskedAutoencoder(small);
    mae.ensureBuilt();
    const numbers = (ws: { shape: (number | null)[] }[]): number => ws.reduce((s, w) => s + w.shape.reduce<number>((a, b) => a * (b ?? 1), 1), 0);
    const e = estimateMemory(mae.config, { batch: 2 });
    expect(e.params).toBe(numbers(mae.weights));
    expect(e.weightBytes).toBe(4 * numbers(mae.weights));
    const enc = estimateMemory({ ...mae.config, decoderDepth: 0 }, { batch: 2, mode: 'features' });
    expect(enc.params).toBe(numbers(mae.encoder.weights));
    mae.dispose();
  });

  it('official sizes: ViT-H/14 encoder 631 M numbers; AdamW adds gradients, m and v (3× the weights)', () => {
    const huge = { patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 };
    expect(describeModel(huge)).toBe('ViT-H/14 encoder at 224×224 px, 631 M parameters');
    const train = estimateMemory({ ...huge, decoderEmbedDim: 512, decoderDepth: 8 }, { batch: 8, mode: 'train' });
    expect(train.optimizerBytes).toBe(3 * train.weightBytes);
    const rc = estimateMemory({ ...huge, decoderEmbedDim: 512, decoderDepth: 8 }, { batch: 8, mode: 'train', recompute: true });
    expect(rc.activationBytes).toBeLessThan(train.activationBytes / 5);
  });

  it('wasm: packed weights count below WASM_PACKED_WEIGHTS_MAX_BYTES (ViT-L); above it (ViT-H) only transients, so ViT-H features fit at batch 8', () => {
    const large = estimateMemory({ embedDim: 1024, depth: 24, numHeads: 16 }, { batch: 8, mode: 'features' });
    expect(large.weightBytes).toBeLessThan(WASM_PACKED_WEIGHTS_MAX_BYTES);
    expect(large.wasmUntrackedBytes).toBeGreaterThan(large.weightBytes);
    const huge = estimateMemory({ patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 }, { batch: 8, mode: 'features' });
    expect(huge.wasmUntrackedBytes - WASM_HEAP_SLACK_BYTES).toBeLessThan(huge.weightBytes / 4); // no packed copies
    expect(huge.totalBytes + huge.wasmUntrackedBytes).toBeLessThan(WASM_HEAP_LIMIT);
    const train = estimateMemory({ embedDim: 64, depth: 2, numHeads: 4 }, { batch: 8, mode: 'train' });
    expect(train.wasmUntrackedBytes).toBeGreaterThan(train.weightBytes); // training packs every weight it multiplies
  });

  it('activations grow with the batch; bad options throw MAEConfigError', () => {
    const cfg = { embedDim: 64, depth: 2, numHeads: 4 };
    expect(estimateMemory(cfg, { batch: 8, mode: 'features' }).activationBytes).toBeGreaterThan(estimateMemory(cfg, { batch: 4, mode: 'features' }).activationBytes);
    expect(() => estimateMemory(cfg, { batch: 0 })).toThrow(/batch: expected a positive integer, got 0/);
    expect(() => estimateMemory(cfg, { batch: 1, mode: 'eval' as never })).toThrow(/mode: expected/);
  });
});

describeBackends(['cpu', 'wasm'], (backend) => {
  describe(`checkWasmMemory [${backend}]`, () => {
    it(backend === 'wasm' ? 'fails before running with the model, the estimate, the limit and a batch that fits' : 'does nothing off wasm', async () => {
      const enc = new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 2, numHeads: 4, seed: 1 });
      enc.ensureBuilt();
      const imgs = tf.randomUniform([8, 32, 32, 3], 0, 1, 'float32', 3);
      const cfg = enc.getConfig() as never;
      const inUse = tf.memory().numBytes;
      const four = estimateMemory(cfg, { batch: 4, mode: 'features' });
      const eight = estimateMemory(cfg, { batch: 8, mode: 'features' });
      const limit = inUse + four.wasmUntrackedBytes + (four.activationBytes + eight.activationBytes) / 2; // batch 4 fits, batch 8 does not
      if (backend === 'wasm') {
        expect(() => checkWasmMemory(cfg, { batch: 8, mode: 'features', limitBytes: limit })).toThrow(MAEMemoryError);
        expect(() => checkWasmMemory(cfg, { batch: 8, mode: 'features', limitBytes: limit })).toThrow(
          /ViT-64d×2\/8 encoder at 32×32 px, 1\d\d\.\d k parameters, features at batch 8 needs an estimated \d+\.\d MiB .* at most \d+\.\d MiB and \d+\.\d MiB is in use; use a batch of [4-7] or fewer, or another backend/,
        );
        expect(() => checkWasmMemory(cfg, { batch: 4, mode: 'features', limitBytes: limit })).not.toThrow();
        await expectNoLeaks(async () => {
          await expect(extractFeatures(enc, imgs, { batchSize: 8, memoryLimitBytes: limit })).rejects.toThrow(MAEMemoryError);
        });
      } else {
        expect(() => checkWasmMemory(cfg, { batch: 8, mode: 'features', limitBytes: 1 })).not.toThrow();
      }
      const f = await extractFeatures(enc, imgs, { batchSize: 4, memoryLimitBytes: limit });
      expect(f.shape).toEqual([8, 64]);
      tf.dispose([f, imgs]);
      enc.dispose();
    });

    if (backend === 'wasm') {
      it('official ViT-H/14 features: accepted at batch 8 before loading, refused at a batch that cannot fit', () => {
        const huge = { patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 };
        expect(() => checkWasmMemory(huge, { batch: 8, mode: 'features', weightsLoaded: false })).not.toThrow();
        expect(() => checkWasmMemory(huge, { batch: 128, mode: 'features', weightsLoaded: false })).toThrow(/ViT-H\/14 encoder .* features at batch 128 .* use a batch of \d+ or fewer/);
      });

      it('training advice names recompute; the estimate is within 3× of the measured heap of a small model', () => {
        const mae = new MaskedAutoencoder({ ...small, imgSize: 64, embedDim: 128, depth: 4 });
        mae.ensureBuilt();
        expect(() => checkWasmMemory(mae.config, { batch: 8, mode: 'train', limitBytes: tf.memory().numBytes + 1 })).toThrow(/recompute: true/);
        const imgs = tf.randomUniform([8, 64, 64, 3], 0, 1, 'float32', 5);
        const { value, grads } = tf.variableGrads(() => mae.forward(imgs, { seed: 1 }).loss as tf.Scalar);
        tf.dispose([value, ...Object.values(grads), imgs]);
        const e = estimateMemory(mae.config, { batch: 8, mode: 'train' });
        const estimated = e.weightBytes * 2 + e.activationBytes; // weights, gradients, activations (no AdamW state here)
        expect(heapBytes()).toBeLessThan(3 * estimated + 16 * 2 ** 20); // the wasm module starts with a 16 MiB heap
        mae.dispose();
      });
    }
  });
}, { describe, beforeAll });
