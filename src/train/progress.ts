/**
 * The progress reports of a training loop, and a default one-line printer
 * for Node. Browser-safe: without a `process.stdout` the printer is a no-op.
 */
import { formatRunInfo, type RunInfo } from './runInfo';

/** What a training loop reports after each optimiser step. */
export interface StepInfo {
  /** Global optimiser step, 0-based (across epochs and resumes). */
  step: number;
  /** Epoch of this step, 0-based. */
  epoch: number;
  /** Step inside the epoch, 0-based. */
  stepInEpoch: number;
  /** Optimiser steps per epoch. */
  stepsPerEpoch: number;
  /** Optimiser steps of the whole run (all epochs). */
  totalSteps: number;
  /** Epochs of the whole run. */
  epochs: number;
  /** The loss of this step (mean over its micro-batches). */
  loss: number;
  /** The learning rate of this step (before any group's `lrScale`). */
  lr: number;
  /** Training throughput since the previous report, images per second. */
  imagesPerSec: number;
  /** Estimated seconds left for the whole run, from the mean step time of this call. */
  etaSec: number;
}

/** What a training loop reports at the end of each epoch. */
export interface EpochInfo {
  /** The epoch that ended, 0-based. */
  epoch: number;
  /** Epochs of the whole run. */
  epochs: number;
  /** Mean of the step losses of this epoch run in this call (a resumed epoch: only the steps after the resume). */
  meanLoss: number;
  /** Steps averaged in `meanLoss`. */
  steps: number;
  /** Wall time of the epoch in this call, seconds. */
  seconds: number;
}

/** Callbacks that receive the reports; each may return a promise, which the loop awaits. */
export interface ProgressCallbacks {
  /**
   * Called once per call of the loop, before its first optimiser step (once
   * the first batch has given the batch size): the schedule's peak lr, where
   * it comes from (the official rule, the `lr` option or a `schedule`), the
   * sum of the lr over the run, and a warning when that sum is too small to
   * move the weights. The default printer prints it; `progress: false`
   * silences it. Defaults to none.
   */
  onStart?: (info: RunInfo) => void | Promise<void>;
  /** Called once per optimiser step, in order, when its loss has been read back (every `readLossEvery` steps); awaited. Defaults to none. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Called after each epoch (awaited). Defaults to none. */
  onEpoch?: (info: EpochInfo) => void | Promise<void>;
}

/** Options of {@link progressPrinter}. */
export interface ProgressPrinterArgs {
  /** Prefix of every line. Defaults to `'[pretrain]'`. */
  label?: string;
  /**
   * When the output is not a terminal, print a step line every this many
   * steps. Defaults to a tenth of an epoch. On a terminal one line is
   * rewritten in place after every report.
   */
  every?: number;
}

interface Stdout {
  write(s: string): unknown;
  isTTY?: boolean;
}

function stdout(): Stdout | undefined {
  const proc = (globalThis as { process?: { stdout?: Stdout } }).process;
  return proc?.stdout && typeof proc.stdout.write === 'function' ? proc.stdout : undefined;
}

/** `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The one-line summary of a step, e.g. `epoch 2/4 step 300/936 loss 0.3012 lr 1.46e-3 312 img/s eta 5:12`. */
export function formatStep(info: StepInfo): string {
  const width = String(info.totalSteps).length;
  return (
    `epoch ${info.epoch + 1}/${info.epochs} step ${String(info.step + 1).padStart(width)}/${info.totalSteps} ` +
    `loss ${info.loss.toFixed(4)} lr ${info.lr.toExponential(2)} ` +
    `${info.imagesPerSec.toFixed(0)} img/s eta ${formatDuration(info.etaSec)}`
  );
}

/**
 * A progress printer for `process.stdout` (Node). On a terminal it rewrites
 * one line after every step; otherwise (a log file) it prints a line every
 * `every` steps. Each epoch ends with a summary line
 * (`epoch 2/4 loss 0.2950 (87.1 s)`). Without `process.stdout` (a browser)
 * it prints nothing.
 */
export function progressPrinter(args: ProgressPrinterArgs = {}): Required<ProgressCallbacks> {
  const label = args.label ?? '[pretrain]';
  const out = stdout();
  let open = false; // a rewritable line is on screen
  return {
    onStart(info) {
      if (out === undefined) return;
      out.write(`${label} ${formatRunInfo(info)}\n`);
      if (info.warning) out.write(`${label} warning: ${info.warning}\n`);
    },
    onStep(info) {
      if (out === undefined) return;
      const line = `${label} ${formatStep(info)}`;
      if (out.isTTY) {
        out.write(`\r${line}\x1b[K`);
        open = true;
        return;
      }
      const every = args.every ?? Math.max(1, Math.round(info.stepsPerEpoch / 10));
      if ((info.stepInEpoch + 1) % every === 0 || info.step === 0) out.write(`${line}\n`);
    },
    onEpoch(info) {
      if (out === undefined) return;
      if (open) out.write('\n');
      open = false;
      out.write(`${label} epoch ${info.epoch + 1}/${info.epochs} loss ${info.meanLoss.toFixed(4)} (${info.seconds.toFixed(1)} s)\n`);
    },
  };
}
