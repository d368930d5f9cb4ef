/**
 * Parity with the official PyTorch MAE: every `<case>.json` + `<case>.safetensors`
 * in MAE_FIXTURES_DIR (default test/fixtures), on cpu and wasm. Tolerances
 * from the fixtures' README: exact masks/ids/patchify; latent and pred ≤ 2e-5;
 * target and loss ≤ 1e-5; every gradient ≤ 1e-5 × max|ref| (+1e-9).
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder, patchify, patchTargets, readSafetensors } from '../src';
import { describeBackends, expectTensorsClose, expectNoLeaks } from '../src/testing';
import { FIXTURES_DIR, maeCases, modelFor, readBytes } from './helpers/fixtures';
import { expectForwardMatches, expectGradsMatch, officialModel } from './helpers/parity';

const cases = maeCases();

it(`finds MAE fixture cases in ${FIXTURES_DIR}`, () => {
  expect(cases.length).toBeGreaterThan(0);
});

describeBackends(['cpu', 'wasm'], (backend) => {
  for (const c of cases) {
    describe(c.name, () => {
      let ref: Record<string, tf.Tensor>;
      let model: MaskedAutoencoder;
      const tag = `${c.name} [${backend}]`;

      beforeAll(() => {
        ref = readSafetensors(readBytes(c.safetensors));
        model = officialModel(c, ref);
      });
      afterAll(() => {
        model.dispose();
        tf.dispose(Object.values(ref));
      });

      it(`${tag} forward`, () => expectForwardMatches(model, ref));

      it(`${tag} patchify and targets`, async () => {
        const p = model.config.patchSize;
        const patches = patchify(ref['input.imgs_nhwc'], p);
        const target = patchTargets(ref['input.imgs_nhwc'], p, { normPixLoss: model.config.normPixLoss });
        try {
          expect(Array.from(await patches.data())).toEqual(Array.from(await ref['out.patchified'].data()));
          await expectTensorsClose(target, ref['out.target'], { atol: 1e-5, name: 'target' });
        } finally {
          tf.dispose([patches, target]);
        }
      });

      it(`${tag} grads`, () => expectGradsMatch(model, ref));

      it(`${tag} no tensor leak in forward + backward`, async () => {
        const imgs = ref['input.imgs_nhwc'];
        const noise = ref['input.noise'];
        await expectNoLeaks(() => {
          const { value, grads } = tf.variableGrads(() => model.loss(imgs, { noise }));
          tf.dispose([value, ...Object.values(grads)]);
        }, `${tag} forward + backward`);
      });

      if (c.hf) {
        const hfFile = c.hf;
        it(`${tag} HF names`, async () => {
          const hf = readSafetensors(readBytes(hfFile));
          const m = modelFor(c);
          try {
            m.loadStateDict(hf, { naming: 'hf' });
            const loss = m.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
            await expectTensorsClose(loss, ref['out.loss'], { atol: 1e-5, name: 'loss (HF weights)' });
            loss.dispose();
          } finally {
            m.dispose();
            tf.dispose(Object.values(hf));
          }
        });
      }
    });
  }
}, { describe, beforeAll });
