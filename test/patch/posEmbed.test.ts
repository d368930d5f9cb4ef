/** The sin-cos tables and bicubic resampling against the official `util/pos_embed.py` outputs. */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interpolatePosEmbed, sincosPosEmbed2d, MAEConfigError } from '../../src';
import { bicubicMatrix } from '../../src/patch/posEmbed';
import { describeBackends, expectNoLeaks, expectTensorsClose, readFixture } from '../../src/testing';
import { FIXTURES_DIR } from '../helpers/fixtures';

describeBackends(['cpu', 'wasm'], (backend) => {
  let ref: Record<string, tf.Tensor>;
  beforeAll(async () => {
    ref = await readFixture(`${FIXTURES_DIR}/pos_embed.safetensors`);
  });
  afterAll(() => tf.dispose(Object.values(ref)));

  for (const [dim, grid] of [[64, 4], [48, 6], [32, 3], [1024, 14], [768, 14]]) {
    it(`sincos ${dim}x${grid} [${backend}] matches the official float32 table (≤ 1e-6)`, async () => {
      const table = sincosPosEmbed2d(dim, grid, grid, { clsToken: true });
      await expectTensorsClose(table, ref[`sincos.${dim}x${grid}`], { atol: 1e-6, name: `sincos.${dim}x${grid}` });
      table.dispose();
    });
  }

  it(`sincos without cls row [${backend}] is the official table minus row 0`, async () => {
    const table = sincosPosEmbed2d(64, 4, 4);
    const official = tf.slice(ref['sincos.64x4'], [1, 0], [16, 64]);
    await expectTensorsClose(table, official, { atol: 1e-6 });
    tf.dispose([table, official]);
  });

  for (const size of [6, 3]) {
    it(`interpolate 4x4 → ${size}x${size} [${backend}] matches torch bicubic (≤ 1e-5)`, async () => {
      const out = await expectNoLeaks(async () => {
        const r = interpolatePosEmbed(ref['interp.in'], [4, 4], [size, size]);
        const data = await r.data();
        const shape = r.shape;
        r.dispose();
        return { data, shape };
      });
      expect(out.shape).toEqual([1, 1 + size * size, 64]);
      await expectTensorsClose(out.data, ref[`interp.out${size}`], { atol: 1e-5, name: `interp.out${size}` });
    });
  }
}, { describe, beforeAll });

describe('position tables, without a backend matrix', () => {
  it('the first half of the channels encodes the column index (official channel order)', async () => {
    // grid 1×2: the two patches differ only in the column j, so only the first half differs.
    const t = await sincosPosEmbed2d(8, 1, 2).array();
    expect(t[0].slice(4)).toEqual(t[1].slice(4));
    expect(t[0].slice(0, 4)).not.toEqual(t[1].slice(0, 4));
    expect(t[0]).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
  });

  it('rectangular grids: row r = i·gridW + j', async () => {
    const t = await sincosPosEmbed2d(8, 2, 3).array();
    expect(t.length).toBe(6);
    // patch (i=1, j=2): column half from j=2, row half from i=1
    expect(t[5][0]).toBeCloseTo(Math.sin(2), 6);
    expect(t[5][4]).toBeCloseTo(Math.sin(1), 6);
  });

  it('bicubic rows sum to 1 (weights are a partition of unity) and identity when sizes match', () => {
    for (const [i, o] of [[4, 6], [4, 3], [14, 16], [7, 7]]) {
      const m = bicubicMatrix(i, o);
      for (let r = 0; r < o; r++) {
        let s = 0;
        for (let c = 0; c < i; c++) s += m[r * i + c];
        expect(s).toBeCloseTo(1, 6);
      }
    }
    const id = bicubicMatrix(5, 5);
    for (let r = 0; r < 5; r++) for (let c = 0; c < 5; c++) expect(id[r * 5 + c]).toBeCloseTo(r === c ? 1 : 0, 7);
  });

  it('rejects a dim not divisible by 4 and a table of the wrong size', () => {
    expect(() => sincosPosEmbed2d(30, 2, 2)).toThrow(MAEConfigError);
    expect(() => sincosPosEmbed2d(30, 2, 2)).toThrow(/dim must be divisible by 4/);
    const t = tf.zeros([1, 10, 8]);
    expect(() => interpolatePosEmbed(t, [4, 4], [2, 2])).toThrow(/posEmbed has 10 rows, expected 16 or 17/);
    t.dispose();
  });
});
