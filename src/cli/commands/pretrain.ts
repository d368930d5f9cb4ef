/**
 * `tfjs-mae pretrain DATA_DIR`: the official `main_pretrain.py` on a folder
 * of images. Flags keep the official names (kebab-case or underscores).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MaskedAutoencoder, type MaskedAutoencoderArgs } from '../../model/MaskedAutoencoder';
import { maeVitBasePatch16, maeVitHugePatch14, maeVitLargePatch16, maeVitTinyPatch4 } from '../../model/presets';
import { pretrain } from '../../train/pretrain';
import type { StepInfo } from '../../train/progress';
import { lineChart } from '../../viz/lineChart';
import { writeFileAtomic } from '../../node/atomicFile';
import { writePng } from '../../node/png';
import { UsageError, checkInputSize, flag, warmupOutlastsRun, type FlagValues } from '../args';
import { backendFlags, setupBackend } from '../backend';
import { defineCommand, type CliIO } from '../command';
import { firstBatch, folderImages, openImageFolder, type FolderImages } from '../data';
import { normalisationFlags, resolveNormalisation } from '../normalisation';
import { disposeBatch } from '../../train/data';
import { reconstructionFigure } from '../figure';
import { stepReporter } from '../progress';
import { appendLog, checkOutputDir, readLog, truncateLog } from '../runDir';
import { checkpointFile, interruptedLine, onCtrlC, yieldToSignals } from '../interrupt';
import { checkpointBytes, mergeRecipe, readResumeFlag, type Resumed } from '../resume';
import { checkTrainingMemory } from '../memory';

/** The `--model` presets (official `models_mae` names). */
export const PRETRAIN_MODELS = {
  mae_vit_tiny_patch4: { build: maeVitTinyPatch4, inputSize: 28, patchSize: 4 },
  mae_vit_base_patch16: { build: maeVitBasePatch16, inputSize: 224, patchSize: 16 },
  mae_vit_large_patch16: { build: maeVitLargePatch16, inputSize: 224, patchSize: 16 },
  mae_vit_huge_patch14: { build: maeVitHugePatch14, inputSize: 224, patchSize: 14 },
} as const;
type ModelName = keyof typeof PRETRAIN_MODELS;

const flags = {
  model: flag.choice(Object.keys(PRETRAIN_MODELS) as ModelName[], { default: 'mae_vit_base_patch16', help: 'the architecture (official models_mae presets; tiny = ours, for 28–32 px)' }),
  modelConfig: flag.string({ metavar: 'JSON|FILE', help: 'MaskedAutoencoder arguments over the preset, e.g. \'{"embedDim":64,"depth":2}\' or a .json file' }),
  inputSize: flag.integer({ min: 1, help: "image side fed to the model (default: the model's, 224; 28 for mae_vit_tiny_patch4)" }),
  inChans: flag.integer({ default: 3, min: 1, max: 3, help: 'image channels: 3 = RGB, 1 = grey' }),
  maskRatio: flag.number({ default: 0.75, min: 0, max: 0.999, help: 'fraction of the patches removed' }),
  normPixLoss: flag.boolean({ help: 'per-patch normalised pixels as the target (the official recipe uses it)' }),
  aug: flag.boolean({
    default: true,
    help: 'the official augmentation: RandomResizedCrop (scale 0.2–1, ratio 3/4–4/3, bicubic) + horizontal flip; --no-aug feeds the evaluation transform instead (resize to input-size / crop-pct, centre crop)',
  }),
  ...normalisationFlags,
  epochs: flag.integer({ default: 400, min: 1, help: 'epochs of the whole run' }),
  warmupEpochs: flag.number({ min: 0, help: 'epochs of linear lr warmup (default: 40, or a tenth of --epochs when that is less)' }),
  blr: flag.number({ default: 1.5e-4, min: 0, help: 'base lr: lr = blr × batch-size × accum-iter / 256' }),
  lr: flag.number({ min: 0, help: 'absolute lr (replaces the --blr rule)' }),
  minLr: flag.number({ default: 0, min: 0, help: 'lr at the end of the cosine' }),
  batchSize: flag.integer({ default: 64, min: 1, help: 'images per micro-batch' }),
  accumIter: flag.integer({ default: 1, min: 1, help: 'micro-batches per optimiser step (gradient accumulation)' }),
  weightDecay: flag.number({ default: 0.05, min: 0, help: 'AdamW weight decay' }),
  seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the init, data order, augmentation and masks' }),
  outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt, checkpoints and figures go here' }),
  saveEvery: flag.integer({ default: 20, min: 1, metavar: 'N', help: 'save a checkpoint every N epochs (and after the last)' }),
  strict: flag.boolean({ help: 'stop at the first unreadable image instead of skipping it (skipped files are named)' }),
  resume: flag.string({ metavar: 'FILE|auto', help: 'continue from a checkpoint; auto = the newest in --output-dir (a fresh run if none)' }),
  ...backendFlags,
};

type Flags = FlagValues<typeof flags>;

/** The recipe stored with every checkpoint; a resume takes what the command line does not say from it. */
const RECIPE_KEYS = ['model', 'modelConfig', 'inputSize', 'inChans', 'maskRatio', 'normPixLoss', 'aug', 'cropPct', 'epochs', 'warmupEpochs', 'blr', 'lr', 'minLr', 'batchSize', 'accumIter', 'weightDecay', 'seed'] as const;
/** Recipe keys that change the model: a resume cannot change them. */
const ARCHITECTURE_KEYS = new Set(['model', 'modelConfig', 'inputSize', 'inChans', 'normPixLoss']);

/** The recipe of this run: the command line, and for a resume the checkpoint's recipe where the command line is silent. */
function recipeOf(f: Flags, given: Set<string>, resumed: Resumed | undefined, io: CliIO): Flags {
  return mergeRecipe(f, given, resumed, io, RECIPE_KEYS, ARCHITECTURE_KEYS);
}

async function modelOverrides(text: string | undefined): Promise<MaskedAutoencoderArgs> {
  if (text === undefined) return {};
  let json = text;
  if (!text.trim().startsWith('{')) {
    try {
      json = await readFile(text, 'utf8');
    } catch {
      throw new UsageError(`--model-config: expected JSON text or a .json file, got ${JSON.stringify(text)} (no such file)`);
    }
  }
  try {
    const parsed = JSON.parse(json) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as MaskedAutoencoderArgs;
  } catch (e) {
    throw new UsageError(`--model-config: expected a JSON object of MaskedAutoencoder arguments, got ${JSON.stringify(text.slice(0, 60))} (${e instanceof Error ? e.message : String(e)})`);
  }
}

async function buildModel(r: Flags, inputSize: number, resumed: Resumed | undefined): Promise<MaskedAutoencoder> {
  if (resumed) return new MaskedAutoencoder(resumed.config as MaskedAutoencoderArgs);
  const overrides = await modelOverrides(r.modelConfig);
  checkInputSize(inputSize, overrides.patchSize ?? PRETRAIN_MODELS[r.model].patchSize, overrides.patchSize === undefined ? r.model : '--model-config');
  return PRETRAIN_MODELS[r.model].build({ imgSize: inputSize, inChans: r.inChans, normPixLoss: r.normPixLoss, maskRatio: r.maskRatio, seed: r.seed, ...overrides });
}

/** `{ className, config }` of the model, as the io-config metadata has it. */
function configMetadata(model: MaskedAutoencoder): string {
  const { name: _n, trainable: _t, dtype: _d, ...config } = model.getConfig() as Record<string, unknown>;
  void _n;
  void _t;
  void _d;
  return JSON.stringify({ className: MaskedAutoencoder.className, config });
}

/** The images of DATA_DIR with the run's normalisation: the flags', else a resumed run's, else the default. */
async function openData(dataDir: string, inputSize: number, inChans: number, r: Flags, resumed: Resumed | undefined, io: CliIO): Promise<FolderImages> {
  const options = { inputSize, inChans, cropPct: r.cropPct, strict: r.strict, onBadFile: (b: { path: string; reason: string }) => io.out(`skipped ${b.path}: ${b.reason}`) };
  const data = await openImageFolder(dataDir, options);
  const stored = (key: 'mean' | 'std'): number[] | undefined => {
    const v = resumed?.recipe[key];
    return Array.isArray(v) && v.length === inChans && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;
  };
  const given = await resolveNormalisation(r, data.listing, { channels: inChans as 1 | 3, size: inputSize, io });
  const mean = given.mean ?? stored('mean');
  const std = given.std ?? stored('std');
  return mean === undefined && std === undefined ? data : folderImages(dataDir, data.listing, { ...options, mean, std });
}

async function writeFigures(model: MaskedAutoencoder, data: FolderImages, dir: string, epoch: number, seed: number): Promise<void> {
  const batch = await firstBatch(data.evalSource(Math.min(8, data.listing.paths.length)));
  if (batch) {
    try {
      const { image } = await reconstructionFigure(model, batch.images, { seed, mean: data.mean, std: data.std });
      await writePng(join(dir, `reconstruction-${epoch}.png`), image);
    } finally {
      disposeBatch(batch);
    }
  }
  const log = await readLog(dir);
  const x = log.map((r) => r.epoch);
  const y = log.map((r) => Number(r.train_loss));
  if (y.length > 0) {
    await writePng(join(dir, 'loss.png'), lineChart([{ x, y, color: [31, 78, 168] }], { xLabel: 'epoch', yLabel: 'train loss (mse on the removed patches)' }));
  }
}

interface TrainContext {
  dataDir: string;
  outputDir: string;
  r: Flags;
  resumed: Resumed | undefined;
  backend: string;
  io: CliIO;
}

async function train(model: MaskedAutoencoder, { dataDir, outputDir, r, resumed, backend, io }: TrainContext): Promise<number> {
  const c = model.config;
  const inputSize = c.imgSize[0];
  checkTrainingMemory('pretrain', { ...c, maskRatio: r.maskRatio }, r.batchSize);
  if (c.imgSize[1] !== inputSize) throw new UsageError(`--model-config: square images only, got imgSize ${JSON.stringify(c.imgSize)}`);
  const data = await openData(dataDir, inputSize, c.inChans, r, resumed, io);
  io.out(`data: ${data.listing.paths.length} images in ${dataDir}${data.classes ? ` (${data.classes.length} class folders; labels not used)` : ''}`);
  io.out(
    `transform: ${r.aug ? 'RandomResizedCrop (scale 0.2–1) + horizontal flip' : `no augmentation (resize to ${inputSize} / ${r.cropPct}, centre crop)`}; ` +
      `normalisation (x − [${data.mean.map((m) => +m.toFixed(7)).join(', ')}]) / [${data.std.map((s) => +s.toFixed(7)).join(', ')}]`,
  );
  const source = data.trainSource(r.batchSize, r.seed, r.aug);
  const stepsPerEpoch = Math.floor(source.batchesPerEpoch! / r.accumIter);
  if (stepsPerEpoch < 1) throw new UsageError(`--accum-iter ${r.accumIter} needs at least ${r.accumIter} batches of ${r.batchSize} per epoch; ${dataDir} gives ${source.batchesPerEpoch}`);
  const totalSteps = r.epochs * stepsPerEpoch;
  const warmupEpochs = r.warmupEpochs ?? Math.min(40, r.epochs / 10);
  if (warmupEpochs >= r.epochs) io.out(warmupOutlastsRun(warmupEpochs, r.epochs));

  const effective = r.batchSize * r.accumIter;
  const ruleLr = (r.blr * effective) / 256;
  const lr = r.lr ?? ruleLr;
  io.out(
    r.lr === undefined || r.lr === null
      ? `lr ${lr.toExponential(3)} = blr ${r.blr} × batch ${r.batchSize} × accum ${r.accumIter} / 256 (official rule; --lr sets it directly)`
      : `lr ${lr} (--lr; the official rule blr × batch × accum / 256 would give ${ruleLr.toExponential(3)})`,
  );
  io.out(
    `model: ${r.model}${r.modelConfig ? ' (with --model-config)' : ''}, ${inputSize} px, ${c.inChans} channels, patch ${c.patchSize}, ${c.embedDim} wide × ${c.depth} blocks; ` +
      `mask ratio ${c.maskRatio}${c.normPixLoss ? ', norm-pix loss' : ''}; backend ${backend}; ${r.epochs} epochs × ${stepsPerEpoch} steps`,
  );
  const metadata = {
    config: configMetadata(model),
    recipe: JSON.stringify({ ...Object.fromEntries(RECIPE_KEYS.map((k) => [k, r[k] ?? null])), warmupEpochs, resolvedInputSize: inputSize, data: resolve(dataDir), mean: data.mean, std: data.std }),
  };
  await mkdir(outputDir, { recursive: true });
  if (resumed) await truncateLog(outputDir, resumed.checkpoint.epoch);

  const ctrlC = onCtrlC(io);
  const reporter = stepReporter(io, 'pretrain');
  let epochLrs: number[] = [];
  let lastSaved = '';
  try {
    const result = await pretrain(model, source, {
      epochs: r.epochs,
      accumSteps: r.accumIter,
      lr,
      minLr: r.minLr,
      warmupSteps: warmupEpochs * stepsPerEpoch,
      weightDecay: r.weightDecay,
      maskRatio: r.maskRatio,
      seed: r.seed,
      progress: false,
      onStart: (info) => {
        if (info.warning) io.out(`warning: ${info.warning}`);
      },
      resume: resumed?.checkpoint,
      signal: ctrlC.signal,
      checkpointEvery: r.saveEvery,
      onStep: async (info: StepInfo) => {
        epochLrs.push(info.lr);
        reporter.step(info);
        await yieldToSignals();
      },
      onEpoch: async (info) => {
        reporter.end();
        const trainLr = epochLrs.reduce((a, b) => a + b, 0) / Math.max(epochLrs.length, 1);
        epochLrs = [];
        await appendLog(outputDir, { train_lr: trainLr, train_loss: info.meanLoss, epoch: info.epoch, lr: trainLr, steps: info.steps, seconds: Number(info.seconds.toFixed(3)) });
        io.out(`[pretrain] epoch ${info.epoch + 1}/${info.epochs} train_loss ${info.meanLoss.toFixed(4)} (${info.seconds.toFixed(1)} s)`);
        await writeFigures(model, data, outputDir, info.epoch, r.seed);
      },
      save: async (ckpt) => {
        lastSaved = join(outputDir, checkpointFile(ckpt));
        await writeFileAtomic(lastSaved, checkpointBytes(ckpt, metadata));
        io.out(`saved ${lastSaved} (step ${ckpt.step}/${totalSteps})`);
      },
    });
    reporter.end();
    if (result.stopped) {
      io.out(interruptedLine(result.step, totalSteps, lastSaved));
      return 130;
    }
    const summary = source.summary();
    const reasons = Object.entries(summary.reasons).map(([k, n]) => `${n} ${k}`).join(', ');
    io.out(`done: ${result.step} steps in ${result.seconds.toFixed(1)} s; ${summary.read} images read, ${summary.skipped} files skipped${reasons ? ` (${reasons})` : ''}; output in ${outputDir}`);
    for (const b of summary.badFiles) io.out(`  skipped ${b.path}: ${b.reason}`);
    return 0;
  } finally {
    ctrlC.dispose();
  }
}

export const pretrainCommand = defineCommand({
  name: 'pretrain',
  summary: 'pre-train a masked autoencoder on a folder of images (official main_pretrain.py)',
  description: `
Writes OUTPUT_DIR/log.txt (one JSON line per epoch: epoch, train_loss, train_lr, ...),
checkpoint-<epoch>.safetensors (weights, AdamW state, model config and recipe; written
atomically), reconstruction-<epoch>.png and loss.png. Ctrl-C saves a checkpoint and exits 130;
--resume auto then continues exactly where it stopped.`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder of images (subfolders are read too; labels are not used)' }],
  flags,
  async run({ positionals: [dataDir], flags: f, given }, io) {
    const outputDir = resolve(f.outputDir);
    await checkOutputDir(outputDir);
    // pretrain's recipes before the task field name no task: not checked
    const resumed = await readResumeFlag('pretrain', f.resume, outputDir, io, false);
    const r = recipeOf(f as Flags, given as Set<string>, resumed, io);
    const backend = await setupBackend(f.backend, { threads: f.threads, io });
    const model = await buildModel(r, r.inputSize ?? PRETRAIN_MODELS[r.model].inputSize, resumed);
    try {
      return await train(model, { dataDir, outputDir, r, resumed, backend, io });
    } finally {
      model.dispose();
    }
  },
});
