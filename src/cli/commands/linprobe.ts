/**
 * `tfjs-mae linprobe DATA_DIR --weights FILE`: linear probing of frozen
 * encoder features (BatchNorm without affine + Linear, after the official
 * `main_linprobe.py`; AdamW as the library's reference recipe): features of
 * train and val in one encoder pass each, then the probe; top-1 on val after
 * every epoch, log.txt, the best probe kept as a classifier file.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ViTClassifier } from '../../classify/ViTClassifier';
import type { LinearProbeHead } from '../../classify/LinearProbeHead';
import type { ViTEncoder } from '../../encode/ViTEncoder';
import { extractPooledFeatures } from '../../eval/features';
import { linearProbe } from '../../eval/linearProbe';
import { saveWeights } from '../../io/pretrainedModel';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { writeFileAtomic } from '../../node/atomicFile';
import { CliError, flag } from '../args';
import { backendFlags } from '../backend';
import { defineCommand } from '../command';
import { featureReporter } from '../progress';
import type { FolderImages } from '../data';
import { appendLog, truncateLog } from '../runDir';
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

export const linprobeCommand = defineCommand({
  name: 'linprobe',
  summary: 'linear probe of frozen encoder features: DATA_DIR/train → top-1 on DATA_DIR/val (official main_linprobe.py)',
  description: `
The probe is BatchNorm (no affine) + Linear on the pooled features, trained with AdamW at a
constant lr (the library's reference recipe) or LARS (--optimizer lars, as main_linprobe.py).
Prints the loss and the top-1 on val after every epoch; OUTPUT_DIR/log.txt gets one line per
epoch (train_loss, test_loss, test_acc1, test_acc5 with 5 classes or more, max_accuracy). The
best probe is kept as OUTPUT_DIR/checkpoint-best.safetensors: a classifier (the encoder, the
pooling of --pool and the probe; --weights of embed, inspect). OUTPUT_DIR/dataset.json holds the
class → index map and the files of train and val.`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder with train/ and val/, one subfolder per class in each (or one folder of class subfolders with --val-split)' }],
  flags: {
    ...weightsFlags,
    batchSize: flag.integer({ default: 256, min: 2, help: 'features per probe step' }),
    epochs: flag.integer({ default: 10, min: 1, help: 'passes over the training features' }),
    optimizer: flag.choice(['adamw', 'lars'] as const, { default: 'adamw', help: "the probe's optimiser: adamw (the reference recipe of docs/results.md) or lars (main_linprobe.py)" }),
    lr: flag.number({ min: 0, help: 'lr of the probe (default: 1e-3 with adamw, 0.1 × batch-size / 256 with lars)' }),
    weightDecay: flag.number({ default: 0, min: 0, help: 'AdamW weight decay of the probe' }),
    pool: flag.choice(['mean', 'cls'] as const, { default: 'mean', help: 'features: mean of the patch tokens after the final norm, or the cls token' }),
    inputSize: flag.integer({ min: 1, help: "image side (default: the model's)" }),
    featureBatchSize: flag.integer({ default: 64, min: 1, help: 'images per encoder pass' }),
    valSplit: valSplitFlag,
    seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the probe init and order (and --val-split)' }),
    outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt, dataset.json and checkpoint-best.safetensors go here' }),
    ...backendFlags,
  },
  async run({ positionals: [dataDir], flags: f }, io) {
    const notClassifier = (loaded: { kind: string }) => {
      if (loaded.kind === 'classifier') throw new CliError(`${f.weights} is a classifier; linprobe needs pre-trained encoder weights (an MAE or encoder file)`);
    };
    const { outputDir, loaded, encoder, train, val, classes } = await openLabelledRun('linprobe', dataDir, f, io, notClassifier);
    const features: tf.Tensor[] = [];
    let best: ViTClassifier | undefined;
    let encoderFreed = false;
    try {
      const featuresOf = async (set: FolderImages, name: string): Promise<{ x: tf.Tensor2D; y: tf.Tensor1D }> => {
        const t0 = Date.now();
        const onProgress = featureReporter(io, `features of ${name}`, set.listing.paths.length);
        const out = await extractPooledFeatures(encoder, set.evalSource(f.featureBatchSize), { pools: [f.pool], batchSize: f.featureBatchSize, onProgress });
        const x = out[f.pool]!;
        features.push(x, ...(out.labels ? [out.labels] : []));
        if (!out.labels) throw new CliError(`${set.root}: no labels (one subfolder per class expected)`);
        io.out(`features of ${name}: [${x.shape.join(', ')}] in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return { x, y: out.labels };
      };
      const trainSet = await featuresOf(train, 'train');
      const valSet = await featuresOf(val, 'val');
      // The classifier the best probe is saved in: the encoder with the features' pooling (its weights are copied now, the encoder freed).
      const model = ViTClassifier.fromMAE(loaded.model as MaskedAutoencoder | ViTEncoder, { numClasses: classes.length, head: 'linprobe', globalPool: f.pool === 'mean', normBeforePool: f.pool === 'mean' });
      best = model;
      loaded.model.dispose();
      encoderFreed = true;
      const recipe = { task: 'linprobe', weights: f.weights, pool: f.pool, optimizer: f.optimizer, lr: f.lr ?? null, batchSize: f.batchSize, epochs: f.epochs, weightDecay: f.weightDecay, seed: f.seed, classes, mean: val.mean, std: val.std };
      await truncateLog(outputDir, 0);
      const nParameters = trainSet.x.shape[1] * classes.length + classes.length;
      let maxAccuracy = -1;
      const result = await linearProbe(trainSet.x, trainSet.y, valSet.x, valSet.y, {
        numClasses: classes.length,
        epochs: f.epochs,
        batchSize: f.batchSize,
        optimizer: f.optimizer,
        ...(f.lr === undefined ? {} : { lr: f.lr }),
        weightDecay: f.weightDecay,
        seed: f.seed,
        onEpoch: async ({ epoch, loss, testAccuracy, testAccuracy5, testLoss, head }) => {
          const top1 = 100 * testAccuracy;
          const improved = top1 > maxAccuracy;
          if (improved) {
            maxAccuracy = top1;
            copyProbe(head, model);
            const weights = await saveWeights(model, { metadata: { recipe: JSON.stringify({ ...recipe, epoch, acc1: top1 }) } });
            await writeFileAtomic(join(outputDir, 'checkpoint-best.safetensors'), weights);
          }
          await appendLog(outputDir, {
            train_loss: loss,
            test_loss: testLoss,
            test_acc1: top1,
            ...(testAccuracy5 === undefined ? {} : { test_acc5: 100 * testAccuracy5 }),
            epoch,
            n_parameters: nParameters,
            max_accuracy: maxAccuracy,
          });
          io.out(`[linprobe] epoch ${epoch + 1}/${f.epochs} train_loss ${loss.toFixed(4)} test_loss ${testLoss.toFixed(4)} top-1 ${top1.toFixed(2)}% (best ${maxAccuracy.toFixed(2)}%${improved ? ', saved' : ''})`);
        },
      });
      io.out(`top-1 ${(100 * result.accuracy).toFixed(2)}% on ${val.listing.paths.length} val images (train ${(100 * result.trainAccuracy).toFixed(2)}%); best ${maxAccuracy.toFixed(2)}%: ${join(outputDir, 'checkpoint-best.safetensors')}`);
    } finally {
      tf.dispose(features);
      best?.dispose();
      if (!encoderFreed) loaded.model.dispose();
    }
  },
});
