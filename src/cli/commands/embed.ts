/**
 * `tfjs-mae embed DATA_DIR --weights FILE --out FEATURES.npy`: pooled
 * encoder features `[N, D]` float32 as NumPy .npy, and FEATURES.csv beside
 * it (path, label, class per row, in the order of the rows).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { extractPooledFeatures } from '../../eval/features';
import type { ViTClassifier } from '../../classify/ViTClassifier';
import type { ViTEncoder } from '../../encode/ViTEncoder';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { writeFileAtomic } from '../../node/atomicFile';
import { writeNpy } from '../../node/npy';
import { UsageError, flag } from '../args';
import { backendFlags, setupBackend } from '../backend';
import { defineCommand } from '../command';
import { featureReporter } from '../progress';
import { folderImages, listImages, type FolderImages } from '../data';
import { modelFromFlags, trainedNormalisation, weightsFlags } from '../weightsFlags';
import { disposeBatch } from '../../train/data';

/** One CSV field (RFC 4180 quoting when needed). */
export const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** The CSV beside the features: `path,label,class`, one row per feature row (`indices` into the listing). */
export function featuresCsv(data: FolderImages, indices: Int32Array): string {
  const { listing } = data;
  const rows = Array.from(indices, (i) => {
    const label = listing.labels ? String(listing.labels[i]) : '';
    const cls = listing.labels ? listing.classes[listing.labels[i]] : '';
    return [csvField(join(data.root, listing.paths[i])), label, csvField(cls)].join(',');
  });
  return ['path,label,class', ...rows].join('\n') + '\n';
}

export const embedCommand = defineCommand({
  name: 'embed',
  summary: 'pooled encoder features of a folder of images → FEATURES.npy [N, D] float32 + FEATURES.csv',
  positionals: [{ name: 'DATA_DIR', help: 'a folder of images (class subfolders give the labels)' }],
  flags: {
    ...weightsFlags,
    out: flag.string({ metavar: 'FEATURES.npy', help: 'the .npy file to write (the .csv goes beside it); required' }),
    strict: flag.boolean({ help: 'stop at the first unreadable image instead of skipping it (skipped files are named, and have no row)' }),
    pool: flag.choice(['mean', 'cls'] as const, { default: 'mean', help: "mean of the patch tokens (MAE's global_pool) or the cls token" }),
    batchSize: flag.integer({ default: 64, min: 1, help: 'images per forward pass' }),
    inputSize: flag.integer({ min: 1, help: "image side (default: the model's; another size resamples the position tables)" }),
    ...backendFlags,
  },
  async run({ positionals: [dataDir], flags: f }, io) {
    if (f.out === undefined) throw new UsageError('embed needs --out FEATURES.npy');
    if (!f.out.endsWith('.npy')) throw new UsageError(`--out must end in .npy, got ${JSON.stringify(f.out)}`);
    const onBadFile = (b: { path: string; reason: string }) => io.out(`skipped ${b.path}: ${b.reason}`);
    const listing = await listImages(dataDir, { strict: f.strict, onBadFile }); // before the weights: a wrong folder is said at once
    await setupBackend(f.backend, { threads: f.threads, io });
    const loaded = await modelFromFlags('embed', f, io, f.inputSize);
    try {
      const model = loaded.model;
      const encoder = loaded.kind === 'mae' ? (model as MaskedAutoencoder).encoder : (model as ViTEncoder | ViTClassifier);
      const size = encoder.imgSize;
      const inChans = encoder.inChans;
      const data = folderImages(dataDir, listing, { inputSize: size[0], inChans, ...trainedNormalisation(loaded), strict: f.strict, onBadFile });
      let features: tf.Tensor2D;
      let indices: Int32Array;
      if (loaded.kind === 'classifier') {
        io.out('note: a classifier file: its own pooled features (before the head); --pool is not used');
        const parts: tf.Tensor2D[] = [];
        const rows: number[] = [];
        for await (const batch of data.evalSource(f.batchSize).batches(0, 0)) {
          parts.push((encoder as ViTClassifier).forwardFeatures(batch.images).features);
          rows.push(...batch.indices);
          disposeBatch(batch);
        }
        features = tf.concat(parts, 0) as tf.Tensor2D;
        tf.dispose(parts);
        indices = Int32Array.from(rows);
      } else {
        const out = await extractPooledFeatures(encoder as ViTEncoder, data.evalSource(f.batchSize), { pools: [f.pool], batchSize: f.batchSize, onProgress: featureReporter(io, 'embed', data.listing.paths.length) });
        features = out[f.pool]!;
        out.labels?.dispose();
        indices = out.indices!;
      }
      const [n, d] = features.shape;
      const values = (await features.data()) as Float32Array;
      features.dispose();
      const csv = f.out.replace(/\.npy$/, '.csv');
      await writeNpy(f.out, values, [n, d]);
      await writeFileAtomic(csv, featuresCsv(data, indices));
      io.out(`wrote ${f.out}: [${n}, ${d}] float32 (${f.pool} pooling), and ${csv}${data.classes ? ` (${data.classes.length} classes)` : ' (unlabelled)'}`);
    } finally {
      loaded.model.dispose();
    }
  },
});
