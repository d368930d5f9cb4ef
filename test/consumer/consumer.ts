/**
 * A user's strict TypeScript file: the public names and config keys of
 * tfjs-mae, type-checked against the packed .d.ts and run as ESM and CJS.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  MaskedAutoencoder,
  MAEDecoder,
  PatchEmbed,
  RandomMasking,
  TransformerBlock,
  ViTEncoder,
  interpolatePosEmbed,
  maeVitBasePatch16,
  maeVitHugePatch14,
  maeVitLargePatch16,
  maskedMSE,
  patchTargets,
  patchify,
  readSafetensors,
  sincosPosEmbed2d,
  unpatchify,
  writeSafetensors,
  MAEConfigError,
  type MAEOutput,
} from 'tfjs-mae';
import { expectNoLeaks, expectTensorsClose } from 'tfjs-mae/testing';
import { nodeFolderHandler } from 'tfjs-mae/node'; // the import the TSDoc shows

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const imgs = tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 0) as tf.Tensor4D;

  const x: tf.Tensor3D = patchify(imgs, 8);
  const back: tf.Tensor4D = unpatchify(x, 8, [4, 4], 3);
  await expectTensorsClose(back, imgs, { atol: 0 });
  const table: tf.Tensor2D = sincosPosEmbed2d(64, 4, 4, { clsToken: true });
  const bigger = interpolatePosEmbed(tf.expandDims(table, 0), [4, 4], [6, 6]);
  if (bigger.shape[1] !== 37) throw new Error('interpolatePosEmbed');

  const mae = new MaskedAutoencoder({
    imgSize: 32,
    patchSize: 8,
    inChans: 3,
    embedDim: 64,
    depth: 2,
    numHeads: 4,
    decoderEmbedDim: 32,
    decoderDepth: 1,
    decoderNumHeads: 4,
    mlpRatio: 4,
    normPixLoss: true,
    layerNormEps: 1e-6,
    seed: 0,
  });
  if (typeof nodeFolderHandler !== 'function') throw new Error('tfjs-mae/node');

  // a fresh model trains at once: the constructor creates its weights
  const fresh = new MaskedAutoencoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 1, numHeads: 4, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4 });
  const adam = tf.train.adam(1e-3);
  const cost = adam.minimize(() => fresh.loss(imgs, { seed: 1 }), true);
  if (!cost || !Number.isFinite((await cost.data())[0])) throw new Error('minimize on a fresh model');
  tf.dispose(cost);
  adam.dispose();
  fresh.dispose();

  const out: MAEOutput = mae.forward(imgs, { maskRatio: 0.75, seed: 1 });
  const { loss, pred, mask, idsRestore, idsKeep, latent } = out;
  if (pred.shape[2] !== 8 * 8 * 3 || latent.shape[1] !== 5 || idsKeep.shape[1] !== 4) throw new Error('shapes');
  const target = patchTargets(imgs, 8, { normPixLoss: true });
  await expectTensorsClose(maskedMSE(pred, target, mask), loss, { atol: 1e-6 });
  tf.dispose([loss, pred, mask, idsRestore, idsKeep, latent, target]);

  await expectNoLeaks(() => {
    const { value, grads } = tf.variableGrads(() => mae.loss(imgs, { seed: 2 }));
    tf.dispose([value, ...Object.values(grads)]);
  });

  // weights out and back in, official and HF names
  for (const naming of ['official', 'hf'] as const) {
    const bytes = await writeSafetensors(mae.stateDict({ naming }));
    const tensors = readSafetensors(bytes);
    const report = mae.loadStateDict(tensors, { naming, strict: true });
    if (report.missing.length) throw new Error('missing');
    tf.dispose(Object.values(tensors));
  }

  // the blocks one by one
  const embed = new PatchEmbed({ imgSize: 32, patchSize: 8, inChans: 3, embedDim: 64 });
  const masking = new RandomMasking({ maskRatio: 0.75 });
  const block = new TransformerBlock({ dim: 64, numHeads: 4, mlpRatio: 4, layerNormEps: 1e-6 });
  const tokens = embed.apply(imgs) as tf.Tensor3D;
  const { visible } = masking.mask(tokens, { seed: 3 });
  const y = block.apply(visible) as tf.Tensor;
  if (y.shape[1] !== 4) throw new Error('block');
  const encoder = new ViTEncoder({ imgSize: 32, patchSize: 8, embedDim: 64, depth: 1, numHeads: 4 });
  const decoder = new MAEDecoder({ gridSize: [4, 4], patchSize: 8, embedDim: 64, decoderEmbedDim: 32, decoderDepth: 1, decoderNumHeads: 4 });
  const enc = encoder.forward(imgs, { seed: 4 });
  const dec = decoder.forward(enc.latent, enc.idsRestore);
  if (dec.pred.shape[1] !== 16) throw new Error('decoder');

  try {
    new MaskedAutoencoder({ imgSize: 30, patchSize: 16 });
    throw new Error('no error');
  } catch (e) {
    if (!(e instanceof MAEConfigError)) throw e;
  }
  // presets construct without creating weights when asked to
  const lazy = { deferBuild: true };
  const presets = [maeVitBasePatch16(lazy), maeVitLargePatch16(lazy), maeVitHugePatch14(lazy)];
  if (presets[2].trainableWeights.length !== 0) throw new Error('deferBuild');
  if (presets[2].config.patchSize !== 14) throw new Error('presets');
  console.log(`consumer ok: loss ${(await mae.loss(imgs, { seed: 1 }).data())[0].toFixed(4)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
