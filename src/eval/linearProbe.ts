/**
 * Linear probing on frozen features: `BatchNorm1d(D, affine=False)` →
 * `Linear(D, K)`, trained with AdamW and cross-entropy (the probe of the
 * Fashion-MNIST reference recipe, after the official `main_linprobe.py`
 * head, with AdamW instead of LARS); `optimizer: 'lars'` is the official
 * optimiser (`linearProbeRecipe.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, MAEConfigError, MAEInputError, describe } from '../errors';
import { parseSafetensors, writeSafetensors } from '../io/safetensors';
import { stateDict } from '../io/stateDict';
import { checkCheckpoint, loadCheckpointWeights, type TrainingCheckpoint } from '../train/checkpoint';
import { GradAccumulator } from '../train/grads';
import { LinearProbeHead } from '../classify/LinearProbeHead';
import { mixSeed, permutation, checkSeed } from '../data/rng';
import { trainableParams } from '../train/pretrain';
import { classCount, crossEntropy, hostLabels, metricSums, type Labels } from './metrics';
import { checkProbeOptimizer, probeLr, probeOptimizer, type LinearProbeOptimizerOptions, type ProbeOptimizer } from './linearProbeRecipe';
import { extractPooledFeatures, type FeatureEncoder, type FeatureImages, type FeaturePool } from './features';

/** Options of {@link linearProbe}; the defaults are the reference recipe. */
export interface LinearProbeOptions extends LinearProbeOptimizerOptions {
  /** Number of classes K. Defaults to `max(label) + 1` over both label sets. */
  numClasses?: number;
  /** Passes over the training features. Defaults to 10. */
  epochs?: number;
  /** Features per step; the last partial batch of an epoch is kept (a last batch of 1 is skipped: batch norm needs 2). Defaults to 256. */
  batchSize?: number;
  /**
   * Micro-batches of `batchSize` per optimiser step (official `accum_iter`):
   * the step takes the mean of their gradients (each moves the batch norm's
   * running statistics, as in torch). An epoch has `floor(batches /
   * accumSteps)` steps; the leftover batches are skipped. Defaults to 1.
   */
  accumSteps?: number;
  /**
   * Continue a run from a checkpoint of {@link LinearProbeEpochInfo.checkpoint}
   * (the probe, its optimiser state and step at an epoch end): the same
   * features, options and seed then give the probe of an uninterrupted run,
   * bit for bit. Defaults to a fresh probe.
   */
  resume?: TrainingCheckpoint;
  /** Constant learning rate. Defaults to 1e-3 for AdamW, `0.1 × batchSize / 256` for LARS. */
  lr?: number;
  /** AdamW `[β1, β2]`. Defaults to `[0.9, 0.999]`. */
  betas?: [number, number];
  /** Weight decay (AdamW: decoupled; LARS: on the weight only). Defaults to 0. */
  weightDecay?: number;
  /** Batch-norm epsilon. Defaults to 1e-6. */
  bnEps?: number;
  /** Batch-norm momentum (torch convention: weight of the new batch). Defaults to 0.1. */
  momentum?: number;
  /** Std of the `N(0, std²)` head weight (bias 0). Defaults to 0.01. */
  initStd?: number;
  /** Seed of the head init and of the per-epoch permutations. Defaults to 0. */
  seed?: number;
  /**
   * Called after each epoch with its mean training loss and the probe's
   * accuracy and loss on the test features (as `main_linprobe.py` logs them
   * every epoch). Defaults to none (the test features are then evaluated
   * once, at the end).
   */
  onEpoch?: (info: LinearProbeEpochInfo) => void | Promise<void>;
}

/** What {@link LinearProbeOptions.onEpoch} receives; accuracies are fractions in [0, 1]. */
export interface LinearProbeEpochInfo {
  /** The epoch just done, 0-based. */
  epoch: number;
  /** Mean training loss of the epoch (sample-weighted). */
  loss: number;
  /** Top-1 accuracy on the test features (batch norm with its running statistics). */
  testAccuracy: number;
  /** Top-5 accuracy on the test features; `undefined` with fewer than 5 classes. */
  testAccuracy5?: number;
  /** Mean cross-entropy on the test features. */
  testLoss: number;
  /** The probe after this epoch, e.g. to save the best one (its `stateEntries()`); valid during the call only, do not dispose. */
  head: LinearProbeHead;
  /**
   * A checkpoint of the run after this epoch (the probe's weights and batch-norm
   * statistics under the official names, the optimiser state, the step) for
   * {@link LinearProbeOptions.resume}; write it with `encodeCheckpoint`. Call it during the call only.
   */
  checkpoint(): Promise<TrainingCheckpoint>;
}

/**
 * Optimiser steps per epoch of {@link linearProbe} on `n` training rows:
 * `floor(batches / accumSteps)`, where the batches of `batchSize` keep a
 * last partial one of 2 rows or more. The `stepsPerEpoch` of a per-step
 * schedule (`warmupCosineEpochs`).
 */
export function linearProbeStepsPerEpoch(n: number, batchSize = 256, accumSteps = 1): number {
  for (const [name, v, min] of [['n', n, 1], ['batchSize', batchSize, 2], ['accumSteps', accumSteps, 1]] as const) {
    if (!Number.isSafeInteger(v) || v < min) throw new MAEConfigError(`linearProbeStepsPerEpoch ${name}: expected an integer >= ${min}, got ${describe(v)}`);
  }
  return Math.floor(probeBatches(n, batchSize) / accumSteps);
}

/** Batches of `batchSize` rows in an epoch of `n` rows, the last partial one kept when it has 2 rows or more (batch norm needs 2). */
function probeBatches(n: number, batchSize: number): number {
  return Math.floor(n / batchSize) + (n % batchSize >= 2 ? 1 : 0);
}

/** Options of {@link linearProbe} on images: the probe's, and how the features are extracted. */
export interface LinearProbeImagesOptions extends LinearProbeOptions {
  /** Pooling of the encoder tokens. Defaults to `'mean'`. */
  pool?: FeaturePool;
  /** Images per encoder pass when the images are one tensor. Defaults to 128. */
  featureBatchSize?: number;
}

/** What {@link linearProbe} returns; accuracies are fractions in [0, 1]. */
export interface LinearProbeResult {
  /** Accuracy on the test features (batch norm with its running statistics). */
  accuracy: number;
  /** Accuracy on the training features, same mode. */
  trainAccuracy: number;
  /** Mean training loss of each epoch (sample-weighted). */
  epochLosses: number[];
}

/**
 * Trains a linear probe on `[N, D]` training features and reports its
 * test accuracy.
 *
 * Per epoch: a permutation of the N training rows (seeded by `(seed,
 * epoch)`), batches of `batchSize` with the last partial one kept; batch
 * norm in training mode (batch mean and biased variance; the running mean
 * and unbiased variance move by `momentum`); mean cross-entropy; one AdamW
 * (or LARS) step on the Linear weight and bias per batch, or per
 * `accumSteps` batches with their mean gradient. Evaluation uses the running
 * statistics. The features are not modified or disposed.
 *
 * @param trainFeatures `[N, D]` float32
 * @param trainLabels N integer labels (array or `[N]` tensor)
 * @param testFeatures `[M, D]` float32
 * @param testLabels M integer labels
 */
export async function linearProbe(
  trainFeatures: tf.Tensor,
  trainLabels: Labels,
  testFeatures: tf.Tensor,
  testLabels: Labels,
  options?: LinearProbeOptions,
): Promise<LinearProbeResult>;
/**
 * Linear probing on images: the features of a frozen `encoder` (one pass
 * over each set, see `extractPooledFeatures`), labelled by the batches'
 * `labels`, then the probe above. The images may stream from an async
 * source, e.g. an image folder of `tfjs-mae/node` with the evaluation
 * transform.
 *
 * @param encoder e.g. `mae.encoder`
 * @param train labelled training images: batches `{ images, labels }` (see `FeatureImages`)
 * @param test labelled test images
 */
export async function linearProbe(
  encoder: FeatureEncoder,
  train: FeatureImages,
  test: FeatureImages,
  options?: LinearProbeImagesOptions,
): Promise<LinearProbeResult>;
export async function linearProbe(
  a: tf.Tensor | FeatureEncoder,
  b: Labels | FeatureImages,
  c: tf.Tensor | FeatureImages,
  d?: Labels | LinearProbeImagesOptions,
  e?: LinearProbeOptions,
): Promise<LinearProbeResult> {
  if (!(a instanceof tf.Tensor) && a != null && typeof (a as FeatureEncoder).forwardFeatures === 'function') {
    return probeImages(a as FeatureEncoder, b as FeatureImages, c as FeatureImages, (d ?? {}) as LinearProbeImagesOptions);
  }
  return probeFeatures(a as tf.Tensor, b as Labels, c as tf.Tensor, d as Labels, e ?? {});
}

async function probeImages(encoder: FeatureEncoder, train: FeatureImages, test: FeatureImages, o: LinearProbeImagesOptions): Promise<LinearProbeResult> {
  const pool = o.pool ?? 'mean';
  const extract = async (images: FeatureImages, name: string) => {
    const out = await extractPooledFeatures(encoder, images, { pools: [pool], batchSize: o.featureBatchSize });
    if (out.labels === undefined) {
      tf.dispose(out[pool]);
      throw new MAEInputError(`${name}: expected batches carrying labels ({ images, labels }), got batches without`);
    }
    return { x: out[pool]!, y: out.labels };
  };
  const tr = await extract(train, 'train');
  try {
    const te = await extract(test, 'test');
    try {
      return await probeFeatures(tr.x, tr.y, te.x, te.y, o);
    } finally {
      tf.dispose([te.x, te.y]);
    }
  } finally {
    tf.dispose([tr.x, tr.y]);
  }
}

async function probeFeatures(
  trainFeatures: tf.Tensor,
  trainLabels: Labels,
  testFeatures: tf.Tensor,
  testLabels: Labels,
  options: LinearProbeOptions,
): Promise<LinearProbeResult> {
  const [n, d] = features2d(trainFeatures, 'trainFeatures');
  const [m, dTest] = features2d(testFeatures, 'testFeatures');
  if (dTest !== d) throw new MAEInputError(`testFeatures: expected D = ${d} columns like trainFeatures, got shape ${describe(testFeatures.shape)}`);
  const yTrain = await hostLabels(trainLabels, 'trainLabels', n);
  const yTest = await hostLabels(testLabels, 'testLabels', m);
  const o = checkOptions(options);
  const numClasses = o.numClasses ?? classCount(yTrain, yTest);
  if (numClasses < 2) throw new MAEInputError(`labels: expected at least 2 classes, got ${numClasses}`);
  const bad = [...yTrain, ...yTest].find((v) => v >= numClasses);
  if (bad !== undefined) throw new MAEInputError(`labels: expected classes below numClasses ${numClasses}, got ${bad}`);

  const batches = probeBatches(n, o.batchSize);
  const stepsPerEpoch = Math.floor(batches / o.accumSteps);
  if (stepsPerEpoch < 1) {
    throw new MAEConfigError(`linearProbe accumSteps: expected at most the ${batches} batches of ${o.batchSize} of the ${n} training rows, got ${o.accumSteps}`);
  }
  const head = new LinearProbeHead({ inFeatures: d, numClasses, eps: o.bnEps, momentum: o.momentum, initStd: o.initStd, seed: mixSeed(o.seed, 0x68656164) });
  const trainY = tf.tensor1d(yTrain, 'int32');
  const testY = tf.tensor1d(yTest, 'int32');
  const accumulator = o.accumSteps > 1 ? new GradAccumulator(o.accumSteps) : undefined;
  let optimizer: ProbeOptimizer | undefined;
  try {
    head.ensureBuilt();
    optimizer = probeOptimizer(trainableParams(head.stateEntries()), o);
    const opt = optimizer;
    const vars = opt.variables;
    const run = { seed: o.seed, stepsPerEpoch, accumSteps: o.accumSteps, optimizer: o.optimizer ?? 'adamw', epochs: o.epochs };
    if (o.resume) loadProbeCheckpoint(head, opt, o.resume, run);
    const epochLosses: number[] = [];
    let step = o.resume?.step ?? 0;
    /** One micro-batch: the probe's loss and gradients on rows `rows` of the training features, in training mode (the batch norm's statistics move). */
    const microBatch = (rows: Int32Array) => {
      const idx = tf.tensor2d(rows, [rows.length, 1], 'int32'); // whole rows by gatherND: wasm's gather copies element by element
      try {
        return tf.variableGrads(() => tf.tidy(() => crossEntropy(head.forward(tf.gatherND(trainFeatures, idx), { training: true }), tf.gatherND(trainY, idx))), vars);
      } finally {
        idx.dispose();
      }
    };
    for (let epoch = o.resume?.epoch ?? 0; epoch < o.epochs; epoch++) {
      const order = permutation(n, mixSeed(o.seed, epoch));
      let total = tf.scalar(0);
      let rowsUsed = 0;
      try {
        for (let s = 0; s < stepsPerEpoch; s++) {
          const lr = probeLr(o, step++);
          let grads: tf.NamedTensorMap | undefined;
          for (let micro = 0; micro < o.accumSteps; micro++) {
            const b = s * o.accumSteps + micro;
            const rows = order.subarray(b * o.batchSize, Math.min((b + 1) * o.batchSize, n));
            const r = microBatch(rows);
            const next = tf.tidy(() => tf.add(total, tf.mul(r.value, rows.length)) as tf.Scalar);
            tf.dispose([total, r.value]);
            total = next;
            rowsUsed += rows.length;
            if (!accumulator) grads = r.grads;
            else {
              accumulator.add(r.grads);
              tf.dispose(Object.values(r.grads));
            }
          }
          grads ??= accumulator!.average(); // the mean gradient of the micro-batches
          try {
            opt.step(grads, lr);
          } finally {
            tf.dispose(Object.values(grads));
          }
        }
        const loss = (await total.data())[0] / rowsUsed;
        epochLosses.push(loss);
        if (o.onEpoch) {
          const test = await evaluate(head, testFeatures, testY, numClasses >= 5 ? 5 : 1);
          const checkpoint = () => probeCheckpoint(head, opt, { ...run, step, epoch: epoch + 1 });
          await o.onEpoch({ epoch, loss, testAccuracy: test.correct / m, ...(numClasses >= 5 ? { testAccuracy5: test.correctTopK / m } : {}), testLoss: test.lossSum / m, head, checkpoint });
        }
      } finally {
        total.dispose();
      }
    }
    const accuracy = (await evaluate(head, testFeatures, testY)).correct / m;
    const trainAccuracy = (await evaluate(head, trainFeatures, trainY)).correct / n;
    return { accuracy, trainAccuracy, epochLosses };
  } finally {
    accumulator?.dispose();
    optimizer?.dispose();
    head.dispose();
    tf.dispose([trainY, testY]);
  }
}

/**
 * The probe in inference mode on `features [N, D]`, in chunks of 4096 rows:
 * correct top-1 and top-`k` predictions and the summed cross-entropy.
 */
async function evaluate(head: LinearProbeHead, features: tf.Tensor, labels: tf.Tensor, k = 1): Promise<{ correct: number; correctTopK: number; lossSum: number }> {
  const n = features.shape[0];
  let sums = tf.zeros([3]);
  try {
    for (let i = 0; i < n; i += 4096) {
      const size = Math.min(4096, n - i);
      const next = tf.tidy(() => {
        const logits = head.forward(tf.slice(features, [i, 0], [size, -1]));
        return tf.add(sums, metricSums(logits, tf.slice(labels, [i], [size]), k));
      });
      sums.dispose();
      sums = next;
    }
    const [correct, correctTopK, lossSum] = await sums.data();
    return { correct, correctTopK, lossSum };
  } finally {
    sums.dispose(); // also when a chunk throws
  }
}

/** The run a probe checkpoint belongs to: a resume must match it. */
interface ProbeRun {
  seed: number;
  stepsPerEpoch: number;
  accumSteps: number;
  optimizer: 'adamw' | 'lars';
  epochs: number;
}

/** The `config` metadata of a probe checkpoint: the head's class and shape, and the optimiser. */
function probeConfig(head: LinearProbeHead, optimizer: string): string {
  const { inFeatures, numClasses, eps, momentum, initStd } = head;
  return JSON.stringify({ className: LinearProbeHead.className, config: { inFeatures, numClasses, eps, momentum, initStd }, optimizer });
}

/** A checkpoint of the probe at the end of epoch `epoch - 1`. */
async function probeCheckpoint(head: LinearProbeHead, optimizer: ProbeOptimizer, c: ProbeRun & { step: number; epoch: number }): Promise<TrainingCheckpoint> {
  const dict = stateDict(head.stateEntries());
  try {
    const weights = await writeSafetensors(dict, { format: 'pt', config: probeConfig(head, c.optimizer) });
    return { weights, optimizer: await optimizer.getState(), step: c.step, epoch: c.epoch, seed: c.seed, stepsPerEpoch: c.stepsPerEpoch, accumSteps: c.accumSteps };
  } finally {
    tf.dispose(Object.values(dict));
  }
}

/** Loads a probe checkpoint into `head` and `optimizer` after checking it belongs to this run (a `CheckpointError` says what differs). */
function loadProbeCheckpoint(head: LinearProbeHead, optimizer: ProbeOptimizer, ckpt: TrainingCheckpoint, run: ProbeRun): void {
  const parsed = parseSafetensors(ckpt.weights);
  let stored: { className?: unknown; config?: { inFeatures?: unknown; numClasses?: unknown }; optimizer?: unknown } = {};
  try {
    stored = JSON.parse(parsed.metadata.config ?? '{}') as typeof stored;
  } catch {
    /* reported below */
  }
  const expect = (what: string, want: unknown, got: unknown) => {
    if (want !== got) throw new CheckpointError(`linearProbe resume: ${what}: expected this run's ${describe(want)}, got ${describe(got)}`);
  };
  expect('a probe checkpoint (config className)', LinearProbeHead.className, stored.className);
  expect('config.inFeatures (the feature width)', head.inFeatures, stored.config?.inFeatures);
  expect('config.numClasses', head.numClasses, stored.config?.numClasses);
  expect('optimizer', run.optimizer, stored.optimizer);
  expect('seed', run.seed, ckpt.seed);
  expect('stepsPerEpoch (same rows, batchSize and accumSteps)', run.stepsPerEpoch, ckpt.stepsPerEpoch);
  expect('accumSteps', run.accumSteps, ckpt.accumSteps);
  expect('step (a checkpoint saved at the end of its epoch)', ckpt.epoch * run.stepsPerEpoch, ckpt.step);
  if (ckpt.epoch > run.epochs) throw new CheckpointError(`linearProbe resume.epoch: expected at most the run's ${run.epochs} epochs, got ${ckpt.epoch}`);
  loadCheckpointWeights(head.stateEntries(), ckpt.weights);
  optimizer.setState(ckpt.optimizer);
}

function features2d(x: tf.Tensor, name: string): [number, number] {
  if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.dtype !== 'float32') {
    const got = x instanceof tf.Tensor ? `${x.dtype} ${describe(x.shape)}` : describe(x);
    throw new MAEInputError(`${name}: expected a float32 tensor [N, D], got ${got}`);
  }
  if (x.shape[0] < 1) throw new MAEInputError(`${name}: expected at least one row, got shape ${describe(x.shape)}`);
  return [x.shape[0], x.shape[1] as number];
}

type Resolved = Required<Omit<LinearProbeOptions, 'numClasses' | 'onEpoch' | 'resume' | keyof LinearProbeOptimizerOptions>> &
  Pick<LinearProbeOptions, 'numClasses' | 'onEpoch' | 'resume'> &
  LinearProbeOptimizerOptions;

function checkOptions(o: LinearProbeOptions): Resolved {
  if (o == null || typeof o !== 'object') throw new MAEConfigError(`options: expected an object, got ${describe(o)}`);
  const int = (name: string, v: unknown, min: number) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min)) {
      throw new MAEConfigError(`linearProbe ${name}: expected an integer >= ${min}, got ${describe(v)}`);
    }
  };
  const num = (name: string, v: unknown, positive: boolean) => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0))) {
      throw new MAEConfigError(`linearProbe ${name}: expected a finite number ${positive ? '> 0' : '>= 0'}, got ${describe(v)}`);
    }
  };
  int('numClasses', o.numClasses, 2);
  int('epochs', o.epochs, 1);
  int('batchSize', o.batchSize, 2);
  int('accumSteps', o.accumSteps, 1);
  if (o.resume !== undefined) checkCheckpoint(o.resume, 'linearProbe resume');
  num('lr', o.lr, false);
  num('weightDecay', o.weightDecay, false);
  num('bnEps', o.bnEps, true);
  num('initStd', o.initStd, true);
  if (o.momentum !== undefined && (typeof o.momentum !== 'number' || !(o.momentum >= 0 && o.momentum <= 1))) {
    throw new MAEConfigError(`linearProbe momentum: expected a number in [0, 1], got ${describe(o.momentum)}`);
  }
  const batchSize = o.batchSize ?? 256;
  const defaultLr = checkProbeOptimizer(o, batchSize);
  return {
    ...o,
    numClasses: o.numClasses,
    onEpoch: o.onEpoch,
    epochs: o.epochs ?? 10,
    batchSize,
    lr: o.lr ?? defaultLr,
    betas: o.betas ?? [0.9, 0.999],
    weightDecay: o.weightDecay ?? 0,
    bnEps: o.bnEps ?? 1e-6,
    momentum: o.momentum ?? 0.1,
    initStd: o.initStd ?? 0.01,
    accumSteps: o.accumSteps ?? 1,
    resume: o.resume,
    seed: checkSeed(o.seed ?? o.resume?.seed ?? 0, 'linearProbe seed'),
  };
}
