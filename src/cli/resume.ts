/**
 * `--resume FILE|auto` of the training commands (`pretrain`, `finetune`, `linprobe`):
 * reading a checkpoint written by the command, taking the run's recipe from
 * it where the command line is silent, and writing checkpoints with the
 * model config and the recipe in their metadata.
 */
import { readFile } from 'node:fs/promises';
import { decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../train/checkpoint';
import { encodeSafetensors, parseSafetensors } from '../io/safetensors';
import { CliError, UsageError, kebab } from './args';
import type { CliIO } from './command';
import { newestCheckpoint, readLog } from './runDir';

/** A checkpoint read for `--resume`, with the model config and recipe stored in it. */
export interface Resumed {
  path: string;
  checkpoint: TrainingCheckpoint;
  /** The model's constructor arguments. */
  config: Record<string, unknown>;
  /** The flags of the run that wrote it. */
  recipe: Record<string, unknown>;
}

/** The file `--resume` names: `auto` = the newest checkpoint of `outputDir` (undefined, said on `io`, when there is none). */
export async function resumePath(resume: string | undefined, outputDir: string, io: CliIO): Promise<string | undefined> {
  if (resume !== 'auto') return resume;
  const path = await newestCheckpoint(outputDir);
  io.out(path ? `resuming from ${path}` : `no checkpoint in ${outputDir}: starting a fresh run`);
  return path;
}

/** What `--resume` of `command` expects, for messages. */
export const checkpointHint = (command: string): string => `a checkpoint-<epoch>.safetensors written by tfjs-mae ${command}`;

/**
 * `--resume FILE|auto` of `command`: its checkpoint read ({@link resumePath},
 * {@link readResume}), or undefined for a fresh run. `checkTask`: refuse a
 * checkpoint whose recipe names another command.
 */
export async function readResumeFlag(command: string, resume: string | undefined, outputDir: string, io: CliIO, checkTask = true): Promise<Resumed | undefined> {
  const path = await resumePath(resume, outputDir, io);
  return path === undefined ? undefined : readResume(path, checkpointHint(command), checkTask ? command : undefined);
}

/**
 * Reads a training checkpoint; `hint` says which files are expected (e.g.
 * `a checkpoint-<epoch>.safetensors written by tfjs-mae pretrain`), `task`
 * the `task` its recipe must name (a finetune checkpoint is no linprobe one).
 */
export async function readResume(path: string, hint: string, task?: string): Promise<Resumed> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch {
    throw new CliError(`--resume ${JSON.stringify(path)}: no such file`);
  }
  let checkpoint: TrainingCheckpoint;
  try {
    checkpoint = decodeCheckpoint(bytes);
  } catch (e) {
    throw new CliError(`--resume ${JSON.stringify(path)}: ${e instanceof Error ? e.message : String(e)} (expected ${hint})`);
  }
  const metadata = parseSafetensors(checkpoint.weights).metadata;
  const parse = (key: string): Record<string, unknown> => {
    try {
      return JSON.parse(metadata[key] ?? '') as Record<string, unknown>;
    } catch {
      throw new CliError(`--resume ${JSON.stringify(path)}: no "${key}" metadata (expected ${hint})`);
    }
  };
  const stored = parse('config');
  const recipe = parse('recipe');
  if (task !== undefined && recipe.task !== task) {
    throw new CliError(`--resume ${JSON.stringify(path)}: a checkpoint of tfjs-mae ${typeof recipe.task === 'string' ? recipe.task : 'pretrain'} (expected ${hint})`);
  }
  return { path, checkpoint, config: (stored.config ?? stored) as Record<string, unknown>, recipe };
}

/**
 * The recipe of a run: the command line `f`, and for a resume the
 * checkpoint's recipe for each of `keys` the command line does not give.
 * A given flag that differs from the checkpoint is an error for
 * `architectureKeys` (another model) and a note otherwise.
 */
export function mergeRecipe<F extends object>(f: F, given: Set<string>, resumed: Resumed | undefined, io: CliIO, keys: readonly string[], architectureKeys: ReadonlySet<string>): F {
  if (!resumed) return f;
  const out: Record<string, unknown> = { ...(f as Record<string, unknown>) };
  for (const key of keys) {
    if (!(key in resumed.recipe)) continue; // a checkpoint older than the flag: its default
    const stored = resumed.recipe[key] ?? undefined;
    if (!given.has(key)) out[key] = stored;
    else if (stored !== undefined && stored !== out[key]) {
      if (architectureKeys.has(key)) {
        throw new UsageError(`--${kebab(key)} ${String(out[key])} contradicts ${resumed.path}, trained with ${JSON.stringify(stored)}; drop the flag to continue that model`);
      }
      io.out(`note: --${kebab(key)} ${String(out[key])} differs from the checkpoint's ${JSON.stringify(stored)}: the run will not continue the same curve`);
    }
  }
  return out as F;
}

/** The checkpoint as one safetensors file whose weights also carry `metadata` (the model config, the recipe). */
export function checkpointBytes(ckpt: TrainingCheckpoint, metadata: Record<string, string>): Uint8Array {
  const weights = parseSafetensors(ckpt.weights);
  return encodeCheckpoint({ ...ckpt, weights: encodeSafetensors(weights.tensors, { ...weights.metadata, ...metadata }) });
}

/** The best `test_acc1` of the epochs `OUTPUT_DIR/log.txt` keeps, or -1 (a resumed run does not overwrite a better checkpoint-best). */
export async function bestSoFar(outputDir: string): Promise<number> {
  return Math.max(-1, ...(await readLog(outputDir)).map((r) => Number(r.test_acc1)).filter(Number.isFinite));
}
