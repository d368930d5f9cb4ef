/**
 * Experiment: which kernels of the training step speed up with wasm threads,
 * measured on a shared machine. The step's kernel sequence is the same every
 * step, so each kernel call is profiled in several steps at 1 and at 2
 * threads (alternating rounds, one process) and its MINIMUM time is kept:
 * other processes only ever add time, and a sub-millisecond kernel often
 * runs undisturbed in at least one of the samples. Prints, per kernel name,
 * calls and summed minima at each thread count and their ratio, and the step
 * outside the kernels (JavaScript, GC: profiled wall − kernel time, minimum).
 * From those it solves t = serial + parallel/s for what stays serial.
 *
 *   npx tsx bench/experiments/threadScaling.ts [config] [rounds] [stepsPerRound]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { useWasmThreads } from '../../src/node/wasmThreads';
import { BATCH, CONFIGS, MASK_RATIO, isConfigName } from '../configs';
import { buildMae } from '../models';
import { images, maeOptimizer, now, trainStep } from '../step';

interface Sample {
  names: string[];
  ms: number[];
  wallMs: number;
}

async function profiledSteps(name: keyof typeof CONFIGS, steps: number): Promise<Sample[]> {
  const cfg = CONFIGS[name];
  const mae = buildMae(cfg, MASK_RATIO);
  const opt = maeOptimizer(mae);
  const imgs = images(cfg, BATCH[name]);
  const run = async () => {
    const loss = trainStep(mae, opt, imgs);
    await loss.data();
    loss.dispose();
  };
  const out: Sample[] = [];
  try {
    await run(); // warm-up: JIT, optimiser state
    const backend = tf.getBackend();
    for (let i = 0; i < steps; i++) {
      const t0 = now();
      const info = await tf.profile(run);
      const wallMs = (now() - t0) * 1000;
      const real = info.kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined);
      out.push({ names: real.map((k) => k.name), ms: real.map((k) => Number(k.kernelTimeMs)), wallMs });
    }
  } finally {
    opt.dispose();
    mae.dispose();
    imgs.dispose();
  }
  return out;
}

/** Per-call minima over samples (the kernel sequence must match), summed per kernel name. */
function minima(samples: Sample[]): { perName: Map<string, { calls: number; ms: number }>; kernelMs: number; outsideMs: number } {
  const first = samples[0];
  for (const s of samples) if (s.names.join() !== first.names.join()) throw new Error('the kernel sequence changed between steps');
  const perName = new Map<string, { calls: number; ms: number }>();
  let kernelMs = 0;
  first.names.forEach((n, i) => {
    const ms = Math.min(...samples.map((s) => s.ms[i]));
    const row = perName.get(n) ?? { calls: 0, ms: 0 };
    row.calls += 1;
    row.ms += ms;
    perName.set(n, row);
    kernelMs += ms;
  });
  const outsideMs = Math.min(...samples.map((s) => s.wallMs - s.ms.reduce((a, b) => a + b, 0)));
  return { perName, kernelMs, outsideMs };
}

async function main() {
  const [name = 'small64', roundsArg = '2', stepsArg = '3'] = process.argv.slice(2).filter((a) => a !== '--');
  if (!isConfigName(name)) throw new Error(`unknown config ${name}`);
  const samples = new Map<number, Sample[]>([[1, []], [2, []]]);
  for (let r = 0; r < Number(roundsArg); r++) {
    for (const threads of [1, 2]) {
      const setup = await useWasmThreads(threads, { warn: (s) => process.stderr.write(`${s}\n`) });
      if (setup.threads !== threads) throw new Error(`wasm runs ${setup.threads} thread(s), not ${threads}`);
      process.stderr.write(`round ${r + 1}, ${threads} thread(s)\n`);
      samples.get(threads)!.push(...(await profiledSteps(name, Number(stepsArg))));
    }
  }
  const [one, two] = [minima(samples.get(1)!), minima(samples.get(2)!)];
  const rows = [...one.perName.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const f = (x: number) => x.toFixed(1).padStart(8);
  process.stdout.write(`${name} mae step, per-call minima over ${samples.get(1)!.length} profiled steps per thread count\n`);
  process.stdout.write(`${'kernel'.padEnd(24)} calls   1 thr ms  2 thr ms  ratio  share@1\n`);
  for (const [k, a] of rows) {
    const b = two.perName.get(k)!;
    process.stdout.write(`${k.padEnd(24)} ${String(a.calls).padStart(5)} ${f(a.ms)}  ${f(b.ms)}  ${(a.ms / b.ms).toFixed(2).padStart(5)}  ${((100 * a.ms) / (one.kernelMs + one.outsideMs)).toFixed(1).padStart(5)}%\n`);
  }
  const t1 = one.kernelMs + one.outsideMs;
  const t2 = two.kernelMs + two.outsideMs;
  process.stdout.write(`${'kernels'.padEnd(24)} ${''.padStart(5)} ${f(one.kernelMs)}  ${f(two.kernelMs)}  ${(one.kernelMs / two.kernelMs).toFixed(2).padStart(5)}\n`);
  process.stdout.write(`${'outside kernels (JS)'.padEnd(24)} ${''.padStart(5)} ${f(one.outsideMs)}  ${f(two.outsideMs)}  ${(one.outsideMs / two.outsideMs).toFixed(2).padStart(5)}\n`);
  process.stdout.write(`${'step (sum of minima)'.padEnd(24)} ${''.padStart(5)} ${f(t1)}  ${f(t2)}  ${(t1 / t2).toFixed(2).padStart(5)}\n`);
  const serial = [...one.perName.entries()].filter(([k]) => one.perName.get(k)!.ms / two.perName.get(k)!.ms < 1.2).reduce((s, [, a]) => s + a.ms, 0);
  process.stdout.write(`kernels that did not speed up (ratio < 1.2): ${serial.toFixed(1)} ms at 1 thread, + ${one.outsideMs.toFixed(1)} ms outside kernels = ${((100 * (serial + one.outsideMs)) / t1).toFixed(0)} % of the step\n`);
  tf.removeBackend('wasm');
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
