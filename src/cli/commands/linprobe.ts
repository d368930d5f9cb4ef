/**
 * `tfjs-mae linprobe DATA_DIR --weights FILE`: linear probing of frozen
 * encoder features (BatchNorm without affine + Linear, after the official
 * `main_linprobe.py`; AdamW as the library's reference recipe, or LARS):
 * features of train and val in one encoder pass each, then the probe with a
 * per-step warmup + half-cycle cosine lr, gradient accumulation; top-1 on val
 * after every epoch, log.txt, checkpoints with exact `--resume`, the best
 * probe kept as a classifier file.
 */
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ViTClassifier } from '../../classify/ViTClassifier';
import type { LinearProbeHead } from '../../classify/LinearProbeHead';
import type { ViTEncoder } from '../../encode/ViTEncoder';
import { extractPooledFeatures } from '../../eval/features';
import { linearProbe, linearProbeStepsPerEpoch } from '../../eval/linearProbe';
import { saveWeights } from '../../io/pretrainedModel';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import type { TrainingCheckpoint } from '../../train/checkpoint';
import { writeFileAtomic } from '../../node/atomicFile';
import { warmupCosineEpochs } from '../../train/schedule';
import { CliError, UsageError, flag, warmupOutlastsRun, type FlagValues } from '../args';
import { backendFlags } from '../backend';
import { defineCommand, type CliIO } from '../command';
import { featureReporter } from '../progress';
import type { FolderImages } from '../data';
import { bestSoFar, checkpointBytes, mergeRecipe, readResumeFlag } from '../resume';
import { appendLog, checkpointName, truncateLog } from '../runDir';
import { openLabelledRun, valSplitFlag } from '../splits';
import { weightsFlags } from '../weightsFlags';

/** Copies the probe's batch-norm statistics and Linear into the classifier's `head` (same names: `0.*`, `1.*`). */
function copyProbe(probe: LinearProbeHead, into: ViTClassifier): void {
  const own = new Map(into.head.stateEntries().map((e) => [e.name, e]));
  for (const src of probe.stateEntries()) {
    const dst = own.get(src.name);
    if (!dst) throw new CliError(`internal: the classifier's head has no ${src.name}`);
    tf.tidy(() => void dst.variable.write(tf.clone(src.variable.read())));
  }
}

const flags = {
  ...weightsFlags,
  batchSize: flag.integer({ default: 256, min: 2, help: 'features per micro-batch (main_linprobe.py: 512)' }),
  epochs: flag.integer({ default: 10, min: 1, help: 'passes over the training features (main_linprobe.py: 90)' }),
  accumIter: flag.integer({ default: 1, min: 1, help: 'micro-batches per optimiser step (gradient accumulation)' }),
  optimizer: flag.choice(['adamw', 'lars'] as const, { default: 'adamw', help: "the probe's optimiser: adamw (the reference recipe of docs/results.md) or lars (main_linprobe.py)" }),
  lr: flag.number({ min: 0, help: 'absolute lr (replaces the --blr rule; default: 1e-3 with adamw whatever the batch, the --blr rule with lars)' }),
  blr: flag.number({ min: 0, help: 'base lr: lr = blr × batch-size × accum-iter / 256 (default: 0.1 with lars, as main_linprobe.py; with adamw the rule applies only when --blr is given)' }),
  minLr: flag.number({ min: 0, help: 'lr at the end of the half-cycle cosine, per step (default: 0 with lars, as main_linprobe.py; with adamw the lr itself, i.e. a constant lr: the reference recipe)' }),
  warmupEpochs: flag.number({ default: 0, min: 0, help: 'epochs of linear lr warmup from 0, per step (main_linprobe.py: 10 of its 90 epochs)' }),
  weightDecay: flag.number({ default: 0, min: 0, help: 'weight decay of the probe (AdamW: decoupled; LARS: on the weight)' }),
  pool: flag.choice(['mean', 'cls'] as const, { default: 'mean', help: 'features: mean of the patch tokens after the final norm, or the cls token' }),
  inputSize: flag.integer({ min: 1, help: "image side (default: the model's)" }),
  featureBatchSize: flag.integer({ default: 64, min: 1, help: 'images per encoder pass' }),
  valSplit: valSplitFlag,
  seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the probe init and order (and --val-split)' }),
  outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt, dataset.json, checkpoints and checkpoint-best.safetensors go here' }),
  saveEvery: flag.integer({ default: 20, min: 1, metavar: 'N', help: 'save a checkpoint (the probe + optimiser state) every N epochs, and after the last' }),
  resume: flag.string({ metavar: 'FILE|auto', help: 'continue from a checkpoint of this command; auto = the newest in --output-dir (a fresh run if none)' }),
  ...backendFlags,
};
type Flags = FlagValues<typeof flags>;

/** The flags stored with every checkpoint; a resume takes what the command line does not say from them. */
const RECIPE_KEYS = [
  'weights', 'heads', 'decoderHeads', 'normPix', 'batchSize', 'epochs', 'accumIter', 'optimizer', 'lr', 'blr', 'minLr', 'warmupEpochs', 'weightDecay',
  'pool', 'inputSize', 'valSplit', 'seed',
] as const;
/** Recipe keys a resume cannot change: other features, or another optimiser state. */
const ARCHITECTURE_KEYS = new Set(['pool', 'inputSize', 'optimizer']);

/** The probe's lr schedule from the flags: the peak lr, the final lr, and a line saying how they came. */
function probeSchedule(r: Flags): { lr: number; minLr: number; says: string } {
  const lars = r.optimizer === 'lars';
  const blr = r.blr ?? (lars ? 0.1 : undefined);
  const ruleLr = blr === undefined ? undefined : (blr * r.batchSize * r.accumIter) / 256;
  const lr = r.lr ?? ruleLr ?? 1e-3;
  const minLr = r.minLr ?? (lars ? 0 : lr);
  const how =
    r.lr !== undefined ? `lr ${lr} (--lr)` : ruleLr !== undefined ? `lr ${lr.toExponential(3)} = blr ${blr} × batch ${r.batchSize} × accum ${r.accumIter} / 256` : `lr ${lr} (the AdamW reference recipe; --blr or --lr set it)`;
  const shape = minLr === lr ? 'constant' : `half-cycle cosine to ${minLr} per step`;
  return { lr, minLr, says: `${how}; ${r.warmupEpochs > 0 ? `${r.warmupEpochs} warmup epoch${r.warmupEpochs === 1 ? '' : 's'}, then ` : ''}${shape}` };
}

/** Checks the flags that need the number of training images, before the features are extracted. */
function checkSteps(r: Flags, trainImages: number, io: CliIO): void {
  if (linearProbeStepsPerEpoch(Math.max(trainImages, 1), r.batchSize, r.accumIter) < 1) {
    throw new UsageError(`--batch-size ${r.batchSize} × --accum-iter ${r.accumIter} is more than the ${trainImages} training images`);
  }
  if (r.warmupEpochs >= r.epochs) io.out(warmupOutlastsRun(r.warmupEpochs, r.epochs));
}

export const linprobeCommand = defineCommand({
  name: 'linprobe',
  summary: 'linear probe of frozen encoder features: DATA_DIR/train → top-1 on DATA_DIR/val (official main_linprobe.py)',
  description: `
The probe is BatchNorm (no affine) + Linear on the pooled features, trained with AdamW at a
constant lr 1e-3 (the library's reference recipe, the default) or LARS (--optimizer lars: blr 0.1,
half-cycle cosine to 0, as main_linprobe.py; its other defaults are epochs 90, batch 512 and 10
warmup epochs: give them as flags). Per step, the lr rises linearly for --warmup-epochs, then
follows a half-cycle cosine to --min-lr (official util/lr_sched.py; with adamw --min-lr defaults to
the lr: constant). Prints the loss and the top-1 on val after every epoch;
OUTPUT_DIR/log.txt gets one line per epoch (train_lr, train_loss, test_loss, test_acc1, test_acc5
with 5 classes or more, max_accuracy). checkpoint-<epoch>.safetensors (the probe, optimiser state,
recipe) every --save-every epochs; --resume auto continues the run exactly (the features are
extracted again). The best probe is kept as OUTPUT_DIR/checkpoint-best.safetensors: a classifier
(the encoder, the pooling of --pool and the probe; --weights of embed, inspect).
OUTPUT_DIR/dataset.json holds the class → index map and the files of train and val.`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder with train/ and val/, one subfolder per class in each (or one folder of class subfolders with --val-split)' }],
  flags,
  async run({ positionals: [dataDir], flags: f, given }, io) {
    const resumed = await readResumeFlag('linprobe', f.resume, resolve(f.outputDir), io);
    const r = mergeRecipe(f as Flags, given as Set<string>, resumed, io, RECIPE_KEYS, ARCHITECTURE_KEYS);
    const { outputDir, loaded, encoder, train, val, classes } = await openLabelledRun('linprobe', dataDir, r, io, {
      accept: ['mae', 'encoder'],
      why: 'linprobe needs pre-trained encoder weights (an MAE or encoder file)',
    });
    const features: tf.Tensor[] = [];
    let best: ViTClassifier | undefined;
    let encoderFreed = false;
    try {
      checkSteps(r, train.listing.paths.length, io);
      const featuresOf = async (set: FolderImages, name: string): Promise<{ x: tf.Tensor2D; y: tf.Tensor1D }> => {
        const t0 = Date.now();
        const onProgress = featureReporter(io, `features of ${name}`, set.listing.paths.length);
        const out = await extractPooledFeatures(encoder, set.evalSource(r.featureBatchSize), { pools: [r.pool], batchSize: r.featureBatchSize, onProgress });
        const x = out[r.pool]!;
        features.push(x, ...(out.labels ? [out.labels] : []));
        if (!out.labels) throw new CliError(`${set.root}: no labels (one subfolder per class expected)`);
        io.out(`features of ${name}: [${x.shape.join(', ')}] in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return { x, y: out.labels };
      };
      const trainSet = await featuresOf(train, 'train');
      const valSet = await featuresOf(val, 'val');
      // The classifier the best probe is saved in: the encoder with the features' pooling (its weights are copied now, the encoder freed).
      const model = ViTClassifier.fromMAE(loaded.model as MaskedAutoencoder | ViTEncoder, { numClasses: classes.length, head: 'linprobe', globalPool: r.pool === 'mean', normBeforePool: r.pool === 'mean' });
      best = model;
      loaded.model.dispose();
      encoderFreed = true;
      await probe({ r, outputDir, dataDir, classes, val, trainSet, valSet, model, resumed: resumed?.checkpoint, io });
    } finally {
      tf.dispose(features);
      best?.dispose();
      if (!encoderFreed) loaded.model.dispose();
    }
  },
});

interface ProbeRun {
  r: Flags;
  outputDir: string;
  dataDir: string;
  classes: string[];
  val: FolderImages;
  trainSet: { x: tf.Tensor2D; y: tf.Tensor1D };
  valSet: { x: tf.Tensor2D; y: tf.Tensor1D };
  /** The classifier the best probe is copied into. */
  model: ViTClassifier;
  resumed: TrainingCheckpoint | undefined;
  io: CliIO;
}

/** The probe on the features: log.txt per epoch, checkpoints, the best probe saved as a classifier. */
async function probe({ r, outputDir, dataDir, classes, val, trainSet, valSet, model, resumed, io }: ProbeRun): Promise<void> {
  const stepsPerEpoch = linearProbeStepsPerEpoch(trainSet.x.shape[0], r.batchSize, r.accumIter);
  const { lr, minLr, says } = probeSchedule(r);
  io.out(`${r.optimizer}: ${says}; ${r.epochs} epochs × ${stepsPerEpoch} steps`);
  const lrOf = warmupCosineEpochs({ baseLr: lr, minLr, warmupEpochs: r.warmupEpochs, epochs: r.epochs, stepsPerEpoch });
  let lrs: number[] = [];
  const schedule = (step: number): number => {
    const v = lrOf(step);
    lrs.push(v);
    return v;
  };
  const recipe = JSON.stringify({
    task: 'linprobe',
    ...Object.fromEntries(RECIPE_KEYS.map((k) => [k, k === 'weights' && r.weights !== undefined ? resolve(r.weights) : r[k] ?? null])),
    resolvedLr: lr,
    resolvedMinLr: minLr,
    data: resolve(dataDir),
    classes,
    mean: val.mean,
    cropPct: val.cropPct,
    std: val.std,
  });
  await truncateLog(outputDir, resumed?.epoch ?? 0); // a fresh run starts a fresh log
  const nParameters = trainSet.x.shape[1] * classes.length + classes.length;
  let maxAccuracy = await bestSoFar(outputDir);
  const result = await linearProbe(trainSet.x, trainSet.y, valSet.x, valSet.y, {
    numClasses: classes.length,
    epochs: r.epochs,
    batchSize: r.batchSize,
    accumSteps: r.accumIter,
    optimizer: r.optimizer,
    lr,
    schedule,
    weightDecay: r.weightDecay,
    seed: r.seed,
    resume: resumed,
    onEpoch: async ({ epoch, loss, testAccuracy, testAccuracy5, testLoss, head, checkpoint }) => {
      const top1 = 100 * testAccuracy;
      const improved = top1 > maxAccuracy;
      if (improved) {
        maxAccuracy = top1;
        copyProbe(head, model);
        const weights = await saveWeights(model, { metadata: { recipe: JSON.stringify({ ...JSON.parse(recipe), epoch, acc1: top1 }) } });
        await writeFileAtomic(join(outputDir, 'checkpoint-best.safetensors'), weights);
      }
      const trainLr = lrs.reduce((a, b) => a + b, 0) / Math.max(lrs.length, 1);
      lrs = [];
      await appendLog(outputDir, {
        train_lr: trainLr,
        train_loss: loss,
        test_loss: testLoss,
        test_acc1: top1,
        ...(testAccuracy5 === undefined ? {} : { test_acc5: 100 * testAccuracy5 }),
        epoch,
        n_parameters: nParameters,
        max_accuracy: maxAccuracy,
      });
      io.out(`[linprobe] epoch ${epoch + 1}/${r.epochs} train_loss ${loss.toFixed(4)} test_loss ${testLoss.toFixed(4)} top-1 ${top1.toFixed(2)}% (best ${maxAccuracy.toFixed(2)}%${improved ? ', saved' : ''})`);
      if ((epoch + 1) % r.saveEvery === 0 || epoch + 1 === r.epochs) {
        const path = join(outputDir, checkpointName(epoch));
        await writeFileAtomic(path, checkpointBytes(await checkpoint(), { recipe }));
        io.out(`saved ${path}`);
      }
    },
  });
  if (resumed && resumed.epoch >= r.epochs) io.out(`the checkpoint already finished the run's ${r.epochs} epochs`);
  io.out(`top-1 ${(100 * result.accuracy).toFixed(2)}% on ${valSet.x.shape[0]} val images (train ${(100 * result.trainAccuracy).toFixed(2)}%); best ${maxAccuracy.toFixed(2)}%: ${join(outputDir, 'checkpoint-best.safetensors')}`);
}
