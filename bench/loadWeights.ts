/**
 * Loading the official checkpoints by ranges (openWeights + loadPretrainedFrom)
 * into the matching model, one tensor at a time: time, peak RSS, and on wasm
 * the heap and tf.memory(). Run under /usr/bin/time -v for the process peak:
 *
 *   npx tsx bench/loadWeights.ts FILE (base|large|huge) [encoder|mae] [wasm|cpu] [ranges|whole]
 *
 * `whole` times the in-memory path instead (readFile + readWeights +
 * loadPretrained; files under 2 GiB only), for a ratio in one process.
 *
 * The files come from ../shared/bench/torch_ref/release_like.py (random
 * weights, official names and shapes); they are not in the repository.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { type MAELayer, type PretrainedReport, ViTEncoder, loadPretrained, loadPretrainedFrom, readWeights, maeVitBasePatch16, maeVitHugePatch14, maeVitLargePatch16, openWeights } from '../src/index';
import { fileSource } from '../src/io/fileSource';

const [file, size = 'base', part = 'encoder', backend = 'wasm', via = 'ranges'] = process.argv.slice(2);
const presets = { base: maeVitBasePatch16, large: maeVitLargePatch16, huge: maeVitHugePatch14 } as const;

async function main(): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  const arch = { base: [16, 768, 12, 12], large: [16, 1024, 24, 16], huge: [14, 1280, 32, 16] }[size as keyof typeof presets];
  const model: MAELayer =
    part === 'mae'
      ? presets[size as keyof typeof presets]()
      : new ViTEncoder({ imgSize: 224, patchSize: arch[0], embedDim: arch[1], depth: arch[2], numHeads: arch[3] });
  (model as unknown as { ensureBuilt(): void }).ensureBuilt();
  const before = tf.memory();
  const t0 = performance.now();
  const source = await fileSource(file);
  let report: PretrainedReport;
  let t1: number;
  if (via === 'whole') {
    const { tensors } = readWeights(new Uint8Array(await readFile(file)));
    t1 = performance.now();
    report = loadPretrained(model, tensors);
    tf.dispose(Object.values(tensors));
  } else {
    const weights = await openWeights(source);
    t1 = performance.now();
    report = await loadPretrainedFrom(model, weights);
  }
  const t2 = performance.now();
  await source.close?.();
  const heap = backend === 'wasm' ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length : undefined;
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(0)} MiB`;
  console.log(report.summary.join('\n'));
  console.log(
    [
      `file ${file} (${mib(source.size)}) → ${size} ${part} on ${backend}, ${via}`,
      `${via === 'whole' ? 'read' : 'index'} ${(t1 - t0).toFixed(0)} ms, load ${((t2 - t1) / 1000).toFixed(1)} s`,
      `tf.memory ${mib(before.numBytes)} model before, ${mib(tf.memory().numBytes)} after, ${tf.memory().numTensors - before.numTensors} new tensors`,
      heap !== undefined ? `wasm heap ${mib(heap)}` : '',
      `rss now ${mib(process.memoryUsage().rss)}`,
    ].filter(Boolean).join('; '),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
