/**
 * Ctrl-C in the training commands (`pretrain`, `finetune`): the first one
 * asks the loop to stop at the next step boundary, where it saves a
 * checkpoint (written atomically) that `--resume` continues exactly; a
 * second one quits at once without saving.
 */
import type { TrainingCheckpoint } from '../train/checkpoint';
import type { CliIO } from './command';
import { checkpointName } from './runDir';

/** The Ctrl-C handler of one run. */
export interface CtrlC {
  /** Aborted by the first Ctrl-C: the training loop's `signal`. */
  signal: AbortSignal;
  /** Removes the handler (call it in a `finally`). */
  dispose(): void;
}

/** Installs the Ctrl-C handler of a training run. */
export function onCtrlC(io: CliIO): CtrlC {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    if (++interrupts > 1) process.exit(130);
    io.err('tfjs-mae: interrupted; saving a checkpoint after this step (Ctrl-C again to quit without saving)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** Lets a pending Ctrl-C through between two steps (the steps themselves do not yield to the event loop). */
export const yieldToSignals = (): Promise<void> => new Promise((done) => setImmediate(done));

/**
 * The file of a checkpoint: `checkpoint-<epoch>.safetensors` when it is the
 * end of epoch `<epoch>` (0-based; also when Ctrl-C stopped the run right
 * there), else `checkpoint-interrupted.safetensors`.
 */
export function checkpointFile(ckpt: TrainingCheckpoint): string {
  return ckpt.step > 0 && ckpt.step % ckpt.stepsPerEpoch === 0 ? checkpointName(ckpt.epoch - 1) : checkpointName('interrupted');
}

/** The last line of a run stopped by Ctrl-C. */
export function interruptedLine(step: number, totalSteps: number, lastSaved: string): string {
  return `interrupted at step ${step}/${totalSteps}; continue with --resume auto (or --resume ${lastSaved})`;
}
