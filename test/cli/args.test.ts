/** The declarative flag parser: spellings, defaults, validation messages, suggestions. */
import { describe, expect, it } from 'vitest';
import { UsageError, flag, nearest, parseArgs } from '../../src/cli/args';

const flags = {
  maskRatio: flag.number({ default: 0.75, min: 0, max: 1, help: 'fraction of patches removed' }),
  epochs: flag.integer({ default: 400, min: 1, help: 'epochs' }),
  seed: flag.integer({ default: 0, help: 'seed' }),
  lr: flag.number({ help: 'absolute lr' }),
  normPixLoss: flag.boolean({ help: 'per-patch normalised target' }),
  model: flag.choice(['mae_vit_tiny_patch4', 'mae_vit_base_patch16'] as const, { default: 'mae_vit_base_patch16', help: 'model' }),
  outputDir: flag.string({ default: './output_dir', help: 'output' }),
};
const parse = (...argv: string[]) => parseArgs('pretrain', argv, flags, [{ name: 'DATA_DIR', help: 'images' }]);
const error = (...argv: string[]): string => {
  try {
    parse(...argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('parseArgs', () => {
  it('fills defaults, leaves flags without a default undefined', () => {
    const p = parse('data');
    expect(p.positionals).toEqual(['data']);
    expect(p.flags).toEqual({ maskRatio: 0.75, epochs: 400, seed: 0, lr: undefined, normPixLoss: false, model: 'mae_vit_base_patch16', outputDir: './output_dir' });
    expect(p.given.size).toBe(0);
  });

  it('takes kebab-case and underscores, --flag value and --flag=value, anywhere among positionals', () => {
    const p = parse('--mask-ratio', '0.5', 'data', '--epochs=3', '--norm_pix_loss', '--output_dir=/tmp/x', '--model', 'mae_vit_tiny_patch4', '--seed', '-1');
    expect(p.positionals).toEqual(['data']);
    expect(p.flags).toMatchObject({ maskRatio: 0.5, epochs: 3, normPixLoss: true, outputDir: '/tmp/x', model: 'mae_vit_tiny_patch4', seed: -1 });
    expect([...p.given].sort()).toEqual(['epochs', 'maskRatio', 'model', 'normPixLoss', 'outputDir', 'seed']);
  });

  it('booleans: =false, --no-flag', () => {
    expect(parse('d', '--norm-pix-loss=false').flags.normPixLoss).toBe(false);
    expect(parse('d', '--no-norm-pix-loss').flags.normPixLoss).toBe(false);
    expect(error('d', '--norm-pix-loss=maybe')).toBe('--norm-pix-loss is a switch: give it alone, or =true / =false; got "maybe"');
  });

  it('-- ends the flags', () => {
    expect(parse('--', '--weird-name').positionals).toEqual(['--weird-name']);
  });

  it('names the flag, what was expected and what came', () => {
    expect(error('d', '--mask-ratio', 'lots')).toBe('--mask-ratio must be a number in [0, 1], got "lots"');
    expect(error('d', '--mask_ratio=1.5')).toBe('--mask-ratio must be a number in [0, 1], got "1.5"');
    expect(error('d', '--epochs', '2.5')).toBe('--epochs must be a positive integer, got "2.5"');
    expect(error('d', '--seed', '1.5')).toBe('--seed must be an integer, got "1.5"');
    expect(error('d', '--model', 'vit_h')).toBe('--model must be mae_vit_tiny_patch4 or mae_vit_base_patch16, got "vit_h"');
    expect(error('d', '--epochs')).toBe('--epochs needs a value');
    expect(error('d', '--epochs', '--seed', '1')).toBe('--epochs needs a value');
    expect(error('d', '--epochs', '1', '--epochs=2')).toBe('--epochs is given twice');
  });

  it('an unknown flag is named, with the nearest known one', () => {
    expect(error('d', '--mask-ration', '0.5')).toBe('unknown flag --mask-ration for pretrain; did you mean --mask-ratio? (see tfjs-mae pretrain --help)');
    expect(error('d', '--epoch=3')).toMatch(/did you mean --epochs\?/);
    expect(error('d', '--zzzzzz')).toBe('unknown flag --zzzzzz for pretrain (see tfjs-mae pretrain --help)');
    expect(error('d', '-x')).toMatch(/^unknown option -x for pretrain/);
  });

  it('counts positionals', () => {
    expect(error()).toBe('pretrain needs DATA_DIR (usage: tfjs-mae pretrain DATA_DIR)');
    expect(error('a', 'b')).toBe('pretrain takes DATA_DIR, got extra "b" (usage: tfjs-mae pretrain DATA_DIR)');
    const v = parseArgs('reconstruct', ['a.png', 'b.png'], {}, [{ name: 'IMAGE', help: '', variadic: true }]);
    expect(v.positionals).toEqual(['a.png', 'b.png']);
  });
});

describe('nearest', () => {
  it('suggests typos and prefixes, not unrelated words', () => {
    expect(nearest('pretrian', ['inspect', 'convert', 'pretrain'])).toBe('pretrain');
    expect(nearest('conv', ['inspect', 'convert'])).toBe('convert');
    expect(nearest('banana', ['inspect', 'convert'])).toBeUndefined();
  });
});
