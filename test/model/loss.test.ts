/**
 * `MaskedAutoencoder.loss` predicts the removed patches only
 * (`MAEDecoder.forwardMasked`); it must give what `forward(...).loss` gives:
 * the value, every weight gradient and the gradient with respect to the
 * images, for random, block and given masks, with normPixLoss, and with no
 * removed patch. cpu and wasm. (The official numbers are checked in
 * test/parity.test.ts, through `loss`.)
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder, type ForwardOptions, type MaskedAutoencoderArgs } from '../../src';
import { describeBackends, expectNoLeaks, expectTensorsClose } from '../../src/testing';

const tiny: MaskedAutoencoderArgs = {
  imgSize: 8, patchSize: 2, inChans: 1, embedDim: 8, depth: 1, numHeads: 2,
  decoderEmbedDim: 8, decoderDepth: 2, decoderNumHeads: 2, seed: 1,
}; // grid 4×4, L = 16

/** Value and gradients (weights and images) of `f` at `imgs`. */
function gradsOf(imgs: tf.Tensor4D, f: (x: tf.Tensor) => tf.Scalar) {
  const { value, grads } = tf.variableGrads(() => f(imgs));
  const dImgs = tf.grad((x: tf.Tensor) => f(x))(imgs);
  return { value, grads, dImgs };
}

describeBackends(['cpu', 'wasm'], (backend) => {
  let imgs: tf.Tensor4D;
  beforeAll(() => {
    imgs = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 7) as tf.Tensor4D;
  });
  afterAll(() => imgs.dispose());

  const cases: [string, MaskedAutoencoderArgs, ForwardOptions][] = [
    ['random masking, 75 %', tiny, { seed: 3 }],
    ['normPixLoss, decoder depth 1', { ...tiny, normPixLoss: true, decoderDepth: 1 }, { seed: 4 }],
    ['decoder depth 0', { ...tiny, decoderDepth: 0 }, { seed: 5 }],
    ['block masking, 50 %', { ...tiny, maskRatio: 0.5, masking: { type: 'block', minNumPatches: 4 } }, { seed: 6 }],
  ];
  describe(`loss() = forward().loss [${backend}]`, () => {
    for (const [name, args, options] of cases) {
      it(`${name}: value, weight gradients and image gradient`, async () => {
        const m = new MaskedAutoencoder(args);
        m.ensureBuilt();
        const fast = gradsOf(imgs, (x) => m.loss(x, options));
        const full = gradsOf(imgs, (x) => m.forward(x, options).loss);
        await expectTensorsClose(fast.value, full.value, { atol: 1e-6, name: 'loss' });
        await expectTensorsClose(fast.dImgs, full.dImgs, { atol: 1e-6, name: 'd loss / d imgs' });
        expect(Object.keys(fast.grads).sort()).toEqual(Object.keys(full.grads).sort());
        for (const k of Object.keys(full.grads)) await expectTensorsClose(fast.grads[k], full.grads[k], { atol: 1e-6, name: k });
        for (const g of [fast, full]) tf.dispose([g.value, g.dImgs, ...Object.values(g.grads)]);
        m.dispose();
      });
    }

    it('with given idsKeep, and with no removed patch (maskRatio 0: loss 0), leaking nothing', async () => {
      const m = new MaskedAutoencoder(tiny);
      const idsKeep = tf.tensor2d([[0, 5, 10, 15], [3, 2, 1, 0]], undefined, 'int32');
      const a = m.loss(imgs, { idsKeep });
      const b = m.forward(imgs, { idsKeep });
      await expectTensorsClose(a, b.loss, { atol: 1e-6, name: 'idsKeep loss' });
      const zero = m.loss(imgs, { maskRatio: 0, seed: 1 });
      expect((await zero.data())[0]).toBe(0);
      tf.dispose([a, zero, idsKeep, b.loss, b.pred, b.mask, b.idsRestore, b.idsKeep, b.latent]);
      await expectNoLeaks(() => {
        const { value, grads } = tf.variableGrads(() => m.loss(imgs, { seed: 2 }));
        tf.dispose([value, ...Object.values(grads)]);
      }, 'loss forward + backward');
      m.dispose();
    });
  });
}, { describe, beforeAll });
