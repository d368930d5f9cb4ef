/**
 * `tfjs-mae finetune DATA_DIR --weights FILE`: the official
 * `main_finetune.py` (layer-wise lr decay, warmup-cosine, AdamW) on
 * DATA_DIR/train, top-1 on DATA_DIR/val after every epoch, the best
 * classifier kept as OUTPUT_DIR/checkpoint-best.safetensors, log.txt.
 */
import { join, resolve } from 'node:path';
import { ViTClassifier } from '../../classify/ViTClassifier';
import type { ViTEncoder } from '../../encode/ViTEncoder';
import { evaluateClassifier, finetune } from '../../eval/finetune';
import { saveWeights } from '../../io/pretrainedModel';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { writeFileAtomic } from '../../node/atomicFile';
import type { StepInfo } from '../../train/progress';
import { CliError, UsageError, flag } from '../args';
import { backendFlags, setupBackend } from '../backend';
import { defineCommand } from '../command';
import { stepReporter } from '../progress';
import { appendLog, checkOutputDir } from '../runDir';
import { trainValFor } from '../splits';
import { modelFromFlags, weightsFlags } from '../weightsFlags';

export const finetuneCommand = defineCommand({
  name: 'finetune',
  summary: 'fine-tune pre-trained weights as a classifier on DATA_DIR/train, top-1 on DATA_DIR/val (official main_finetune.py)',
  description: `
Prints top-1 on val after every epoch, appends it to OUTPUT_DIR/log.txt and keeps the best
classifier as OUTPUT_DIR/checkpoint-best.safetensors (weights + config; --weights of embed, inspect).`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder with train/ and val/, one subfolder per class in each' }],
  flags: {
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
    seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the head init, data order and drop path' }),
    outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt and checkpoint-best.safetensors go here' }),
    ...backendFlags,
  },
  async run({ positionals: [dataDir], flags: f }, io) {
    const outputDir = resolve(f.outputDir);
    await checkOutputDir(outputDir);
    await setupBackend(f.backend, { threads: f.threads, io });
    const loaded = await modelFromFlags('finetune', f, io, f.inputSize);
    let classifier: ViTClassifier | undefined;
    try {
      const { train, val, classes } = await trainValFor(dataDir, loaded, io);
      if (loaded.kind === 'classifier') {
        classifier = loaded.model as ViTClassifier;
        if (classifier.numClasses !== classes.length) throw new CliError(`${f.weights} is a ${classifier.numClasses}-class classifier; ${dataDir} has ${classes.length} classes`);
      } else {
        classifier = ViTClassifier.fromMAE(loaded.model as MaskedAutoencoder | ViTEncoder, { numClasses: classes.length, globalPool: !f.clsToken, dropPath: f.dropPath, seed: f.seed });
      }
      const source = train.trainSource(f.batchSize, f.seed);
      const stepsPerEpoch = Math.floor(source.batchesPerEpoch! / f.accumIter);
      if (stepsPerEpoch < 1) throw new UsageError(`--batch-size ${f.batchSize} × --accum-iter ${f.accumIter} is more than the ${train.listing.paths.length} training images`);
      if (f.warmupEpochs >= f.epochs) throw new UsageError(`--warmup-epochs ${f.warmupEpochs} must be less than --epochs ${f.epochs}`);
      const ruleLr = (f.blr * f.batchSize * f.accumIter) / 256;
      const lr = f.lr ?? ruleLr;
      io.out(f.lr === undefined ? `lr ${lr.toExponential(3)} = blr ${f.blr} × batch ${f.batchSize} × accum ${f.accumIter} / 256` : `lr ${lr} (--lr)`);
      const reporter = stepReporter(io, 'finetune');
      let best = -1;
      let lrs: number[] = [];
      const model = classifier;
      await finetune(model, source, {
        epochs: f.epochs,
        accumSteps: f.accumIter,
        lr,
        minLr: f.minLr,
        warmupSteps: f.warmupEpochs * stepsPerEpoch,
        weightDecay: f.weightDecay,
        layerDecay: f.layerDecay,
        maxGradNorm: f.clipGrad,
        labelSmoothing: f.smoothing,
        ...(f.mixup > 0 || f.cutmix > 0 ? { mixup: { mixupAlpha: f.mixup, cutmixAlpha: f.cutmix, switchProb: f.mixupSwitchProb } } : {}),
        ...(f.reprob > 0 ? { randomErasing: f.reprob } : {}),
        ...(f.aa === 'none' ? {} : { randAugment: { numOps: 2, magnitude: 9, magnitudeStd: 0.5, mean: train.mean, std: train.std } }),
        seed: f.seed,
        progress: false,
        onStart: (info) => {
          if (info.warning) io.out(`warning: ${info.warning}`);
        },
        onStep: (info: StepInfo) => {
          lrs.push(info.lr);
          reporter.step(info);
        },
        onEpoch: async (info) => {
          reporter.end();
          const top1 = 100 * (await evaluateClassifier(model, val.evalSource(f.batchSize), undefined, { batchSize: f.batchSize }));
          const improved = top1 > best;
          if (improved) {
            best = top1;
            const weights = await saveWeights(model, { metadata: { recipe: JSON.stringify({ task: 'finetune', classes, mean: val.mean, std: val.std, epoch: info.epoch, acc1: top1 }) } });
            await writeFileAtomic(join(outputDir, 'checkpoint-best.safetensors'), weights);
          }
          const trainLr = lrs.reduce((a, b) => a + b, 0) / Math.max(lrs.length, 1);
          lrs = [];
          await appendLog(outputDir, { train_lr: trainLr, train_loss: info.meanLoss, test_acc1: top1, epoch: info.epoch, max_accuracy: best });
          io.out(`[finetune] epoch ${info.epoch + 1}/${info.epochs} train_loss ${info.meanLoss.toFixed(4)} top-1 ${top1.toFixed(2)}% (best ${best.toFixed(2)}%${improved ? ', saved' : ''})`);
        },
      });
      io.out(`done: best top-1 ${best.toFixed(2)}% on ${val.listing.paths.length} val images; ${join(outputDir, 'checkpoint-best.safetensors')}`);
    } finally {
      if (classifier !== loaded.model) classifier?.dispose();
      loaded.model.dispose();
    }
  },
});
