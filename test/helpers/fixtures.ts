/** Fixture discovery and model construction from a fixture's JSON (official config names). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MaskedAutoencoder, type MaskedAutoencoderArgs } from '../../src';

export const FIXTURES_DIR = process.env.MAE_FIXTURES_DIR ?? fileURLToPath(new URL('../fixtures', import.meta.url));

export interface MAECase {
  name: string;
  json: {
    config: Record<string, unknown>;
    mask_ratio: number;
    N: number;
    loss: number;
    derived?: { len_keep?: number };
  };
  safetensors: string;
  hf?: string;
}

/** Every `<case>.json` + `<case>.safetensors` pair of an MAE model in the fixtures folder. */
export function maeCases(dir = FIXTURES_DIR): MAECase[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .flatMap((f) => {
      const name = f.slice(0, -'.json'.length);
      const st = path.join(dir, `${name}.safetensors`);
      if (!fs.existsSync(st)) return [];
      const json = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (json.model !== 'models_mae.MaskedAutoencoderViT') return [];
      const hf = path.join(dir, `${name}.hf.safetensors`);
      return [{ name, json, safetensors: st, hf: fs.existsSync(hf) ? hf : undefined }];
    });
}

/** The LayerNorm eps in an official `norm_layer` description (`partial(nn.LayerNorm, eps=1e-06)`). */
export function epsOf(normLayer: unknown): number {
  const m = /eps=([0-9.eE+-]+)/.exec(String(normLayer ?? ''));
  return m ? Number(m[1]) : 1e-5; // nn.LayerNorm's own default
}

/** A model with a fixture's configuration (official names → camelCase), plus `extra` arguments. */
export function modelFor(c: MAECase, extra: Partial<MaskedAutoencoderArgs> = {}): MaskedAutoencoder {
  const k = c.json.config as Record<string, number & boolean & [number, number]>;
  return new MaskedAutoencoder({
    imgSize: k.img_size,
    patchSize: k.patch_size,
    inChans: k.in_chans,
    embedDim: k.embed_dim,
    depth: k.depth,
    numHeads: k.num_heads,
    decoderEmbedDim: k.decoder_embed_dim,
    decoderDepth: k.decoder_depth,
    decoderNumHeads: k.decoder_num_heads,
    mlpRatio: k.mlp_ratio,
    normPixLoss: k.norm_pix_loss,
    layerNormEps: epsOf(k.norm_layer),
    maskRatio: c.json.mask_ratio,
    ...extra,
  });
}

export function readBytes(file: string): Uint8Array {
  return new Uint8Array(fs.readFileSync(file));
}
