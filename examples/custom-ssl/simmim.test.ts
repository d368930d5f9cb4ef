/**
 * The SimMIM-style example trains on cpu and wasm: on fixed held-out masks
 * the loss falls far below its initial value and below predicting zeros
 * (so the model uses the visible patches), and training leaks no tensor.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maskedMSE, patchTargets } from '../../src';
import { describeBackends } from '../../src/testing';
import { SimMIM } from './simmim';
import { toyImages } from './toyImages';
import { fit, heldOutLoss } from './train';

describeBackends(['cpu', 'wasm'], (backend) => {
  it(`SimMIM: mask tokens in, pixels out; the loss falls [${backend}]`, async () => {
    const imgs = toyImages(16, 16, 1, 0); // [16, 16, 16, 1]: grid 4×4, patches of 4·4·1 = 16 values
    const target = patchTargets(imgs, 4); // [16, 16, 16]
    const model = new SimMIM({ maskRatio: 0.5, depth: 1, seed: 1 });
    const evaluate = () => heldOutLoss(() => model.forward(imgs, 999), target, maskedMSE); // mask seed 999 is never trained on
    const before = await evaluate();
    const start = tf.memory().numTensors;
    const losses = await fit((step) => model.loss(imgs, step), model.variables, { steps: 25, lr: 1e-2 });
    const leaked = tf.memory().numTensors - start;
    const after = await evaluate();
    console.log(
      `[${backend}] SimMIM held-out loss ${before.loss.toFixed(4)} → ${after.loss.toFixed(4)} ` +
        `(zeros: ${after.zeroLoss.toFixed(4)}); train ${losses[0].toFixed(4)} → ${losses.at(-1)!.toFixed(4)}`,
    );
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(0.25 * before.loss);
    expect(after.loss).toBeLessThan(0.65 * after.zeroLoss);
    expect(leaked).toBe(0);
    model.dispose();
    tf.dispose([imgs, target]);
  });
}, { describe, beforeAll });
