import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients in Node
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { linearProbe, linearProbeStepsPerEpoch } from '../../src/eval/linearProbe';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint';
import { warmupCosineEpochs } from '../../src/train/schedule';
import { LinearProbeHead } from '../../src/classify/LinearProbeHead';
import { Rng, mixSeed, permutation } from '../../src/data/rng';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** K Gaussian clusters in D dimensions, far apart: linearly separable. */
function clusters(n: number, d: number, k: number, seed: number, spread = 0.3) {
  const rng = new Rng(seed);
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => rng.uniformIn(-3, 3)));
  const x = new Float32Array(n * d);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % k;
    for (let j = 0; j < d; j++) {
      const g = Math.sqrt(-2 * Math.log(1 - rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
      x[i * d + j] = centres[y[i]][j] + spread * g + 5; // offset: the batch norm must centre it
    }
  }
  return { x: tf.tensor2d(x, [n, d]), y, raw: x };
}

/** The initial Linear weight `[d, k]` of the probe `linearProbe` builds with seed 0. */
async function initialWeight(d: number, k: number): Promise<Float32Array> {
  const head = new LinearProbeHead({ inFeatures: d, numClasses: k, seed: mixSeed(0, 0x68656164) });
  head.ensureBuilt();
  const w0 = (await head.linear.kernel.read().data()) as Float32Array;
  head.dispose();
  return w0;
}

/** One optimiser step in float64 on the probe's weight W `[d·k]` and bias b (step t, 1-based). */
type Float64Step = (W: number[], gW: number[], b: number[], gb: number[], t: number) => void;

/** util/lars.py in float64 (trust ratio and weight decay on the 2-D weight only), constant lr. */
function larsFloat64(lr: number, momentum = 0.9, eta = 0.001, wd = 0): Float64Step {
  let muW: number[] | undefined;
  let mub: number[] | undefined;
  const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return (W, gW, b, gb) => {
    const dW = gW.map((g, i) => g + wd * W[i]);
    const [pn, dn] = [norm(W), norm(dW)];
    const q = pn > 0 && dn > 0 ? (eta * pn) / dn : 1;
    muW = dW.map((g, i) => momentum * (muW?.[i] ?? 0) + q * g);
    mub = gb.map((g, i) => momentum * (mub?.[i] ?? 0) + g);
    muW.forEach((m, i) => (W[i] -= lr * m));
    mub.forEach((m, i) => (b[i] -= lr * m));
  };
}

/** The probe in float64, written from the torch definitions (BatchNorm1d, Linear, cross-entropy, AdamW or `update`). */
function probeFloat64(x: Float32Array, y: Int32Array, n: number, d: number, k: number, w0: Float32Array, epochs: number, batch: number, seed: number, update?: Float64Step, accum = 1) {
  const W = Array.from(w0); // [d, k] (ours: in × out)
  const b = new Array(k).fill(0);
  const mW = W.map(() => 0), vW = W.map(() => 0), mb = b.map(() => 0), vb = b.map(() => 0);
  const rm = new Array(d).fill(0), rv = new Array(d).fill(1);
  let t = 0;
  const lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, bnEps = 1e-6, mom = 0.1;
  const losses: number[] = [];
  for (let e = 0; e < epochs; e++) {
    const order = permutation(n, mixSeed(seed, e));
    let total = 0;
    let used = 0;
    const batches = Math.ceil(n / batch);
    const sumW = W.map(() => 0), sumb = b.map(() => 0);
    for (let bi = 0; bi < batches - (batches % accum); bi++) {
      const rows = Array.from(order.subarray(bi * batch, Math.min((bi + 1) * batch, n)));
      used += rows.length;
      const B = rows.length;
      const mean = new Array(d).fill(0), vr = new Array(d).fill(0);
      for (const r of rows) for (let j = 0; j < d; j++) mean[j] += x[r * d + j] / B;
      for (const r of rows) for (let j = 0; j < d; j++) vr[j] += (x[r * d + j] - mean[j]) ** 2 / B;
      for (let j = 0; j < d; j++) {
        rm[j] = (1 - mom) * rm[j] + mom * mean[j];
        rv[j] = (1 - mom) * rv[j] + (mom * vr[j] * B) / (B - 1);
      }
      const gW = W.map(() => 0), gb = b.map(() => 0);
      for (const r of rows) {
        const xn = Array.from({ length: d }, (_, j) => (x[r * d + j] - mean[j]) / Math.sqrt(vr[j] + bnEps));
        const logits = Array.from({ length: k }, (_, c) => b[c] + xn.reduce((a, v, j) => a + v * W[j * k + c], 0));
        const mx = Math.max(...logits);
        const z = logits.reduce((a, l) => a + Math.exp(l - mx), 0);
        const p = logits.map((l) => Math.exp(l - mx) / z);
        total += -Math.log(p[y[r]]);
        for (let c = 0; c < k; c++) {
          const g = (p[c] - (c === y[r] ? 1 : 0)) / B;
          gb[c] += g;
          for (let j = 0; j < d; j++) gW[j * k + c] += xn[j] * g;
        }
      }
      gW.forEach((g, i) => (sumW[i] += g));
      gb.forEach((g, i) => (sumb[i] += g));
      if ((bi + 1) % accum !== 0) continue;
      // the mean gradient of the micro-batches (official accum_iter: each loss / accum_iter)
      gW.forEach((_, i) => ((gW[i] = sumW[i] / accum), (sumW[i] = 0)));
      gb.forEach((_, i) => ((gb[i] = sumb[i] / accum), (sumb[i] = 0)));
      t++;
      const adam = (p: number[], g: number[], m: number[], v: number[]) => {
        for (let i = 0; i < p.length; i++) {
          m[i] = b1 * m[i] + (1 - b1) * g[i];
          v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2;
          p[i] -= (lr / (1 - b1 ** t)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps));
        }
      };
      if (update) {
        update(W, gW, b, gb, t);
      } else {
        adam(W, gW, mW, vW);
        adam(b, gb, mb, vb);
      }
    }
    losses.push(total / used);
  }
  let right = 0;
  for (let r = 0; r < n; r++) {
    const xn = Array.from({ length: d }, (_, j) => (x[r * d + j] - rm[j]) / Math.sqrt(rv[j] + bnEps));
    const logits = Array.from({ length: k }, (_, c) => b[c] + xn.reduce((a, v, j) => a + v * W[j * k + c], 0));
    if (logits.indexOf(Math.max(...logits)) === y[r]) right++;
  }
  return { losses, trainAccuracy: right / n };
}

describeBackends(['cpu', 'wasm'], () => {
  it('reaches ~100 % on linearly separable features, and leaks nothing', async () => {
    const train = clusters(600, 16, 4, 1);
    const test = clusters(200, 16, 4, 1); // same centres (same seed), fresh-looking rows
    const before = tf.memory().numTensors;
    const r = await linearProbe(train.x, train.y, test.x, test.y, { epochs: 10, batchSize: 64 });
    expect(tf.memory().numTensors).toBe(before);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.99);
    expect(r.trainAccuracy).toBeGreaterThanOrEqual(0.99);
    expect(r.epochLosses[9]).toBeLessThan(r.epochLosses[0]);
    tf.dispose([train.x, test.x]);
  });

  it('onEpoch: test top-1, top-5 and loss after every epoch (as main_linprobe.py logs them), the head to save; no leaks', async () => {
    const train = clusters(300, 8, 6, 2, 1.5);
    const test = clusters(120, 8, 6, 2, 1.5);
    const before = tf.memory().numTensors;
    const seen: { acc: number; acc5?: number; loss: number; want: { acc: number; acc5: number; loss: number } }[] = [];
    const r = await linearProbe(train.x, train.y, test.x, test.y, {
      epochs: 3,
      batchSize: 64,
      onEpoch: async ({ testAccuracy, testAccuracy5, testLoss, head }) => {
        // The same numbers from the head's logits, on the host.
        const logits = head.forward(test.x);
        const z = (await logits.array()) as number[][];
        logits.dispose();
        let right = 0, right5 = 0, loss = 0;
        z.forEach((row, i) => {
          const y = test.y[i];
          const max = Math.max(...row);
          if (row.indexOf(max) === y) right++;
          if (row.filter((v) => v > row[y]).length < 5) right5++;
          loss += Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[y];
        });
        seen.push({ acc: testAccuracy, acc5: testAccuracy5, loss: testLoss, want: { acc: right / z.length, acc5: right5 / z.length, loss: loss / z.length } });
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(seen).toHaveLength(3);
    for (const e of seen) {
      expect(e.acc).toBeCloseTo(e.want.acc, 6);
      expect(e.acc5).toBeCloseTo(e.want.acc5, 6);
      expect(e.acc5!).toBeGreaterThanOrEqual(e.acc);
      expect(Math.abs(e.loss - e.want.loss)).toBeLessThan(1e-4);
    }
    expect(seen[2].acc).toBe(r.accuracy);
    // Fewer than 5 classes: no top-5.
    const small = clusters(40, 4, 2, 3);
    const infos: unknown[] = [];
    await linearProbe(small.x, small.y, small.x, small.y, { epochs: 1, batchSize: 16, onEpoch: (i) => void infos.push(i.testAccuracy5) });
    expect(infos).toEqual([undefined]);
    tf.dispose([train.x, test.x, small.x]);
  });

  it('matches a float64 BatchNorm1d + Linear + AdamW probe step for step (last partial batch kept)', async () => {
    const n = 50, d = 5, k = 3;
    const data = clusters(n, d, k, 4, 2.5); // overlapping: the loss stays informative
    const w0 = await initialWeight(d, k);
    const want = probeFloat64(data.raw, data.y, n, d, k, w0, 3, 16, 0); // batches 16, 16, 16, 2
    const got = await linearProbe(data.x, data.y, data.x, tf.tensor1d(data.y, 'int32'), { epochs: 3, batchSize: 16 });
    got.epochLosses.forEach((l, i) => expect(Math.abs(l - want.losses[i])).toBeLessThan(2e-5));
    expect(got.trainAccuracy).toBeCloseTo(want.trainAccuracy, 6);
    data.x.dispose();
  });

  it("optimizer 'lars': matches a float64 util/lars.py probe step for step, with the default lr 0.1 × batch / 256", async () => {
    const n = 50, d = 5, k = 3;
    const data = clusters(n, d, k, 4, 2.5);
    const w0 = await initialWeight(d, k);
    const want = probeFloat64(data.raw, data.y, n, d, k, w0, 4, 16, 0, larsFloat64((0.1 * 16) / 256));
    const before = tf.memory().numTensors;
    const got = await linearProbe(data.x, data.y, data.x, data.y, { epochs: 4, batchSize: 16, optimizer: 'lars' });
    expect(tf.memory().numTensors).toBe(before);
    got.epochLosses.forEach((l, i) => expect(Math.abs(l - want.losses[i])).toBeLessThan(2e-5));
    expect(got.trainAccuracy).toBeCloseTo(want.trainAccuracy, 6);
    // A schedule sets each step's lr (0-based steps over the run): lr 0 leaves the loss of one full batch flat.
    const flat = await linearProbe(data.x, data.y, data.x, data.y, { epochs: 2, batchSize: n, optimizer: 'lars', schedule: () => 0 });
    expect(flat.epochLosses[1]).toBeCloseTo(flat.epochLosses[0], 5);
    // And it learns separable clusters, with an lr as large as the official run's (0.1 × 16384 / 256 = 6.4):
    // the trust ratio moves the weight by at most about lr·η/(1 − momentum) of its norm per step.
    const sep = clusters(600, 16, 4, 1);
    const r = await linearProbe(sep.x, sep.y, sep.x, sep.y, { epochs: 10, batchSize: 64, optimizer: 'lars', lr: 10 });
    expect(r.accuracy).toBeGreaterThanOrEqual(0.99);
    tf.dispose([data.x, sep.x]);
  });

  it('accumSteps: the mean gradient of the micro-batches per step, as a float64 probe with accum_iter; leftover batches skipped', async () => {
    const n = 50, d = 5, k = 3;
    const data = clusters(n, d, k, 4, 2.5);
    const w0 = await initialWeight(d, k);
    const before = tf.memory().numTensors;
    for (const [accum, optimizer] of [[2, 'adamw'], [3, 'lars']] as const) {
      // batches 16, 16, 16, 2: two steps of 2, or one step of 3 and the batch of 2 left out
      const lr = (0.1 * 16 * accum) / 256;
      const want = probeFloat64(data.raw, data.y, n, d, k, w0, 3, 16, 0, optimizer === 'lars' ? larsFloat64(lr) : undefined, accum);
      const got = await linearProbe(data.x, data.y, data.x, data.y, { epochs: 3, batchSize: 16, accumSteps: accum, optimizer, ...(optimizer === 'lars' ? { lr } : {}) });
      got.epochLosses.forEach((l, i) => expect(Math.abs(l - want.losses[i])).toBeLessThan(2e-5));
      expect(got.trainAccuracy).toBeCloseTo(want.trainAccuracy, 6);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect([linearProbeStepsPerEpoch(50, 16), linearProbeStepsPerEpoch(50, 16, 2), linearProbeStepsPerEpoch(50, 16, 3), linearProbeStepsPerEpoch(49, 16)]).toEqual([4, 2, 1, 3]);
    data.x.dispose();
  });

  it('resume: a run continued from the checkpoint of an epoch end ends with the probe of an uninterrupted one, bit for bit (AdamW and LARS)', async () => {
    const data = clusters(70, 6, 3, 5, 2);
    const probeOf = async (head: LinearProbeHead) => Promise.all(head.stateEntries().map(async (e) => Array.from(await e.variable.read().data())));
    for (const optimizer of ['adamw', 'lars'] as const) {
      const schedule = warmupCosineEpochs({ baseLr: optimizer === 'lars' ? 0.5 : 1e-2, warmupEpochs: 1, epochs: 4, stepsPerEpoch: linearProbeStepsPerEpoch(70, 16, 2) });
      const options = { epochs: 4, batchSize: 16, accumSteps: 2, optimizer, schedule, seed: 3 };
      const before = tf.memory().numTensors;
      let saved: Uint8Array | undefined;
      let full: number[][] = [];
      const a = await linearProbe(data.x, data.y, data.x, data.y, {
        ...options,
        onEpoch: async ({ epoch, head, checkpoint }) => {
          if (epoch === 1) saved = encodeCheckpoint(await checkpoint());
          if (epoch === 3) full = await probeOf(head);
        },
      });
      let resumed: number[][] = [];
      const ckpt = decodeCheckpoint(saved!);
      expect(ckpt).toMatchObject({ step: 4, epoch: 2, seed: 3, stepsPerEpoch: 2, accumSteps: 2 });
      const b = await linearProbe(data.x, data.y, data.x, data.y, { ...options, resume: ckpt, onEpoch: async ({ epoch, head }) => void (epoch === 3 && (resumed = await probeOf(head))) });
      expect(b.epochLosses).toEqual(a.epochLosses.slice(2));
      expect(resumed).toEqual(full);
      expect(b.accuracy).toBe(a.accuracy);
      expect(tf.memory().numTensors).toBe(before);
      // A checkpoint of another run is refused, naming what differs.
      await expect(linearProbe(data.x, data.y, data.x, data.y, { ...options, optimizer: optimizer === 'lars' ? 'adamw' : 'lars', resume: ckpt })).rejects.toThrow(
        new RegExp(`linearProbe resume: optimizer: expected this run's "${optimizer === 'lars' ? 'adamw' : 'lars'}", got "${optimizer}"`),
      );
      await expect(linearProbe(data.x, data.y, data.x, data.y, { ...options, accumSteps: 1, resume: ckpt })).rejects.toThrow(/resume: stepsPerEpoch \(same rows, batchSize and accumSteps\): expected this run's 5, got 2/);
      expect(tf.memory().numTensors).toBe(before);
    }
    data.x.dispose();
  });
}, { describe, beforeAll }, 'linearProbe');

describe('linearProbe arguments', () => {
  it('rejects mismatched features and labels with typed errors', async () => {
    const x = tf.zeros([4, 3]);
    const x2 = tf.zeros([4, 2]);
    await expect(linearProbe(x, [0, 1, 0, 1], x2, [0, 1, 0, 1])).rejects.toThrow(/testFeatures: expected D = 3/);
    await expect(linearProbe(x, [0, 1, 0], x, [0, 1, 0, 1])).rejects.toThrow(/trainLabels: expected 4 labels/);
    await expect(linearProbe(x, [0, 1, 0, 1.5], x, [0, 1, 0, 1])).rejects.toThrow(MAEInputError);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { epochs: 0 })).rejects.toThrow(MAEConfigError);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { optimizer: 'sgd' as never })).rejects.toThrow(/optimizer: expected 'adamw' or 'lars'/);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { schedule: () => NaN })).rejects.toThrow(/schedule: expected a finite lr >= 0 at step 0/);
    await expect(linearProbe(x, [0, 1, 0, 2], x, [0, 1, 0, 1], { numClasses: 2 })).rejects.toThrow(/below numClasses 2/);
    await expect(linearProbe(tf.zeros([4]) as tf.Tensor, [0, 1, 0, 1], x, [0, 1, 0, 1])).rejects.toThrow(/trainFeatures: expected a float32 tensor \[N, D\]/);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { batchSize: 2, accumSteps: 3 })).rejects.toThrow(/accumSteps: expected at most the 2 batches of 2 of the 4 training rows, got 3/);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { accumSteps: 0 })).rejects.toThrow(/linearProbe accumSteps: expected an integer >= 1, got 0/);
    await expect(linearProbe(x, [0, 1, 0, 1], x, [0, 1, 0, 1], { resume: {} as never })).rejects.toThrow(/linearProbe resume.weights: expected the safetensors bytes/);
    tf.dispose([x, x2]);
  });
});
