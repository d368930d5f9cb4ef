import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckpointError, MAEConfigError, MAEMemoryError, TrainingError } from '../../src/errors';
import { MaskedAutoencoder } from '../../src/model/MaskedAutoencoder';
import { pretrain, maskNoiseSeed, type PretrainOptions } from '../../src/train/pretrain';
import { imageDataSource } from '../../src/train/data';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint';
import { warmupCosine } from '../../src/train/schedule';
import type { StepInfo } from '../../src/train/progress';
import { MIN_LR_SUM, type RunInfo } from '../../src/train/runInfo';
import { parseSafetensors, readSafetensors } from '../../src/io/safetensors';
import { modelConfigOf, readStoredConfig } from '../../src/io/modelConfig';
import { loadPretrainedModel } from '../../src/io/pretrainedModel';
import { Rng } from '../../src/data/rng';
import { estimateMemory } from '../../src/model/memory';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** 8×8 grey images, 2×2 patches of 4 px: L = 4, one patch kept at ratio 0.75. */
const tinyMae = () =>
  new MaskedAutoencoder({
    imgSize: 8, patchSize: 4, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
    decoderEmbedDim: 8, decoderDepth: 1, decoderNumHeads: 2, seed: 7,
  });

/** 16 images of smooth blobs (learnable), uint8 NHWC. */
function images(n = 16): Uint8Array {
  const rng = new Rng(3);
  const out = new Uint8Array(n * 64);
  for (let k = 0; k < n; k++) {
    const cy = rng.uniformIn(1, 6);
    const cx = rng.uniformIn(1, 6);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
      out[k * 64 + y * 8 + x] = Math.round(255 * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 6));
    }
  }
  return out;
}

const data = () => imageDataSource(images(), undefined, { batchSize: 4, imageShape: [8, 8, 1], seed: 5, mean: 0.2, std: 0.3 });
const base: PretrainOptions = { epochs: 2, lr: 5e-3, progress: false };

async function run(options: Partial<PretrainOptions> = {}, model = tinyMae()) {
  try {
    return await pretrain(model, data(), { ...base, ...options });
  } finally {
    model.dispose();
  }
}

describe('pretrain', () => {
  it('gives the same loss curve for the same seed, another for another seed', async () => {
    const a = await run();
    const b = await run();
    const c = await run({ seed: 1 });
    expect(a.losses).toHaveLength(8); // 2 epochs × 4 batches
    expect(b.losses).toEqual(a.losses);
    expect(c.losses).not.toEqual(a.losses);
    expect(a.epochLosses[0]).toBeCloseTo((a.losses[0] + a.losses[1] + a.losses[2] + a.losses[3]) / 4, 6);
  });

  it('recompute: true gives the same loss curve (to float rounding) and leaks nothing; a non-boolean is refused', async () => {
    const plain = await run();
    const before = tf.memory().numTensors;
    const re = await run({ recompute: true });
    expect(tf.memory().numTensors).toBe(before);
    expect(re.losses).toHaveLength(plain.losses.length);
    re.losses.forEach((l, i) => expect(l).toBeCloseTo(plain.losses[i], 5));
    await expect(run({ recompute: 'yes' as unknown as boolean })).rejects.toThrow(/pretrain recompute must be true or false, got "yes"/);
  });

  it('resumed from an epoch-1 checkpoint, continues the uninterrupted curve bit for bit', async () => {
    const full = await run();
    const saved: TrainingCheckpoint[] = [];
    const first = await run({ stopAfterEpoch: 1, save: (c) => void saved.push(c) });
    expect(first.losses).toEqual(full.losses.slice(0, 4));
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ step: 4, epoch: 1, seed: 0, stepsPerEpoch: 4, accumSteps: 1 });
    // The checkpoint's weights carry the model config, through the one-file encoding too,
    // and that file alone rebuilds the model (its optimizer tensors are not read, said in one summary line).
    const fresh = tinyMae();
    const config = modelConfigOf(fresh);
    fresh.dispose();
    expect(readStoredConfig(parseSafetensors(saved[0].weights).metadata)).toEqual(config);
    const file = encodeCheckpoint(saved[0]);
    const rebuilt = await loadPretrainedModel(file);
    expect(modelConfigOf(rebuilt.model)).toEqual(config);
    expect(rebuilt.report.ignored).toEqual([]);
    expect(rebuilt.report.summary.some((l) => /^training checkpoint: its \d+ optimizer\.\* tensors/.test(l))).toBe(true);
    rebuilt.model.dispose();
    // Through the one-file encoding and a model with other initial weights.
    const ckpt = decodeCheckpoint(file);
    expect(readStoredConfig(parseSafetensors(ckpt.weights).metadata)).toEqual(config);
    const other = new MaskedAutoencoder({ ...tinyMae().config, seed: 99 });
    const second = await run({ resume: ckpt }, other);
    expect(second.firstStep).toBe(4);
    expect(second.losses).toEqual(full.losses.slice(4));
    expect(second.step).toBe(8);
  });

  it('saves official-name weights with the optimiser state, every N epochs and at the end', async () => {
    const saved: TrainingCheckpoint[] = [];
    const model = tinyMae();
    await run({ epochs: 3, checkpointEvery: 2, save: async (c) => void saved.push(c) }, model);
    expect(saved.map((c) => c.epoch)).toEqual([2, 3]);
    const weights = readSafetensors(saved[1].weights);
    try {
      expect(Object.keys(weights)).toContain('blocks.0.attn.qkv.weight');
      expect(weights['blocks.0.attn.qkv.weight'].shape).toEqual([24, 8]); // torch [out, in]
      expect(Object.keys(weights)).toContain('decoder_pos_embed');
    } finally {
      tf.dispose(Object.values(weights));
    }
    expect(saved[1].optimizer.step).toBe(12);
    expect(Object.keys(saved[1].optimizer.params)).toContain('mask_token');
    expect(Object.keys(saved[1].optimizer.params)).not.toContain('pos_embed'); // frozen
  });

  it('keeps tf.memory().numTensors constant across steps and leaks nothing', async () => {
    const model = tinyMae();
    model.encoder.ensureBuilt();
    model.decoder.ensureBuilt();
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    await pretrain(model, data(), { ...base, epochs: 3, readLossEvery: 2, onStep: () => void counts.push(tf.memory().numTensors) });
    expect(counts).toHaveLength(12);
    expect(new Set(counts.slice(1)).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('reports step, epoch, lr from warmupCosine (default peak = 1.5e-4 × batch / 256), throughput and eta', async () => {
    const infos: StepInfo[] = [];
    const epochs: number[] = [];
    await run({ lr: undefined, warmupSteps: 2, onStep: (i) => void infos.push(i), onEpoch: (e) => void epochs.push(e.epoch) });
    const lr = warmupCosine({ baseLr: (1.5e-4 * 4) / 256, warmupSteps: 2, totalSteps: 8 });
    expect(infos.map((i) => i.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(infos.map((i) => i.epoch)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(infos.map((i) => i.stepInEpoch)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    infos.forEach((i) => expect(i.lr).toBeCloseTo(lr(i.step), 12));
    expect(infos[0].lr).toBe(0);
    expect(infos.every((i) => i.imagesPerSec > 0 && i.etaSec >= 0 && i.totalSteps === 8)).toBe(true);
    expect(infos[7].etaSec).toBe(0);
    expect(epochs).toEqual([0, 1]);
  });

  it('announces the lr and its rule once, before the first step, and warns when the lrs sum too small to train', async () => {
    const starts: RunInfo[] = [];
    let stepsBeforeStart = -1;
    let steps = 0;
    await run({ lr: undefined, onStart: (i) => void (starts.push(i), (stepsBeforeStart = steps)), onStep: () => void steps++ });
    expect(starts).toHaveLength(1);
    expect(stepsBeforeStart).toBe(0);
    const [rule] = starts;
    expect(rule.peakLr).toBeCloseTo((1.5e-4 * 4) / 256, 12);
    expect(rule.lrRule).toBe('official rule blr × batch / 256 = 0.00015 × 4 / 256');
    expect(rule).toMatchObject({ totalSteps: 8, firstStep: 0, effectiveBatch: 4 });
    expect(rule.lrSum).toBeLessThan(MIN_LR_SUM);
    expect(rule.warning).toMatch(/pretrain: the learning rates of the 8 steps sum to .*below 0\.0005.*barely change the weights.*pass lr/);

    const chosen: RunInfo[] = [];
    await run({ onStart: (i) => void chosen.push(i) }); // lr 5e-3
    expect(chosen[0].peakLr).toBeCloseTo(5e-3, 12);
    expect(chosen[0].lrRule).toBe('the lr option');
    expect(chosen[0].warning).toBeUndefined();
  });

  it('prints the start line and the warning through the progress printer (silenced by progress: false)', async () => {
    const out: string[] = [];
    const stdout = process.stdout as unknown as { isTTY?: boolean };
    const tty = stdout.isTTY;
    stdout.isTTY = false;
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      await run({ lr: undefined, progress: true });
      const printed = out.length;
      await run({ lr: undefined, progress: false });
      expect(out).toHaveLength(printed);
    } finally {
      spy.mockRestore();
      stdout.isTTY = tty;
    }
    expect(out[0]).toBe('[pretrain] 8 steps of 4 images, peak lr 2.34e-6 (official rule blr × batch / 256 = 0.00015 × 4 / 256)\n');
    expect(out[1]).toMatch(/^\[pretrain\] warning: pretrain: the learning rates of the 8 steps sum to/);
  });

  it('a NaN loss at the first step points at the images', async () => {
    const nanData = () => [{ images: tf.fill([4, 8, 8, 1], NaN) }];
    const model = tinyMae();
    try {
      await expect(pretrain(model, nanData, { epochs: 1, batchesPerEpoch: 1, lr: 1e-3, progress: false })).rejects.toThrow(
        /the loss of step 0 \(epoch 0\) is NaN; stopped \(before any update: check the images for NaN or Inf values/,
      );
    } finally {
      model.dispose();
    }
  });

  it('warns once when the first loss says the images are not normalised (0–255 values)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const raw = () => imageDataSource(images(), undefined, { batchSize: 4, imageShape: [8, 8, 1], seed: 5, mean: 0, std: 1 / 255 });
    try {
      for (let i = 0; i < 2; i++) {
        const model = tinyMae();
        await pretrain(model, raw(), { epochs: 1, lr: 1e-3, progress: false });
        model.dispose();
      }
      await run(); // normalised: no warning either
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/the loss of the first step is .* the images look unnormalised \(0–255 values\?\)/);
    } finally {
      warn.mockRestore();
    }
  });

  it('learns: the loss falls over epochs', async () => {
    const r = await run({ epochs: 12, lr: 1e-2, warmupSteps: 4 });
    expect(r.epochLosses[11]).toBeLessThan(0.6 * r.epochLosses[0]);
  });

  it('accumulates micro-batches: floor(batches / accumSteps) steps per epoch, mean loss, same memory', async () => {
    const model = tinyMae();
    model.encoder.ensureBuilt();
    model.decoder.ensureBuilt();
    const before = tf.memory().numTensors;
    const r = await pretrain(model, data(), { ...base, accumSteps: 3, maxGradNorm: 1 });
    expect(r.losses).toHaveLength(2); // 4 batches → 1 step of 3 per epoch
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('takes a function data source; with one micro-batch the loss equals model.loss with maskNoiseSeed', async () => {
    const model = tinyMae();
    const batch = () => tf.tidy(() => tf.div(tf.reshape(tf.range(0, 4 * 64), [4, 8, 8, 1]), 256));
    const expected = tf.tidy(() => model.loss(batch(), { seed: maskNoiseSeed(0, 0) }));
    const first = (await expected.data())[0];
    expected.dispose();
    const r = await pretrain(model, () => [batch(), { images: batch() }], { ...base, epochs: 1, batchesPerEpoch: 2 });
    expect(r.losses[0]).toBeCloseTo(first, 6);
    model.dispose();
  });

  it('stops with a TrainingError naming the step at a non-finite loss, leaking nothing', async () => {
    const model = tinyMae();
    model.encoder.ensureBuilt();
    model.decoder.ensureBuilt();
    const before = tf.memory().numTensors;
    function* source(epoch: number) {
      for (let b = 0; b < 4; b++) yield tf.fill([4, 8, 8, 1], epoch === 1 && b === 2 ? NaN : 0.5);
    }
    await expect(pretrain(model, source, { ...base, batchesPerEpoch: 4 })).rejects.toThrow(/loss of step 6 \(epoch 1\) is NaN/);
    await expect(pretrain(model, source, { ...base, batchesPerEpoch: 4, readLossEvery: 3 })).rejects.toBeInstanceOf(TrainingError);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('reports an epoch that runs out of batches', async () => {
    const model = tinyMae();
    await expect(pretrain(model, () => [tf.zeros([4, 8, 8, 1])], { ...base, batchesPerEpoch: 2 })).rejects.toThrow(
      /epoch 0 ended after 1 batches; expected 2/,
    );
    model.dispose();
  });

  it('rejects bad options and checkpoints of another run', async () => {
    const model = tinyMae();
    const saved: TrainingCheckpoint[] = [];
    await pretrain(model, data(), { ...base, stopAfterEpoch: 1, save: (c) => void saved.push(c) });
    const bad = (o: Partial<PretrainOptions>) => pretrain(model, data(), { ...base, ...o } as PretrainOptions);
    await expect(bad({ epochs: undefined as unknown as number })).rejects.toThrow(MAEConfigError);
    await expect(bad({ epochs: 0 })).rejects.toThrow(/epochs: expected an integer >= 1, got 0/);
    await expect(bad({ checkpointEvery: 1 })).rejects.toThrow(/save: expected/);
    await expect(bad({ maxGradNorm: -1 })).rejects.toThrow(/maxGradNorm/);
    await expect(bad({ accumSteps: 5 })).rejects.toThrow(/accumSteps: expected at most batchesPerEpoch \(4\)/);
    await expect(pretrain(model, {} as never, base)).rejects.toThrow(/data: expected/);
    await expect(bad({ resume: { ...saved[0], seed: 3 }, seed: 4 })).rejects.toThrow(CheckpointError);
    await expect(bad({ resume: { ...saved[0], stepsPerEpoch: 9 } })).rejects.toThrow(/stepsPerEpoch: expected this run's 4/);
    await expect(bad({ resume: { ...saved[0], weights: 'x' as never } })).rejects.toThrow(/resume.weights/);
    const otherModel = new MaskedAutoencoder({ ...tinyMae().config, embedDim: 12, numHeads: 2, seed: 1 });
    await expect(pretrain(otherModel, data(), { ...base, resume: saved[0] })).rejects.toThrow(CheckpointError);
    otherModel.dispose();
    // same shapes, other heads: only the stored config can tell
    const otherHeads = new MaskedAutoencoder({ ...model.config, numHeads: 4, seed: 1 });
    await expect(pretrain(otherHeads, data(), { ...base, resume: saved[0] })).rejects.toThrow(
      /resume\.weights stores a MaskedAutoencoder config that does not match the model: numHeads 2 in the file, 4 in the model/,
    );
    otherHeads.dispose();
    model.dispose();
  });
});

describe('pretrain on wasm', () => {
  it('gives the same curve for the same seed, and continues it bit for bit after a resume', async () => {
    await tf.setBackend('wasm');
    try {
      const full = await run();
      expect(await run().then((r) => r.losses)).toEqual(full.losses);
      let ckpt: TrainingCheckpoint | undefined;
      await run({ stopAfterEpoch: 1, save: (c) => void (ckpt = c) });
      expect((await run({ resume: ckpt })).losses).toEqual(full.losses.slice(4));
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

describe('pretrain on wasm: the memory pre-flight', () => {
  it('refuses a batch that cannot fit the heap before the first step (MAEMemoryError naming the batch that fits), without leaks', async () => {
    await tf.setBackend('wasm');
    try {
      const model = tinyMae();
      const onStep = vi.fn();
      const before = tf.memory().numTensors;
      // a heap that holds a training step at batch 1 but not at 4 (the data's batch size)
      const need = (batch: number) => {
        const e = estimateMemory(model.config, { batch, mode: 'train' });
        return e.wasmUntrackedBytes + e.activationBytes + e.optimizerBytes;
      };
      const limit = tf.memory().numBytes + Math.floor((need(1) + need(4)) / 2);
      const err = await pretrain(model, data(), { ...base, onStep, memoryLimitBytes: limit }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MAEMemoryError);
      expect((err as Error).message).toMatch(/train at batch 4 needs an estimated .* a batch of [123] or fewer, or recompute: true/);
      expect(onStep).not.toHaveBeenCalled();
      expect(tf.memory().numTensors).toBe(before);
      // the same limit with the heap to spare: the run goes on; a resumed run does not count its AdamW moments twice
      let ckpt: TrainingCheckpoint | undefined;
      await pretrain(model, data(), { ...base, stopAfterEpoch: 1, save: (c) => void (ckpt = c), memoryLimitBytes: limit + need(4) });
      const spare = 8 * 1024; // the batch's own images (1 KiB), allocated after the limit is computed
      const moments = 2 * 4 * model.stateEntries().filter((e) => e.variable.trainable).reduce((n, e) => n + e.variable.read().size, 0);
      const resumed = await pretrain(model, data(), { ...base, resume: ckpt, memoryLimitBytes: tf.memory().numBytes + need(4) + spare });
      expect(resumed.losses).toHaveLength(4);
      expect(moments).toBeGreaterThan(2 * spare); // so counting them twice would have refused the resume
      model.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('does not check on other backends', async () => {
    const r = await run({ memoryLimitBytes: 1 });
    expect(r.losses).toHaveLength(8);
  });
});
