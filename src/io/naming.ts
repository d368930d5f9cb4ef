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

/** How to split a fused qkv into thirds along axis 0, and to join them back. */
export interface RowOps<T> {
  /** Splits `t` into three equal parts along axis 0 (q, k, v). */
  split3(t: T): [T, T, T];
  /** Concatenates three parts along axis 0 (the inverse of `split3`). */
  concat3(parts: [T, T, T]): T;
}

/**
 * Official names → HF names, splitting each fused qkv into query/key/value.
 * Works on any tensor type given its row operations (tf tensors or host arrays).
 */
export function renameToHF<T>(official: Iterable<[string, T]>, ops: RowOps<T>): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  for (const [name, t] of official) {
    const names = officialToHFNames(name) ?? [name];
    if (names.length === 1) out.push([names[0], t]);
    else ops.split3(t).forEach((part, i) => out.push([names[i], part]));
  }
  return out;
}

/**
 * HF names → official names, merging query/key/value into the fused qkv.
 * Accepts `ViTMAEForPreTraining` names and the bare `ViTMAEModel` ones (no
 * `vit.` prefix). Unknown names pass through unchanged, so a loader can
 * report them; an incomplete q/k/v triple passes through as `<qkv name> (query only)` etc.
 */
export function renameFromHF<T>(hf: Iterable<[string, T]>, ops: RowOps<T>): Array<[string, T]> {
  const out: Array<[string, T]> = [];
  const pending = new Map<string, { index: number; parts: (T | undefined)[] }>();
  for (const [name, t] of hf) {
    const bare = /^(embeddings|encoder|layernorm)\./.test(name) ? `vit.${name}` : name;
    const r = hfToOfficialName(bare);
    if (!r) out.push([name, t]);
    else if (r.part < 0) out.push([r.official, t]);
    else {
      let slot = pending.get(r.official);
      if (!slot) {
        slot = { index: out.length, parts: [] };
        pending.set(r.official, slot);
        out.push([r.official, undefined as unknown as T]); // keeps the file order
      }
      slot.parts[r.part] = t;
    }
  }
  const result: Array<[string, T]> = [];
  const byIndex = new Map([...pending.values()].map((p) => [p.index, p]));
  out.forEach(([name, t], i) => {
    const slot = byIndex.get(i);
    if (!slot) return void result.push([name, t]);
    const parts = slot.parts;
    if (parts.length === 3 && parts.every((x) => x !== undefined)) result.push([name, ops.concat3(parts as [T, T, T])]);
    else parts.forEach((x, j) => x !== undefined && result.push([`${name} (${QKV[j]} only)`, x]));
  });
  return result;
}

/** Row operations on tf tensors. */
export const TF_ROWS: RowOps<tf.Tensor> = {
  split3: (t) => tf.split(t, 3, 0) as [tf.Tensor, tf.Tensor, tf.Tensor],
  concat3: (parts) => tf.concat(parts, 0),
};

/** Official state dict → HF names (q/k/v split). The input tensors are not disposed. */
export function toHFNames(official: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(renameToHF(Object.entries(official), TF_ROWS));
}

/** HF names → official names (q/k/v merged: new tensors; the others are the inputs). */
export function fromHFNames(hf: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  return Object.fromEntries(renameFromHF(Object.entries(hf), TF_ROWS));
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
