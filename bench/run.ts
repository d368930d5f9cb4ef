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
 *   --threads 1,2,…         wasm thread counts (useWasmThreads), interleaved per block (default 1)
 *   --recompute             recompute every block in the backward pass (activation checkpointing)
 *   --no-infer              skip encoder-only inference
 *   --no-train              inference (and the roof) only
 *   --json                  one JSON object per line instead of the table
 *   --profile [--by-shape]  per-kernel time of one step (tf.profile), no timing runs
 *   --data                  also the data-pipeline line of each config: decode+augment images/s, and the
 *                           step fed from an image folder against fed from tensors (needs sharp)
 *   --data-dir DIR          the folder of images for --data        (default: synthetic 640×480 JPEGs)
 *   --official              only the official sizes: ViT-B/16 and ViT-L/16 encoder features at 224 px,
 *                           batch 1 against batch 8 in one process (wasm, 1 thread), then PyTorch's
 *                           (bench/torch_infer.py, /usr/bin/python3) in the same run; per image
 *   --torch-ref DIR         folder of torch_ref's mae_ref.py        (default: ../shared/bench/torch_ref)
 *   --torch-blas DIR        LD_LIBRARY_PATH of an optimised BLAS for PyTorch (default: run_bench.sh's
 *                           OpenBLAS cache /tmp/torchbench/ob/…/openblas-openmp when it exists)
 *   --torch-threads N       PyTorch's threads                       (default 1, as wasm)
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-layers'; // registers every gradient in Node
import { useWasmThreads } from '../src/node/wasmThreads';
import { BATCH, CONFIGS, INFER_BATCHES, OFFICIAL_CONFIGS, isConfigName, type ConfigName } from './configs';
import { matmulFlops } from './flops';
import { measureInfer, measureInferBatches, measureTrain, median, profileTrain, roofSamples, withForeignLoad, type TrainResult } from './measure';
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
  /** wasm thread counts; each measurement block runs at each (cpu: 1). */
  threads: number[];
  infer: boolean;
  train: boolean;
  json: boolean;
  profile: boolean;
  byShape: boolean;
  /** Recompute every block in the backward pass. */
  recompute: boolean;
  data: boolean;
  dataDir?: string;
  official: boolean;
  torchRef?: string;
  torchBlas?: string;
  torchThreads: number;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n(see the header of bench/run.ts for the options)\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const list: Record<'backend' | 'config' | 'variant' | 'threads', string[]> = { backend: [], config: [], variant: [], threads: [] };
  const num: Record<'warmup' | 'steps' | 'repeats' | 'vitb-batch', number> = { warmup: 2, steps: 5, repeats: 5, 'vitb-batch': BATCH.vitb16 };
  const flags = { infer: true, train: true, json: false, profile: false, byShape: false, recompute: false, data: false, official: false };
  let dataDir: string | undefined;
  let torchRef: string | undefined;
  let torchBlas: string | undefined;
  let torchThreads = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [key, inline] = arg.startsWith('--') ? arg.slice(2).split('=', 2) : [arg, undefined];
    const value = () => inline ?? argv[++i] ?? usage(`--${key} needs a value`);
    if (key === 'backend' || key === 'config' || key === 'variant' || key === 'threads') list[key].push(...value().split(','));
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
    else if (key === 'official') flags.official = true;
    else if (key === 'torch-ref') torchRef = value();
    else if (key === 'torch-blas') torchBlas = value();
    else if (key === 'torch-threads') {
      torchThreads = Number(value());
      if (!Number.isInteger(torchThreads) || torchThreads < 1) usage('--torch-threads must be an integer ≥ 1');
    }
    else if (key !== '') usage(`unknown option ${arg}`);
  }
  const backends = list.backend.length ? list.backend : ['wasm'];
  for (const b of backends) if (b !== 'cpu' && b !== 'wasm') usage(`--backend must be cpu or wasm, got ${b}`);
  const configs = list.config.length ? list.config : ['tiny32', 'small64'];
  for (const c of configs) if (!isConfigName(c)) usage(`--config must be one of ${Object.keys(CONFIGS).join(', ')}, got ${c}`);
  const variants = list.variant.length ? list.variant : ['mae', 'mask_tokens'];
  for (const v of variants) if (v !== 'mae' && v !== 'mask_tokens') usage(`--variant must be mae or mask_tokens, got ${v}`);
  const threads = list.threads.length ? list.threads.map(Number) : [1];
  for (const t of threads) if (!Number.isInteger(t) || t < 1) usage(`--threads must be integers ≥ 1, got ${list.threads.join(',')}`);
  if (new Set(threads).size !== threads.length) usage(`--threads lists a count twice: ${list.threads.join(',')}`);
  if (num.steps < 5 && !flags.profile) process.stderr.write('bench: note: fewer than 5 timed steps\n');
  const { 'vitb-batch': vitbBatch, ...rest } = num;
  return { backends, configs: configs as ConfigName[], variants: variants as Variant[], vitbBatch, threads, ...rest, ...flags, dataDir, torchRef, torchBlas, torchThreads };
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const r3 = (x: number) => Math.round(x * 1000) / 1000;

/** Table rows collected for the readable output. */
const table: string[][] = [];
const mib = (b: number) => (b / 2 ** 20).toFixed(0);

/** The thread counts a backend runs at: `--threads` on wasm, 1 on cpu. */
const threadsOf = (backend: string, o: Options): number[] => (backend === 'wasm' ? o.threads : [1]);

/**
 * Makes `backend` current at `threads` threads. With the default (wasm at 1
 * thread only) it is a plain `tf.setBackend`; otherwise wasm is rebuilt by
 * useWasmThreads whenever the count changes (models are built per block, so
 * nothing lives on the disposed backend).
 */
async function selectBackend(backend: string, threads: number, o: Options): Promise<void> {
  if (backend === 'wasm' && (o.threads.length > 1 || threads > 1)) {
    if (tf.getBackend() === 'wasm' && getThreadsCount() === threads) return;
    const setup = await useWasmThreads(threads, { warn: log });
    if (setup.threads !== threads) throw new Error(`wasm runs ${setup.threads} thread(s), not the ${threads} asked for (${setup.fallbackReason ?? `the machine has ${setup.requested}`})`);
  } else if (!(await tf.setBackend(backend))) {
    throw new Error(`backend ${backend} failed to initialise`);
  }
  await tf.ready();
}

/** Results of one (thread count, variant) pair, keyed `${threads}/${variant}`. */
const keyOf = (threads: number, variant: Variant) => `${threads}/${variant}`;

/**
 * Runs every requested variant of one config at every thread count
 * (`repeats` blocks, interleaved: each block runs every thread count and
 * variant once); false when a run failed.
 */
async function benchTrain(backend: string, config: ConfigName, o: Options, roofs: Map<number, number[]>): Promise<boolean> {
  const cfg = CONFIGS[config];
  const batch = config === 'vitb16' ? o.vitbBatch : BATCH[config];
  const threadCounts = threadsOf(backend, o);
  const runs = new Map<string, TrainResult[]>();
  for (let r = 0; r < o.repeats; r++) {
    for (const threads of threadCounts) {
      await selectBackend(backend, threads, o);
      for (const variant of o.variants) {
        log(`[${backend} ×${threads}] ${config} ${variant} batch ${batch}${o.recompute ? ' recompute' : ''}: ${o.warmup} warm-up + ${o.steps} timed steps (repeat ${r + 1}/${o.repeats})`);
        // a few roof samples before every block, so the roof sees the machine's phases as the steps do
        roofs.get(threads)!.push(...(await roofSamples(1024, { warmup: 1, steps: 2 })));
        try {
          const res = await measureTrain(cfg, variant, batch, o);
          log(`  median ${res.stepSec.toFixed(3)} s (cpu ${res.cpuSec.toFixed(3)} s; fwd+bwd ${res.gradSec.toFixed(3)}, AdamW ${res.optSec.toFixed(3)}; ` +
            `other processes ${res.foreignCores.toFixed(2)} cores), steps ${res.allStepSec.map((t) => t.toFixed(3)).join(' ')}`);
          runs.set(keyOf(threads, variant), [...(runs.get(keyOf(threads, variant)) ?? []), res]);
        } catch (err) {
          // e.g. wasm's 4 GB heap exhausted (vitb16 at batch 4); the backend is unusable afterwards
          let error = err instanceof Error ? err.message : String(err);
          if (backend === 'wasm' && /Aborted|out of bounds|memory/i.test(error)) {
            error += ' (most likely the wasm heap, at most 4 GB, is exhausted: try a smaller --vitb-batch)';
          }
          log(`  failed: ${error}`);
          if (o.json) emit({ kind: 'error', config, backend, threads, variant, batch, error });
          table.push([config, backend, String(threads), variant, String(batch), `failed: ${error}`.slice(0, 60)]);
          return false;
        }
      }
    }
  }
  for (const threads of threadCounts) {
    const roofGflops = median(roofs.get(threads)!);
    const stepOf = new Map<Variant, number>();
    for (const variant of o.variants) {
      const rs = runs.get(keyOf(threads, variant))!;
      const stepSec = median(rs.map((x) => x.stepSec));
      stepOf.set(variant, stepSec);
      const gflops = rs[0].gflopStep / stepSec;
      const line = {
        kind: 'train', config, backend, threads, variant, batch, recompute: o.recompute,
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
      table.push([config, backend, String(threads), variant, String(batch), line.stepSec.toFixed(3), line.gflopStep.toFixed(1),
        line.gflops.toFixed(1), line.roofGflops.toFixed(1), line.efficiency.toFixed(2),
        String(line.leakedTensorsPerStep), mib(line.peakBytes), line.foreignCores.toFixed(2)]);
      // the same variant against the first thread count, block by block (the blocks ran back to back)
      const base = threadCounts[0];
      if (threads !== base) {
        const bs = runs.get(keyOf(base, variant))!;
        const speedup = median(bs.map((x) => x.stepSec)) / stepSec;
        const paired = rs.map((m, i) => r3(bs[i].stepSec / m.stepSec));
        if (o.json) emit({ kind: 'threadSpeedup', config, backend, variant, threads, baseThreads: base, speedup: r3(speedup), pairedSpeedups: paired });
        table.push([config, backend, String(threads), variant, `vs ×${base}`, `${speedup.toFixed(2)}x`, '', '', '', '', '', '', '']);
      }
    }
    const mae = runs.get(keyOf(threads, 'mae'));
    const maskTokens = runs.get(keyOf(threads, 'mask_tokens'));
    if (mae && maskTokens) {
      const speedup = stepOf.get('mask_tokens')! / stepOf.get('mae')!;
      const flopRatio = maskTokens[0].gflopStep / mae[0].gflopStep;
      const paired = mae.map((m, i) => r3(maskTokens[i].stepSec / m.stepSec));
      if (o.json) emit({ kind: 'speedup', config, backend, threads, speedup: r3(speedup), flopRatio: r3(flopRatio), pairedSpeedups: paired });
      table.push([config, backend, String(threads), 'speedup', '', `${speedup.toFixed(2)}x`, `flops ${flopRatio.toFixed(2)}x`, '', '', '', '', '', '']);
    }
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

/** Encoder-only inference of one config at its inference batch sizes, at the current thread count. */
async function benchInfer(backend: string, threads: number, config: ConfigName, o: Options, roofGflops: number): Promise<void> {
  const cfg = CONFIGS[config];
  for (const batch of INFER_BATCHES[config]) {
    log(`[${backend} ×${threads}] ${config} encoder inference, batch ${batch}`);
    const res = await measureInfer(cfg, batch, o);
    const line = {
      kind: 'infer', config, backend, threads, batch, tokens: (cfg.imgSize / cfg.patchSize) ** 2 + 1,
      sec: r3(res.sec), imagesPerSec: r3(res.imagesPerSec), gflop: r3(res.gflop), gflops: r3(res.gflops),
      efficiency: r3(res.gflops / roofGflops), foreignCores: r3(res.foreignCores),
    };
    if (o.json) emit(line);
    table.push([config, backend, String(threads), `infer b${batch}`, String(batch), line.sec.toFixed(3), line.gflop.toFixed(1), line.gflops.toFixed(1),
      roofGflops.toFixed(1), line.efficiency.toFixed(2), '', `${line.imagesPerSec.toFixed(2)} img/s`, line.foreignCores.toFixed(2)]);
  }
}

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OPENBLAS_CACHE = '/tmp/torchbench/ob/usr/lib/x86_64-linux-gnu/openblas-openmp';

/** One line of bench/torch_infer.py. */
interface TorchInfer {
  batch: number;
  secPerImage: number;
  buildSec: number;
  peakRssMiB: number;
  blas: string[];
}

/** PyTorch's encoder features of `config` at `batches` (bench/torch_infer.py), or a reason it could not run. */
function torchInfer(config: ConfigName, batches: number[], o: Options): TorchInfer[] | string {
  const ref = o.torchRef ?? [join(REPO, '../shared/bench/torch_ref'), join(REPO, '../../shared/bench/torch_ref')].find((d) => existsSync(join(d, 'mae_ref.py')));
  if (ref === undefined || !existsSync(join(ref, 'mae_ref.py'))) return 'no mae_ref.py (give --torch-ref DIR)';
  const blas = o.torchBlas ?? (existsSync(join(OPENBLAS_CACHE, 'libblas.so.3')) ? OPENBLAS_CACHE : undefined);
  if (blas === undefined) log('  note: no --torch-blas and no OpenBLAS cache: PyTorch runs on the system libblas.so.3 (see torch_ref/README.md, "BLAS")');
  const args = [join(REPO, 'bench/torch_infer.py'), '--ref', ref, '--config', config, '--batches', batches.join(','),
    '--threads', String(o.torchThreads), '--warmup', String(o.warmup), '--steps', String(o.steps)];
  const env = blas ? { ...process.env, LD_LIBRARY_PATH: [blas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : process.env;
  const r = spawnSync('/usr/bin/python3', args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return `torch_infer.py failed: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-1)[0]}`;
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TorchInfer);
}

/**
 * `--official`: ViT-B/16 and ViT-L/16 encoder features at 224 px on wasm (one
 * thread), every batch size of the config in one process, then PyTorch's in
 * the same run; per image, with batch 1 over batch 8 and ours over PyTorch.
 */
async function benchOfficial(o: Options): Promise<void> {
  await selectBackend('wasm', 1, o);
  for (const config of OFFICIAL_CONFIGS) {
    const cfg = CONFIGS[config];
    const batches = INFER_BATCHES[config];
    log(`[wasm ×1] ${config} encoder features at ${cfg.imgSize} px, batches ${batches.join(' and ')} alternated: ${o.warmup} warm-up + ${o.steps} timed blocks`);
    const r = await measureInferBatches(cfg, batches, o);
    const ratio = r.secPerImage[0] / r.secPerImage[r.secPerImage.length - 1];
    const ours = {
      kind: 'officialInfer', config, backend: 'wasm', threads: 1, batches, secPerImage: r.secPerImage.map(r3),
      batchRatio: r3(ratio), pairedBatchRatios: r.pairedRatios.map(r3), buildSec: r3(r.buildSec),
      weightBytes: r.weightBytes, heapBytes: r.heapBytes, peakRssBytes: r.peakRssBytes, foreignCores: r3(r.foreignCores),
    };
    log(`  s/img ${ours.secPerImage.join(' / ')}; batch ${batches[0]} / batch ${batches[batches.length - 1]} ${ours.batchRatio}; heap ${mib(r.heapBytes ?? 0)} MiB`);
    if (o.json) emit(ours);
    batches.forEach((b, i) => table.push([config, 'wasm', '1', `infer b${b}`, String(b), `${ours.secPerImage[i].toFixed(3)}/img`, '', '', '', '', '',
      i === 0 ? `${mib(r.peakRssBytes)} (heap ${mib(r.heapBytes ?? 0)})` : '', ours.foreignCores.toFixed(2)]));
    table.push([config, 'wasm', '1', `b${batches[0]}/b${batches[batches.length - 1]}`, '', `${ratio.toFixed(2)}x`, '', '', '', '', '', '', '']);
    log(`[torch ×${o.torchThreads}] ${config} encoder features (bench/torch_infer.py)`);
    const t = torchInfer(config, batches, o);
    if (typeof t === 'string') {
      log(`  skipped: ${t}`);
      continue;
    }
    for (const line of t) {
      const i = batches.indexOf(line.batch);
      const vs = r.secPerImage[i] / line.secPerImage;
      if (o.json) emit({ kind: 'torchInfer', config, threads: o.torchThreads, batch: line.batch, secPerImage: r3(line.secPerImage), oursOverTorch: r3(vs), peakRssMiB: Math.round(line.peakRssMiB), blas: line.blas });
      table.push([config, 'torch', String(o.torchThreads), `infer b${line.batch}`, String(line.batch), `${line.secPerImage.toFixed(3)}/img`, `ours ${vs.toFixed(2)}x`, '', '', '', '',
        i === 0 ? String(Math.round(line.peakRssMiB)) : '', '']);
    }
  }
}

async function benchBackend(backend: string, o: Options): Promise<void> {
  // the roof per thread count: sampled at the start, then before every training block
  const roofs = new Map<number, number[]>();
  const firstForeign = new Map<number, number>();
  for (const threads of threadsOf(backend, o)) {
    await selectBackend(backend, threads, o);
    log(`[${backend} ×${threads}] measuring the 1024³ matMul roof`);
    const first = await withForeignLoad(() => roofSamples(1024));
    roofs.set(threads, [...first.result]);
    firstForeign.set(threads, first.foreignCores);
  }
  let ok = true;
  for (const config of o.train ? o.configs : []) {
    ok = await benchTrain(backend, config, o, roofs);
    if (!ok) break;
  }
  for (const threads of o.infer && ok ? threadsOf(backend, o) : []) {
    await selectBackend(backend, threads, o);
    for (const config of o.configs) await benchInfer(backend, threads, config, o, median(roofs.get(threads)!));
  }
  // the data line at the first thread count (decoding runs on sharp's own threads)
  if (o.data && ok) await selectBackend(backend, threadsOf(backend, o)[0], o);
  for (const config of o.data && ok ? o.configs : []) await benchData(backend, config, o);
  for (const [threads, roof] of roofs) {
    if (o.json) emit({ kind: 'roof', backend, threads, n: 1024, gflops: r3(median(roof)), samples: roof.length, foreignCores: r3(firstForeign.get(threads)!) });
  }
}

async function profileBackend(backend: string, o: Options): Promise<void> {
  for (const threads of threadsOf(backend, o)) {
    await selectBackend(backend, threads, o);
    for (const config of o.configs) {
      for (const variant of o.variants) {
        const cfg = CONFIGS[config];
        const batch = config === 'vitb16' ? o.vitbBatch : BATCH[config];
        const { rows, totalKernelMs, wallSec } = await profileTrain(cfg, variant, batch, { warmup: o.warmup, byShape: o.byShape });
        const gflop = (3 * matmulFlops(cfg, batch, { encoderMaskTokens: variant === 'mask_tokens' })) / 1e9;
        process.stdout.write(`\n${backend} ×${threads} ${config} ${variant}: kernels ${(totalKernelMs / 1000).toFixed(3)} s ` +
          `(profiled wall ${wallSec.toFixed(3)} s, ${gflop.toFixed(1)} GFLOP), ${rows.reduce((s, r) => s + r.calls, 0)} kernel calls\n`);
        for (const r of rows.slice(0, o.byShape ? 400 : 40)) {
          process.stdout.write(`${(r.ms / 1000).toFixed(3).padStart(8)} s ${((100 * r.ms) / totalKernelMs).toFixed(1).padStart(5)}% ${String(r.calls).padStart(5)}×  ${r.key}\n`);
        }
      }
    }
  }
}

function printTable(): void {
  const head = ['config', 'backend', 'threads', 'variant', 'batch', 'step s', 'GFLOP/step', 'GFLOP/s', 'roof', 'eff', 'leak/step', 'peak MiB', 'busy'];
  const rows = [head, ...table];
  const width = head.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (c ?? '').padStart(width[i])).join('  ')}\n`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2).filter((a) => a !== '--'));
  if (o.official) await benchOfficial(o);
  for (const backend of o.official ? [] : o.backends) {
    if (o.profile) await profileBackend(backend, o);
    else await benchBackend(backend, o);
  }
  if (!o.json && !o.profile) printTable();
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
