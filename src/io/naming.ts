/**
 * Official (facebookresearch/mae) ↔ HuggingFace (`ViTMAEForPreTraining`)
 * parameter names. HF splits each fused `qkv` into `query`, `key`, `value`
 * (rows `[0, D)`, `[D, 2D)`, `[2D, 3D)` of the torch weight).
 */
import * as tf from '@tensorflow/tfjs-core';

const BLOCK_SUBNAMES: Array<[string, string]> = [
  ['norm1.', 'layernorm_before.'],
  ['norm2.', 'layernorm_after.'],
  ['attn.proj.', 'attention.output.dense.'],
  ['mlp.fc1.', 'intermediate.dense.'],
  ['mlp.fc2.', 'output.dense.'],
];

const TOP_LEVEL: Array<[string, string]> = [
  ['cls_token', 'vit.embeddings.cls_token'],
  ['pos_embed', 'vit.embeddings.position_embeddings'],
  ['patch_embed.proj.', 'vit.embeddings.patch_embeddings.projection.'],
  ['norm.', 'vit.layernorm.'],
  ['mask_token', 'decoder.mask_token'],
  ['decoder_pos_embed', 'decoder.decoder_pos_embed'],
  ['decoder_embed.', 'decoder.decoder_embed.'],
  ['decoder_norm.', 'decoder.decoder_norm.'],
  ['decoder_pred.', 'decoder.decoder_pred.'],
];

const QKV = ['query', 'key', 'value'] as const;

/** HF names of one official name (three for a fused qkv weight or bias), or `null` if it has none. */
export function officialToHFNames(name: string): string[] | null {
  const block = /^(blocks|decoder_blocks)\.(\d+)\.(.*)$/.exec(name);
  if (block) {
    const base = block[1] === 'blocks' ? `vit.encoder.layer.${block[2]}.` : `decoder.decoder_layers.${block[2]}.`;
    const rest = block[3];
    const qkv = /^attn\.qkv\.(weight|bias)$/.exec(rest);
    if (qkv) return QKV.map((part) => `${base}attention.attention.${part}.${qkv[1]}`);
    for (const [ours, theirs] of BLOCK_SUBNAMES) if (rest.startsWith(ours)) return [base + theirs + rest.slice(ours.length)];
    return null;
  }
  for (const [ours, theirs] of TOP_LEVEL) {
    if (ours.endsWith('.') ? name.startsWith(ours) : name === ours) return [theirs + name.slice(ours.length)];
  }
  return null;
}

/** Official state dict → HF names (q/k/v split). The input tensors are not disposed. */
export function toHFNames(official: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, t] of Object.entries(official)) {
    const names = officialToHFNames(name) ?? [name];
    if (names.length === 1) {
      out[names[0]] = t;
    } else {
      const parts = tf.split(t, 3, 0);
      names.forEach((n, i) => (out[n] = parts[i]));
    }
  }
  return out;
}

/**
 * HF names → official names (q/k/v merged). Accepts `ViTMAEForPreTraining`
 * names and the bare `ViTMAEModel` ones (no `vit.` prefix). Names it does not
 * know are passed through unchanged, so the loader can report them.
 * Returns new tensors only where q/k/v were merged; the others are the inputs.
 */
export function fromHFNames(hf: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const reverse = new Map<string, { official: string; part: number }>();
  const out: Record<string, tf.Tensor> = {};
  const pending = new Map<string, tf.Tensor[]>();
  const normalise = (n: string): string =>
    /^(embeddings|encoder|layernorm)\./.test(n) ? `vit.${n}` : n;
  for (const name of Object.keys(hf)) {
    const hfName = normalise(name);
    const official = hfToOfficialName(hfName);
    if (official) reverse.set(name, official);
  }
  for (const [name, t] of Object.entries(hf)) {
    const r = reverse.get(name);
    if (!r) {
      out[name] = t;
    } else if (r.part < 0) {
      out[r.official] = t;
    } else {
      const parts = pending.get(r.official) ?? [];
      parts[r.part] = t;
      pending.set(r.official, parts);
    }
  }
  for (const [official, parts] of pending) {
    if (parts.filter(Boolean).length === 3) out[official] = tf.concat(parts, 0);
    else parts.forEach((t, i) => t && (out[`${official} (${QKV[i]} only)`] = t));
  }
  return out;
}

/** One HF name → the official name (and which third of a fused qkv, or −1). */
function hfToOfficialName(name: string): { official: string; part: number } | null {
  const layer = /^(vit\.encoder\.layer|decoder\.decoder_layers)\.(\d+)\.(.*)$/.exec(name);
  if (layer) {
    const base = layer[1].startsWith('vit') ? `blocks.${layer[2]}.` : `decoder_blocks.${layer[2]}.`;
    const rest = layer[3];
    const qkv = /^attention\.attention\.(query|key|value)\.(weight|bias)$/.exec(rest);
    if (qkv) return { official: `${base}attn.qkv.${qkv[2]}`, part: QKV.indexOf(qkv[1] as (typeof QKV)[number]) };
    for (const [ours, theirs] of BLOCK_SUBNAMES) {
      if (rest.startsWith(theirs)) return { official: base + ours + rest.slice(theirs.length), part: -1 };
    }
    return null;
  }
  for (const [ours, theirs] of TOP_LEVEL) {
    if (theirs.endsWith('.') ? name.startsWith(theirs) : name === theirs) {
      return { official: ours + name.slice(theirs.length), part: -1 };
    }
  }
  return null;
}
