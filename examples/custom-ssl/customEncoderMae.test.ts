/**
 * The custom-encoder MAE example trains on cpu and wasm, with random and
 * with block masking: on fixed held-out masks the loss falls far below its
 * initial value and below predicting zeros (so the model uses the visible
 * patches), and training leaks no tensor.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BlockMasking, RandomMasking, maskedMSE, patchTargets, type MaskingStrategy } from '../../src';
import { describeBackends } from '../../src/testing';
import { CustomEncoderMAE } from './customEncoderMae';
import { toyImages } from './toyImages';
import { fit, heldOutLoss } from './train';

const strategies: [string, MaskingStrategy, number][] = [
  ['random 75%', new RandomMasking(), 0.75],
  ['block 50%', new BlockMasking({ minNumPatches: 4 }), 0.5], // a 4×4 grid: blocks of 4 patches or more
];

describeBackends(['cpu', 'wasm'], (backend) => {
  for (const [name, masking, maskRatio] of strategies) {
    it(`custom encoder + MAEDecoder + maskedMSE, ${name}: the loss falls [${backend}]`, async () => {
      const imgs = toyImages(16, 16, 1, 0);
      const target = patchTargets(imgs, 4);
      const model = new CustomEncoderMAE({ masking, maskRatio, depth: 1, seed: 3 });
      const evaluate = () => heldOutLoss(() => model.forward(imgs, 999), target, maskedMSE);
      const before = await evaluate();
      const start = tf.memory().numTensors;
      const losses = await fit((step) => model.loss(imgs, step), model.variables, { steps: 25, lr: 1e-2 });
      const leaked = tf.memory().numTensors - start;
      const after = await evaluate();
      console.log(
        `[${backend}] custom MAE (${name}) held-out loss ${before.loss.toFixed(4)} → ${after.loss.toFixed(4)} ` +
          `(zeros: ${after.zeroLoss.toFixed(4)}); train ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`,
      );
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(after.loss).toBeLessThan(0.25 * before.loss);
      expect(after.loss).toBeLessThan(0.65 * after.zeroLoss);
      expect(leaked).toBe(0);
      model.dispose();
      tf.dispose([imgs, target]);
    });
  }
}, { describe, beforeAll });
