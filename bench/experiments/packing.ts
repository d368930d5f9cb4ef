/**
 * Experiment: how much of the training step's matrix-product time is
 * XNNPACK packing its right-hand operand (serial: done when tfjs-wasm
 * creates the operator, which it does for every new right-hand tensor, so
 * every product of a training step pays it) against the product itself
 * (parallel on the thread pool). Takes the 2-D product shapes of one
 * profiled small64 `mae` step, then times each at 1 and 2 threads with a
 * fresh right-hand operand (as in training) and with a reused one (operator
 * cached: no packing), keeping per-shape minima (robust to a shared machine).
 *
 *   npx tsx bench/experiments/packing.ts [config] [reps]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { useWasmThreads } from '../../src/node/wasmThreads';
import { BATCH, CONFIGS, MASK_RATIO, isConfigName } from '../configs';
import { buildMae } from '../models';
import { images, maeOptimizer, now, trainStep } from '../step';

type Shape = { a: [number, number]; b: [number, number]; calls: number };

async function productShapes(name: keyof typeof CONFIGS): Promise<Shape[]> {
  const cfg = CONFIGS[name];
  const mae = buildMae(cfg, MASK_RATIO);
  const opt = maeOptimizer(mae);
  const imgs = images(cfg, BATCH[name]);
  try {
    const run = async () => {
      const loss = trainStep(mae, opt, imgs);
      await loss.data();
      loss.dispose();
    };
    await run();
    const info = await tf.profile(run);
    const shapes = new Map<string, Shape>();
    for (const k of info.kernels) {
      if (k.name !== 'BatchMatMul' && k.name !== '_FusedMatMul') continue;
      const [a, b] = k.inputShapes as number[][];
      // 2-D products arrive as [1, M, K]·[1, K, N]
      const s = { a: [a[a.length - 2], a[a.length - 1]] as [number, number], b: [b[b.length - 2], b[b.length - 1]] as [number, number], calls: 0 };
      const key = JSON.stringify([s.a, s.b]);
      const row = shapes.get(key) ?? s;
      row.calls += 1;
      shapes.set(key, row);
    }
    return [...shapes.values()];
  } finally {
    opt.dispose();
    mae.dispose();
    imgs.dispose();
  }
}

/** Minimum ms of `a·b` over `reps`, with a fresh `b` per run or one reused `b`. */
async function timeProduct(s: Shape, reps: number, fresh: boolean): Promise<number> {
  const a = tf.randomUniform(s.a);
  const fixed = tf.randomUniform(s.b);
  let best = Infinity;
  for (let i = 0; i < reps + 1; i++) {
    const b = fresh ? tf.randomUniform(s.b) : fixed;
    await b.data();
    const t0 = now();
    const c = tf.matMul(a, b);
    await c.data();
    const ms = (now() - t0) * 1000;
    if (i > 0) best = Math.min(best, ms); // the first run creates the cached operator
    c.dispose();
    if (fresh) b.dispose();
  }
  tf.dispose([a, fixed]);
  return best;
}

async function main() {
  const [name = 'small64', repsArg = '7'] = process.argv.slice(2).filter((x) => x !== '--');
  if (!isConfigName(name)) throw new Error(`unknown config ${name}`);
  const reps = Number(repsArg);
  await useWasmThreads(1);
  const shapes = await productShapes(name);
  const res = new Map<number, { fresh: number[]; cached: number[] }>();
  for (const threads of [1, 2, 1, 2]) {
    const setup = await useWasmThreads(threads, { warn: () => undefined });
    if (setup.threads !== threads) throw new Error(`wasm runs ${setup.threads} thread(s)`);
    const prev = res.get(threads);
    const fresh: number[] = [];
    const cached: number[] = [];
    for (const [i, s] of shapes.entries()) {
      fresh.push(Math.min(prev?.fresh[i] ?? Infinity, await timeProduct(s, reps, true)));
      cached.push(Math.min(prev?.cached[i] ?? Infinity, await timeProduct(s, reps, false)));
    }
    res.set(threads, { fresh, cached });
    process.stderr.write(`${threads} thread(s) done\n`);
  }
  const total = (t: number, k: 'fresh' | 'cached') => shapes.reduce((sum, s, i) => sum + s.calls * res.get(t)![k][i], 0);
  process.stdout.write(`${name}: ${shapes.reduce((x, s) => x + s.calls, 0)} 2-D products per step, ${shapes.length} shapes; per-shape minima over ${2 * reps} runs\n`);
  process.stdout.write('  [M, K]·[K, N]        calls  fresh@1  cached@1  fresh@2  cached@2 (ms)\n');
  for (const [i, s] of shapes.entries()) {
    const f = (t: number, k: 'fresh' | 'cached') => res.get(t)![k][i].toFixed(2).padStart(8);
    process.stdout.write(`  [${s.a}]·[${s.b}]`.padEnd(24) + `${String(s.calls).padStart(4)} ${f(1, 'fresh')} ${f(1, 'cached')} ${f(2, 'fresh')} ${f(2, 'cached')}\n`);
  }
  const [f1, c1, f2, c2] = [total(1, 'fresh'), total(1, 'cached'), total(2, 'fresh'), total(2, 'cached')];
  process.stdout.write(`per step: fresh ${f1.toFixed(1)} → ${f2.toFixed(1)} ms (${(f1 / f2).toFixed(2)}×), cached ${c1.toFixed(1)} → ${c2.toFixed(1)} ms (${(c1 / c2).toFixed(2)}×)\n`);
  process.stdout.write(`packing (fresh − cached): ${(f1 - c1).toFixed(1)} ms at 1 thread, ${(f2 - c2).toFixed(1)} ms at 2\n`);
  tf.removeBackend('wasm');
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
