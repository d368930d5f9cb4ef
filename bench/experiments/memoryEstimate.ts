/**
 * Calibration: measured wasm heap growth of one features / forward / train
 * step against estimateMemory's activation (+ optimiser) bytes.
 *
 *   npx tsx bench/experiments/memoryEstimate.ts [embedDim] [depth] [imgSize] [batch] [mode] [recompute]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers';
import { MaskedAutoencoder, estimateMemory, type MemoryMode } from '../../src';

async function main() {
  const [d = '192', depth = '4', img = '64', b = '8', mode = 'features', rc = 'false'] = process.argv.slice(2).filter((a) => a !== '--');
  await tf.setBackend('wasm');
  const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  const cfg = { imgSize: Number(img), patchSize: 8, inChans: 3, embedDim: Number(d), depth: Number(depth), numHeads: 4, decoderEmbedDim: 128, decoderDepth: 2, decoderNumHeads: 4, recompute: rc === 'true' };
  const mae = new MaskedAutoencoder({ ...cfg, seed: 1 });
  const imgs = tf.randomUniform([Number(b), cfg.imgSize, cfg.imgSize, 3]) as tf.Tensor4D;
  mae.build([null, cfg.imgSize, cfg.imgSize, 3]);
  const before = heap();
  const tracked = tf.memory().numBytes;
  let profiledPeak = 0;
  if (mode === 'features') {
    tf.tidy(() => mae.encoder.forwardFeatures(imgs));
    const mid = heap();
    profiledPeak = (await tf.profile(() => tf.tidy(() => mae.encoder.forwardFeatures(imgs)))).peakBytes - tracked;
    console.log(`after one call ${mid}, after a second ${heap()}`);
  }
  else if (mode === 'forward') tf.tidy(() => mae.forward(imgs).loss);
  else {
    const { value, grads } = tf.variableGrads(() => mae.forward(imgs).loss as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  }
  const after = heap();
  const est = estimateMemory({ ...mae.config }, { batch: Number(b), mode: mode as MemoryMode, recompute: rc === 'true' });
  console.log(JSON.stringify({ d, depth, img, b, mode, heapBefore: before, heapAfter: after, grew: after - before, tracked, profiledPeak, weightBytes: est.weightBytes, activationBytes: est.activationBytes, ratio: (after - before) / (est.activationBytes + (mode === 'train' ? est.weightBytes : 0)) }));
}
main();
