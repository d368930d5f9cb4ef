/**
 * The random init a load no longer pays: building a preset MAE with its
 * initialisers (what every load did before the weights replaced them) vs.
 * under `deferInit` (zero placeholders, what `loadPretrainedModelFrom`
 * builds), alternately in one process, so that the ratio holds on a busy
 * machine:
 *
 *   npx tsx bench/buildInit.ts [base|large] [wasm|cpu] [rounds]
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type MAELayer, maeVitBasePatch16, maeVitLargePatch16 } from '../src/index';
import { deferInit } from '../src/nn/init';

const [size = 'base', backend = 'wasm', rounds = '2'] = process.argv.slice(2);
const preset = { base: maeVitBasePatch16, large: maeVitLargePatch16 }[size];
if (!preset) throw new Error(`size must be base or large, got ${size}`);

/** Seconds to build (and dispose) one model. */
async function timed(build: () => MAELayer): Promise<number> {
  const t0 = performance.now();
  const model = build();
  await model.weights[model.weights.length - 1].read().data(); // the backend has done its work
  const seconds = (performance.now() - t0) / 1000;
  model.dispose();
  return seconds;
}

async function main(): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  const eager: number[] = [];
  const deferred: number[] = [];
  for (let i = 0; i < Number(rounds); i++) {
    eager.push(await timed(() => preset!()));
    deferred.push(await timed(() => deferInit(() => preset!())[0]));
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `${size} MAE on ${backend}: build with random init ${eager.map((s) => s.toFixed(2)).join(' / ')} s; ` +
      `with zero placeholders (deferInit) ${deferred.map((s) => s.toFixed(2)).join(' / ')} s; ratio ${(med(eager) / med(deferred)).toFixed(1)}×`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
