import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import { checkCheckpoint, decodeCheckpoint, encodeCheckpoint, type TrainingCheckpoint } from '../../src/train/checkpoint';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function sample(): TrainingCheckpoint {
  const weights = encodeSafetensors(
    new Map([
      ['cls_token', { dtype: 'float32' as const, shape: [1, 1, 2], data: new Float32Array([0.5, -1]), sourceDtype: 'F32' }],
      ['blocks.0.attn.qkv.weight', { dtype: 'float32' as const, shape: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]), sourceDtype: 'F32' }],
    ]),
    { format: 'pt' },
  );
  return {
    weights,
    optimizer: {
      step: 7,
      params: {
        cls_token: { step: 7, shape: [1, 1, 2], m: new Float32Array([0.1, 0.2]), v: new Float32Array([0.01, 0.02]) },
        'blocks.0.attn.qkv.weight': { step: 6, shape: [2, 3], m: new Float32Array(6).fill(0.3), v: new Float32Array(6).fill(0.04) },
      },
    },
    step: 7,
    epoch: 1,
    seed: 3,
    stepsPerEpoch: 7,
    accumSteps: 1,
  };
}

describe('training checkpoints', () => {
  it('round-trip through one safetensors file that also reads as a state dict', () => {
    const ckpt = sample();
    const bytes = encodeCheckpoint(ckpt);
    const back = decodeCheckpoint(bytes);
    expect(back).toMatchObject({ step: 7, epoch: 1, seed: 3, stepsPerEpoch: 7, accumSteps: 1 });
    expect(back.optimizer.step).toBe(7);
    expect(back.optimizer.params['blocks.0.attn.qkv.weight'].step).toBe(6);
    expect(back.optimizer.params['blocks.0.attn.qkv.weight'].shape).toEqual([2, 3]);
    expect(Array.from(back.optimizer.params.cls_token.v)).toEqual(Array.from(ckpt.optimizer.params.cls_token.v));
    const weights = parseSafetensors(back.weights);
    expect([...weights.tensors.keys()]).toEqual(['cls_token', 'blocks.0.attn.qkv.weight']);
    expect(weights.metadata).toEqual({ format: 'pt' });
    expect(Array.from(weights.tensors.get('blocks.0.attn.qkv.weight')!.data)).toEqual([1, 2, 3, 4, 5, 6]);
    const whole = parseSafetensors(bytes);
    expect([...whole.tensors.keys()]).toContain('optimizer.m.cls_token');
    expect(whole.metadata.format).toBe('tfjs-mae/training-checkpoint@1');
  });

  it('keeps every metadata key of the weights (config, recipe) through encode and decode', () => {
    const ckpt = sample();
    const meta = { format: 'pt', config: '{"className":"MaskedAutoencoder","config":{"embedDim":2}}', recipe: '{"lr":0.1}' };
    ckpt.weights = encodeSafetensors(parseSafetensors(ckpt.weights).tensors, meta);
    const whole = parseSafetensors(encodeCheckpoint(ckpt)).metadata;
    expect(whole.config).toBe(meta.config);
    expect(whole.recipe).toBe(meta.recipe);
    expect(parseSafetensors(decodeCheckpoint(encodeCheckpoint(ckpt)).weights).metadata).toEqual(meta);
  });

  it('rejects other files and malformed checkpoints with CheckpointError', () => {
    expect(() => decodeCheckpoint(sample().weights)).toThrow(/expected a training checkpoint/);
    expect(() => checkCheckpoint(null)).toThrow(CheckpointError);
    expect(() => checkCheckpoint({ ...sample(), step: -1 })).toThrow(/resume.step: expected an integer >= 0, got -1/);
    expect(() => checkCheckpoint({ ...sample(), optimizer: undefined })).toThrow(/resume.optimizer/);
    expect(() => encodeCheckpoint({ ...sample(), weights: new Uint8Array(3) })).toThrow(CheckpointError);
  });
});
