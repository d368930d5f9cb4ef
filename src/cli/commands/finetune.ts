/**
 * `tfjs-mae finetune DATA_DIR --weights FILE`: the official
 * `main_finetune.py` (layer-wise lr decay, warmup-cosine, AdamW) on
 * DATA_DIR/train (or a `--val-split` of DATA_DIR), top-1 on val after every
 * epoch, the best classifier kept as OUTPUT_DIR/checkpoint-best.safetensors,
 * log.txt, checkpoints every `--save-every` epochs and exact `--resume`.
 */
import { join, resolve } from 'node:path';
import { ViTClassifier } from '../../classify/ViTClassifier';
import type { ViTEncoder } from '../../encode/ViTEncoder';
import { evaluateClassifierMetrics, finetune } from '../../eval/finetune';
import { saveWeights } from '../../io/pretrainedModel';
import { loadCheckpointWeights } from '../../train/checkpoint';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { writeFileAtomic } from '../../node/atomicFile';
import type { StepInfo } from '../../train/progress';
import { CliError, UsageError, flag, warmupOutlastsRun, type FlagValues } from '../args';
import { backendFlags } from '../backend';
import { defineCommand, type CliIO } from '../command';
import type { FolderImages } from '../data';
import { checkpointFile, interruptedLine, onCtrlC, yieldToSignals } from '../interrupt';
import { checkTrainingMemory } from '../memory';
import { stepReporter } from '../progress';
import { bestSoFar, checkpointBytes, checkpointHint, mergeRecipe, readResumeFlag, type Resumed } from '../resume';
import { appendLog, truncateLog } from '../runDir';
import { openLabelledRun, valSplitFlag } from '../splits';
import { weightsFlags } from '../weightsFlags';

const flags = {
  ...weightsFlags,
  batchSize: flag.integer({ default: 64, min: 1, help: 'images per step' }),
  epochs: flag.integer({ default: 50, min: 1, help: 'epochs' }),
  accumIter: flag.integer({ default: 1, min: 1, help: 'micro-batches per optimiser step' }),
  inputSize: flag.integer({ min: 1, help: "image side (default: the model's; another size resamples the position tables)" }),
  dropPath: flag.number({ default: 0.1, min: 0, max: 1, help: 'stochastic depth' }),
  clipGrad: flag.number({ min: 0, help: 'clip the gradient norm to this (default: none)' }),
  weightDecay: flag.number({ default: 0.05, min: 0, help: 'AdamW weight decay' }),
  lr: flag.number({ min: 0, help: 'absolute lr (replaces the --blr rule)' }),
  blr: flag.number({ default: 1e-3, min: 0, help: 'base lr: lr = blr × batch-size × accum-iter / 256' }),
  layerDecay: flag.number({ default: 0.75, min: 0, max: 1, help: 'layer-wise lr decay' }),
  minLr: flag.number({ default: 1e-6, min: 0, help: 'lr at the end of the cosine' }),
  warmupEpochs: flag.number({ default: 5, min: 0, help: 'epochs of linear warmup' }),
  smoothing: flag.number({ default: 0.1, min: 0, max: 1, help: 'label smoothing' }),
  mixup: flag.number({ default: 0, min: 0, help: 'mixup alpha (the official recipe: 0.8; 0 = off)' }),
  cutmix: flag.number({ default: 0, min: 0, help: 'cutmix alpha (the official recipe: 1.0; 0 = off)' }),
  mixupSwitchProb: flag.number({ default: 0.5, min: 0, max: 1, help: 'probability of cutmix when both are on' }),
  reprob: flag.number({ default: 0.25, min: 0, max: 1, help: 'random erasing probability' }),
  aa: flag.choice(['rand-m9-mstd0.5-inc1', 'none'] as const, { default: 'rand-m9-mstd0.5-inc1', help: 'RandAugment policy (timm name) or none' }),
  clsToken: flag.boolean({ help: 'classify from the cls token instead of the mean of the patch tokens (global_pool)' }),
  valSplit: valSplitFlag,
  seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the head init, data order, augmentation, drop path (and --val-split)' }),
  outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt, dataset.json, checkpoints and checkpoint-best.safetensors go here' }),
  saveEvery: flag.integer({ default: 20, min: 1, metavar: 'N', help: 'save a checkpoint (weights + AdamW state) every N epochs, and after the last' }),
  resume: flag.string({ metavar: 'FILE|auto', help: 'continue from a checkpoint of this command; auto = the newest in --output-dir (a fresh run if none)' }),
  eval: flag.boolean({ help: 'only evaluate on the val images (top-1, top-5, loss) and exit: the classifier of --weights (e.g. checkpoint-best.safetensors) or of --resume' }),
  ...backendFlags,
};
type Flags = FlagValues<typeof flags>;

/** The flags stored with every checkpoint; a resume takes what the command line does not say from them. */
const RECIPE_KEYS = [
  'weights', 'heads', 'decoderHeads', 'normPix', 'batchSize', 'epochs', 'accumIter', 'inputSize', 'dropPath', 'clipGrad', 'weightDecay', 'lr', 'blr',
  'layerDecay', 'minLr', 'warmupEpochs', 'smoothing', 'mixup', 'cutmix', 'mixupSwitchProb', 'reprob', 'aa', 'clsToken', 'valSplit', 'seed',
] as const;
/** Recipe keys that change the classifier: a resume cannot change them. */
const ARCHITECTURE_KEYS = new Set(['inputSize', 'clsToken']);

/** `--eval`: top-1, top-5 and the loss on val, printed as `main_finetune.py --eval` does. */
async function evaluateOnly(classifier: ViTClassifier, val: FolderImages, batchSize: number, io: CliIO): Promise<void> {
  const m = await evaluateClassifierMetrics(classifier, val.evalSource(batchSize), undefined, { batchSize });
  const acc5 = m.acc5 === undefined ? `n/a (${classifier.numClasses} classes)` : (100 * m.acc5).toFixed(3);
  io.out(`* Acc@1 ${(100 * m.acc1).toFixed(3)} Acc@5 ${acc5} loss ${m.loss.toFixed(3)}`);
  io.out(`Accuracy of the network on the ${m.count} test images: ${(100 * m.acc1).toFixed(1)}%`);
}

/** The classifier of a finetune checkpoint: the encoder of its recipe's --weights with the checkpoint's weights. */
function classifierOfCheckpoint(encoder: MaskedAutoencoder | ViTEncoder, numClasses: number, r: Flags, resumed: Resumed): ViTClassifier {
  const classifier = ViTClassifier.fromMAE(encoder, { numClasses, globalPool: !r.clsToken, dropPath: r.dropPath, seed: r.seed });
  try {
    loadCheckpointWeights(classifier.stateEntries(), resumed.checkpoint.weights);
    return classifier;
  } catch (e) {
    classifier.dispose();
    throw new CliError(`--resume ${resumed.path}: ${e instanceof Error ? e.message : String(e)} (${checkpointHint('finetune')} with these --weights)`);
  }
}

export const finetuneCommand = defineCommand({
  name: 'finetune',
  summary: 'fine-tune pre-trained weights as a classifier on DATA_DIR/train, top-1 on DATA_DIR/val (official main_finetune.py)',
  description: `
Prints top-1 on val after every epoch, appends it to OUTPUT_DIR/log.txt (train_lr, train_loss,
test_loss, test_acc1, test_acc5 with 5 classes or more, max_accuracy) and keeps the best
classifier as OUTPUT_DIR/checkpoint-best.safetensors (weights + config; --weights of embed, inspect).
checkpoint-<epoch>.safetensors (weights, AdamW state, config, recipe; written atomically) every
--save-every epochs; Ctrl-C saves one at the next step and exits 130; --resume auto continues the
run exactly. --eval only evaluates a classifier on val, as main_finetune.py --eval.
OUTPUT_DIR/dataset.json holds the class → index map and the files of train and val.`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder with train/ and val/, one subfolder per class in each (or one folder of class subfolders with --val-split)' }],
  flags,
  async run({ positionals: [dataDir], flags: f, given }, io) {
    const resumed = await readResumeFlag('finetune', f.resume, resolve(f.outputDir), io);
    const r = mergeRecipe(f as Flags, given as Set<string>, resumed, io, RECIPE_KEYS, ARCHITECTURE_KEYS);
    const { outputDir, loaded, encoder, train, val, classes } = await openLabelledRun('finetune', dataDir, r, io);
    let classifier: ViTClassifier | undefined;
    try {
      if (loaded.kind === 'classifier') {
        classifier = loaded.model as ViTClassifier;
        if (classifier.numClasses !== classes.length) throw new CliError(`${r.weights} is a ${classifier.numClasses}-class classifier; ${dataDir} has ${classes.length} classes`);
      } else if (r.eval) {
        if (!resumed) throw new UsageError(`--eval needs a classifier: --weights ${r.weights} is ${loaded.kind === 'mae' ? 'an MAE' : 'an encoder'}; give --weights OUTPUT_DIR/checkpoint-best.safetensors or --resume a checkpoint of finetune`);
        classifier = classifierOfCheckpoint(loaded.model as MaskedAutoencoder | ViTEncoder, classes.length, r, resumed);
      } else {
        classifier = ViTClassifier.fromMAE(loaded.model as MaskedAutoencoder | ViTEncoder, { numClasses: classes.length, globalPool: !r.clsToken, dropPath: r.dropPath, seed: r.seed });
      }
      if (r.eval) {
        await evaluateOnly(classifier, val, r.batchSize, io);
        return 0;
      }
      const source = train.trainSource(r.batchSize, r.seed);
      const stepsPerEpoch = Math.floor(source.batchesPerEpoch! / r.accumIter);
      if (stepsPerEpoch < 1) throw new UsageError(`--batch-size ${r.batchSize} × --accum-iter ${r.accumIter} is more than the ${train.listing.paths.length} training images`);
      if (r.warmupEpochs >= r.epochs) io.out(warmupOutlastsRun(r.warmupEpochs, r.epochs));
      const { imgSize, patchSize, inChans, embedDim, depth, numHeads, mlpRatio } = encoder;
      checkTrainingMemory('finetune', { imgSize, patchSize, inChans, embedDim, depth, numHeads, mlpRatio, maskRatio: 0 }, r.batchSize); // all tokens: no masking
      const ruleLr = (r.blr * r.batchSize * r.accumIter) / 256;
      const lr = r.lr ?? ruleLr;
      io.out(r.lr === undefined ? `lr ${lr.toExponential(3)} = blr ${r.blr} × batch ${r.batchSize} × accum ${r.accumIter} / 256` : `lr ${lr} (--lr)`);
      const recipe = JSON.stringify({
        task: 'finetune',
        ...Object.fromEntries(RECIPE_KEYS.map((k) => [k, k === 'weights' && r.weights !== undefined ? resolve(r.weights) : r[k] ?? null])),
        data: resolve(dataDir),
        classes,
        mean: val.mean,
        cropPct: val.cropPct,
        std: val.std,
      });
      await truncateLog(outputDir, resumed?.checkpoint.epoch ?? 0); // a fresh run starts a fresh log
      const reporter = stepReporter(io, 'finetune');
      let best = await bestSoFar(outputDir);
      let scored = val.listing.paths.length; // the images actually scored, once an epoch has run (unreadable files are skipped)
      let lrs: number[] = [];
      const model = classifier;
      const ctrlC = onCtrlC(io);
      let lastSaved = '';
      const result = await finetune(model, source, {
        epochs: r.epochs,
        accumSteps: r.accumIter,
        lr,
        minLr: r.minLr,
        warmupSteps: r.warmupEpochs * stepsPerEpoch,
        weightDecay: r.weightDecay,
        layerDecay: r.layerDecay,
        maxGradNorm: r.clipGrad,
        labelSmoothing: r.smoothing,
        ...(r.mixup > 0 || r.cutmix > 0 ? { mixup: { mixupAlpha: r.mixup, cutmixAlpha: r.cutmix, switchProb: r.mixupSwitchProb } } : {}),
        ...(r.reprob > 0 ? { randomErasing: r.reprob } : {}),
        ...(r.aa === 'none' ? {} : { randAugment: { numOps: 2, magnitude: 9, magnitudeStd: 0.5, mean: train.mean, std: train.std } }),
        seed: r.seed,
        progress: false,
        resume: resumed?.checkpoint,
        signal: ctrlC.signal,
        checkpointEvery: r.saveEvery,
        save: async (ckpt) => {
          lastSaved = join(outputDir, checkpointFile(ckpt));
          await writeFileAtomic(lastSaved, checkpointBytes(ckpt, { recipe }));
          io.out(`saved ${lastSaved} (step ${ckpt.step}/${r.epochs * stepsPerEpoch})`);
        },
        onStart: (info) => {
          if (info.warning) io.out(`warning: ${info.warning}`);
        },
        onStep: async (info: StepInfo) => {
          lrs.push(info.lr);
          reporter.step(info);
          await yieldToSignals();
        },
        onEpoch: async (info) => {
          reporter.end();
          const test = await evaluateClassifierMetrics(model, val.evalSource(r.batchSize), undefined, { batchSize: r.batchSize });
          scored = test.count;
          const top1 = 100 * test.acc1;
          const improved = top1 > best;
          if (improved) {
            best = top1;
            const weights = await saveWeights(model, { metadata: { recipe: JSON.stringify({ ...JSON.parse(recipe), epoch: info.epoch, acc1: top1 }) } });
            await writeFileAtomic(join(outputDir, 'checkpoint-best.safetensors'), weights);
          }
          const trainLr = lrs.reduce((a, b) => a + b, 0) / Math.max(lrs.length, 1);
          lrs = [];
          await appendLog(outputDir, {
            train_lr: trainLr,
            train_loss: info.meanLoss,
            test_loss: test.loss,
            test_acc1: top1,
            ...(test.acc5 === undefined ? {} : { test_acc5: 100 * test.acc5 }),
            epoch: info.epoch,
            max_accuracy: best,
          });
          io.out(`[finetune] epoch ${info.epoch + 1}/${info.epochs} train_loss ${info.meanLoss.toFixed(4)} top-1 ${top1.toFixed(2)}% (best ${best.toFixed(2)}%${improved ? ', saved' : ''})`);
        },
      }).finally(() => ctrlC.dispose());
      reporter.end();
      if (result.stopped) {
        io.out(interruptedLine(result.step, r.epochs * stepsPerEpoch, lastSaved));
        return 130;
      }
      if (result.firstStep >= r.epochs * stepsPerEpoch) io.out(`${resumed?.path} already finished the run's ${r.epochs} epochs`);
      io.out(`done: best top-1 ${best.toFixed(2)}% on ${scored} val images; ${join(outputDir, 'checkpoint-best.safetensors')}`);
    } finally {
      if (classifier !== loaded.model) classifier?.dispose();
      loaded.model.dispose();
    }
  },
});
