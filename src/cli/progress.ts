/**
 * The progress line of the training commands: images/s, loss, lr and ETA
 * (the library's `formatStep`). On a terminal one line is rewritten in place;
 * otherwise (a log file, a test) a line every tenth of an epoch.
 */
import { formatStep, type StepInfo } from '../train/progress';
import type { CliIO } from './command';

/** A step reporter writing to `io` (or rewriting one terminal line when `tty`). */
export function stepReporter(io: CliIO, label: string, tty = io.tty === true): { step(info: StepInfo): void; end(): void } {
  let open = false;
  return {
    step(info) {
      const line = `[${label}] ${formatStep(info)}`;
      if (tty) {
        process.stdout.write(`\r${line}\x1b[K`);
        open = true;
        return;
      }
      const every = Math.max(1, Math.round(info.stepsPerEpoch / 10));
      if ((info.stepInEpoch + 1) % every === 0 || info.step === 0) io.out(line);
    },
    end() {
      if (open) process.stdout.write('\n');
      open = false;
    },
  };
}

/**
 * Progress of a feature pass over `total` images, for `extractPooledFeatures`'
 * `onProgress`: a line at every tenth of the images (never silent for minutes
 * on a big folder), with images/s and the ETA.
 */
export function featureReporter(io: CliIO, label: string, total: number): (done: number) => void {
  const t0 = Date.now();
  let shown = 0;
  return (done) => {
    const tenth = Math.floor((10 * done) / Math.max(1, total));
    if (tenth <= shown || done >= total) return;
    shown = tenth;
    const secs = (Date.now() - t0) / 1000;
    const rate = done / Math.max(secs, 1e-3);
    io.out(`[${label}] ${done}/${total} images, ${rate.toFixed(0)} img/s, eta ${Math.round((total - done) / rate)} s`);
  };
}
