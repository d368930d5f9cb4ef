import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { describeBackends } from '../../src/testing';
import { MAEConfigError, MAEInputError } from '../../src/errors';
import { LARS } from '../../src/train/lars';

const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));

/** util/lars.py on plain arrays, in float64: one step of every parameter. */
function larsStep(p: number[], g: number[], mu: number[], is2d: boolean, o: { lr: number; wd: number; momentum: number; eta: number }) {
  let d = g.slice();
  if (is2d) {
    d = d.map((x, i) => x + o.wd * p[i]);
    const [pn, dn] = [norm(p), norm(d)];
    const q = pn > 0 && dn > 0 ? (o.eta * pn) / dn : 1;
    d = d.map((x) => x * q);
  }
  const muNew = mu.map((m, i) => o.momentum * m + d[i]);
  return { p: p.map((x, i) => x - o.lr * muNew[i]), mu: muNew };
}

describeBackends(['cpu', 'wasm'], () => {
  it('two steps match util/lars.py computed by hand: trust ratio and weight decay on the 2-D weight only, momentum on both', async () => {
    const w0 = [3, 0, 0, 4];
    const b0 = [1, -1];
    const gw = [0.6, 0.8, 0, 0];
    const gb = [0.5, 0.5];
    const w = tf.variable(tf.tensor2d(w0, [2, 2]));
    const b = tf.variable(tf.tensor1d(b0));
    const z = tf.variable(tf.zeros([2, 2]));
    const opt = new LARS([{ params: [{ name: 'w', variable: w }, { name: 'b', variable: b }], weightDecay: 0.1 }, { params: [{ name: 'z', variable: z }], lrScale: 0.5 }], { trustCoefficient: 0.001 });
    const grads = { w: tf.tensor2d(gw, [2, 2]), b: tf.tensor1d(gb), z: tf.tensor2d([1, 2, 3, 4], [2, 2]) };
    const before = tf.memory().numTensors;
    const hp = { lr: 0.3, wd: 0.1, momentum: 0.9, eta: 0.001 };
    let ew = { p: w0, mu: [0, 0, 0, 0] };
    let eb = { p: b0, mu: [0, 0] };
    let ez = { p: [0, 0, 0, 0], mu: [0, 0, 0, 0] };
    for (let s = 0; s < 2; s++) {
      opt.step(grads, 0.3);
      ew = larsStep(ew.p, gw, ew.mu, true, hp);
      eb = larsStep(eb.p, gb, eb.mu, false, hp);
      ez = larsStep(ez.p, [1, 2, 3, 4], ez.mu, true, { ...hp, lr: 0.15, wd: 0 }); // ‖p‖ = 0 at step 1: q = 1
    }
    expect(tf.memory().numTensors).toBe(before + 3); // the three momentum buffers
    const [wv, bv, zv] = await Promise.all([w.data(), b.data(), z.data()]);
    ew.p.forEach((v, i) => expect(wv[i]).toBeCloseTo(v, 6));
    eb.p.forEach((v, i) => expect(bv[i]).toBeCloseTo(v, 6));
    ez.p.forEach((v, i) => expect(zv[i]).toBeCloseTo(v, 6));
    // The first step of w by hand: g = G + 0.1·W = [.9, .8, 0, .4], q = 0.001·5/√1.61.
    const q = 0.005 / Math.sqrt(1.61);
    expect(larsStep(w0, gw, [0, 0, 0, 0], true, hp).p[0]).toBeCloseTo(3 - 0.3 * q * 0.9, 12);
    expect(opt.steps).toBe(2);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, b, z, ...Object.values(grads)]);
  });

  it('rejects unknown gradients, bad shapes and bad options, and works no more after dispose', () => {
    const w = tf.variable(tf.zeros([2, 2]));
    const g = tf.zeros([2, 2]);
    const g3 = tf.zeros([3]);
    const before = tf.memory().numTensors;
    const opt = new LARS([{ params: [{ name: 'w', variable: w }] }]);
    expect(() => opt.step({ v: g })).toThrow(/unknown "v"/);
    expect(() => opt.step({ w: g3 })).toThrow(MAEInputError);
    expect(() => opt.step({ w: g }, -1)).toThrow(/LARS.step lr/);
    expect(() => new LARS([{ params: [{ name: 'w', variable: w }] }], { momentum: -1 })).toThrow(MAEConfigError);
    opt.dispose();
    expect(() => opt.step({ w: g })).toThrow(/after dispose/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, g, g3]);
  });

  it('getState / setState: a fresh optimiser given the state continues exactly; a state of other parameters is refused', async () => {
    const make = () => ({ w: tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]])), b: tf.variable(tf.tensor1d([0.1, -0.2])) });
    const grads = (k: number) => ({ w: tf.tensor2d([[k, -2 * k], [0.5, k * k]]), b: tf.tensor1d([k, 1 - k]) });
    const a = make();
    const before = tf.memory().numTensors;
    const optA = new LARS([{ params: [{ name: 'w', variable: a.w }, { name: 'b', variable: a.b }], weightDecay: 0.1 }], { lr: 0.5 });
    for (const k of [1, 2]) {
      const g = grads(k);
      optA.step(g);
      tf.dispose(Object.values(g));
    }
    const state = await optA.getState();
    expect(state.step).toBe(2);
    expect(Object.keys(state.params).sort()).toEqual(['b', 'w']);
    expect(state.params.w.shape).toEqual([2, 2]);
    expect(state.params.w.v).toHaveLength(0);
    // B starts from A's weights and state.
    const b = tf.tidy(() => ({ w: tf.variable(tf.clone(a.w)), b: tf.variable(tf.clone(a.b)) }));
    const optB = new LARS([{ params: [{ name: 'w', variable: b.w }, { name: 'b', variable: b.b }], weightDecay: 0.1 }], { lr: 0.5 });
    optB.setState(state);
    expect(optB.steps).toBe(2);
    for (const k of [3, 4]) {
      const g = grads(k);
      optA.step(g);
      optB.step(g);
      tf.dispose(Object.values(g));
    }
    expect(Array.from(await b.w.data())).toEqual(Array.from(await a.w.data()));
    expect(Array.from(await b.b.data())).toEqual(Array.from(await a.b.data()));
    expect(() => optB.setState({ step: 1, params: { x: state.params.w } })).toThrow(/LARS.setState state.params\["x"\]: expected a parameter of the optimiser/);
    expect(() => optB.setState({ step: 1, params: { b: { ...state.params.b, m: new Float32Array(3) } } })).toThrow(/state.params\["b"\].m: expected the momentum buffer, a Float32Array of 2 values, got 3 values/);
    expect(() => optB.setState(null as never)).toThrow(/LARS.setState state: expected \{ step, params \}/);
    optA.dispose();
    optB.dispose();
    tf.dispose([b.w, b.b]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a.w, a.b]);
  });
}, { describe, beforeAll }, 'LARS');
