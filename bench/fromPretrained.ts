/**
 * `fromPretrained` on a big file (path, folder or URL): the model the file
 * holds, built from its config and loaded by ranges one tensor at a time.
 * Prints the load time, the wasm heap, tf.memory() and the RSS; run under
 * /usr/bin/time -v for the process peak:
 *
 *   npx tsx bench/fromPretrained.ts SOURCE [mae|model|classifier] [wasm|cpu]
 *
 * `mae`: MaskedAutoencoder.fromPretrained (an encoder-only file gets a fresh
 * decoder); `model`: loadPretrainedModel (the class the file holds);
 * `classifier`: ViTClassifier.fromPretrained with 1000 classes.
 * The files come from ../shared/bench/torch_ref/release_like.py (random
 * weights, official names and shapes); they are not in the repository.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type MAELayer, MaskedAutoencoder, ViTClassifier, loadPretrainedModel } from '../src/index';

const [source, kind = 'model', backend = 'wasm'] = process.argv.slice(2);

async function main(): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  const t0 = performance.now();
  let model: MAELayer;
  let summary: string[] = [];
  if (kind === 'mae') model = await MaskedAutoencoder.fromPretrained(source);
  else if (kind === 'classifier') model = await ViTClassifier.fromPretrained(source, { numClasses: 1000 });
  else ({ model, report: { summary } } = await loadPretrainedModel(source));
  const seconds = (performance.now() - t0) / 1000;
  const heap = backend === 'wasm' ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length : undefined;
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
  if (summary.length > 0) console.log(summary.join('\n'));
  console.log(
    [
      `${source} → ${(model.constructor as { className?: string }).className} on ${backend}`,
      `load ${seconds.toFixed(1)} s`,
      `tf.memory ${mib(tf.memory().numBytes)} in ${tf.memory().numTensors} tensors`,
      heap !== undefined ? `wasm heap ${mib(heap)}` : '',
      `rss now ${mib(process.memoryUsage().rss)}`,
    ].filter(Boolean).join('; '),
  );
  model.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
