/**
 * Experiment: the whole training step of one config on wasm under the code
 * variants of variants.ts (current, autodiffLnGelu, batchedAttention), in
 * interleaved measurement blocks (CPU and wall seconds, median of the block
 * medians).
 *
 * (The mask-token fill via `tf.broadcastTo`, whose Tile gradient ran one
 * Slice + Add per token copy, was measured here too before the library
 * replaced it with `repeatToken`.)
 *
 *   npx tsx bench/experiments/stepAB.ts [config] [variant] [repeats] [forms,comma,separated]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { BATCH, CONFIGS, isConfigName } from '../configs';
import { measureTrain, median } from '../measure';
import type { Variant } from '../models';
import { forms } from './variants';

async function main() {
  const [name = 'small64', variant = 'mae', reps = '3', which = 'current,autodiffLnGelu,batchedAttention'] = process.argv
    .slice(2)
    .filter((a) => a !== '--');
  if (!isConfigName(name)) throw new Error(`unknown config ${name}`);
  await tf.setBackend('wasm');
  const names = which.split(',');
  const res: Record<string, { wall: number[]; cpu: number[] }> = {};
  for (let r = 0; r < Number(reps); r++) {
    for (const form of names) {
      forms[form]();
      const m = await measureTrain(CONFIGS[name], variant as Variant, BATCH[name]);
      (res[form] ??= { wall: [], cpu: [] }).wall.push(m.stepSec);
      res[form].cpu.push(m.cpuSec);
      console.log(`${form.padEnd(15)} step ${m.stepSec.toFixed(3)} s wall, ${m.cpuSec.toFixed(3)} s cpu (other processes ${m.foreignCores.toFixed(2)} cores)`);
    }
  }
  forms.current();
  for (const form of names) {
    const v = res[form];
    console.log(`${name} ${variant} ${form}: median step ${median(v.wall).toFixed(3)} s wall, ${median(v.cpu).toFixed(3)} s cpu`);
  }
}
main();
