/**
 * The "what fits on wasm" table of docs/backends.md, estimated by
 * estimateMemory (tracked bytes plus the untracked wasm allowance).
 *
 *   npx tsx bench/experiments/memoryTable.ts
 */
import { WASM_HEAP_LIMIT, describeModel, estimateMemory, type MemoryEstimateOptions } from '../../src/model/memory';

const decoder = { decoderEmbedDim: 512, decoderDepth: 8, decoderNumHeads: 16 };
const models = {
  'ViT-B/16': { patchSize: 16, embedDim: 768, depth: 12, numHeads: 12 },
  'ViT-L/16': { patchSize: 16, embedDim: 1024, depth: 24, numHeads: 16 },
  'ViT-H/14': { patchSize: 14, embedDim: 1280, depth: 32, numHeads: 16 },
};
const cell = (cfg: object, o: MemoryEstimateOptions): string => {
  const e = estimateMemory(cfg as never, o);
  const bytes = e.totalBytes + e.wasmUntrackedBytes;
  return `${(bytes / 2 ** 30).toFixed(2)} GiB ${bytes <= WASM_HEAP_LIMIT ? '✓' : '✗'}`;
};
console.log('| model | batch | features (encoder) | forward (MAE) | train | train, `recompute` |\n|---|---:|---:|---:|---:|---:|');
for (const [name, m] of Object.entries(models)) {
  for (const batch of [1, 4, 8, 32, 64]) {
    const mae = { ...m, ...decoder };
    const label = batch === 1 ? `${name} (${describeModel(m).split(', ')[1]})` : name;
    console.log(`| ${label} | ${batch} | ${cell(m, { batch, mode: 'features' })} | ${cell(mae, { batch, mode: 'forward' })} | ${cell(mae, { batch, mode: 'train' })} | ${cell(mae, { batch, mode: 'train', recompute: true })} |`);
  }
}
