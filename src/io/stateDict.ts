/**
 * State dicts: our weights under official names and torch layouts, loading
 * them back with every layout change (Linear transpose, conv ↔ patch linear,
 * HF q/k/v split), and mapping gradients the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, describe } from '../errors';
import type { StateEntry, TorchLayout } from '../nn/MAELayer';
import { fromHFNames, toHFNames } from './naming';

/** Which names a state dict uses. */
export type Naming = 'official' | 'hf';

/** Options of `stateDict()`. */
export interface StateDictOptions {
  /** `'official'` (facebookresearch/mae) or `'hf'` (HuggingFace). Defaults to `'official'`. */
  naming?: Naming;
}

/** Options of `loadStateDict()`. */
export interface LoadOptions {
  /** Names used by the tensors: `'official'`, `'hf'`, or `'auto'` (HF if any name starts with `vit.`/`decoder.`). Defaults to `'auto'`. */
  naming?: Naming | 'auto';
  /**
   * `true`: throw one error listing every missing, unexpected or mis-shaped
   * name. `'shapes'`: throw only for mis-shaped ones (missing and unexpected
   * names are reported). `false`: never throw; mis-shaped tensors are skipped
   * and reported. In every case nothing is written when it throws.
   * Defaults to `true`.
   */
  strict?: boolean | 'shapes';
}

/** What a load did. */
export interface LoadReport {
  /** Official names that were loaded. */
  loaded: string[];
  /** Official names the model has but the file does not (left as they were). */
  missing: string[];
  /** Names in the file the model does not have (ignored). */
  unexpected: string[];
  /** Names present in both with different shapes (torch layout), not loaded. */
  mismatched: Array<{
    /** The official name. */
    name: string;
    /** The torch shape the model needs. */
    expected: number[];
    /** The shape in the file. */
    got: number[];
  }>;
}

/** The torch shape of an entry's weight. */
export function torchShape(entry: StateEntry): number[] {
  const s = entry.variable.shape as number[];
  return convertShape(entry.layout, s);
}

function convertShape(layout: TorchLayout, s: number[]): number[] {
  switch (layout.kind) {
    case 'same':
      return [...s];
    case 'linear':
      return [s[1], s[0]];
    case 'patch':
      return [s[1], layout.inChans, layout.patchSize, layout.patchSize];
  }
}

/** Ours → torch layout (a new tensor). */
export function toTorchLayout(layout: TorchLayout, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    switch (layout.kind) {
      case 'same':
        return tf.clone(t);
      case 'linear':
        return tf.transpose(t);
      case 'patch': {
        const { patchSize: p, inChans: c } = layout;
        const d = t.shape[1] as number;
        // [p·p·C, D] = (ky, kx, c) × D → [D, C, ky, kx]
        return tf.transpose(tf.reshape(t, [p, p, c, d]), [3, 2, 0, 1]);
      }
    }
  });
}

/** Torch → our layout (a new tensor). */
export function fromTorchLayout(layout: TorchLayout, t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const f = t.dtype === 'float32' ? t : tf.cast(t, 'float32');
    switch (layout.kind) {
      case 'same':
        return tf.clone(f);
      case 'linear':
        return tf.transpose(f);
      case 'patch': {
        const { patchSize: p, inChans: c } = layout;
        const d = f.shape[0];
        return tf.reshape(tf.transpose(f, [2, 3, 1, 0]), [p * p * c, d]);
      }
    }
  });
}

/** The weights of `entries` as a state dict of new tensors in torch layouts. */
export function stateDict(entries: StateEntry[], options: StateDictOptions = {}): Record<string, tf.Tensor> {
  const official: Record<string, tf.Tensor> = {};
  for (const e of entries) official[e.name] = toTorchLayout(e.layout, e.variable.read());
  if ((options.naming ?? 'official') === 'official') return official;
  const hf = toHFNames(official);
  const kept = new Set(Object.values(hf));
  for (const t of Object.values(official)) if (!kept.has(t)) t.dispose(); // the fused qkv, now split
  return hf;
}

/**
 * Gradients keyed by variable name (as `tf.variableGrads` returns them) →
 * official names and torch layouts (new tensors; the inputs are not disposed).
 */
export function officialGradients(entries: StateEntry[], grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const e of entries) {
    const g = grads[e.variable.name];
    if (g) out[e.name] = toTorchLayout(e.layout, g);
  }
  return out;
}

/** `'hf'` when any name is a HuggingFace one (`vit.`, `decoder.`, or bare `embeddings.` / `encoder.`), else `'official'`. */
export function detectNaming(names: string[]): Naming {
  return names.some((n) => /^(vit|decoder)\./.test(n) || /^(embeddings|encoder)\./.test(n)) ? 'hf' : 'official';
}

/** Loads a state dict into `entries`' variables. The input tensors are not disposed. */
export function loadStateDict(
  entries: StateEntry[],
  tensors: Record<string, tf.Tensor>,
  options: LoadOptions = {},
): LoadReport {
  const strict = options.strict ?? true;
  const naming = options.naming === undefined || options.naming === 'auto' ? detectNaming(Object.keys(tensors)) : options.naming;
  if (naming !== 'official' && naming !== 'hf') {
    throw new CheckpointError(`naming must be 'official', 'hf' or 'auto', got ${describe(naming)}`);
  }
  const named = naming === 'hf' ? fromHFNames(tensors) : tensors;
  try {
    const shapes = new Map(Object.entries(named).map(([n, t]) => [n, t.shape as number[]]));
    const { report, ready } = planStateDict(entries, shapes, strict);
    for (const e of ready) writeEntry(e, named[e.name]);
    return report;
  } finally {
    // Dispose only what the renaming created (the merged q/k/v weights).
    const inputs = new Set(Object.values(tensors));
    for (const t of Object.values(named)) if (!inputs.has(t)) t.dispose();
  }
}

/** What {@link planStateDict} decided. */
export interface LoadPlan {
  /** The report; `loaded` lists the entries that will be written. */
  report: LoadReport;
  /** The entries to write, in model order. */
  ready: StateEntry[];
}

/**
 * Decides a load from names and torch shapes alone (official names): what
 * is missing, unexpected and mis-shaped, and which entries will be written
 * (`report.loaded` lists them). Throws as `strict` says (see {@link LoadOptions}),
 * before anything is written.
 */
export function planStateDict(
  entries: StateEntry[],
  shapes: ReadonlyMap<string, readonly number[]>,
  strict: boolean | 'shapes',
): LoadPlan {
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const known = new Set(entries.map((e) => e.name));
  const ready: StateEntry[] = [];
  for (const e of entries) {
    const shape = shapes.get(e.name);
    if (shape === undefined) {
      report.missing.push(e.name);
      continue;
    }
    const expected = torchShape(e);
    if (!tf.util.arraysEqual(expected, shape as number[])) {
      report.mismatched.push({ name: e.name, expected, got: [...shape] });
      continue;
    }
    ready.push(e);
  }
  report.unexpected = [...shapes.keys()].filter((n) => !known.has(n));
  const fatal = strict === 'shapes' ? report.mismatched.length > 0 : strict && (report.missing.length || report.unexpected.length || report.mismatched.length);
  if (fatal) {
    throw new CheckpointError(`state dict does not match the model: ${summarise(report)}`);
  }
  report.loaded = ready.map((e) => e.name);
  return { report, ready };
}

/** Writes one torch-layout tensor into an entry's variable (layout changed, dtype cast as needed; `t` is not disposed). */
export function writeEntry(e: StateEntry, t: tf.Tensor): void {
  tf.tidy(() => {
    const v = fromTorchLayout(e.layout, t);
    // Integer buffers (e.g. a batch norm's num_batches_tracked) keep their dtype.
    e.variable.write(v.dtype === e.variable.dtype ? v : tf.cast(v, e.variable.dtype));
  });
}

/** One line naming every problem of a load. */
export function summarise(report: LoadReport): string {
  const parts: string[] = [];
  const list = (names: string[]): string => (names.length > 8 ? `${names.slice(0, 8).join(', ')}, … (${names.length} in all)` : names.join(', '));
  if (report.missing.length) parts.push(`missing ${report.missing.length}: ${list(report.missing)}`);
  if (report.unexpected.length) parts.push(`unexpected ${report.unexpected.length}: ${list(report.unexpected)}`);
  if (report.mismatched.length) {
    parts.push(
      `mis-shaped ${report.mismatched.length}: ${report.mismatched
        .map((m) => `${m.name} expected ${describe(m.expected)} got ${describe(m.got)}`)
        .join(', ')}`,
    );
  }
  return parts.length ? parts.join('; ') : `all ${report.loaded.length} tensors loaded`;
}
