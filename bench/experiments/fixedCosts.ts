/**
 * Experiment: the small64 costs the `mae` step pays beyond its matMul FLOPs
 * (token gathers, mask-token copies, qkv split, AdamW), each against
 * alternative formulations, on wasm. Wall ms per call, median of 15.
 *
 *   npx tsx bench/experiments/fixedCosts.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { median } from '../measure';

async function time(name: string, f: () => tf.Tensor | tf.Tensor[], reps = 15): Promise<number> {
  const ts: number[] = [];
  for (let i = 0; i < reps + 3; i++) {
    const t0 = performance.now();
    const out = f();
    const outs = Array.isArray(out) ? out : [out];
    await outs[outs.length - 1].data();
    const dt = performance.now() - t0;
    tf.dispose(outs);
    if (i >= 3) ts.push(dt);
  }
  const m = median(ts);
  console.log(`${name.padEnd(48)} ${m.toFixed(2)} ms`);
  return m;
}

async function main() {
  await tf.setBackend('wasm');
  const x = tf.randomUniform([1024, 384]);
  const perm = tf.tensor1d(Array.from(tf.util.createShuffledIndices(1024)), 'int32');
  await time('noop (read a fresh 1-element tensor)', () => tf.add(tf.scalar(1), 1));
  await time('gather [1024,384] by 1024 rows', () => tf.gather(x, perm));
  await time('gather [1024,384] by 256 rows', () => tf.gather(x, tf.slice(perm, 0, 256)));
  await time('add x+1 [1024,384]', () => tf.add(x, 1));
  const tok = tf.randomUniform([1, 1, 256]);
  await time('broadcastTo token → [16,48,256] (Tile)', () => tf.broadcastTo(tok, [16, 48, 256]));
  await time('zeros [16,48,256] + token', () => tf.add(tf.zeros([16, 48, 256]), tok));
  await time('ones[768,1]·token[1,256] matMul', () => tf.reshape(tf.matMul(tf.ones([768, 1]), tf.reshape(tok, [1, 256])), [16, 48, 256]));
  const qkv = tf.randomUniform([16, 17, 1152]);
  await time('3 slices of [16,17,1152]', () => [0, 1, 2].map((i) => tf.slice(qkv, [0, 0, i * 384], [16, 17, 384])));
  await time('split [16,17,1152] in 3', () => tf.split(qkv, 3, 2));
  await time('reshape+transpose [16,17,3,6,64]→[3,16,6,17,64]', () => tf.transpose(tf.reshape(qkv, [16, 17, 3, 6, 64]), [2, 0, 3, 1, 4]));
  const a = tf.randomUniform([272, 384]);
  const w = tf.randomUniform([384, 1536]);
  await time('matMul [272,384]·[384,1536], same B', () => tf.matMul(a, w));
  await time('matMul, fresh B each call (B+0)', () => tf.matMul(a, tf.add(w, 0)));
  await time('  (B+0 alone)', () => tf.add(w, 0));
  const big = tf.randomUniform([1040, 256]);
  const w2 = tf.randomUniform([256, 1024]);
  await time('matMul [1040,256]·[256,1024], same B', () => tf.matMul(big, w2));
  await time('exp [16,17,1536]', () => tf.exp(tf.reshape(a, [16, 17, 384])));
  const e = tf.randomUniform([16, 17, 1536]);
  await time('exp [16,17,1536] (418k)', () => tf.exp(e));
  await time('erf [16,17,1536]', () => tf.erf(e));
  await time('mul [16,17,1536]', () => tf.mul(e, e));
  await time('transpose [384,1536]', () => tf.transpose(w));
  await time('transpose [272,384]', () => tf.transpose(a));
}
main();
