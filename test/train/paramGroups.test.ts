import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAEConfigError } from '../../src/errors';
import { AdamW } from '../../src/train/adamw';
import { NO_WEIGHT_DECAY_NAMES, layerId, paramGroups } from '../../src/train/paramGroups';
import type { NamedParam, ParamGroup } from '../../src/train/types';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const owned: tf.Variable[] = [];
afterEach(() => {
  tf.dispose(owned.splice(0));
});

function params(rows: [string, number[], ...unknown[]][]): NamedParam[] {
  return rows.map(([name, shape]) => {
    const variable = tf.tidy(() => tf.variable(tf.ones(shape), true));
    owned.push(variable);
    return { name, variable };
  });
}

/** name → (group, weightDecay, lrScale) of each parameter. */
function assignment(groups: ParamGroup[]) {
  return groups.flatMap((g) => g.params.map((p) => [p.name, g.name, g.weightDecay, g.lrScale]));
}

/*
 * Worked table: the fine-tuning ViT of depth 4 (official models_vit names with
 * global_pool: no final `norm`, `fc_norm` + `head`), embed dim 4, weight decay
 * 0.05, layer decay 0.75, numLayers = depth + 1 = 5. Shapes follow our tfjs
 * layout (Linear weight [in, out], conv kernel [p, p, C, D]); only 1-D vs ≥ 2-D matters.
 * lrScale = 0.75^(5 − layer): layer 0 → 0.2373046875, 1 → 0.31640625,
 * 2 → 0.421875, 3 → 0.5625, 4 → 0.75, 5 → 1 (all exact in binary).
 * Columns: name, shape, group, weightDecay, lrScale.
 */
const VIT_DEPTH4: [string, number[], string, number, number][] = [
  ['cls_token', [1, 1, 4], 'layer_0_no_decay', 0, 0.2373046875],
  ['pos_embed', [1, 5, 4], 'layer_0_no_decay', 0, 0.2373046875],
  ['patch_embed.proj.weight', [2, 2, 1, 4], 'layer_0_decay', 0.05, 0.2373046875],
  ['patch_embed.proj.bias', [4], 'layer_0_no_decay', 0, 0.2373046875],
  ['blocks.0.norm1.weight', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.norm1.bias', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.attn.qkv.weight', [4, 12], 'layer_1_decay', 0.05, 0.31640625],
  ['blocks.0.attn.qkv.bias', [12], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.attn.proj.weight', [4, 4], 'layer_1_decay', 0.05, 0.31640625],
  ['blocks.0.attn.proj.bias', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.norm2.weight', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.norm2.bias', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.mlp.fc1.weight', [4, 16], 'layer_1_decay', 0.05, 0.31640625],
  ['blocks.0.mlp.fc1.bias', [16], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.0.mlp.fc2.weight', [16, 4], 'layer_1_decay', 0.05, 0.31640625],
  ['blocks.0.mlp.fc2.bias', [4], 'layer_1_no_decay', 0, 0.31640625],
  ['blocks.1.norm1.weight', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.norm1.bias', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.attn.qkv.weight', [4, 12], 'layer_2_decay', 0.05, 0.421875],
  ['blocks.1.attn.qkv.bias', [12], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.attn.proj.weight', [4, 4], 'layer_2_decay', 0.05, 0.421875],
  ['blocks.1.attn.proj.bias', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.norm2.weight', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.norm2.bias', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.mlp.fc1.weight', [4, 16], 'layer_2_decay', 0.05, 0.421875],
  ['blocks.1.mlp.fc1.bias', [16], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.1.mlp.fc2.weight', [16, 4], 'layer_2_decay', 0.05, 0.421875],
  ['blocks.1.mlp.fc2.bias', [4], 'layer_2_no_decay', 0, 0.421875],
  ['blocks.2.norm1.weight', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.norm1.bias', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.attn.qkv.weight', [4, 12], 'layer_3_decay', 0.05, 0.5625],
  ['blocks.2.attn.qkv.bias', [12], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.attn.proj.weight', [4, 4], 'layer_3_decay', 0.05, 0.5625],
  ['blocks.2.attn.proj.bias', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.norm2.weight', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.norm2.bias', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.mlp.fc1.weight', [4, 16], 'layer_3_decay', 0.05, 0.5625],
  ['blocks.2.mlp.fc1.bias', [16], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.2.mlp.fc2.weight', [16, 4], 'layer_3_decay', 0.05, 0.5625],
  ['blocks.2.mlp.fc2.bias', [4], 'layer_3_no_decay', 0, 0.5625],
  ['blocks.3.norm1.weight', [4], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.norm1.bias', [4], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.attn.qkv.weight', [4, 12], 'layer_4_decay', 0.05, 0.75],
  ['blocks.3.attn.qkv.bias', [12], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.attn.proj.weight', [4, 4], 'layer_4_decay', 0.05, 0.75],
  ['blocks.3.attn.proj.bias', [4], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.norm2.weight', [4], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.norm2.bias', [4], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.mlp.fc1.weight', [4, 16], 'layer_4_decay', 0.05, 0.75],
  ['blocks.3.mlp.fc1.bias', [16], 'layer_4_no_decay', 0, 0.75],
  ['blocks.3.mlp.fc2.weight', [16, 4], 'layer_4_decay', 0.05, 0.75],
  ['blocks.3.mlp.fc2.bias', [4], 'layer_4_no_decay', 0, 0.75],
  ['fc_norm.weight', [4], 'layer_5_no_decay', 0, 1],
  ['fc_norm.bias', [4], 'layer_5_no_decay', 0, 1],
  ['head.weight', [4, 10], 'layer_5_decay', 0.05, 1],
  ['head.bias', [10], 'layer_5_no_decay', 0, 1],
];

describe('paramGroups, layer-wise lr decay (official param_groups_lrd)', () => {
  it('assigns every parameter of a depth-4 ViT as the worked table', () => {
    const groups = paramGroups(params(VIT_DEPTH4), { weightDecay: 0.05, layerDecay: 0.75 });
    const got = new Map(assignment(groups).map((row) => [row[0], row.slice(1)]));
    expect(got.size).toBe(VIT_DEPTH4.length);
    for (const [name, , group, wd, scale] of VIT_DEPTH4) expect([name, ...got.get(name)!]).toEqual([name, group, wd, scale]);
    // one group per (layer, decay), in order of first appearance, as the official dict
    expect(groups.map((g) => g.name)).toEqual([
      'layer_0_no_decay', 'layer_0_decay',
      'layer_1_no_decay', 'layer_1_decay', 'layer_2_no_decay', 'layer_2_decay',
      'layer_3_no_decay', 'layer_3_decay', 'layer_4_no_decay', 'layer_4_decay',
      'layer_5_no_decay', 'layer_5_decay',
    ]);
    expect(groups.map((g) => g.params.length)).toEqual([3, 1, 8, 4, 8, 4, 8, 4, 8, 4, 3, 1]);
  });

  it('infers numLayers = depth + 1 from the block names; an explicit value overrides it', () => {
    const ps = params([['blocks.0.attn.qkv.weight', [2, 6]], ['blocks.1.attn.qkv.weight', [2, 6]], ['head.weight', [2, 3]], ['cls_token', [1, 1, 2]]]);
    expect(paramGroups(ps, { weightDecay: 0.1, layerDecay: 0.5 }).map((g) => [g.name, g.lrScale])).toEqual([
      ['layer_1_decay', 0.25], ['layer_2_decay', 0.5], ['layer_3_decay', 1], ['layer_0_no_decay', 0.125],
    ]);
    expect(paramGroups(ps, { weightDecay: 0.1, layerDecay: 0.5, numLayers: 4 }).map((g) => [g.name, g.lrScale])).toEqual([
      ['layer_1_decay', 0.125], ['layer_2_decay', 0.25], ['layer_4_decay', 1], ['layer_0_no_decay', 0.0625],
    ]);
  });

  it('feeds AdamW: the first step of each group moves by its scaled lr', async () => {
    const ps = params(VIT_DEPTH4);
    const opt = new AdamW(paramGroups(ps, { weightDecay: 0.05, layerDecay: 0.75 }));
    const grads = tf.tidy(() => Object.fromEntries(ps.map((p) => [p.name, tf.onesLike(p.variable)])));
    opt.step(grads, 0.01);
    tf.dispose(Object.values(grads));
    // first Adam step = lr·lrScale·g/(|g| + eps) after p(1 − lr·lrScale·wd); p was 1, g = 1
    for (const [name, , , wd, scale] of VIT_DEPTH4) {
      const lr = 0.01 * scale;
      const got = (await ps.find((p) => p.name === name)!.variable.data())[0];
      expect(Math.abs(got - ((1 - lr * wd) - lr / (1 + 1e-8)))).toBeLessThan(1e-7);
    }
    opt.dispose();
  });
});

describe('paramGroups, weight decay only (pre-training)', () => {
  const MAE = [
    ['cls_token', [1, 1, 4]],
    ['pos_embed', [1, 5, 4]],
    ['mask_token', [1, 1, 2]],
    ['decoder_pos_embed', [1, 5, 2]],
    ['patch_embed.proj.weight', [2, 2, 1, 4]],
    ['blocks.0.norm1.weight', [4]],
    ['norm.bias', [4]],
    ['decoder_embed.weight', [4, 2]],
    ['decoder_pred.bias', [4]],
    ['decoder_pred.weight', [2, 4]],
  ] as [string, number[]][];

  it('two groups; no decay on 1-D params, *.bias, tokens and position tables', () => {
    const groups = paramGroups(params(MAE), { weightDecay: 0.05 });
    expect(assignment(groups)).toEqual([
      ['cls_token', 'no_decay', 0, 1],
      ['pos_embed', 'no_decay', 0, 1],
      ['mask_token', 'no_decay', 0, 1],
      ['decoder_pos_embed', 'no_decay', 0, 1],
      ['blocks.0.norm1.weight', 'no_decay', 0, 1],
      ['norm.bias', 'no_decay', 0, 1],
      ['decoder_pred.bias', 'no_decay', 0, 1],
      ['patch_embed.proj.weight', 'decay', 0.05, 1],
      ['decoder_embed.weight', 'decay', 0.05, 1],
      ['decoder_pred.weight', 'decay', 0.05, 1],
    ]);
  });

  it('noWeightDecay replaces the default list: [] decays the tokens as the official pre-training', () => {
    expect(NO_WEIGHT_DECAY_NAMES).toEqual(['cls_token', 'mask_token', 'pos_embed', 'decoder_pos_embed']);
    const groups = paramGroups(params(MAE), { weightDecay: 0.05, noWeightDecay: ['decoder_embed.weight'] });
    const decayed = groups.find((g) => g.name === 'decay')!.params.map((p) => p.name);
    expect(decayed).toEqual(['cls_token', 'pos_embed', 'mask_token', 'decoder_pos_embed', 'patch_embed.proj.weight', 'decoder_pred.weight']);
  });
});

describe('layerId (official get_layer_id_for_vit)', () => {
  it('maps names to layers for numLayers = 5', () => {
    const ids = ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'blocks.0.norm1.weight', 'blocks.3.mlp.fc2.bias',
      'blocks.11.attn.qkv.weight', 'norm.weight', 'fc_norm.bias', 'head.weight', 'mask_token', 'decoder_blocks.0.norm1.weight',
      'decoder_pos_embed'].map((n) => layerId(n, 5));
    expect(ids).toEqual([0, 0, 0, 1, 4, 12, 5, 5, 5, 5, 5, 5]);
  });
});

describe('paramGroups validation', () => {
  it('rejects bad options with typed errors naming the argument', () => {
    const ps = params([['blocks.4.attn.qkv.weight', [2, 6]], ['head.weight', [2, 2]]]);
    expect(() => paramGroups(ps, { weightDecay: -1 })).toThrow(/paramGroups weightDecay: expected/);
    expect(() => paramGroups(ps, { weightDecay: 0.05, layerDecay: 0 })).toThrow(/paramGroups layerDecay/);
    expect(() => paramGroups(ps, { weightDecay: 0.05, layerDecay: 0.75, numLayers: 2.5 })).toThrow(/numLayers: expected an integer/);
    expect(() => paramGroups(ps, { weightDecay: 0.05, layerDecay: 0.75, numLayers: 4 })).toThrow(
      /numLayers: expected >= 5 for parameter "blocks.4.attn.qkv.weight", got 4/,
    );
    expect(() => paramGroups([ps[0], ps[0]], { weightDecay: 0.05 })).toThrow(/unique names, got "blocks.4.attn.qkv.weight" twice/);
    expect(() => paramGroups([{ name: 'x' } as NamedParam], { weightDecay: 0.05 })).toThrow(MAEConfigError);
  });
});
