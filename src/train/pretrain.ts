/**
 * MAE pre-training (official `main_pretrain.py` + `engine_pretrain.py`):
 * AdamW (0.9, 0.95) with the official parameter groups, per-iteration
 * warmup-cosine learning rate, the MAE loss with mask noise seeded per
 * micro-batch, checkpoints and exact resume (see `trainLoop`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAEConfigError, describe } from '../errors';
import { flag } from '../util/validate';
import { MAELayer, type StateEntry } from '../nn/MAELayer';
import { weightsMetadata } from '../io/modelConfig';
import { checkWasmMemory, WASM_HEAP_LIMIT, type MemoryModelConfig } from '../model/memory';
import { mixSeed } from '../data/rng';
import { NO_WEIGHT_DECAY_NAMES, paramGroups } from './paramGroups';
import { batchImages, type TrainData } from './data';
import { trainLoop, type TrainLoopOptions, type TrainResult } from './loop';
import type { NamedParam, ParamGroup } from './types';

/** What `pretrain` needs of a model; `MaskedAutoencoder` has it. */
export interface PretrainModel {
  /** The scalar MAE loss of `imgs [N, H, W, C]` with mask noise drawn from `seed`. */
  loss(imgs: tf.Tensor, options?: { seed?: number; maskRatio?: number; recompute?: boolean }): tf.Scalar;
  /** Every weight under its official name; the trainable ones are optimised. */
  stateEntries(): StateEntry[];
}

/** Options of {@link pretrain}: the loop's (`epochs` required) and the optimiser's. */
export interface PretrainOptions extends TrainLoopOptions {
  /** AdamW weight decay of the ≥ 2-D weights. Defaults to 0.05. */
  weightDecay?: number;
  /** Names never decayed besides 1-D parameters. Defaults to `NO_WEIGHT_DECAY_NAMES` (tokens and position tables). */
  noWeightDecay?: readonly string[];
  /** AdamW `[β1, β2]`. Defaults to `[0.9, 0.95]` (MAE pre-training). */
  betas?: [number, number];
  /** AdamW epsilon. Defaults to 1e-8. */
  eps?: number;
  /** Mask ratio of every step. Defaults to the model's. */
  maskRatio?: number;
  /**
   * Recompute every block in the backward pass (activation checkpointing,
   * `MaskedAutoencoderArgs.recompute`): same steps, much less memory, about
   * one more forward pass per step. Defaults to the model's own `recompute`.
   */
  recompute?: boolean;
  /**
   * On wasm, the heap limit of the pre-flight memory check: before the first
   * step, the model plus a training step at the first batch's size is
   * estimated (`checkWasmMemory`, mode `'train'`) and a run that cannot fit
   * fails at once with an `MAEMemoryError` (the estimate, the limit and the
   * largest batch that fits) instead of inside a kernel. Defaults to
   * {@link WASM_HEAP_LIMIT} (4 GiB). Other backends are not checked.
   */
  memoryLimitBytes?: number;
}

/** What {@link pretrain} returns. */
export type PretrainResult = TrainResult;

/** The seed of the mask noise of micro-batch `index` (global, 0-based) of a run seeded `seed`. */
export function maskNoiseSeed(seed: number, index: number): number {
  return mixSeed(mixSeed(seed, 0x6d61736b), index);
}

/** The trainable entries as named parameters (official names). */
export function trainableParams(entries: StateEntry[]): NamedParam[] {
  return entries.filter((e) => e.variable.trainable).map((e) => ({ name: e.name, variable: e.variable.read() as tf.Variable }));
}

/**
 * The model config for the checkpoints' weights; none for a model that has
 * no serialisable config (a duck-typed model, an unregistered class, a
 * masking strategy without `toConfig`): those checkpoints still resume.
 */
function checkpointMetadata(model: PretrainModel): Record<string, string> | undefined {
  if (!(model instanceof MAELayer)) return undefined;
  try {
    return weightsMetadata(model);
  } catch {
    return undefined;
  }
}

/**
 * Pre-trains `model` (a `MaskedAutoencoder`) on `data`.
 *
 * Each optimiser step: `lr = schedule(step)` (default: warmup over 5 % of
 * the steps to `lr`, default `1.5e-4 × batch / 256`, then a half cosine to
 * `minLr`), then for each of its `accumSteps` micro-batches
 * `tf.variableGrads(() => model.loss(images, { seed: maskNoiseSeed(seed, i) }))`,
 * the mean gradient (optionally clipped), and one AdamW step over the
 * trainable weights grouped by `paramGroups` (official names: no decay on
 * 1-D weights, tokens and position tables). Reports the loss, lr, images/s
 * and ETA per step (a one-line progress printer in Node), saves checkpoints
 * and resumes from them bit for bit.
 *
 * @param model the model to train in place (its trainable weights)
 * @param data `{ batches(epoch, startBatch), batchesPerEpoch }` (e.g.
 *   `imageDataSource`) or `(epoch) => Iterable` of `{ images [B, H, W, C] }` or tensors
 * @param options see {@link PretrainOptions}; `epochs` is required
 * @throws TrainingError when a loss is not finite (naming the step) or an epoch runs out of batches
 * @throws CheckpointError when `resume` does not fit the model or the run
 */
export async function pretrain(model: PretrainModel, data: TrainData, options: PretrainOptions): Promise<PretrainResult> {
  if (model == null || typeof model.loss !== 'function' || typeof model.stateEntries !== 'function') {
    throw new MAEConfigError(`pretrain model: expected a MaskedAutoencoder (loss and stateEntries), got ${describe(model)}`);
  }
  const o = options ?? ({} as PretrainOptions);
  for (const name of ['weightDecay', 'eps'] as const) {
    const v = o[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw new MAEConfigError(`pretrain ${name}: expected a finite number >= 0, got ${describe(v)}`);
    }
  }
  const entries = model.stateEntries();
  const groups = paramGroups(trainableParams(entries), {
    weightDecay: o.weightDecay ?? 0.05,
    noWeightDecay: o.noWeightDecay ?? NO_WEIGHT_DECAY_NAMES,
  });
  const maskRatio = o.maskRatio;
  const recompute = o.recompute === undefined ? {} : { recompute: flag('pretrain recompute', o.recompute) };
  const onStep = warnOnUnnormalisedLoss(o.onStep);
  const preflight = wasmPreflight(model, groups, o);
  return trainLoop(
    {
      label: 'pretrain',
      entries,
      metadata: checkpointMetadata(model),
      groups,
      betas: o.betas ?? [0.9, 0.95],
      eps: o.eps ?? 1e-8,
      blr: 1.5e-4,
      loss: (batch, index, seed) => {
        const imgs = batchImages(batch, 'data batch');
        preflight(imgs.shape[0]);
        return model.loss(imgs, { seed: maskNoiseSeed(seed, index), ...(maskRatio === undefined ? {} : { maskRatio }), ...recompute });
      },
    },
    data,
    { ...o, onStep },
  );
}

/**
 * The wasm memory pre-flight of a run: checks the first micro-batch's size
 * once (later batches are the same size, or a smaller last one). The
 * estimate counts the gradients and AdamW's m and v as still to allocate; a
 * resumed run holds its m and v already, so the limit is raised by them
 * rather than counting them twice. Does nothing for a model without a
 * `config` of our models' fields (a duck-typed model) or off wasm.
 */
function wasmPreflight(model: PretrainModel, groups: ParamGroup[], o: PretrainOptions): (batch: number) => void {
  const config = (model as { config?: Partial<MemoryModelConfig> & { recompute?: boolean } }).config;
  if (config == null || typeof config.embedDim !== 'number' || typeof config.depth !== 'number' || typeof config.numHeads !== 'number') return () => undefined;
  let checked = false;
  return (batch) => {
    if (checked) return;
    checked = true;
    const moments = o.resume === undefined ? 0 : 2 * 4 * groups.reduce((n, g) => n + g.params.reduce((m, p) => m + p.variable.size, 0), 0);
    const limitBytes = (o.memoryLimitBytes ?? WASM_HEAP_LIMIT) + moments;
    const recompute = o.recompute ?? config.recompute ?? false;
    checkWasmMemory({ ...(config as MemoryModelConfig), ...(o.maskRatio === undefined ? {} : { maskRatio: o.maskRatio }) }, { batch, mode: 'train', recompute, limitBytes });
  };
}

/**
 * Above this first-step loss the images are almost certainly not normalised:
 * normalised images (mean 0, std 1) start near 1–3 (2.7 for the Fashion-MNIST
 * recipe), while 0–255 floats start near 1e4.
 */
export const UNNORMALISED_LOSS = 100;

let warnedUnnormalised = false;

/**
 * Wraps `onStep`: the first reported loss of a run (already read back by the
 * loop, so no extra device read) is checked once per process against
 * {@link UNNORMALISED_LOSS}, with a `console.warn` when above.
 */
function warnOnUnnormalisedLoss(onStep: PretrainOptions['onStep']): PretrainOptions['onStep'] {
  let first = true;
  return (info) => {
    if (first && !warnedUnnormalised && info.loss > UNNORMALISED_LOSS) {
      warnedUnnormalised = true;
      console.warn(
        `[pretrain] warning: the loss of the first step is ${info.loss.toPrecision(4)} (normalised images start near 1–3): ` +
          `the images look unnormalised (0–255 values?). Feed (x / 255 − mean) / std, e.g. imageDataSource(images, labels, { mean, std, ... }).`,
      );
    }
    first = false;
    return onStep?.(info);
  };
}
