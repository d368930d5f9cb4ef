/**
 * The measurements: the backend's matMul roof, a full training step
 * (forward + backward + AdamW), encoder-only inference, and a per-kernel
 * profile of one step. Every function leaves `tf.memory().numTensors` as it
 * found it.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { MASK_RATIO, type BenchConfig } from './configs';
import { matmulFlops, trainStepGflop } from './flops';
import { buildMae, buildVariant, type Variant } from './models';
import { images, maeOptimizer, median, now, trainStep } from './step';

export { images, maeOptimizer, median, trainStep } from './step';

/** Timing knobs shared by all measurements. */
export interface TimingOptions {
  /** Untimed steps first (JIT, XNNPACK operator caches, optimiser state). Defaults to 2. */
  warmup?: number;
  /** Timed steps; the median is reported. Defaults to 5. */
  steps?: number;
}

/** Machine-wide busy CPU seconds (Linux `/proc/stat`, idle and iowait excluded), or NaN elsewhere. */
function machineBusySec(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / 100; // USER_HZ = 100
  } catch {
    return NaN;
  }
}

/**
 * Measures how many cores OTHER processes kept busy while `f` ran (as
 * torch_ref's `foreign_cores`): machine busy time minus this process's CPU
 * time, over the wall time. On this 2-core machine anything above ~0.1
 * means the measurement shared the CPU.
 */
export async function withForeignLoad<T>(f: () => Promise<T>): Promise<{ result: T; foreignCores: number }> {
  const b0 = machineBusySec();
  const c0 = process.cpuUsage();
  const t0 = now();
  const result = await f();
  const wall = now() - t0;
  const c = process.cpuUsage(c0);
  const foreign = (machineBusySec() - b0 - (c.user + c.system) / 1e6) / wall;
  return { result, foreignCores: Number.isFinite(foreign) ? Math.max(0, foreign) : NaN };
}

/** Times `f` (which must finish its work before returning, e.g. by reading a value). */
async function timeIt(f: () => Promise<void>): Promise<number> {
  const t0 = now();
  await f();
  return now() - t0;
}

/**
 * Wall and CPU seconds of `f`. This process computes on one thread (wasm
 * without threads, cpu), so CPU time ≈ wall time on an idle machine; on a
 * busy one the wall time grows and the CPU time much less.
 */
async function timeCpu(f: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const wall = await timeIt(f);
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

/** The plain 2-D `[n, n] · [n, n]` matMul rate in GFLOP/s, per timed run (median of `steps` after `warmup`). */
export async function roofSamples(n = 1024, { warmup = 2, steps = 10 }: TimingOptions = {}): Promise<number[]> {
  const a = tf.randomUniform([n, n], -1, 1, 'float32', 1);
  const b = tf.randomUniform([n, n], -1, 1, 'float32', 2);
  const run = async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  };
  for (let i = 0; i < warmup; i++) await run();
  const rates: number[] = [];
  for (let i = 0; i < steps; i++) rates.push((2 * n ** 3) / (await timeIt(run)) / 1e9);
  tf.dispose([a, b]);
  return rates;
}

/** One training-step measurement. */
export interface TrainResult {
  variant: Variant;
  batch: number;
  /** Median step time (s). */
  stepSec: number;
  /** Every timed step (s). */
  allStepSec: number[];
  /** Median CPU time of a step (s), see `timeCpu`. */
  cpuSec: number;
  /** Cores kept busy by other processes during the timed steps (see `withForeignLoad`). */
  foreignCores: number;
  /** Median time of the forward + backward pass (s). */
  gradSec: number;
  /** Median time of the AdamW update (s). */
  optSec: number;
  gflopStep: number;
  gflops: number;
  leakedTensorsPerStep: number;
  /**
   * The memory of a step: on wasm the heap's size after the steps (it never
   * shrinks: the high-water mark of the process so far), elsewhere
   * `trackedPeakBytes`.
   */
  peakBytes: number;
  /** Largest `tf.memory().numBytes` seen during one profiled step (weights and optimiser state included; views count as new bytes). */
  trackedPeakBytes: number;
  /** Trainable parameters. */
  params: number;
  lastLoss: number;
}

/** The wasm backend's heap size in bytes (it only grows), or undefined on other backends. */
export function wasmHeapBytes(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
}

/**
 * Full training steps of one variant: warm-up, then `steps` timed steps,
 * then one profiled step. `recompute`: every block recomputed in the
 * backward pass (defaults to `false`).
 */
export async function measureTrain(
  cfg: BenchConfig,
  variant: Variant,
  batch: number,
  { warmup = 2, steps = 5, recompute = false }: TimingOptions & { recompute?: boolean } = {},
): Promise<TrainResult> {
  const model = buildVariant(variant, cfg, MASK_RATIO, 0, recompute);
  const opt = maeOptimizer(model);
  const imgs = images(cfg, batch);
  let lastLoss = NaN;
  let split = { grad: 0, opt: 0 };
  const run = async () => {
    // trainStep, with the forward + backward and the AdamW update timed apart
    // (cpu and wasm run kernels synchronously, so the split is exact there)
    const t0 = now();
    const { value, grads } = tf.variableGrads(() => model.loss(imgs), opt.variables);
    const t1 = now();
    opt.step(grads);
    tf.dispose(Object.values(grads));
    split = { grad: t1 - t0, opt: now() - t1 };
    lastLoss = (await value.data())[0]; // the only read: one float, after the step
    value.dispose();
  };
  try {
    for (let i = 0; i < warmup; i++) await run();
    const before = tf.memory().numTensors;
    const allStepSec: number[] = [];
    const cpu: number[] = [];
    const gradSec: number[] = [];
    const optSec: number[] = [];
    const { foreignCores } = await withForeignLoad(async () => {
      for (let i = 0; i < steps; i++) {
        const t = await timeCpu(run);
        allStepSec.push(t.wall);
        cpu.push(t.cpu);
        gradSec.push(split.grad);
        optSec.push(split.opt);
      }
    });
    const leaked = (tf.memory().numTensors - before) / Math.max(steps, 1);
    const profile = await tf.profile(run);
    const stepSec = median(allStepSec);
    const gflopStep = trainStepGflop(cfg, batch, { maskRatio: MASK_RATIO, encoderMaskTokens: variant === 'mask_tokens' });
    return {
      variant,
      batch,
      stepSec,
      allStepSec,
      cpuSec: median(cpu),
      foreignCores,
      gradSec: median(gradSec),
      optSec: median(optSec),
      gflopStep,
      gflops: gflopStep / stepSec,
      leakedTensorsPerStep: leaked,
      peakBytes: wasmHeapBytes() ?? profile.peakBytes,
      trackedPeakBytes: profile.peakBytes,
      params: model.params.reduce((s, p) => s + p.variable.size, 0),
      lastLoss,
    };
  } finally {
    opt.dispose();
    model.dispose();
    imgs.dispose();
  }
}

/** Encoder-only inference (all patches, no masking, no decoder). */
export interface InferResult {
  batch: number;
  sec: number;
  imagesPerSec: number;
  gflop: number;
  gflops: number;
  /** Cores kept busy by other processes while timing. */
  foreignCores: number;
}

/** `encoder.forwardFeatures` on a batch: `[N, H, W, C]` → `[N, 1 + L, D]`. */
export async function measureInfer(cfg: BenchConfig, batch: number, { warmup = 2, steps = 5 }: TimingOptions = {}): Promise<InferResult> {
  const { model, dispose } = buildMae(cfg, MASK_RATIO);
  const imgs = images(cfg, batch);
  const run = async () => {
    const feats = model.encoder.forwardFeatures(imgs);
    const corner = tf.slice(feats, [0, 0, 0], [1, 1, 1]);
    await corner.data(); // wait for the work (one value read)
    tf.dispose([feats, corner]);
  };
  try {
    for (let i = 0; i < warmup; i++) await run();
    const times: number[] = [];
    const { foreignCores } = await withForeignLoad(async () => {
      for (let i = 0; i < steps; i++) times.push(await timeIt(run));
    });
    const sec = median(times);
    const gflop = matmulFlops(cfg, batch, { masked: false, decoder: false }) / 1e9;
    return { batch, sec, imagesPerSec: batch / sec, gflop, gflops: gflop / sec, foreignCores };
  } finally {
    dispose();
    imgs.dispose();
  }
}

/** One official-size model's inference at several batch sizes ({@link measureInferBatches}). */
export interface InferBatchesResult {
  /** Seconds to build the model (random init) on the backend. */
  buildSec: number;
  /** Median seconds per image, per batch size (in the order asked). */
  secPerImage: number[];
  /** Per-image seconds of the first batch size over the last, block by block (each block ran every batch once). */
  pairedRatios: number[];
  /** The wasm heap after the last call (bytes; it never shrinks), or undefined off wasm. */
  heapBytes?: number;
  /** `tf.memory().numBytes` after building: the weights. */
  weightBytes: number;
  /** The process's peak resident set so far (bytes). */
  peakRssBytes: number;
  /** Cores kept busy by other processes while timing. */
  foreignCores: number;
}

/**
 * `encoder.forwardFeatures` of one model built once, at each batch size in
 * turn, `steps` blocks (after `warmup`): batch sizes are compared in the same
 * process and the same phase of a shared machine.
 */
export async function measureInferBatches(cfg: BenchConfig, batches: number[], { warmup = 1, steps = 3 }: TimingOptions = {}): Promise<InferBatchesResult> {
  const t0 = now();
  const { model, dispose } = buildMae(cfg, MASK_RATIO);
  model.ensureBuilt();
  const buildSec = now() - t0;
  const weightBytes = tf.memory().numBytes;
  const imgs = batches.map((b) => images(cfg, b));
  const run = async (i: number) => {
    const feats = model.encoder.forwardFeatures(imgs[i]);
    const corner = tf.slice(feats, [0, 0, 0], [1, 1, 1]);
    await corner.data();
    tf.dispose([feats, corner]);
  };
  try {
    for (let w = 0; w < warmup; w++) for (let i = 0; i < batches.length; i++) await run(i);
    const perImage: number[][] = batches.map(() => []);
    const { foreignCores } = await withForeignLoad(async () => {
      for (let s = 0; s < steps; s++) for (let i = 0; i < batches.length; i++) perImage[i].push((await timeIt(() => run(i))) / batches[i]);
    });
    return {
      buildSec,
      secPerImage: perImage.map(median),
      pairedRatios: perImage[0].map((t, s) => t / perImage[perImage.length - 1][s]),
      heapBytes: wasmHeapBytes(),
      weightBytes,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      foreignCores,
    };
  } finally {
    dispose();
    tf.dispose(imgs);
  }
}

/** Kernel time of one training step, grouped by kernel name (and optionally shapes). */
export interface KernelRow {
  key: string;
  calls: number;
  ms: number;
}

/**
 * Profiles one step after `warmup` steps with `tf.profile`: per-kernel time
 * (`kernelTimeMs`), summed per kernel name, or per name + input shapes.
 */
export async function profileTrain(
  cfg: BenchConfig,
  variant: Variant,
  batch: number,
  { warmup = 2, byShape = false }: { warmup?: number; byShape?: boolean } = {},
): Promise<{ rows: KernelRow[]; totalKernelMs: number; wallSec: number }> {
  const model = buildVariant(variant, cfg, MASK_RATIO);
  const opt = maeOptimizer(model);
  const imgs = images(cfg, batch);
  const run = async () => {
    const loss = trainStep(model, opt, imgs);
    await loss.data();
    loss.dispose();
  };
  try {
    for (let i = 0; i < warmup; i++) await run();
    const t0 = now();
    const info = await tf.profile(run);
    const wallSec = now() - t0;
    const rows = new Map<string, KernelRow>();
    let total = 0;
    const backend = tf.getBackend();
    for (const k of info.kernels) {
      // customGrad ops and composite ops show up as scopes that contain the
      // kernels they run: count real kernels only, so times add up.
      if (tf.getKernel(k.name, backend) === undefined) continue;
      const key = byShape ? `${k.name} ${JSON.stringify(k.inputShapes)}` : k.name;
      const row = rows.get(key) ?? { key, calls: 0, ms: 0 };
      row.calls += 1;
      row.ms += Number(k.kernelTimeMs);
      total += Number(k.kernelTimeMs);
      rows.set(key, row);
    }
    return { rows: [...rows.values()].sort((a, b) => b.ms - a.ms), totalKernelMs: total, wallSec };
  } finally {
    opt.dispose();
    model.dispose();
    imgs.dispose();
  }
}
