/**
 * `tfjs-mae reconstruct IMAGE... --weights FILE --out FILE.png`: the official
 * visualisation notebook as a command. One row per image, four labelled
 * columns: original, masked, reconstruction, reconstruction + visible.
 */
import { basename } from 'node:path';
import type { MaskedAutoencoder } from '../../model/MaskedAutoencoder';
import { writePng } from '../../node/png';
import { CliError, UsageError, flag } from '../args';
import { backendFlags, setupBackend } from '../backend';
import { defineCommand } from '../command';
import { checkImageFiles, firstBatch, openImageFiles } from '../data';
import { disposeBatch } from '../../train/data';
import { withoutPackedWeights } from '../../nn/ops';
import { reconstructionFigure } from '../figure';
import { modelFromFlags, trainedNormalisation, weightsFlags } from '../weightsFlags';

/** ImageNet's per-channel mean and std (the official notebook's normalisation). */
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

export const reconstructCommand = defineCommand({
  name: 'reconstruct',
  summary: 'the official visualisation: original, masked, reconstruction, reconstruction + visible, per image → PNG',
  description: `
As the official notebook: each image is resized whole to the model's input size (bicubic, no
crop; --center-crop takes the evaluation transform instead: the shorter side to input-size / 0.875,
then the centre), then normalised as the weights were trained (the recipe stored by tfjs-mae
pretrain; ImageNet's mean/std for official weights). A norm-pix model's prediction is shown in
pixels with the visible patches' statistics.`,
  positionals: [{ name: 'IMAGE', help: 'image files (one row each)', variadic: true }],
  flags: {
    ...weightsFlags,
    out: flag.string({ metavar: 'FILE.png', help: 'the figure to write; required' }),
    maskRatio: flag.number({ min: 0, max: 0.999, help: "fraction of patches removed (default: the model's, 0.75)" }),
    seed: flag.integer({ default: 0, min: 0, max: 2 ** 32 - 1, help: 'seed of the random masks' }),
    inputSize: flag.integer({ min: 1, help: "image side (default: the model's; another size resamples the position tables)" }),
    centerCrop: flag.boolean({ help: "the evaluation transform (shorter side to input-size / 0.875, centre crop) instead of the notebook's plain resize of the whole image" }),
    ...backendFlags,
  },
  async run({ positionals: images, flags: f }, io) {
    if (f.out === undefined) throw new UsageError('reconstruct needs --out FILE.png');
    if (!/\.png$/i.test(f.out)) throw new UsageError(`--out must end in .png, got ${JSON.stringify(f.out)}`);
    await checkImageFiles(images); // before the weights: a mistyped image is said at once, not after loading ViT-L
    await setupBackend(f.backend, { threads: f.threads, io });
    const loaded = await modelFromFlags('reconstruct', f, io, f.inputSize, {
      accept: ['mae'],
      why: 'reconstruction needs the decoder too (e.g. mae_visualize_vit_large.pth or a tfjs-mae pretrain checkpoint)',
    });
    try {
      const model = loaded.model as MaskedAutoencoder;
      const { mean, std } = trainedNormalisation(loaded) ?? IMAGENET;
      const c = model.config.inChans;
      const norm = { mean: mean.length === c ? mean : Array(c).fill(mean[0]), std: std.length === c ? std : Array(c).fill(std[0]) };
      const bad: string[] = [];
      const data = await openImageFiles(images, { inputSize: model.config.imgSize[0], inChans: c, ...norm, onBadFile: (b) => bad.push(`${b.path}: ${b.reason}`) });
      const batch = await firstBatch(f.centerCrop ? data.evalSource(images.length) : data.resizeSource(images.length));
      if (bad.length > 0 || !batch) {
        if (batch) disposeBatch(batch);
        throw new CliError(`cannot read ${bad[0] ?? images[0]}`);
      }
      try {
        // one forward pass: packed weight copies would only double the weights' memory
        const { image, loss } = await withoutPackedWeights(() =>
          reconstructionFigure(model, batch.images, {
            seed: f.seed,
            maskRatio: f.maskRatio,
            ...norm,
            rowLabels: images.map((p) => basename(p)),
          }),
        );
        await writePng(f.out, image);
        io.out(`wrote ${f.out}: ${images.length} image${images.length > 1 ? 's' : ''}, mask ratio ${f.maskRatio ?? model.config.maskRatio}, seed ${f.seed}, loss ${loss.toFixed(4)}`);
      } finally {
        disposeBatch(batch);
      }
    } finally {
      loaded.model.dispose();
    }
  },
});
