/**
 * `npm run bench -- [options]`: MAE training-step and inference benchmark,
 * comparable line for line with `shared/bench/torch_ref/bench.py`.
 *
 *   --backend cpu|wasm      repeatable or comma-separated        (default wasm)
 *   --config NAME           tiny32|small64|vitb16, repeatable     (default tiny32,small64)
 *   --variant mae|mask_tokens  repeatable                        (default both)
 *   --warmup N --steps N    untimed / timed steps per measurement (default 2 / 5)
 *   --repeats N             measurement blocks per variant, interleaved (default 5)
 *   --vitb-batch N          training batch of vitb16                (default 4, as torch_ref)
 *   --recompute             recompute every block in the backward pass (activation checkpointing)
 *   --no-infer              skip encoder-only inference
 *   --no-train              inference (and the roof) only
 *   --json                  one JSON object per line instead of the table
 *   --profile [--by-shape]  per-kernel time of one step (tf.profile), no timing runs
 *   --data                  also the data-pipeline line of each config: decode+augment images/s, and the
 *                           step fed from an image folder against fed from tensors (needs sharp)
 *   --data-dir DIR          the folder of images for --data        (default: synthetic 640×480 JPEGs)
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers every gradient in Node
import { BATCH, CONFIGS, INFER_BATCHES, isConfigName, type ConfigName } from './configs';
import { matmulFlops } from './flops';
import { measureInfer, measureTrain, median, profileTrain, roofSamples, withForeignLoad, type TrainResult } from './measure';
import type { Variant } from './models';

interface Options {
  backends: string[];
  configs: ConfigName[];
  variants: Variant[];
  warmup: number;
  steps: number;
  repeats: number;
  /** Training batch of vitb16. */
  vitbBatch: number;
  infer: boolean;
  train: boolean;
  json: boolean;
  profile: boolean;
  byShape: boolean;
  /** Recompute every block in the backward pass. */
  recompute: boolean;
  data: boolean;
  dataDir?: string;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n(see the header of bench/run.ts for the options)\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const list: Record<'backend' | 'config' | 'variant', string[]> = { backend: [], config: [], variant: [] };
  const num: Record<'warmup' | 'steps' | 'repeats' | 'vitb-batch', number> = { warmup: 2, steps: 5, repeats: 5, 'vitb-batch': BATCH.vitb16 };
  const flags = { infer: true, train: true, json: false, profile: false, byShape: false, recompute: false, data: false };
  let dataDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [key, inline] = arg.startsWith('--') ? arg.slice(2).split('=', 2) : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(`--${key} needs a value`);
    if (key === 'backend' || key === 'config' || key === 'variant') list[key].push(...value().split(','));
    else if (key === 'warmup' || key === 'steps' || key === 'repeats' || key === 'vitb-batch') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < (key === 'warmup' ? 0 : 1)) usage(`--${key} must be an integer ≥ ${key === 'warmup' ? 0 : 1}`);
      num[key] = n;
    } else if (key === 'no-infer') flags.infer = false;
    else if (key === 'no-train') flags.train = false;
    else if (key === 'json') flags.json = true;
    else if (key === 'profile') flags.profile = true;
    else if (key === 'by-shape') flags.byShape = true;
    else if (key === 'recompute') flags.recompute = true;
    else if (key === 'data') flags.data = true;
    else if (key === 'data-dir') dataDir = value();
    else if (key !== '') usage(`unknown option ${arg}`);
  }
  const backends = list.backend.length ? list.backend : ['wasm'];
  for (const b of backends) if (b !== 'cpu' && b !== 'wasm') usage(`--backend must be cpu or wasm, got ${b}`);
  const configs = list.config.length ? list.config : ['tiny32', 'small64'];
  for (const c of configs) if (!isConfigName(c)) usage(`--config must be one of ${Object.keys(CONFIGS).join(', ')}, got ${c}`);
  const variants = list.variant.length ? list.variant : ['mae', 'mask_tokens'];
  for (const v of variants) if (v !== 'mae' && v !== 'mask_tokens') usage(`--variant must be mae or mask_tokens, got ${v}`);
  if (num.steps < 5 && !flags.profile) process.stderr.write('bench: note: fewer than 5 timed steps\n');
  const { 'vitb-batch': vitbBatch, ...rest } = num;
  return { backends, configs: configs as ConfigName[], variants: variants as Variant[], vitbBatch, ...rest, ...flags, dataDir };
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Table rows collected for the readable output. */
const table: string[][] = [];
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

/** Runs every requested variant of one config (`repeats` interleaved blocks); false when a run failed. */
async function benchTrain(backend: string, config: ConfigName, o: Options, roof: number[]): Promise<boolean> {
  const cfg = CONFIGS[config];
  const batch = config === 'vitb16' ? o.vitbBatch : BATCH[config];
  const runs = new Map<Variant, TrainResult[]>(o.variants.map((v) => [v, []]));
  for (let r = 0; r < o.repeats; r++) {
    for (const variant of o.variants) {
      log(`[${backend}] ${config} ${variant} batch ${batch}${o.recompute ? ' recompute' : ''}: ${o.warmup} warm-up + ${o.steps} timed steps (repeat ${r + 1}/${o.repeats})`);
      // a few roof samples before every block, so the roof sees the machine's phases as the steps do
      roof.push(...(await roofSamples(1024, { warmup: 1, steps: 2 })));
      try {
        const res = await measureTrain(cfg, variant, batch, o);
        log(`  median ${res.stepSec.toFixed(3)} s (cpu ${res.cpuSec.toFixed(3)} s; fwd+bwd ${res.gradSec.toFixed(3)}, AdamW ${res.optSec.toFixed(3)}; ` +
          `other processes ${res.foreignCores.toFixed(2)} cores), steps ${res.allStepSec.map((t) => t.toFixed(3)).join(' ')}`);
        runs.get(variant)!.push(res);
      } catch (err) {
        // e.g. wasm's 4 GB heap exhausted (vitb16 at batch 4); the backend is unusable afterwards
        let error = err instanceof Error ? err.message : String(err);
        if (backend === 'wasm' && /Aborted|out of bounds|memory/i.test(error)) {
          error += ' (most likely the wasm heap, at most 4 GB, is exhausted: try a smaller --vitb-batch)';
        }
        log(`  failed: ${error}`);
        if (o.json) emit({ kind: 'error', config, backend, variant, batch, error });
        table.push([config, backend, variant, String(batch), `failed: ${error}`.slice(0, 60)]);
        return false;
      }
    }
  }
  const stepOf = new Map<Variant, number>();
  const roofGflops = median(roof);
  for (const [variant, rs] of runs) {
    const stepSec = median(rs.map((x) => x.stepSec));
    stepOf.set(variant, stepSec);
    const gflops = rs[0].gflopStep / stepSec;
    const line = {
      kind: 'train', config, backend, variant, batch, recompute: o.recompute,
      stepSec: r3(stepSec),
      gflopStep: Math.round(rs[0].gflopStep * 10) / 10,
      gflops: r3(gflops),
      roofGflops: r3(roofGflops),
      efficiency: r3(gflops / roofGflops),
      leakedTensorsPerStep: Math.max(...rs.map((y) => y.leakedTensorsPerStep)),
      peakBytes: Math.max(...rs.map((y) => y.peakBytes)),
      trackedPeakBytes: Math.max(...rs.map((y) => y.trackedPeakBytes)),
      optimizer: 'AdamW', params: rs[0].params, maskRatio: 0.75, warmup: o.warmup, steps: o.steps,
      cpuSec: r3(median(rs.map((y) => y.cpuSec))),
      foreignCores: r3(Math.max(...rs.map((y) => y.foreignCores))),
      gradSec: r3(median(rs.map((y) => y.gradSec))),
      optSec: r3(median(rs.map((y) => y.optSec))),
      repeatStepSec: rs.map((y) => r3(y.stepSec)), allStepSec: rs.flatMap((y) => y.allStepSec.map(r3)),
      lastLoss: rs[rs.length - 1].lastLoss,
    };
    if (o.json) emit(line);
    table.push([config, backend, variant, String(batch), line.stepSec.toFixed(3), line.gflopStep.toFixed(1),
      line.gflops.toFixed(1), line.roofGflops.toFixed(1), line.efficiency.toFixed(2),
      String(line.leakedTensorsPerStep), mib(line.peakBytes), line.foreignCores.toFixed(2)]);
  }
  const mae = runs.get('mae');
  const maskTokens = runs.get('mask_tokens');
  if (mae && maskTokens) {
    const speedup = stepOf.get('mask_tokens')! / stepOf.get('mae')!;
    const flopRatio = maskTokens[0].gflopStep / mae[0].gflopStep;
    const paired = mae.map((m, i) => r3(maskTokens[i].stepSec / m.stepSec));
    if (o.json) emit({ kind: 'speedup', config, backend, speedup: r3(speedup), flopRatio: r3(flopRatio), pairedSpeedups: paired });
    table.push([config, backend, 'speedup', '', `${speedup.toFixed(2)}x`, `flops ${flopRatio.toFixed(2)}x`, '', '', '', '', '']);
  }
  return true;
}

/** The data-pipeline line of one config: decoding + augmentation alone, and the step fed from a folder vs from tensors. */
async function benchData(backend: string, config: ConfigName, o: Options): Promise<void> {
  const cfg = CONFIGS[config];
  const batch = config === 'vitb16' ? o.vitbBatch : BATCH[config];
  log(`[${backend}] ${config} data pipeline, batch ${batch}: ${o.warmup} warm-up + ${o.steps} timed pairs of steps (tensors, folder)`);
  const { measureData } = await import('./data'); // sharp is loaded only for this line
  const r = await measureData(cfg, batch, { warmup: o.warmup, steps: o.steps, dataDir: o.dataDir });
  const line = {
    kind: 'data', config, backend, batch, files: r.files,
    decodeImagesPerSec: r3(r.decodeImagesPerSec),
    stepSecTensors: r3(r.stepSecTensors), stepSecFolder: r3(r.stepSecFolder),
    waitSec: r3(r.waitSec), waitFraction: r3(r.waitFraction), foreignCores: r3(r.foreignCores),
  };
  log(`  decode+augment ${line.decodeImagesPerSec} img/s; step from tensors ${line.stepSecTensors} s, from the folder ${line.stepSecFolder} s ` +
    `(waiting for data ${(100 * r.waitFraction).toFixed(1)} %)`);
  if (o.json) emit(line);
  table.push([config, backend, 'data', String(batch), line.stepSecFolder.toFixed(3), `vs ${line.stepSecTensors.toFixed(3)}`,
    `${line.decodeImagesPerSec.toFixed(0)} img/s`, '', `wait ${(100 * r.waitFraction).toFixed(1)}%`, '', '', line.foreignCores.toFixed(2)]);
}

/** Encoder-only inference of one config at its inference batch sizes. */
async function benchInfer(backend: string, config: ConfigName, o: Options, roofGflops: number): Promise<void> {
  const cfg = CONFIGS[config];
  for (const batch of INFER_BATCHES[config]) {
    log(`[${backend}] ${config} encoder inference, batch ${batch}`);
    const res = await measureInfer(cfg, batch, o);
    const line = {
      kind: 'infer', config, backend, batch, tokens: (cfg.imgSize / cfg.patchSize) ** 2 + 1,
      sec: r3(res.sec), imagesPerSec: r3(res.imagesPerSec), gflop: r3(res.gflop), gflops: r3(res.gflops),
      efficiency: r3(res.gflops / roofGflops), foreignCores: r3(res.foreignCores),
    };
    if (o.json) emit(line);
    table.push([config, backend, `infer b${batch}`, String(batch), line.sec.toFixed(3), line.gflop.toFixed(1), line.gflops.toFixed(1),
      roofGflops.toFixed(1), line.efficiency.toFixed(2), '', `${line.imagesPerSec.toFixed(2)} img/s`, line.foreignCores.toFixed(2)]);
  }
}

async function benchBackend(backend: string, o: Options): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  await tf.ready();
  log(`[${backend}] measuring the 1024³ matMul roof`);
  const first = await withForeignLoad(() => roofSamples(1024));
  const roof = [...first.result]; // grows by a few samples before every training block
  let ok = true;
  for (const config of o.train ? o.configs : []) {
    ok = await benchTrain(backend, config, o, roof);
    if (!ok) break;
  }
  for (const config of o.infer && ok ? o.configs : []) await benchInfer(backend, config, o, median(roof));
  for (const config of o.data && ok ? o.configs : []) await benchData(backend, config, o);
  if (o.json) emit({ kind: 'roof', backend, n: 1024, gflops: r3(median(roof)), samples: roof.length, foreignCores: r3(first.foreignCores) });
}

async function profileBackend(backend: string, o: Options): Promise<void> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to initialise`);
  for (const config of o.configs) {
    for (const variant of o.variants) {
      const cfg = CONFIGS[config];
      const batch = config === 'vitb16' ? o.vitbBatch : BATCH[config];
      const { rows, totalKernelMs, wallSec } = await profileTrain(cfg, variant, batch, { warmup: o.warmup, byShape: o.byShape });
      const gflop = (3 * matmulFlops(cfg, batch, { encoderMaskTokens: variant === 'mask_tokens' })) / 1e9;
      process.stdout.write(`\n${backend} ${config} ${variant}: kernels ${(totalKernelMs / 1000).toFixed(3)} s ` +
        `(profiled wall ${wallSec.toFixed(3)} s, ${gflop.toFixed(1)} GFLOP), ${rows.reduce((s, r) => s + r.calls, 0)} kernel calls\n`);
      for (const r of rows.slice(0, o.byShape ? 400 : 40)) {
        process.stdout.write(`${(r.ms / 1000).toFixed(3).padStart(8)} s ${((100 * r.ms) / totalKernelMs).toFixed(1).padStart(5)}% ${String(r.calls).padStart(5)}×  ${r.key}\n`);
      }
    }
  }
}

function printTable(): void {
  const head = ['config', 'backend', 'variant', 'batch', 'step s', 'GFLOP/step', 'GFLOP/s', 'roof', 'eff', 'leak/step', 'peak MiB', 'busy'];
  const rows = [head, ...table];
  const width = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (c ?? '').padStart(width[i])).join('  ')}\n`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2).filter((a) => a !== '--'));
  for (const backend of o.backends) {
    if (o.profile) await profileBackend(backend, o);
    else await benchBackend(backend, o);
  }
  if (!o.json && !o.profile) printTable();
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
