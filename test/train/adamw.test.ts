import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers the gradients used by tf.variableGrads in Node
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, MAEConfigError, MAEInputError } from '../../src/errors';
import { AdamW, FLAT_RUN_MAX_VALUES } from '../../src/train/adamw';
import type { NamedParam } from '../../src/train/types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Variables created by a test, disposed after it. */
const owned: tf.Variable[] = [];
afterEach(() => {
  tf.dispose(owned.splice(0));
});

function param(name: string, values: number[], shape: number[] = [values.length]): NamedParam {
  const variable = tf.tidy(() => tf.variable(tf.tensor(values, shape), true));
  owned.push(variable);
  return { name, variable };
}

const values = async (p: NamedParam) => Array.from(await p.variable.data());

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol);
}

/** Float64 AdamW written straight from the torch 1.13 formulas, one parameter. */
function adamwFloat64(p0: number[], grads: number[][], lrs: number[], b1: number, b2: number, eps: number, wd: number) {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, i) => {
    const t = i + 1;
    const lr = lrs[i];
    for (let j = 0; j < p.length; j++) {
      p[j] *= 1 - lr * wd;
      m[j] = b1 * m[j] + (1 - b1) * g[j];
      v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
      const denom = Math.sqrt(v[j]) / Math.sqrt(1 - b2 ** t) + eps;
      p[j] -= (lr / (1 - b1 ** t)) * (m[j] / denom);
    }
  });
  return p;
}

describe('AdamW numerics', () => {
  it('matches float64 AdamW over 5 steps with the torch defaults', async () => {
    const p = param('w', [1, -2, 0.5, 3e-3]);
    const grads = [
      [0.3, -0.1, 2, 1e-4],
      [-0.2, -0.1, 1.5, -1e-4],
      [0.05, 0.4, -3, 0],
      [0.1, 0.1, 0.1, 0.1],
      [1, -1, 0.001, 2],
    ];
    const opt = new AdamW([{ params: [p] }]);
    expect([opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay]).toEqual([1e-3, 0.9, 0.999, 1e-8, 0.01]);
    for (const g of grads) {
      const gt = tf.tensor(g);
      opt.step({ w: gt });
      gt.dispose();
    }
    const want = adamwFloat64([1, -2, 0.5, 3e-3], grads, grads.map(() => 1e-3), 0.9, 0.999, 1e-8, 0.01);
    // float32 state: the error is a few ulps of the values (1e-7 relative)
    expectClose(await values(p), want, 1e-6);
    expect(opt.steps).toBe(5);
    opt.dispose();
  });

  it('first step moves every coordinate by ~lr·sign(g) after the decay', async () => {
    const p = param('w', [2, -2, 1]);
    const opt = new AdamW([{ params: [p], weightDecay: 0.1 }], { lr: 0.01 });
    const g = tf.tensor([5, -0.001, 1e3]);
    opt.step({ w: g });
    g.dispose();
    // m̂ = g, v̂ = g², so the Adam step is lr·g/(|g| + eps)
    const decay = 1 - 0.01 * 0.1;
    expectClose(await values(p), [2 * decay - 0.01, -2 * decay + 0.01 * (0.001 / (0.001 + 1e-8)), decay - 0.01], 1e-6);
    opt.dispose();
  });

  /*
   * Reference table from torch 1.13 (Debian python3-torch 1.13.0a0), torch.optim.AdamW:
   *
   *   A = torch.nn.Parameter(torch.tensor([[0.5, -1.0, 2.0], [0.25, 0.0, -0.75]]))
   *   B = torch.nn.Parameter(torch.tensor([0.1, -0.2, 0.3]))
   *   C = torch.nn.Parameter(torch.tensor([[[1.5, -2.5]]]))
   *   scale = [1.0, 0.25]
   *   opt = torch.optim.AdamW([
   *       {'params': [A], 'weight_decay': 0.05},
   *       {'params': [B, C], 'weight_decay': 0.2},
   *   ], betas=(0.9, 0.95), eps=1e-8)
   *   grads = [  # = GRADS below; C has no gradient at step 2
   *       {'A': [[0.1, -0.2, 0.3], [-0.4, 0.5, -0.6]], 'B': [1.0, -1.0, 0.5], 'C': [[[0.01, -0.02]]]},
   *       {'A': [[-0.3, 0.1, 0.0], [0.2, -0.1, 0.4]], 'B': [0.5, 0.25, -2.0]},
   *       {'A': [[0.05, 0.05, -0.05], [1.0, -1.0, 0.001]], 'B': [-0.1, 0.2, 0.3], 'C': [[[0.3, 0.4]]]},
   *   ]
   *   lrs = [1e-2, 5e-3, 2e-2]
   *   for t, (g, lr) in enumerate(zip(grads, lrs)):
   *       for name, p in (('A', A), ('B', B), ('C', C)):
   *           p.grad = torch.tensor(g[name]) if name in g else None
   *       for group, s in zip(opt.param_groups, scale):
   *           group['lr'] = lr * s          # as the official util/lr_sched.py
   *       opt.step()
   *       for name, p in (('A', A), ('B', B), ('C', C)):
   *           print(t + 1, name, [float(x) for x in p.detach().flatten()])
   */
  const GRADS: Record<string, number[]>[] = [
    { A: [0.1, -0.2, 0.3, -0.4, 0.5, -0.6], B: [1.0, -1.0, 0.5], C: [0.01, -0.02] },
    { A: [-0.3, 0.1, 0.0, 0.2, -0.1, 0.4], B: [0.5, 0.25, -2.0] },
    { A: [0.05, 0.05, -0.05, 1.0, -1.0, 0.001], B: [-0.1, 0.2, 0.3], C: [0.3, 0.4] },
  ];
  const LRS = [1e-2, 5e-3, 2e-2];
  const TORCH: Record<string, number[]>[] = [
    {
      A: [0.4897499978542328, -0.9894999861717224, 1.9889999628067017, 0.25987499952316284, -0.010000000707805157, -0.7396249771118164],
      B: [0.09745000302791595, -0.19740000367164612, 0.2973500192165375],
      C: [1.496749997138977, -2.4962499141693115],
    },
    {
      A: [0.49207404255867004, -0.987910807132721, 1.9851094484329224, 0.26115188002586365, -0.012582819908857346, -0.7387139797210693],
      B: [0.09625152498483658, -0.19675719738006592, 0.29796743392944336],
      C: [1.496749997138977, -2.4962499141693115],
    },
    {
      A: [0.4971441626548767, -0.9856725931167603, 1.9748104810714722, 0.2510785460472107, -0.004887628834694624, -0.7357191443443298],
      B: [0.09278456121683121, -0.19536186754703522, 0.29935139417648315],
      C: [1.491470217704773, -2.4972589015960693],
    },
  ];

  function torchCase() {
    const A = param('A', [0.5, -1.0, 2.0, 0.25, 0.0, -0.75], [2, 3]);
    const B = param('B', [0.1, -0.2, 0.3]);
    const C = param('C', [1.5, -2.5], [1, 1, 2]);
    const shapes: Record<string, number[]> = { A: [2, 3], B: [3], C: [1, 1, 2] };
    const opt = new AdamW(
      [
        { params: [A], weightDecay: 0.05 },
        { params: [B, C], weightDecay: 0.2, lrScale: 0.25 },
      ],
      { betas: [0.9, 0.95], eps: 1e-8 },
    );
    const step = (t: number) => {
      const grads = new Map(Object.entries(GRADS[t]).map(([k, g]) => [k, tf.tensor(g, shapes[k])]));
      opt.step(grads, LRS[t]);
      tf.dispose([...grads.values()]);
    };
    return { A, B, C, opt, step };
  }

  it('matches torch.optim.AdamW: 3 steps, 2 groups (wd 0.05 / 0.2, lrScale 1 / 0.25), a missing gradient', async () => {
    const { A, B, C, opt, step } = torchCase();
    for (let t = 0; t < 3; t++) {
      step(t);
      expectClose(await values(A), TORCH[t].A, 2e-7);
      expectClose(await values(B), TORCH[t].B, 2e-7);
      expectClose(await values(C), TORCH[t].C, 2e-7);
    }
    // C skipped step 2 entirely (no decay either), and counts its own steps as torch does
    const state = await opt.getState();
    expect(state.step).toBe(3);
    expect([state.params.A.step, state.params.B.step, state.params.C.step]).toEqual([3, 3, 2]);
    opt.dispose();
  });

  it('resumes from getState/setState bit for bit', async () => {
    const run = torchCase();
    run.step(0);
    run.step(1);
    const state = await run.opt.getState();
    const saved = await Promise.all([run.A, run.B, run.C].map(values));
    run.step(2);
    const uninterrupted = await Promise.all([run.A, run.B, run.C].map(values));
    run.opt.dispose();

    const resumed = torchCase();
    [resumed.A, resumed.B, resumed.C].forEach((p, i) => tf.tidy(() => p.variable.assign(tf.tensor(saved[i], p.variable.shape))));
    resumed.opt.setState(state);
    expect(resumed.opt.steps).toBe(2);
    resumed.step(2);
    expect(await Promise.all([resumed.A, resumed.B, resumed.C].map(values))).toEqual(uninterrupted);
    resumed.opt.dispose();
  });
});

describe('AdamW with tf.variableGrads', () => {
  it('accepts gradients keyed by variable name, same result as by parameter name', async () => {
    const loss = (p: NamedParam) => () => tf.sum(tf.square(tf.sub(p.variable, tf.tensor([1, 2, 3])))) as tf.Scalar;
    const a = param('blocks.0.mlp.fc1.bias', [0, 0, 0]);
    const b = param('blocks.0.mlp.fc1.bias', [0, 0, 0]);
    const optA = new AdamW([{ params: [a] }], { lr: 0.1 });
    const optB = new AdamW([{ params: [b] }], { lr: 0.1 });
    for (let i = 0; i < 3; i++) {
      const ga = tf.variableGrads(loss(a), optA.variables);
      expect(Object.keys(ga.grads)).toEqual([a.variable.name]);
      optA.step(ga.grads);
      const gb = tf.variableGrads(loss(b), optB.variables);
      optB.step({ 'blocks.0.mlp.fc1.bias': gb.grads[b.variable.name] });
      tf.dispose([ga.value, gb.value, ...Object.values(ga.grads), ...Object.values(gb.grads)]);
    }
    expect(await values(a)).toEqual(await values(b));
    expect((await values(a))[2]).toBeGreaterThan(0.25); // moved towards the target
    optA.dispose();
    optB.dispose();
  });
});

describe('AdamW flat groups', () => {
  it('a group updated as one flat vector gives, bit for bit, what parameter-by-parameter updates give', async () => {
    const shapes: Record<string, number[]> = { p: [2, 32], q: [16], r: [3, 16] }; // rows of 16
    const init = (name: string) => Array.from({ length: tf.util.sizeFromShape(shapes[name]) }, (_, i) => (i + 1) * (name.charCodeAt(0) - 110) * 0.3);
    const make = (suffix: string) => Object.keys(shapes).map((n) => param(`${n}${suffix}`, init(n), shapes[n]));
    const flat = make('');
    const single = make('');
    const a = new AdamW([{ params: flat, weightDecay: 0.05 }], { lr: 0.01, betas: [0.9, 0.95] });
    const b = new AdamW(single.map((x) => ({ params: [x], weightDecay: 0.05 })), { lr: 0.01, betas: [0.9, 0.95] });
    const gradsOf = (t: number, skip?: string) =>
      Object.fromEntries(Object.keys(shapes).filter((n) => n !== skip).map((n) => [n, tf.tensor(init(n).map((x, i) => Math.sin(x * t + i)), shapes[n])]));
    // full steps (flat), a step without q (back to per-parameter moments), full steps again (flat again)
    const base = tf.memory().numTensors;
    for (const [t, skip] of [[1], [2], [3, 'q'], [4], [5]] as [number, string?][]) {
      const g = gradsOf(t, skip);
      a.step(g);
      b.step(g);
      tf.dispose(Object.values(g));
      // a: flat m, v + 3 row indices; b: 3 one-parameter groups, each flat: 3 × (m, v, indices)
      if (t === 2) expect(tf.memory().numTensors).toBe(base + 5 + 9);
    }
    for (let i = 0; i < flat.length; i++) expect(await values(flat[i])).toEqual(await values(single[i]));
    expect(await a.getState()).toEqual(await b.getState());
    expect((await a.getState()).params.q.step).toBe(4);
    a.dispose();
    b.dispose();
  });
  it('on wasm, a 1-D parameter updated in a flat group is still a valid fused matMul bias', async () => {
    // wasm keeps a shape per buffer; a reshaped row block would have the rows' rank
    await tf.setBackend('wasm');
    try {
      const w = param('w', Array.from({ length: 32 }, (_, i) => i / 32), [2, 16]);
      const b = param('b', Array.from({ length: 16 }, (_, i) => i));
      const opt = new AdamW([{ params: [w, b] }], { lr: 0.1 });
      const g = { w: tf.ones([2, 16]), b: tf.ones([16]) };
      opt.step(g);
      const a = tf.ones([1, 2]);
      const y = tf.fused.matMul({ a, b: w.variable, bias: b.variable });
      const [wv, bv] = [await values(w), await values(b)];
      expect((await y.data())[1]).toBeCloseTo(wv[1] + wv[17] + bv[1], 5); // ≈ (18/32 + 1)·(1 − lr·wd) − 3·lr
      expect(bv[1]).toBeCloseTo(1 * (1 - 0.1 * 0.01) - 0.1, 5);
      tf.dispose([a, y, ...Object.values(g)]);
      opt.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});

describe('AdamW memory', () => {
  it('the tests above leaked nothing (only their variables, now disposed)', () => {
    expect(tf.memory().numTensors).toBe(0);
  });

  it('allocates m and v once, then keeps tf.memory().numTensors constant; dispose frees them', () => {
    // sizes 32 and 16: the group updates as one flat vector cut into rows of 16
    const p = param('p', Array.from({ length: 32 }, (_, i) => i), [2, 16]);
    const q = param('q', Array.from({ length: 16 }, (_, i) => -i));
    const g = { p: tf.ones([2, 16]), q: tf.ones([16]) };
    const base = tf.memory().numTensors;
    const opt = new AdamW([{ params: [p, q] }]);
    expect(tf.memory().numTensors).toBe(base);
    opt.step(g);
    expect(tf.memory().numTensors).toBe(base + 4); // the group's flat m and v, and each parameter's row indices
    for (let i = 0; i < 3; i++) opt.step(g, 1e-2);
    expect(tf.memory().numTensors).toBe(base + 4);
    opt.step({ p: g.p }); // a partial step: the moments move to the parameters
    expect(tf.memory().numTensors).toBe(base + 4); // m and v of p and of q
    opt.dispose();
    expect(tf.memory().numTensors).toBe(base);
    tf.dispose(Object.values(g));
  });

  it('a large group updates in runs of FLAT_RUN_MAX_VALUES: the peak of a step stays a few runs, not a few groups', async () => {
    // 8 parameters of 2^21 values = 4 runs. One flat vector for the whole group held about
    // 9 group-sized vectors at its peak (36 runs here) and overflowed wasm's heap on ViT-B
    // (112 M parameters) at batch 16. On wasm: the cpu backend takes seconds per pass here.
    await tf.setBackend('wasm');
    try {
      const n = FLAT_RUN_MAX_VALUES / 2;
      const ps = Array.from({ length: 8 }, (_, i) => {
        const variable = tf.tidy(() => tf.variable(tf.fill([n], i + 1), true));
        owned.push(variable);
        return { name: `p${i}`, variable };
      });
      const opt = new AdamW([{ params: ps, weightDecay: 0.05 }], { lr: 0.01 });
      const g = Object.fromEntries(ps.map((p, i) => [p.name, tf.fill([n], 0.5 - i)]));
      opt.step(g); // moments allocated
      const base = tf.memory().numBytes;
      const { peakBytes } = await tf.profile(() => opt.step(g));
      expect((peakBytes - base) / (4 * FLAT_RUN_MAX_VALUES)).toBeLessThanOrEqual(12); // runs' worth of bytes
      expect(tf.memory().numBytes).toBe(base);
      const [first, last] = [await ps[0].variable.data(), await ps[7].variable.data()];
      expect(first[0]).toBe(first[n - 1]);
      expect(last[n - 1]).toBeCloseTo(8 * (1 - 0.01 * 0.05) ** 2 + 2 * 0.01, 4); // gradient < 0: each step adds lr
      opt.dispose();
      tf.dispose(Object.values(g));
    } finally {
      tf.dispose(owned.splice(0));
      await tf.setBackend('cpu');
    }
  });

  it('moments created inside a caller\'s tf.tidy survive it', async () => {
    const p = param('p', [1, 2]);
    const opt = new AdamW([{ params: [p] }], { lr: 0.1, weightDecay: 0 });
    tf.tidy(() => opt.step({ p: tf.ones([2]) }));
    tf.tidy(() => opt.step({ p: tf.ones([2]) }));
    const { params } = await opt.getState();
    expectClose(params.p.m, [0.19, 0.19], 1e-7); // 0.9·0.1 + 0.1
    expectClose(await values(p), [0.8, 1.8], 1e-6); // two steps of lr·m̂/√v̂ = 0.1
    opt.dispose();
  });

  it('getState/setState/error paths leak nothing', async () => {
    const p = param('p', [1, 2]);
    const g = tf.ones([2]);
    const bad = tf.ones([3]);
    const opt = new AdamW([{ params: [p] }]);
    opt.step({ p: g });
    const base = tf.memory().numTensors;
    const state = await opt.getState();
    opt.setState(state);
    expect(() => opt.step({ p: bad })).toThrow(MAEInputError);
    expect(() => opt.setState({ step: 1, params: { p: { ...state.params.p, shape: [3] } } })).toThrow(CheckpointError);
    expect(tf.memory().numTensors).toBe(base);
    tf.dispose([g, bad]);
    opt.dispose();
  });
});

describe('AdamW validation', () => {
  it('rejects bad options with typed errors naming the argument', () => {
    const p = param('p', [1]);
    expect(() => new AdamW([{ params: [p] }], { betas: [0.9, 1] })).toThrow(/AdamW betas: expected/);
    expect(() => new AdamW([{ params: [p] }], { lr: -1 })).toThrow(MAEConfigError);
    expect(() => new AdamW([{ params: [p] }], { eps: Number.NaN })).toThrow(/AdamW eps/);
    expect(() => new AdamW([{ params: [p], lrScale: -0.5 }])).toThrow(/groups\[0\]\.lrScale/);
    expect(() => new AdamW([{ params: [p] }, { params: [p] }])).toThrow(/each variable once/);
    expect(() => new AdamW([{ params: [p, { name: 'p', variable: param('x', [0]).variable }] }])).toThrow(/unique names/);
    const notVariable = tf.zeros([1]) as unknown as tf.Variable;
    expect(() => new AdamW([{ params: [{ name: 'x', variable: notVariable }] }])).toThrow(MAEConfigError);
    notVariable.dispose();
  });

  it('checks every gradient before updating anything', async () => {
    const p = param('p', [1, 2]);
    const q = param('q', [3]);
    const opt = new AdamW([{ params: [p, q] }]);
    const gp = tf.ones([2]);
    const gq = tf.ones([2]);
    expect(() => opt.step({ p: gp, nope: gq })).toThrow(/unknown "nope"/);
    expect(() => opt.step({ p: gp, q: gq })).toThrow(/grads\["q"\]: expected shape \[1\], got \[2\]/);
    expect(() => opt.step({ p: gp, [p.variable.name]: gp })).toThrow(/two for "p"/);
    expect(() => opt.step({ p: gp }, Number.NaN)).toThrow(/AdamW.step lr/);
    expect(() => opt.step({ p: [1, 2] as unknown as tf.Tensor })).toThrow(/expected a tf.Tensor/);
    expect(await values(p)).toEqual([1, 2]);
    expect(opt.steps).toBe(0);
    tf.dispose([gp, gq]);
    opt.dispose();
    expect(() => opt.step({})).toThrow(/after dispose/);
  });

  it('rejects a state that does not match the parameters', async () => {
    const p = param('p', [1, 2]);
    const opt = new AdamW([{ params: [p] }]);
    const m = new Float32Array(2);
    expect(() => opt.setState({ step: 1, params: { q: { step: 1, shape: [2], m, v: m } } })).toThrow(/params\["q"\]: expected a parameter/);
    expect(() => opt.setState({ step: 1, params: { p: { step: 1, shape: [2], m: new Float32Array(3), v: m } } })).toThrow(
      /params\["p"\]\.m: expected a Float32Array of 2 values, got 3/,
    );
    expect(() => opt.setState({ step: -1, params: {} })).toThrow(CheckpointError);
    opt.dispose();
  });
});
