/**
 * The browser benchmark's page: one backend (and, on wasm, one thread count)
 * per page load, `?backend=wasm|webgl|webgpu|cpu&threads=N&config=small64`.
 * It times the same training step as `npm run bench` (bench/step.ts on the
 * model of bench/models.ts) and reports through `window.__bench`, which
 * `bench/browser/run.ts` drives in headless Chromium.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { maxThreads, planWasmThreads, requestedThreads, wasmThreads } from '../../examples/browser/src/threads';
import { BATCH, CONFIGS, MASK_RATIO, isConfigName } from '../configs';
import { buildVariant } from '../models';
import { images, maeOptimizer, median, now, trainStep } from '../step';

/** What the page runs on, as it reports it. */
export interface PageInfo {
  backend: string;
  /** wasm threads actually running (`getThreadsCount()`); 1 elsewhere. */
  threads: number;
  /** Threads asked for (`?threads=N`). */
  requestedThreads: number;
  /** The most threads the page offers (logical cores, at most 8). */
  maxThreads: number;
  /** `navigator.hardwareConcurrency` before the page raised it for tfjs' cap. */
  cores: number;
  crossOriginIsolated: boolean;
  /** The device behind webgl/webgpu (renderer or adapter), '' for cpu/wasm. */
  device: string;
}

/** One timed series of training steps. */
export interface StepResult extends PageInfo {
  config: string;
  batch: number;
  /** Every timed step (ms). */
  allStepMs: number[];
  /** Median step (ms). */
  stepMs: number;
  /** Change of `tf.memory().numTensors` per step after the first (which creates AdamW's state); null with no such step. */
  leakedTensorsPerStep: number | null;
  lastLoss: number;
}

declare global {
  interface Window {
    __bench: { ready: Promise<PageInfo>; run(o: { warmup: number; steps: number }): Promise<StepResult> };
  }
}

const params = new URLSearchParams(location.search);
const backend = params.get('backend') ?? 'wasm';
const config = params.get('config') ?? 'small64';
const status = document.getElementById('status')!;

// Before any backend starts: the wasm backend takes its thread count once.
const plan = planWasmThreads(requestedThreads());
setWasmPaths(new URL('./wasm/', document.baseURI).href);

/** The renderer (webgl) or adapter (webgpu) name, so SwiftShader shows up as such. */
async function deviceName(): Promise<string> {
  if (backend === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    return gl ? String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : '';
  }
  if (backend === 'webgpu') {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
    const info = (await gpu?.requestAdapter())?.info;
    return info ? [info.vendor, info.architecture, info.description].filter((s) => s).join(' ') : '';
  }
  return '';
}

async function start(): Promise<PageInfo> {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} failed to start`);
  await tf.ready();
  return {
    backend: tf.getBackend(),
    threads: backend === 'wasm' ? (wasmThreads() ?? 1) : 1,
    requestedThreads: plan.requested,
    maxThreads: maxThreads(),
    cores: plan.cores,
    crossOriginIsolated: self.crossOriginIsolated,
    device: await deviceName(),
  };
}

/** Warm-up, then `steps` timed training steps of the `mae` variant; each ends by reading the loss. */
async function run(info: PageInfo, { warmup, steps }: { warmup: number; steps: number }): Promise<StepResult> {
  if (!isConfigName(config)) throw new Error(`config must be one of ${Object.keys(CONFIGS).join(', ')}, got ${config}`);
  const cfg = CONFIGS[config];
  const batch = BATCH[config];
  const model = buildVariant('mae', cfg, MASK_RATIO);
  const opt = maeOptimizer(model);
  const imgs = images(cfg, batch);
  let lastLoss = NaN;
  const step = async () => {
    const loss = trainStep(model, opt, imgs);
    lastLoss = (await loss.data())[0]; // the only read (async: webgpu)
    loss.dispose();
  };
  try {
    for (let i = 0; i < warmup; i++) {
      status.textContent = `${info.backend} ×${info.threads}: warm-up ${i + 1}/${warmup}`;
      await step();
    }
    let before = tf.memory().numTensors;
    const allStepMs: number[] = [];
    for (let i = 0; i < steps; i++) {
      status.textContent = `${info.backend} ×${info.threads}: step ${i + 1}/${steps}`;
      const t0 = now();
      await step();
      allStepMs.push((now() - t0) * 1000);
      if (i === 0 && warmup === 0) before = tf.memory().numTensors; // the first step creates AdamW's state
    }
    const counted = warmup === 0 ? steps - 1 : steps;
    const leakedTensorsPerStep = counted > 0 ? (tf.memory().numTensors - before) / counted : null;
    status.textContent = `${info.backend} ×${info.threads}: done`;
    return { ...info, config, batch, allStepMs, stepMs: median(allStepMs), leakedTensorsPerStep, lastLoss };
  } finally {
    opt.dispose();
    model.dispose();
    imgs.dispose();
  }
}

const ready = start();
ready.then(
  (info) => (status.textContent = `ready: ${JSON.stringify(info)}`),
  (err: Error) => (status.textContent = `failed: ${err.message}`),
);
window.__bench = { ready, run: async (o) => run(await ready, o) };
