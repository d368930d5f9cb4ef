/**
 * Parity with the official PyTorch MAE: every `<case>.json` + `<case>.safetensors`
 * in MAE_FIXTURES_DIR (default test/fixtures), on cpu and wasm. Tolerances
 * from the fixtures' README: exact masks/ids/patchify; latent and pred ≤ 2e-5;
 * target and loss ≤ 1e-5; every gradient ≤ 1e-5 × max|ref| (+1e-9). The
 * gradients and the leak check run with and without `recompute`.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, afterAll, describe, expect, it } from 'vitest';
import { MaskedAutoencoder, officialGradients, patchify, patchTargets, readSafetensors } from '../src';
import { describeBackends, expectTensorsClose, expectNoLeaks } from '../src/testing';
import { FIXTURES_DIR, maeCases, modelFor, readBytes } from './helpers/fixtures';

const cases = maeCases();

it(`finds MAE fixture cases in ${FIXTURES_DIR}`, () => {
  expect(cases.length).toBeGreaterThan(0);
});

describeBackends(['cpu', 'wasm'], (backend) => {
  for (const c of cases) {
    describe(c.name, () => {
      let ref: Record<string, tf.Tensor>;
      let model: MaskedAutoencoder;
      let params: Record<string, tf.Tensor>;
      const tag = `${c.name} [${backend}]`;

      beforeAll(() => {
        ref = readSafetensors(readBytes(c.safetensors));
        params = Object.fromEntries(
          Object.entries(ref).filter(([k]) => k.startsWith('param.')).map(([k, v]) => [k.slice('param.'.length), v]),
        );
        model = modelFor(c);
        model.loadStateDict(params, { naming: 'official' });
      });
      afterAll(() => {
        model.dispose();
        tf.dispose(Object.values(ref));
      });

      it(`${tag} forward`, async () => {
        const out = model.forward(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
        try {
          expect(out.idsKeep.shape[1]).toBe(ref['out.ids_keep'].shape[1]);
          expect(Array.from(await out.mask.data())).toEqual(Array.from(await ref['out.mask'].data()));
          expect(Array.from(await out.idsRestore.data())).toEqual(Array.from(await ref['out.ids_restore'].data()));
          expect(Array.from(await out.idsKeep.data())).toEqual(Array.from(await ref['out.ids_keep'].data()));
          await expectTensorsClose(out.latent, ref['out.latent'], { atol: 2e-5, name: 'latent' });
          await expectTensorsClose(out.pred, ref['out.pred'], { atol: 2e-5, name: 'pred' });
          await expectTensorsClose(out.loss, ref['out.loss'], { atol: 1e-5, name: 'loss' });
        } finally {
          tf.dispose(Object.values(out));
        }
      });

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

      for (const recompute of [false, true]) {
        const how = recompute ? ' (recompute)' : '';

        it(`${tag} grads${how}`, async () => {
          const { value, grads } = tf.variableGrads(() => model.loss(ref['input.imgs_nhwc'], { noise: ref['input.noise'], recompute }));
          const ours = officialGradients(model.stateEntries(), grads);
          try {
            await expectTensorsClose(value, ref['out.loss'], { atol: 1e-5, name: 'loss' });
            const expected = Object.keys(ref).filter((k) => k.startsWith('grad.')).map((k) => k.slice('grad.'.length));
            expect(Object.keys(ours).sort()).toEqual(expected.sort());
            for (const name of expected) {
              const r = ref[`grad.${name}`];
              const scale = (await tf.max(tf.abs(r)).data())[0];
              await expectTensorsClose(ours[name], r, { atol: 1e-5 * scale + 1e-9, name: `grad.${name}` });
            }
          } finally {
            tf.dispose([value, ...Object.values(grads), ...Object.values(ours)]);
          }
        });

        it(`${tag} no tensor leak in forward + backward${how}`, async () => {
          const imgs = ref['input.imgs_nhwc'];
          const noise = ref['input.noise'];
          await expectNoLeaks(() => {
            const { value, grads } = tf.variableGrads(() => model.loss(imgs, { noise, recompute }));
            tf.dispose([value, ...Object.values(grads)]);
          }, `${tag} forward + backward${how}`);
        });
      }

      it(`${tag} grads of a model built with recompute: true, through forward(...).loss`, async () => {
        const m = modelFor(c, { recompute: true });
        try {
          m.loadStateDict(params, { naming: 'official' });
          expect(m.getConfig().recompute).toBe(true);
          const { value, grads } = tf.variableGrads(() => {
            const out = m.forward(ref['input.imgs_nhwc'], { noise: ref['input.noise'] });
            tf.dispose(Object.values(out).filter((t) => t !== out.loss));
            return out.loss;
          });
          const ours = officialGradients(m.stateEntries(), grads);
          try {
            await expectTensorsClose(value, ref['out.loss'], { atol: 1e-5, name: 'loss' });
            for (const name of Object.keys(ours)) {
              const r = ref[`grad.${name}`];
              const scale = (await tf.max(tf.abs(r)).data())[0];
              await expectTensorsClose(ours[name], r, { atol: 1e-5 * scale + 1e-9, name: `grad.${name}` });
            }
          } finally {
            tf.dispose([value, ...Object.values(grads), ...Object.values(ours)]);
          }
        } finally {
          m.dispose();
        }
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
