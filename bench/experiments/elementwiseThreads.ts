/**
 * Experiment: which element-wise forms run on wasm's thread pool (issue 15).
 * tfjs-wasm 4.22 sends Multiply/Add/Sub/RealDiv to XNNPACK's binary operator,
 * which merges the dimensions its two operands share and parallelises over
 * the outer ones only, so a same-shape or scalar operation is one task on one
 * thread; a broadcast over rows is split across the pool. Times each form on
 * AdamW's flat vector (small64: 12 410 880 values) at 1 and 2 threads,
 * alternating in one process; per form the minimum of all calls.
 *
 *   npx tsx bench/experiments/elementwiseThreads.ts [rounds] [callsPerRound]
 */
import * as tf from '@tensorflow/tfjs-core';
import { useWasmThreads } from '../../src/node/wasmThreads';

const N = 12_410_880;
const ROWS = 240;

/** Minimum wall time of `calls` calls of `f` (wasm kernels run synchronously). */
function fastest(f: () => tf.Tensor, calls: number): number {
  let best = Infinity;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const y = f();
    best = Math.min(best, performance.now() - t0);
    y.dispose();
  }
  return best;
}

async function main(): Promise<void> {
  const [rounds = 3, calls = 15] = process.argv.slice(2).map(Number);
  const best = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const threads of [1, 2]) {
      const setup = await useWasmThreads(threads, { warn: (s) => process.stderr.write(`${s}\n`) });
      if (setup.threads !== threads) throw new Error(`wasm runs ${setup.threads} thread(s), not ${threads}`);
      const x = tf.randomUniform([N], 0.1, 1);
      const y = tf.randomUniform([N], 0.1, 1);
      const x2 = tf.reshape(x, [ROWS, N / ROWS]);
      const s = tf.scalar(0.9);
      const column = tf.fill([ROWS, 1], 0.9);
      const row = tf.fill([1, N / ROWS], 0.9);
      const forms: Record<string, () => tf.Tensor> = {
        'mul(x, scalar)': () => tf.mul(x, s),
        'mul([R,C], [R,1])': () => tf.mul(x2, column),
        'mul([R,C], [1,C])': () => tf.mul(x2, row),
        'add(x, y)': () => tf.add(x, y),
        'div(x, y)': () => tf.div(x, y),
        'sqrt(x)': () => tf.sqrt(x),
        'sigmoid(x)': () => tf.sigmoid(x),
      };
      for (const [name, f] of Object.entries(forms)) {
        const key = `${name}|${threads}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, fastest(f, calls)));
      }
      tf.dispose([x, y, x2, s, column, row]);
    }
  }
  process.stdout.write(`flat vector of ${N} floats, minimum of ${rounds * calls} calls per form and thread count\n`);
  for (const key of [...best.keys()].filter((k) => k.endsWith('|1'))) {
    const name = key.slice(0, -2);
    const [one, two] = [best.get(key)!, best.get(`${name}|2`)!];
    process.stdout.write(`${name.padEnd(20)} 1 thread ${one.toFixed(1).padStart(6)} ms   2 threads ${two.toFixed(1).padStart(6)} ms   ${(one / two).toFixed(2)}×\n`);
  }
  tf.removeBackend('wasm');
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
