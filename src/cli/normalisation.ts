/**
 * `--mean` / `--std` / `--crop-pct`: how a command turns image files into
 * model inputs, beyond the size. The normalisation a model was pre-trained
 * with is stored in its checkpoint's recipe; the commands that read
 * `--weights` take it from there (see `trainedNormalisation`).
 */
import { imageFolderStats, type ImageFolderListing } from '../node';
import { UsageError, flag } from './args';
import type { CliIO } from './command';

/** The flags. */
export const normalisationFlags = {
  mean: flag.string({
    metavar: 'X[,Y,Z]|auto',
    help: "per-channel mean of pixels in [0, 1] (one number for grey, or one for all channels), or auto = measured on up to 1000 images of DATA_DIR (default: ImageNet's for RGB, 0.5 for grey)",
  }),
  std: flag.string({ metavar: 'X[,Y,Z]|auto', help: 'per-channel std of pixels in [0, 1], or auto (default: ImageNet\'s for RGB, 0.5 for grey)' }),
  cropPct: flag.number({
    default: 0.875,
    min: 0.01,
    max: 1,
    help: 'the evaluation transform resizes the shorter side to input-size / crop-pct, then centre-crops (1 = images already at input-size pass unchanged)',
  }),
};

/** `'auto'`, or the `channels` numbers of `--name` (one number is repeated); undefined when the flag is absent. */
export function parseChannelValues(name: 'mean' | 'std', text: string | undefined, channels: number): number[] | 'auto' | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === 'auto') return 'auto';
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v)) || (values.length !== 1 && values.length !== channels)) {
    throw new UsageError(`--${name}: expected 1 or ${channels} comma-separated numbers (one per channel) or auto, got ${JSON.stringify(text)}`);
  }
  if (name === 'std' && values.some((v) => v <= 0)) throw new UsageError(`--std: expected numbers > 0, got ${JSON.stringify(text)}`);
  return values.length === 1 ? new Array<number>(channels).fill(values[0]) : values;
}

/**
 * The `{ mean, std }` of `--mean` / `--std` (each undefined when not given, for
 * the default); `auto` is measured on `listing` through the evaluation
 * transform at `size`.
 */
export async function resolveNormalisation(
  f: { mean?: string; std?: string; cropPct: number },
  listing: ImageFolderListing,
  options: { channels: 1 | 3; size: number; io: CliIO },
): Promise<{ mean?: number[]; std?: number[] }> {
  const mean = parseChannelValues('mean', f.mean, options.channels);
  const std = parseChannelValues('std', f.std, options.channels);
  if (mean !== 'auto' && std !== 'auto') return { mean, std };
  const t0 = Date.now();
  const stats = await imageFolderStats(listing, { channels: options.channels, size: options.size, cropPct: f.cropPct, onBadFile: () => undefined });
  const show = (v: number[]) => v.map((x) => x.toFixed(7)).join(',');
  options.io.out(`measured on ${Math.min(1000, listing.paths.length)} images (${((Date.now() - t0) / 1000).toFixed(1)} s): --mean ${show(stats.mean)} --std ${show(stats.std)}`);
  return { mean: mean === 'auto' ? stats.mean : mean, std: std === 'auto' ? stats.std : std };
}
