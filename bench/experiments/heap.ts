/**
 * Diagnostic: wasm heap size (bytes reserved by the wasm module) and
 * tf.memory() across training steps of one config/variant.
 *
 *   npx tsx bench/experiments/heap.ts [config] [variant] [steps] [batch] [form of variants.ts]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { BATCH, CONFIGS, MASK_RATIO, isConfigName } from '../configs';
import { maeOptimizer, trainStep } from '../measure';
import { buildVariant, type Variant } from '../models';
import { forms } from './variants';

async function main() {
  const [name = 'tiny32', variant = 'mae', steps = '6', batchArg, form = 'current'] = process.argv.slice(2).filter((a) => a !== '--');
  forms[form]();
  if (!isConfigName(name)) throw new Error(`unknown config ${name}`);
  await tf.setBackend('wasm');
  const heap = () => ((tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20).toFixed(0);
  const cfg = CONFIGS[name];
  const model = buildVariant(variant as Variant, cfg, MASK_RATIO);
  const opt = maeOptimizer(model);
  const batch = batchArg === undefined ? BATCH[name] : Number(batchArg);
  const imgs = tf.randomUniform([batch, cfg.imgSize, cfg.imgSize, cfg.inChans]) as tf.Tensor4D;
  console.log(`built: heap ${heap()} MiB, tensors ${tf.memory().numTensors}, tracked ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MiB`);
  for (let i = 0; i < Number(steps); i++) {
    const loss = trainStep(model, opt, imgs);
    await loss.data();
    loss.dispose();
    if (i === Number(steps) - 1) {
      await peakReport(async () => {
        const l = trainStep(model, opt, imgs);
        await l.data();
        l.dispose();
      });
    }
    console.log(`step ${i}: heap ${heap()} MiB, tensors ${tf.memory().numTensors}, tracked ${(tf.memory().numBytes / 2 ** 20).toFixed(0)} MiB`);
  }
}
main();

/** Where the tracked bytes peak inside one profiled step. */
export async function peakReport(run: () => Promise<void>): Promise<void> {
  const info = await tf.profile(run);
  const ks = info.kernels;
  let peakAt = 0;
  ks.forEach((k, i) => {
    if (k.totalBytesSnapshot > ks[peakAt].totalBytesSnapshot) peakAt = i;
  });
  console.log(`peak ${(info.peakBytes / 2 ** 20).toFixed(0)} MiB at kernel #${peakAt}/${ks.length} ${ks[peakAt].name}`);
  const byName = new Map<string, number>();
  for (const k of ks.slice(0, peakAt + 1)) byName.set(k.name, (byName.get(k.name) ?? 0) + k.bytesAdded);
  console.log('bytes added up to the peak, by kernel:', [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([n, b]) => `${n} ${(b / 2 ** 20).toFixed(0)} MiB`).join(', '));
}
