/**
 * Why batch 1 costs more per image than batch 8 (encoder features, wasm):
 * wall time per image of both batches, alternated in one process, then one
 * profiled call of each: kernel time per image by kernel name, largest
 * batch-1 excess first.
 *
 *   npx tsx bench/experiments/batchGap.ts [embedDim] [depth] [heads] [reps]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { ViTEncoder } from '../../src';

async function main() {
  const [d = 768, depth = 2, heads = 12, reps = 3] = process.argv.slice(2).filter((a) => a !== '--').map(Number);
  await tf.setBackend('wasm');
  const enc = new ViTEncoder({ imgSize: 224, patchSize: 16, embedDim: d, depth, numHeads: heads, seed: 1 });
  enc.ensureBuilt();
  const batches = [1, 8];
  const imgs = batches.map((b) => tf.randomUniform([b, 224, 224, 3], 0, 1, 'float32', b));
  const run = async (i: number) => {
    const y = tf.tidy(() => enc.forwardFeatures(imgs[i]));
    await y.data();
    y.dispose();
  };
  for (let i = 0; i < batches.length; i++) await run(i); // warm-up (packs the weights)
  const wall: number[][] = batches.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < batches.length; i++) {
      const t0 = performance.now();
      await run(i);
      wall[i].push((performance.now() - t0) / batches[i]);
    }
  }
  const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
  console.log(`ms/img: batch 1 ${med(wall[0]).toFixed(0)}, batch 8 ${med(wall[1]).toFixed(0)}, ratio ${(med(wall[0]) / med(wall[1])).toFixed(2)} (pairs ${wall[0].map((w, i) => (w / wall[1][i]).toFixed(2)).join(' ')})`);
  const perImage = [] as Map<string, number>[];
  for (let i = 0; i < batches.length; i++) {
    const info = await tf.profile(() => run(i));
    const m = new Map<string, number>();
    for (const k of info.kernels) m.set(k.name, (m.get(k.name) ?? 0) + (k.kernelTimeMs as number) / batches[i]);
    perImage.push(m);
  }
  const names = [...new Set([...perImage[0].keys(), ...perImage[1].keys()])];
  const rows = names.map((n) => [n, perImage[0].get(n) ?? 0, perImage[1].get(n) ?? 0] as const).sort((a, b) => b[1] - b[2] - (a[1] - a[2]));
  const total = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  console.log(`kernel ms/img: batch 1 ${total(perImage[0]).toFixed(0)}, batch 8 ${total(perImage[1]).toFixed(0)}`);
  for (const [n, a, b] of rows.slice(0, 12)) console.log(`${n.padEnd(24)} b1 ${a.toFixed(1).padStart(8)}  b8 ${b.toFixed(1).padStart(8)}  excess ${(a - b).toFixed(1).padStart(8)}`);
  tf.dispose(imgs);
  enc.dispose();
}
main();
