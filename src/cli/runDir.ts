/**
 * A run's output folder, as the official scripts lay it out: `log.txt` (one
 * JSON object per epoch), `checkpoint-<epoch>.safetensors` (0-based epoch,
 * as `checkpoint-<epoch>.pth`), figures. Every file is written atomically.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../node/atomicFile';
import { CliError } from './args';

/** `checkpoint-<epoch>.safetensors`: written after epoch `epoch` (0-based), or `checkpoint-interrupted.safetensors`. */
export const checkpointName = (epoch: number | 'interrupted'): string => `checkpoint-${epoch}.safetensors`;

const CHECKPOINT = /^checkpoint-(\d+|interrupted)\.safetensors$/;

/** The `training` metadata of a checkpoint written by `encodeCheckpoint`, read from its header only. */
export async function checkpointStep(path: string): Promise<number | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (!(n > 0 && n < 100_000_000)) return undefined;
    const header = new Uint8Array(n);
    await handle.read(header, 0, n, 8);
    const meta = (JSON.parse(new TextDecoder().decode(header)) as { __metadata__?: { training?: string } }).__metadata__;
    const step = meta?.training === undefined ? undefined : (JSON.parse(meta.training) as { step?: unknown }).step;
    return typeof step === 'number' ? step : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** The checkpoint of `dir` with the most training steps done (`--resume auto`), or undefined when there is none. */
export async function newestCheckpoint(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  let best: { path: string; step: number } | undefined;
  for (const name of names.filter((n) => CHECKPOINT.test(n)).sort()) {
    const path = join(dir, name);
    const step = await checkpointStep(path);
    if (step !== undefined && (best === undefined || step > best.step)) best = { path, step };
  }
  return best?.path;
}

/** One epoch's line of `log.txt` (the official keys, plus ours). */
export type LogRecord = { epoch: number } & Record<string, number | string>;

/** The records of `dir/log.txt` (none when it does not exist). */
export async function readLog(dir: string): Promise<LogRecord[]> {
  let text: string;
  try {
    text = await readFile(join(dir, 'log.txt'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as LogRecord];
      } catch {
        return [];
      }
    });
}

/** Keeps the records of epochs before `epoch` (a resumed run rewrites what follows its checkpoint). */
export async function truncateLog(dir: string, epoch: number): Promise<void> {
  const records = await readLog(dir);
  const kept = records.filter((r) => r.epoch < epoch);
  if (kept.length !== records.length) await writeLog(dir, kept);
}

async function writeLog(dir: string, records: LogRecord[]): Promise<void> {
  await writeFileAtomic(join(dir, 'log.txt'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** Appends one record to `dir/log.txt` (the whole file is rewritten atomically, so a crash never leaves half a line). */
export async function appendLog(dir: string, record: LogRecord): Promise<void> {
  await writeLog(dir, [...(await readLog(dir)), record]);
}

/** Checks that `dir` can be the output folder (not a file). */
export async function checkOutputDir(dir: string): Promise<void> {
  try {
    const names = await readdir(dir);
    void names;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new CliError(`--output-dir ${JSON.stringify(dir)} is not a usable folder (${code})`);
  }
}
