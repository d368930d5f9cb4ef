/**
 * Experiment: attention core `softmax(q·kᵀ·s)·v` forward + backward on wasm,
 * with the batched matMul (XNNPACK-less slow path) against per-(sample, head)
 * 2-D matMuls. Prints wall and CPU seconds per formulation, interleaved.
 *
 *   npx vite-node bench/experiments/attention.ts -- [cpu|wasm]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { median } from '../measure';
import { batchMatMul as bmmBatched } from './variants';

type Saver = (tensors: tf.Tensor[]) => void;
type GradFunc = Parameters<typeof tf.customGrad>[0];

/** Batched `a[B,M,K]·b[B,K,N]` as B plain 2-D matMuls. */
function perSlice(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const as = tf.unstack(a);
  const bs = tf.unstack(b);
  return tf.stack(as.map((x, i) => tf.matMul(x as tf.Tensor2D, bs[i] as tf.Tensor2D))) as tf.Tensor3D;
}

const bmmSliced = tf.customGrad(((a: tf.Tensor3D, b: tf.Tensor3D, save: Saver) => {
  save([a, b]);
  return {
    value: perSlice(a, b),
    gradFunc: (dy: tf.Tensor3D, [as, bs]: tf.Tensor[]) => [
      perSlice(dy, tf.transpose(bs, [0, 2, 1]) as tf.Tensor3D),
      perSlice(tf.transpose(as, [0, 2, 1]) as tf.Tensor3D, dy),
    ],
  };
}) as unknown as GradFunc) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor3D;


function core(bmm: typeof bmmBatched, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor {
  const hd = q.shape[2] as number;
  const probs = tf.softmax(tf.mul(bmm(q, tf.transpose(k, [0, 2, 1])), hd ** -0.5));
  return bmm(probs, v);
}

async function main() {
  const backend = process.argv.slice(2).filter((a) => a !== '--')[0] ?? 'wasm';
  await tf.setBackend(backend);
  const shapes: [string, number, number, number][] = [
    ['small64 enc mae', 96, 17, 64],
    ['small64 dec', 128, 65, 32],
    ['small64 enc [M]', 96, 65, 64],
    ['vitb16 enc mae', 48, 50, 64],
    ['vitb16 dec', 64, 197, 32],
    ['vitb16 enc [M]', 48, 197, 64],
  ];
  for (const [name, b, t, hd] of shapes) {
    const q = tf.randomNormal([b, t, hd], 0, 1, 'float32', 1);
    const k = tf.randomNormal([b, t, hd], 0, 1, 'float32', 2);
    const v = tf.randomNormal([b, t, hd], 0, 1, 'float32', 3);
    const r = tf.randomNormal([b, t, hd], 0, 1, 'float32', 4);
    const run = (bmm: typeof bmmBatched) => () => {
      const g = tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => tf.sum(tf.mul(core(bmm, qq, kk, vv), r)));
      const out = g([q, k, v]);
      out.forEach((x) => x.dataSync());
      tf.dispose(out);
    };
    const forms = { batched: run(bmmBatched), sliced: run(bmmSliced) };
    const wall: Record<string, number[]> = { batched: [], sliced: [] };
    const cpu: Record<string, number[]> = { batched: [], sliced: [] };
    for (let i = 0; i < 7; i++) {
      for (const [f, fn] of Object.entries(forms)) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        fn();
        const dt = (performance.now() - t0) / 1000;
        const dc = process.cpuUsage(c0);
        if (i >= 2) {
          wall[f].push(dt);
          cpu[f].push((dc.user + dc.system) / 1e6);
        }
      }
    }
    // check both agree
    const a = tf.tidy(() => core(bmmBatched, q, k, v));
    const s = tf.tidy(() => core(bmmSliced, q, k, v));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, s))).dataSync()[0]);
    tf.dispose([a, s, q, k, v, r]);
    const flop = 3 * 2 * 2 * b * t * t * hd;
    console.log(
      `${name.padEnd(16)} [${b},${t},${hd}]  batched ${median(wall.batched).toFixed(4)} s (cpu ${median(cpu.batched).toFixed(4)}, ${(flop / median(cpu.batched) / 1e9).toFixed(1)} GFLOP/s)` +
        `  sliced ${median(wall.sliced).toFixed(4)} s (cpu ${median(cpu.sliced).toFixed(4)}, ${(flop / median(cpu.sliced) / 1e9).toFixed(1)} GFLOP/s)  max|diff| ${diff.toExponential(1)}`,
    );
  }
  console.log('tensors left:', tf.memory().numTensors);
}
main();
