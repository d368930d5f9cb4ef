/**
 * `tfjs-mae linprobe DATA_DIR --weights FILE`: linear probing of frozen
 * encoder features (BatchNorm without affine + Linear, after the official
 * `main_linprobe.py`; AdamW as the library's reference recipe): features of
 * DATA_DIR/train and DATA_DIR/val in one encoder pass each, then the probe;
 * top-1 on val, log.txt.
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { extractPooledFeatures } from '../../eval/features';
import { linearProbe } from '../../eval/linearProbe';
import { CliError, flag } from '../args';
import { backendFlags, setupBackend } from '../backend';
import { defineCommand } from '../command';
import type { FolderImages } from '../data';
import { appendLog, checkOutputDir } from '../runDir';
import { trainValFor } from '../splits';
import { modelFromFlags, weightsFlags } from '../weightsFlags';

export const linprobeCommand = defineCommand({
  name: 'linprobe',
  summary: 'linear probe of frozen encoder features: DATA_DIR/train → top-1 on DATA_DIR/val (official main_linprobe.py)',
  description: `
The probe is BatchNorm (no affine) + Linear on the pooled features, trained with AdamW at a
constant lr (the library's reference recipe) or LARS (--optimizer lars, as main_linprobe.py). Prints the loss per epoch and the top-1 on val; OUTPUT_DIR/log.txt gets one line per
epoch and the final accuracy.`,
  positionals: [{ name: 'DATA_DIR', help: 'a folder with train/ and val/, one subfolder per class in each' }],
  flags: {
    ...weightsFlags,
    batchSize: flag.integer({ default: 256, min: 2, help: 'features per probe step' }),
    epochs: flag.integer({ default: 10, min: 1, help: 'passes over the training features' }),
    optimizer: flag.choice(['adamw', 'lars'] as const, { default: 'adamw', help: "the probe's optimiser: adamw (the reference recipe of docs/results.md) or lars (main_linprobe.py)" }),
    lr: flag.number({ min: 0, help: 'lr of the probe (default: 1e-3 with adamw, 0.1 × batch-size / 256 with lars)' }),
    weightDecay: flag.number({ default: 0, min: 0, help: 'AdamW weight decay of the probe' }),
    pool: flag.choice(['mean', 'cls'] as const, { default: 'mean', help: "features: mean of the patch tokens (MAE's global_pool) or the cls token" }),
    inputSize: flag.integer({ min: 1, help: "image side (default: the model's)" }),
    featureBatchSize: flag.integer({ default: 64, min: 1, help: 'images per encoder pass' }),
    seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the probe init and order' }),
    outputDir: flag.string({ default: './output_dir', metavar: 'DIR', help: 'log.txt goes here' }),
    ...backendFlags,
  },
  async run({ positionals: [dataDir], flags: f }, io) {
    const outputDir = resolve(f.outputDir);
    await checkOutputDir(outputDir);
    await setupBackend(f.backend, { threads: f.threads, io });
    const loaded = await modelFromFlags('linprobe', f, io, f.inputSize);
    const features: tf.Tensor[] = [];
    try {
      if (loaded.kind === 'classifier') throw new CliError(`${f.weights} is a classifier; linprobe needs pre-trained encoder weights (an MAE or encoder file)`);
      const { encoder, train, val, classes } = await trainValFor(dataDir, loaded, io);
      const featuresOf = async (set: FolderImages, name: string): Promise<{ x: tf.Tensor2D; y: tf.Tensor1D }> => {
        const t0 = Date.now();
        const out = await extractPooledFeatures(encoder, set.evalSource(f.featureBatchSize), { pools: [f.pool], batchSize: f.featureBatchSize });
        const x = out[f.pool]!;
        features.push(x, ...(out.labels ? [out.labels] : []));
        if (!out.labels) throw new CliError(`${set.root}: no labels (one subfolder per class expected)`);
        io.out(`features of ${name}: [${x.shape.join(', ')}] in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return { x, y: out.labels };
      };
      const trainSet = await featuresOf(train, 'train');
      const valSet = await featuresOf(val, 'val');
      const result = await linearProbe(trainSet.x, trainSet.y, valSet.x, valSet.y, {
        numClasses: classes.length,
        epochs: f.epochs,
        batchSize: f.batchSize,
        optimizer: f.optimizer,
        ...(f.lr === undefined ? {} : { lr: f.lr }),
        weightDecay: f.weightDecay,
        seed: f.seed,
        onEpoch: async ({ epoch, loss }) => {
          await appendLog(outputDir, { train_loss: loss, epoch });
          io.out(`[linprobe] epoch ${epoch + 1}/${f.epochs} train_loss ${loss.toFixed(4)}`);
        },
      });
      const top1 = 100 * result.accuracy;
      await appendLog(outputDir, { epoch: f.epochs - 1, test_acc1: top1, train_acc1: 100 * result.trainAccuracy });
      io.out(`top-1 ${top1.toFixed(2)}% on ${val.listing.paths.length} val images (train ${(100 * result.trainAccuracy).toFixed(2)}%)`);
    } finally {
      tf.dispose(features);
      loaded.model.dispose();
    }
  },
});
