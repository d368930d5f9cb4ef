/**
 * The training loop shared by `pretrain` and `finetune` (official
 * `engine_pretrain.py` / `engine_finetune.py`): a per-iteration learning
 * rate, AdamW over parameter groups, optional gradient accumulation and
 * clipping, step and epoch reports, checkpoints and exact resume.
 *
 * Reproducibility: the loss of micro-batch `i` (global, 0-based) gets `i`,
 * so its randomness (mask noise) can be seeded from `(seed, i)`, and the
 * data source is asked for `(epoch, startBatch)`: a run is a pure function
 * of the initial weights, the seed and the data source, and a resumed run
 * continues the same curve.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, MAEConfigError, TrainingError, describe } from '../errors';
import type { StateEntry } from '../nn/MAELayer';
import { loadStateDict, stateDict } from '../io/stateDict';
import { parseSafetensors, writeSafetensors } from '../io/safetensors';
import { toTfTensors } from '../io/hostTensor';
import { compareWithStored, readStoredConfig } from '../io/modelConfig';
import { checkSeed } from '../data/rng';
import { AdamW } from './adamw';
import { warmupCosine } from './schedule';
import { GradAccumulator, clipGradNorm } from './grads';
import { checkCheckpoint, type TrainingCheckpoint } from './checkpoint';
import { progressPrinter, type EpochInfo, type ProgressCallbacks, type StepInfo } from './progress';
import { batchImages, checkData, disposeBatch, epochBatches, resolveBatchesPerEpoch, type AnyBatch, type BatchIterator, type TrainData } from './data';
import type { ParamGroup } from './types';
import { runInfo, type RunInfoArgs } from './runInfo';

/** Options every training loop takes (`pretrain`, `finetune`). */
export interface TrainLoopOptions extends ProgressCallbacks {
  /** Epochs of the whole run (a resumed run counts the epochs already done). Required. */
  epochs: number;
  /** Data batches per epoch. Defaults to `data.batchesPerEpoch`; required for a function data source. */
  batchesPerEpoch?: number;
  /**
   * Micro-batches per optimiser step (official `accum_iter`); the gradient is
   * their mean. An epoch has `floor(batchesPerEpoch / accumSteps)` steps; the
   * leftover batches are skipped. Defaults to 1.
   */
  accumSteps?: number;
  /**
   * Peak learning rate of the default schedule. Defaults to the official rule
   * `scaledLr(blr, batch × accumSteps)` with the batch size of the first
   * batch (`blr` 1.5e-4 for pre-training, 1e-3 for fine-tuning).
   */
  lr?: number;
  /** Final learning rate of the default cosine. Defaults to 0. */
  minLr?: number;
  /** Linear warmup length in optimiser steps (may be fractional). Defaults to 5 % of all steps. */
  warmupSteps?: number;
  /** `step → lr` for every optimiser step; replaces `lr`, `minLr` and `warmupSteps`. Defaults to `warmupCosine`. */
  schedule?: (step: number) => number;
  /** Clip the global gradient norm to this value. Defaults to no clipping. */
  maxGradNorm?: number;
  /** The run's seed, an integer in `[0, 2^32)` (mask noise, stochastic layers). Defaults to 0, or to `resume.seed`. */
  seed?: number;
  /**
   * Read the losses back every this many steps (one `await data()` for all
   * of them); reports and the non-finite check happen then. Defaults to 1.
   */
  readLossEvery?: number;
  /** Print a progress line (`progressPrinter`) when `process.stdout` exists. Defaults to `true`. */
  progress?: boolean;
  /** Call `save` every this many epochs. Defaults to 0 (only after the last epoch, when `save` is set). */
  checkpointEvery?: number;
  /**
   * Receives the checkpoints (write them somewhere); awaited. Called every
   * `checkpointEvery` epochs and after the last epoch of this call. Required
   * with `checkpointEvery`. Defaults to none.
   */
  save?: (checkpoint: TrainingCheckpoint) => void | Promise<void>;
  /**
   * Stop once this many epochs of the run are done (saving a checkpoint then
   * when `save` is set), keeping the schedule of all `epochs`: a long run in
   * several sessions. Defaults to `epochs`.
   */
  stopAfterEpoch?: number;
  /** Continue a run from this checkpoint: weights, optimiser, step, seed. Defaults to a fresh run. */
  resume?: TrainingCheckpoint;
  /**
   * Stop early when this signal is aborted (e.g. on Ctrl-C): the step under
   * way finishes, then `save` (when set) receives a checkpoint of the steps
   * done, which `resume` continues exactly, even mid-epoch. Defaults to none.
   */
  signal?: AbortSignal;
}

/** What a training loop returns. */
export interface TrainResult {
  /** Loss of every step run by this call, in order. */
  losses: number[];
  /** Global index of the first step run by this call (`resume.step`, or 0). */
  firstStep: number;
  /** Mean loss of each epoch this call ran (partial for a resumed epoch), in order. */
  epochLosses: number[];
  /** Optimiser steps done in the whole run (equals the total when finished). */
  step: number;
  /** Wall time of this call, seconds. */
  seconds: number;
  /** `true` when `signal` stopped the run early. */
  stopped?: boolean;
}

/** What a particular loop (pre-training, fine-tuning) plugs into {@link trainLoop}. */
export interface TrainLoopSpec {
  /** Names the loop in messages and progress lines, e.g. `'pretrain'`. */
  label: string;
  /** Every weight of the model under its official name (checkpoints, resume). */
  entries: StateEntry[];
  /** The `__metadata__` of every checkpoint's weights: the model config (`weightsMetadata(model)`). Defaults to `{ format: 'pt' }`. */
  metadata?: Record<string, string>;
  /** The optimised parameters with their weight decay and lr scale. */
  groups: ParamGroup[];
  /** AdamW `[β1, β2]`. */
  betas: [number, number];
  /** AdamW epsilon. */
  eps: number;
  /** Base learning rate of the default peak, `scaledLr(baseLr, effective batch)`. */
  blr: number;
  /**
   * The scalar loss of one micro-batch, run inside `tf.variableGrads`.
   * `index` is the global micro-batch index (seed randomness from it).
   */
  loss: (batch: AnyBatch, index: number, seed: number) => tf.Scalar;
}

interface Pending {
  step: number;
  epoch: number;
  stepInEpoch: number;
  loss: tf.Scalar;
  lr: number;
  images: number;
}

/**
 * Runs the training loop of `spec` over `data`: each optimiser step sets
 * `lr = schedule(step)`, takes `accumSteps` micro-batches through
 * `tf.variableGrads(() => spec.loss(batch, index, seed))`, averages (and
 * optionally clips) the gradients, and applies one AdamW step over
 * `spec.groups`. The tensors of every batch are disposed after use; the
 * number of live tensors does not grow from step to step.
 *
 * @throws TrainingError when a loss is not finite (naming the step) or an epoch runs out of batches
 * @throws CheckpointError when `resume` does not fit the model or the run
 */
export async function trainLoop(spec: TrainLoopSpec, data: TrainData, options: TrainLoopOptions): Promise<TrainResult> {
  const label = spec.label;
  const o = checkOptions(options, label);
  checkData(data, label);
  const batchesPerEpoch = resolveBatchesPerEpoch(data, o.batchesPerEpoch, label);
  const accum = o.accumSteps ?? 1;
  const stepsPerEpoch = Math.floor(batchesPerEpoch / accum);
  if (stepsPerEpoch < 1) {
    throw new MAEConfigError(`${label} accumSteps: expected at most batchesPerEpoch (${batchesPerEpoch}), got ${accum}`);
  }
  const totalSteps = o.epochs * stepsPerEpoch;
  const resume = o.resume === undefined ? undefined : checkCheckpoint(o.resume);
  const seed = checkSeed(o.seed ?? resume?.seed ?? 0, `${label} seed`);
  if (resume) checkResumeFits(resume, { seed, stepsPerEpoch, accum, totalSteps });

  const entries = spec.entries;
  const optimizer = new AdamW(spec.groups, { betas: spec.betas, eps: spec.eps });
  const accumulator = accum > 1 ? new GradAccumulator(accum) : undefined;
  const printer = (o.progress ?? true) ? progressPrinter({ label: `[${label}]` }) : undefined;
  const vars = optimizer.variables;
  const pending: Pending[] = [];
  let schedule = o.schedule;

  const t0 = now();
  const firstStep = resume?.step ?? 0;
  let step = firstStep;
  const losses: number[] = [];
  const epochLosses: number[] = [];
  try {
    if (resume) loadResume(entries, spec.metadata, optimizer, resume);
    let lastReport = now();
    let imagesSinceReport = 0;

    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const stacked = tf.stack(pending.map((p) => p.loss));
      const values = await stacked.data();
      stacked.dispose();
      const items = pending.splice(0);
      tf.dispose(items.map((p) => p.loss));
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) {
        throw new TrainingError(
          `${label}: the loss of step ${items[bad].step} (epoch ${items[bad].epoch}) is ${values[bad]}; stopped ` +
            (items[bad].step === 0
              ? '(before any update: check the images for NaN or Inf values, and the initial weights)'
              : '(lower the lr, clip gradients or resume from a checkpoint)'),
        );
      }
      const t = now();
      const rate = imagesSinceReport / Math.max(t - lastReport, 1e-9);
      lastReport = t;
      imagesSinceReport = 0;
      for (let i = 0; i < items.length; i++) {
        const p = items[i];
        losses.push(values[i]);
        const done = p.step + 1 - firstStep;
        const info: StepInfo = {
          step: p.step,
          epoch: p.epoch,
          stepInEpoch: p.stepInEpoch,
          stepsPerEpoch,
          totalSteps,
          epochs: o.epochs,
          loss: values[i],
          lr: p.lr,
          imagesPerSec: rate,
          etaSec: ((t - t0) / done) * (totalSteps - p.step - 1),
        };
        await printer?.onStep(info);
        await o.onStep?.(info);
      }
    };

    const lastEpoch = Math.min(o.stopAfterEpoch ?? o.epochs, o.epochs);
    for (let epoch = Math.floor(step / stepsPerEpoch); epoch < lastEpoch; epoch++) {
      const epochStart = now();
      const firstInEpoch = step - epoch * stepsPerEpoch;
      const it = await epochBatches(data, epoch, firstInEpoch * accum);
      const lossStart = losses.length;
      try {
        for (let s = firstInEpoch; s < stepsPerEpoch; s++, step++) {
          if (o.signal?.aborted) break;
          const { loss, grads, images, batchSize } = await runStep(spec, it, vars, accumulator, {
            accum,
            epoch,
            firstIndex: step * accum,
            seed,
            batchesPerEpoch,
            batchInEpoch: s * accum,
          });
          const item: Pending = { step, epoch, stepInEpoch: s, loss, lr: 0, images };
          pending.push(item); // from here on the loss is disposed with the pending list
          try {
            if (schedule === undefined || step === firstStep) {
              // the first step of this call: the batch size is known now
              const ruleLr = spec.blr * ((batchSize * accum) / 256);
              schedule ??= defaultSchedule(o, totalSteps, ruleLr, label);
              await announceRun(spec, o, printer, { schedule, totalSteps, firstStep, effectiveBatch: batchSize * accum, baseLr: o.lr ?? ruleLr });
            }
            const lr = (item.lr = schedule(step));
            if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
              throw new MAEConfigError(`${label} schedule: expected a finite lr >= 0 at step ${step}, got ${describe(lr)}`);
            }
            imagesSinceReport += images;
            if (pending.length >= (o.readLossEvery ?? 1) || s === stepsPerEpoch - 1) await flush();
            if (o.maxGradNorm !== undefined) {
              const clipped = clipGradNorm(grads, o.maxGradNorm);
              try {
                optimizer.step(clipped.grads, lr);
              } finally {
                tf.dispose([clipped.totalNorm, ...Object.values(clipped.grads)]);
              }
            } else {
              optimizer.step(grads, lr);
            }
          } finally {
            tf.dispose(Object.values(grads));
          }
        }
      } finally {
        await it.return?.();
      }
      if (o.signal?.aborted && step < (epoch + 1) * stepsPerEpoch) {
        await flush();
        await o.save?.(await makeCheckpoint(entries, spec.metadata, optimizer, { step, epoch, seed, stepsPerEpoch, accumSteps: accum }));
        return { losses, firstStep, epochLosses, step, seconds: now() - t0, stopped: true };
      }
      const epochSteps = losses.slice(lossStart);
      const meanLoss = epochSteps.reduce((a, b) => a + b, 0) / Math.max(epochSteps.length, 1);
      epochLosses.push(meanLoss);
      const info: EpochInfo = { epoch, epochs: o.epochs, meanLoss, steps: epochSteps.length, seconds: now() - epochStart };
      await printer?.onEpoch(info);
      await o.onEpoch?.(info);
      const every = o.checkpointEvery ?? 0;
      const stopping = epoch + 1 === lastEpoch;
      if ((every > 0 && (epoch + 1) % every === 0) || (stopping && o.save !== undefined)) {
        await o.save!(await makeCheckpoint(entries, spec.metadata, optimizer, { step, epoch: epoch + 1, seed, stepsPerEpoch, accumSteps: accum }));
      }
    }
    return { losses, firstStep, epochLosses, step, seconds: now() - t0 };
  } finally {
    tf.dispose(pending.splice(0).map((p) => p.loss));
    accumulator?.dispose();
    optimizer.dispose();
  }
}

/** The loss (mean over micro-batches) and mean gradients of one optimiser step. The caller disposes both. */
async function runStep(
  spec: TrainLoopSpec,
  it: BatchIterator,
  vars: tf.Variable[],
  accumulator: GradAccumulator | undefined,
  a: { accum: number; epoch: number; firstIndex: number; seed: number; batchesPerEpoch: number; batchInEpoch: number },
): Promise<{ loss: tf.Scalar; grads: Record<string, tf.Tensor>; images: number; batchSize: number }> {
  const microLosses: tf.Scalar[] = [];
  let images = 0;
  let batchSize = 0;
  try {
    for (let m = 0; m < a.accum; m++) {
      const r = await it.next();
      if (r.done) {
        throw new TrainingError(
          `data: epoch ${a.epoch} ended after ${a.batchInEpoch + m} batches; expected ${a.batchesPerEpoch} (batchesPerEpoch)`,
        );
      }
      const batch = r.value;
      let grads: tf.NamedTensorMap;
      let value: tf.Scalar;
      try {
        const imgs = batchImages(batch, `data epoch ${a.epoch} batch ${a.batchInEpoch + m}`);
        if (m === 0) batchSize = imgs.shape[0];
        images += imgs.shape[0];
        const index = a.firstIndex + m;
        ({ value, grads } = tf.variableGrads(() => spec.loss(batch, index, a.seed), vars));
      } finally {
        disposeBatch(batch);
      }
      microLosses.push(value);
      if (accumulator === undefined) return { loss: value, grads: grads as Record<string, tf.Tensor>, images, batchSize };
      try {
        accumulator.add(grads);
      } finally {
        tf.dispose(Object.values(grads));
      }
    }
    const grads = accumulator!.average();
    const loss = tf.tidy(() => tf.div(tf.addN(microLosses), microLosses.length) as tf.Scalar);
    tf.dispose(microLosses);
    return { loss, grads, images, batchSize };
  } catch (err) {
    tf.dispose(microLosses);
    accumulator?.dispose();
    throw err;
  }
}

/** Reports the run's lr (and a warning when it is too small to train) to the printer and `onStart`. */
async function announceRun(
  spec: TrainLoopSpec,
  o: TrainLoopOptions,
  printer: ProgressCallbacks | undefined,
  a: Pick<RunInfoArgs, 'schedule' | 'totalSteps' | 'firstStep' | 'effectiveBatch' | 'baseLr'>,
): Promise<void> {
  const source = o.schedule !== undefined ? 'schedule' : o.lr !== undefined ? 'lr' : 'rule';
  const info = runInfo({ ...a, label: spec.label, blr: spec.blr, source });
  await printer?.onStart?.(info);
  await o.onStart?.(info);
}

function defaultSchedule(o: TrainLoopOptions, totalSteps: number, scaled: number, label: string): (step: number) => number {
  const baseLr = o.lr ?? scaled;
  const warmupSteps = o.warmupSteps ?? 0.05 * totalSteps;
  if (!Number.isFinite(warmupSteps) || warmupSteps < 0) {
    throw new MAEConfigError(`${label} warmupSteps: expected a finite number ≥ 0, got ${describe(warmupSteps)}`);
  }
  // a warmup as long as the run or longer is allowed, as officially: the lr then only rises
  return warmupCosine({ baseLr, minLr: o.minLr ?? 0, warmupSteps, totalSteps });
}

async function makeCheckpoint(
  entries: StateEntry[],
  metadata: Record<string, string> | undefined,
  optimizer: AdamW,
  c: Omit<TrainingCheckpoint, 'weights' | 'optimizer'>,
): Promise<TrainingCheckpoint> {
  const dict = stateDict(entries);
  try {
    const weights = await writeSafetensors(dict, metadata ?? { format: 'pt' });
    return { weights, optimizer: await optimizer.getState(), ...c };
  } finally {
    tf.dispose(Object.values(dict));
  }
}

/** Loads a checkpoint's weights and optimiser state; a stored config other than the model's (e.g. other heads) is refused first. */
function loadResume(entries: StateEntry[], metadata: Record<string, string> | undefined, optimizer: AdamW, ckpt: TrainingCheckpoint): void {
  const parsed = parseSafetensors(ckpt.weights);
  const own = readStoredConfig(metadata);
  const stored = readStoredConfig(parsed.metadata, 'resume.weights');
  if (own && stored) compareWithStored(own, stored, 'resume.weights');
  const tensors = toTfTensors(parsed.tensors);
  try {
    loadStateDict(entries, tensors, { naming: 'official' });
  } finally {
    tf.dispose(Object.values(tensors));
  }
  optimizer.setState(ckpt.optimizer);
}

function checkResumeFits(
  ckpt: TrainingCheckpoint,
  run: { seed: number; stepsPerEpoch: number; accum: number; totalSteps: number },
): void {
  if (ckpt.seed !== run.seed) {
    throw new CheckpointError(`resume.seed: expected the run's seed ${run.seed}, got ${ckpt.seed}`);
  }
  if (ckpt.stepsPerEpoch !== run.stepsPerEpoch) {
    throw new CheckpointError(`resume.stepsPerEpoch: expected this run's ${run.stepsPerEpoch} (same data and batch size), got ${ckpt.stepsPerEpoch}`);
  }
  if (ckpt.accumSteps !== run.accum) {
    throw new CheckpointError(`resume.accumSteps: expected this run's ${run.accum}, got ${ckpt.accumSteps}`);
  }
  if (ckpt.step > run.totalSteps) {
    throw new CheckpointError(`resume.step: expected at most the ${run.totalSteps} steps of this run, got ${ckpt.step}`);
  }
}

function checkOptions(options: TrainLoopOptions, label: string): TrainLoopOptions {
  if (options == null || typeof options !== 'object') {
    throw new MAEConfigError(`${label} options: expected an object with epochs, got ${describe(options)}`);
  }
  const o = options;
  const int = (name: keyof TrainLoopOptions, min: number, v: unknown = o[name]) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)) {
      throw new MAEConfigError(`${label} ${name}: expected an integer >= ${min}, got ${describe(v)}`);
    }
  };
  if (o.epochs === undefined) throw new MAEConfigError(`${label} epochs: expected an integer >= 1, got undefined`);
  int('epochs', 1);
  int('batchesPerEpoch', 1);
  int('accumSteps', 1);
  int('readLossEvery', 1);
  int('checkpointEvery', 0);
  int('stopAfterEpoch', 1);
  for (const name of ['lr', 'minLr', 'warmupSteps'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new MAEConfigError(`${label} ${name}: expected a finite number >= 0, got ${describe(v)}`);
    }
  }
  if (o.maxGradNorm !== undefined && (typeof o.maxGradNorm !== 'number' || !(o.maxGradNorm > 0) || !Number.isFinite(o.maxGradNorm))) {
    throw new MAEConfigError(`${label} maxGradNorm: expected a finite number > 0, got ${describe(o.maxGradNorm)}`);
  }
  if (o.schedule !== undefined && typeof o.schedule !== 'function') {
    throw new MAEConfigError(`${label} schedule: expected a function (step) => lr, got ${describe(o.schedule)}`);
  }
  if ((o.checkpointEvery ?? 0) > 0 && typeof o.save !== 'function') {
    throw new MAEConfigError(`${label} save: expected an async (checkpoint) => void with checkpointEvery ${o.checkpointEvery}, got ${describe(o.save)}`);
  }
  return o;
}

function now(): number {
  return (typeof performance !== 'undefined' ? performance.now() : Date.now()) / 1000;
}
