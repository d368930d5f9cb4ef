/**
 * Experiment: forward + backward of the non-matMul pieces of a block, as
 * written now (autodiff of small ops) against hand-written gradients, on the
 * small64 shapes. CPU seconds, interleaved, median of 7 after 2 warm-ups.
 *
 *   npx vite-node bench/experiments/ops.ts -- [wasm|cpu]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { attention } from '../../src/nn/attentionOps';
import { median } from '../measure';
import { batchMatMul as bmmExplicit } from './variants';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

// ---- GELU ------------------------------------------------------------------
const geluAuto = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
const geluCustom = tf.customGrad(((x: tf.Tensor, save: Saver) => {
  const cdf = tf.add(tf.mul(tf.erf(tf.mul(x, Math.SQRT1_2)), 0.5), 0.5); // Φ(x)
  save([x, cdf]);
  return {
    value: tf.mul(x, cdf),
    gradFunc: (dy: tf.Tensor, [xs, c]: tf.Tensor[]) => {
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(xs), -0.5)), 1 / Math.sqrt(2 * Math.PI)); // φ(x)
      return tf.mul(dy, tf.add(c, tf.mul(xs, pdf)));
    },
  };
}) as unknown as GradFunc) as (x: tf.Tensor) => tf.Tensor;

// ---- LayerNorm ---------------------------------------------------------------
const lnAuto = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, 1e-6))), g), b);
};
/** Column sums of a `[M, D]` matrix as a `[1, M]·[M, D]` matMul (no transposing reduction). */
const colSum = (m: tf.Tensor2D) => tf.reshape(tf.matMul(tf.ones([1, m.shape[0]]), m), [m.shape[1]]);
const lnCustom = (sumRows: (m: tf.Tensor2D) => tf.Tensor) =>
  tf.customGrad(((x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: Saver) => {
    const d = x.shape[x.rank - 1];
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), 1e-6));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, g]);
    return {
      value: tf.add(tf.mul(xhat, g), b),
      gradFunc: (dy: tf.Tensor, [xh, r, gs]: tf.Tensor[]) => {
        const dxhat = tf.mul(dy, gs);
        const a = tf.mean(dxhat, -1, true);
        const c = tf.mean(tf.mul(dxhat, xh), -1, true);
        const dx = tf.mul(tf.sub(tf.sub(dxhat, a), tf.mul(xh, c)), r);
        const dy2 = tf.reshape(dy, [-1, d]) as tf.Tensor2D;
        return [dx, sumRows(tf.mul(dy2, tf.reshape(xh, [-1, d])) as tf.Tensor2D), sumRows(dy2)];
      },
    };
  }) as unknown as GradFunc) as (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor;
const lnCustomSum = lnCustom((m) => tf.sum(m, 0));
const lnCustomMatMul = lnCustom(colSum);

// ---- attention core: softmax(q·kᵀ·s)·v, q/k/v [B, T, hd] ------------------------
const attnExplicit = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
  const s = tf.mul(bmmExplicit(q, tf.transpose(k, [0, 2, 1])), (q.shape[2] as number) ** -0.5);
  return bmmExplicit(tf.softmax(s), v);
};
const attnFlags = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => {
  const s = tf.matMul(tf.mul(q, (q.shape[2] as number) ** -0.5), k, false, true);
  return tf.matMul(tf.softmax(s), v);
};

// ---- linear bias gradient -------------------------------------------------------
const biasSum = (dy: tf.Tensor2D) => tf.sum(dy, 0);

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  const rnd = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
  type Case = { name: string; inputs: tf.Tensor[]; forms: Record<string, (...xs: tf.Tensor[]) => tf.Tensor> };
  const cases: Case[] = [
    { name: 'GELU enc [16,17,1536]', inputs: [rnd([16, 17, 1536], 1)], forms: { auto: geluAuto, custom: geluCustom } },
    { name: 'GELU dec [16,65,1024]', inputs: [rnd([16, 65, 1024], 1)], forms: { auto: geluAuto, custom: geluCustom } },
    ...([[16, 17, 384], [16, 65, 256], [16, 65, 384]] as number[][]).map((s) => ({
      name: `LayerNorm [${s}]`,
      inputs: [rnd(s, 1), rnd([s[2]], 2), rnd([s[2]], 3)],
      forms: { auto: lnAuto, customSum: lnCustomSum, customMatMul: lnCustomMatMul },
    })),
    ...([[96, 17, 64], [128, 65, 32], [96, 65, 64]] as number[][]).map((s) => ({
      name: `attention core [${s}]`,
      inputs: [rnd(s, 1), rnd(s, 2), rnd(s, 3)],
      forms: {
        explicitTranspose: attnExplicit,
        flags: attnFlags,
        customGrad: (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
          attention(q as tf.Tensor3D, k as tf.Tensor3D, v as tf.Tensor3D, (q.shape[2] as number) ** -0.5),
      },
    })),
    ...([[272, 1536], [1040, 1024], [1040, 256]] as number[][]).map((s) => ({
      name: `bias grad [${s}]`,
      inputs: [rnd(s, 1)],
      // a fresh copy each call: XNNPACK caches its packed operand by tensor id,
      // and a gradient is a new tensor every step
      forms: {
        sum: (x: tf.Tensor) => biasSum(tf.mul(x, 1) as tf.Tensor2D),
        matMul: (x: tf.Tensor) => colSum(tf.mul(x, 1) as tf.Tensor2D),
      },
    })),
  ];
  const filter = process.argv.slice(2).filter((a) => a !== '--')[1];
  for (const c of cases.filter((x) => filter === undefined || x.name.includes(filter))) {
    const r = tf.tidy(() => tf.randomNormal(c.forms[Object.keys(c.forms)[0]](...c.inputs).shape, 0, 1, 'float32', 9));
    const isGrad = !c.name.startsWith('bias');
    const runners = Object.fromEntries(
      Object.entries(c.forms).map(([k, f]) => [
        k,
        () =>
          tf.tidy(() => {
            const outs = isGrad ? tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), r)))(c.inputs) : [f(...c.inputs)];
            outs.forEach((o) => o.dataSync());
            return outs.map((o) => tf.keep(o));
          }),
      ]),
    );
    const times: Record<string, number[]> = {};
    const results: Record<string, tf.Tensor[]> = {};
    for (let i = 0; i < 15; i++) {
      for (const [k, run] of Object.entries(runners)) {
        const c0 = process.cpuUsage();
        const outs = run();
        const t = process.cpuUsage(c0);
        if (i >= 2) (times[k] ??= []).push((t.user + t.system) / 1e6);
        if (results[k]) tf.dispose(outs);
        else results[k] = outs;
      }
    }
    const names = Object.keys(c.forms);
    const diffs = names.slice(1).map((k) =>
      Math.max(...results[k].map((o, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(o, results[names[0]][i]))).dataSync()[0]))),
    );
    console.log(
      `${c.name.padEnd(30)} ` +
        names.map((k) => `${k} ${(median(times[k]) * 1000).toFixed(2)} ms`).join(', ') +
        `  (max|diff| vs ${names[0]}: ${diffs.map((d) => d.toExponential(1)).join(', ')})`,
    );
    tf.dispose([...Object.values(results).flat(), r, ...c.inputs]);
  }
  console.log('tensors left:', tf.memory().numTensors);
}
main();
