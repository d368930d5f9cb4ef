import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../../src/errors';
import { parseSafetensors } from '../../src/io/safetensors';
import { parseTorchCheckpoint, readTorchCheckpoint } from '../../src/io/torch/checkpoint';
import { PyList, unpickle } from '../../src/io/torch/pickle';
import { resolveTorchGlobal } from '../../src/io/torch/globals';
import { Pickle, f32Bytes, makeCheckpoint, makeZip } from './torchBuilders';

const FIXTURES = join(__dirname, '..', 'fixtures');
const load = (...path: string[]) => new Uint8Array(readFileSync(join(FIXTURES, ...path)));
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const sameBits = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.compare(bytesOf(a), bytesOf(b)) === 0;

function expectCheckpointError(fn: () => unknown, fragment: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a CheckpointError containing ${JSON.stringify(fragment)}`).toBeInstanceOf(CheckpointError);
  expect((caught as Error).message).toContain(fragment);
  expect((caught as Error).message).not.toContain('\n');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('parseTorchCheckpoint on the official fixtures', () => {
  const files = readdirSync(FIXTURES).filter((f) => f.endsWith('.pth'));

  it('finds the three .pth fixtures', () => {
    expect(files.sort()).toEqual(['mae_rect_gray.pth', 'mae_tiny.pth', 'mae_tiny_normpix.pth']);
  });

  for (const file of files) {
    it(`${file} holds exactly the param.* tensors of its .safetensors, bit-identical`, () => {
      const ckpt = parseTorchCheckpoint(load(file));
      expect(ckpt.wrapper).toBe('model');
      expect(ckpt.warnings).toEqual([]);
      const reference = parseSafetensors(load(file.replace('.pth', '.safetensors'))).tensors;
      const params = [...reference.keys()].filter((k) => k.startsWith('param.')).map((k) => k.slice('param.'.length));
      expect([...ckpt.tensors.keys()].sort()).toEqual(params.sort());
      for (const [name, t] of ckpt.tensors) {
        const ref = reference.get(`param.${name}`)!;
        expect(t.shape, name).toEqual(ref.shape);
        expect(t.dtype).toBe('float32');
        expect(t.sourceDtype).toBe('F32');
        expect(sameBits(t.data, ref.data), name).toBe(true);
      }
    });
  }

  it('keeps state-dict order (official module order)', () => {
    const names = [...parseTorchCheckpoint(load('mae_tiny.pth')).tensors.keys()];
    expect(names.slice(0, 5)).toEqual(['cls_token', 'pos_embed', 'mask_token', 'decoder_pos_embed', 'patch_embed.proj.weight']);
  });

  it('readTorchCheckpoint creates tf tensors the caller owns (and none on error)', async () => {
    const before = tf.memory().numTensors;
    const tensors = readTorchCheckpoint(load('mae_tiny.pth'));
    expect(tf.memory().numTensors).toBe(before + 50);
    expect(tensors['patch_embed.proj.weight'].shape).toEqual([64, 3, 8, 8]);
    const ref = parseSafetensors(load('mae_tiny.safetensors')).tensors.get('param.cls_token')!;
    expect(sameBits((await tensors.cls_token.data()) as Float32Array, ref.data)).toBe(true);
    tf.dispose(Object.values(tensors));
    expect(tf.memory().numTensors).toBe(before);
    expectCheckpointError(() => readTorchCheckpoint(new Uint8Array(10)), 'not a PyTorch zip checkpoint');
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('parseTorchCheckpoint on generated checkpoints (test/fixtures/torch/make.py)', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'torch', 'expected.json'), 'utf8')) as Record<
    string,
    Record<string, { dtype: string; shape: number[]; values: number[] }>
  >;

  function checkAgainstExpected(file: string): ReturnType<typeof parseTorchCheckpoint> {
    const ckpt = parseTorchCheckpoint(load('torch', file));
    const want = expected[file];
    expect([...ckpt.tensors.keys()]).toEqual(Object.keys(want));
    for (const [name, t] of ckpt.tensors) {
      expect(t.shape, name).toEqual(want[name].shape);
      expect(Array.from(t.data), name).toEqual(want[name].values);
      const isFloat = /float/.test(want[name].dtype);
      expect(t.dtype, name).toBe(isFloat ? 'float32' : 'int32');
    }
    return ckpt;
  }

  it('reads float16, bfloat16, float64, int64, int32, uint8 and bool storages and strided views', () => {
    const ckpt = checkAgainstExpected('dtypes.pth');
    expect(ckpt.wrapper).toBe('none');
    const src = Object.fromEntries([...ckpt.tensors].map(([k, t]) => [k, t.sourceDtype]));
    expect(src).toMatchObject({ half: 'F16', bf16: 'BF16', double: 'F64', long: 'I64', int: 'I32', uint8: 'U8', bool: 'BOOL', transposed: 'F32' });
    // Spot values computed by hand: fp16 65504 and 2^-24, float64 1/3 rounded to float32.
    expect(Array.from(ckpt.tensors.get('half')!.data.slice(0, 4))).toEqual([1, -2, 65504, 2 ** -24]);
    expect(ckpt.tensors.get('double')!.data[0]).toBe(Math.fround(1 / 3));
    expect(Array.from(ckpt.tensors.get('long')!.data)).toEqual([0, -1, 2 ** 31 - 1, -(2 ** 31)]);
    // Values of the strided views were checked against expected.json above.
    const transposed = ckpt.tensors.get('transposed')!;
    expect(transposed.shape).toEqual([6, 4]);
    expect(ckpt.warnings).toEqual([
      '1 tensor(s) float16 widened to float32 (exact): "half"',
      '1 tensor(s) bfloat16 widened to float32 (exact): "bf16"',
      '1 tensor(s) float64 cast to float32 (rounded): "double"',
      '2 tensor(s) int64 narrowed to int32 (all values in range): "long", "num_batches_tracked"',
      '1 tensor(s) uint8 widened to int32 (exact): "uint8"',
      '1 tensor(s) bool stored as int32 0/1: "bool"',
    ]);
  });

  it('reads the model of a training checkpoint (optimizer, scaler, argparse args ignored)', () => {
    const ckpt = checkAgainstExpected('training.pth');
    expect(ckpt.wrapper).toBe('model');
    expect(ckpt.warnings).toEqual(['ignored checkpoint entries "optimizer", "epoch", "scaler", "args"; only "model" is read']);
  });

  it('reads a {state_dict: ...} checkpoint', () => {
    expect(checkAgainstExpected('state_dict.pth').wrapper).toBe('state_dict');
  });

  it('refuses int64 values outside int32', () => {
    expectCheckpointError(() => parseTorchCheckpoint(load('torch', 'int64_big.pth')), 'tensor "n": element 1 = 1099511627776 (I64) does not fit in int32');
  });

  it('refuses numpy objects and pickled modules with a hint', () => {
    expectCheckpointError(() => parseTorchCheckpoint(load('torch', 'numpy.pth')), 'refusing global "numpy.core.multiarray.scalar": the checkpoint holds numpy objects');
    expectCheckpointError(() => parseTorchCheckpoint(load('torch', 'module.pth')), 'pickled nn.Module (torch.save(model)); save model.state_dict() instead');
  });
});

describe('parseTorchCheckpoint on hand-made checkpoints', () => {
  const one = (t: Parameters<Pickle['tensor']>[0]) => new Pickle().proto().stateDict([['w', (p) => p.tensor(t)]]).stop().bytes();

  it('reads a minimal hand-made checkpoint, including a transposed view', () => {
    const file = makeCheckpoint(
      new Pickle()
        .proto()
        .stateDict([
          ['a', (p) => p.tensor({ key: '0', numel: 6, size: [2, 3] })],
          ['aT', (p) => p.tensor({ key: '0', numel: 6, size: [3, 2], stride: [1, 3] })],
          ['tail', (p) => p.tensor({ key: '0', numel: 6, offset: 4, size: [2] })],
        ])
        .stop()
        .bytes(),
      { '0': f32Bytes([0, 1, 2, 3, 4, 5]) },
    );
    const { tensors, wrapper } = parseTorchCheckpoint(file);
    expect(wrapper).toBe('none');
    expect(Array.from(tensors.get('a')!.data)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(tensors.get('aT')!.data)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(tensors.get('tail')!.data)).toEqual([4, 5]);
  });

  const hostile: [string, () => Uint8Array, string][] = [
    [
      'os.system',
      () => makeCheckpoint(new Pickle().proto().global('os', 'system').str('echo pwned').op(0x85).op('R').stop().bytes()),
      'refusing global "os.system"',
    ],
    [
      'builtins.eval inside a state dict',
      () =>
        makeCheckpoint(
          new Pickle().proto().stateDict([['w', (p) => p.global('builtins', 'eval').str('1+1').op(0x85).op('R')]]).stop().bytes(),
        ),
      'refusing global "builtins.eval"',
    ],
    [
      'builtins.exec through STACK_GLOBAL (protocol 4)',
      () => makeCheckpoint(new Pickle().proto(4).str('builtins').str('exec').op(0x93).str('x').op(0x85).op('R').stop().bytes()),
      'refusing global "builtins.exec"',
    ],
    [
      'REDUCE on a storage class',
      () => makeCheckpoint(new Pickle().proto().global('torch', 'FloatStorage').op(')').op('R').stop().bytes()),
      'REDUCE on torch.FloatStorage, which is not an allowed callable',
    ],
    [
      'INST opcode',
      () => makeCheckpoint(new Pickle().proto().mark().op('i').raw(...new TextEncoder().encode('os\nsystem\n')).stop().bytes()),
      'unsupported opcode (only the opcodes of state-dict pickles are accepted) (opcode 0x69 ("i")',
    ],
    ['missing storage entry', () => makeCheckpoint(one({ key: '7', numel: 2, size: [2] })), 'storage "7" has no "ckpt/data/7" entry'],
    [
      'short storage',
      () => makeCheckpoint(one({ key: '0', numel: 100, size: [100] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'storage "0" claims 100 F32 elements (400 bytes) but its entry holds 16 bytes',
    ],
    [
      'view past the end of its storage',
      () => makeCheckpoint(one({ key: '0', numel: 4, offset: 2, size: [4] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'reaches past the end of the storage',
    ],
    [
      'offset outside the storage',
      () => makeCheckpoint(one({ key: '0', numel: 4, offset: 9, size: [1] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'offset outside the storage',
    ],
    [
      'huge stride',
      () => makeCheckpoint(one({ key: '0', numel: 4, size: [2, 2], stride: [2 ** 31 - 1, 1] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'reaches past the end',
    ],
    [
      'negative stride',
      () => makeCheckpoint(one({ key: '0', numel: 4, size: [2], stride: [-1] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'tensor stride must be a tuple of non-negative integers, got [-1]',
    ],
    [
      'size and stride of different rank',
      () => makeCheckpoint(one({ key: '0', numel: 4, size: [2, 2], stride: [1] }), { '0': f32Bytes([1, 2, 3, 4]) }),
      'size and stride differ in length',
    ],
    [
      'broadcast (stride-0) view larger than its storage',
      () => makeCheckpoint(one({ key: '0', numel: 1, size: [1000, 1000], stride: [0, 0] }), { '0': f32Bytes([1]) }),
      'has more elements (1000000) than its storage',
    ],
    [
      'unknown storage type',
      () => makeCheckpoint(one({ key: '0', numel: 1, size: [1], type: 'ComplexFloatStorage' }), { '0': f32Bytes([1, 2]) }),
      'refusing global "torch.ComplexFloatStorage"',
    ],
    [
      'a non-tensor entry in the state dict',
      () => makeCheckpoint(new Pickle().proto().stateDict([['w', (p) => p.int(5)]]).stop().bytes()),
      'checkpoint is a dict with keys ["w"] but none of "model", "state_dict", "module", "model_state_dict" holds a state dict',
    ],
    [
      'a non-tensor entry next to tensors',
      () =>
        makeCheckpoint(
          new Pickle().proto().stateDict([['w', (p) => p.tensor({ key: '0', numel: 1, size: [] })], ['x', (p) => p.int(5)]]).stop().bytes(),
          { '0': f32Bytes([1]) },
        ),
      'checkpoint entry "x" is 5, not a tensor',
    ],
    [
      '{"model": 5}',
      () => makeCheckpoint(new Pickle().proto().op('}').str('model').int(5).op('s').stop().bytes()),
      'checkpoint["model"] must be a dict of name → tensor, got 5',
    ],
    [
      'a size tuple nested 200,000 deep',
      () => {
        const p = new Pickle().proto().global('torch._utils', '_rebuild_tensor_v2').mark();
        p.tuple((q) => q.str('storage'), (q) => q.global('torch', 'FloatStorage'), (q) => q.str('0'), (q) => q.str('cpu'), (q) => q.int(1)).op('Q');
        p.int(0).int(1).many(new Uint8Array(200000).fill(0x85)).intTuple([1]).op(0x89).op('N').op('t').op('R').stop();
        return makeCheckpoint(p.bytes(), { '0': f32Bytes([1]) });
      },
      'tensor size must be a tuple of non-negative integers, got an array of 1',
    ],
    ['a list', () => makeCheckpoint(new Pickle().proto().op(']').stop().bytes()), 'got a list'],
    ['truncated pickle', () => makeCheckpoint(new Pickle().proto().op('X').u32(1000).raw(65, 66).bytes()), 'truncated: needs 1000 more bytes'],
    ['pickle without STOP', () => makeCheckpoint(new Pickle().proto().op('N').bytes()), 'truncated'],
    ['stack underflow', () => makeCheckpoint(new Pickle().proto().op('R').stop().bytes()), 'stack underflow'],
    ['memo entry never stored', () => makeCheckpoint(new Pickle().proto().op('h').raw(3).stop().bytes()), 'memo entry 3 was never stored'],
    ['no data.pkl', () => makeZip([['x/y', new Uint8Array(1)]]), 'expected one "<stem>/data.pkl" entry, found 0'],
    [
      'TorchScript archive',
      () => makeCheckpoint(new Pickle().proto().op('N').stop().bytes(), {}, [['ckpt/constants.pkl', new Uint8Array(1)]]),
      'TorchScript archive',
    ],
    [
      'big-endian storages',
      () => makeCheckpoint(new Pickle().proto().op('N').stop().bytes(), {}, [['ckpt/byteorder', new TextEncoder().encode('big')]]),
      'only little-endian checkpoints are supported',
    ],
    [
      'deflate entry',
      () => makeZip([['ckpt/data.pkl', new Uint8Array([0x80, 2, 0x4e, 0x2e])]], { method: 8 }),
      'is deflate-compressed; only stored entries',
    ],
    [
      'duplicate zip entries',
      () => makeZip([['ckpt/data.pkl', new Uint8Array([0x4e, 0x2e])], ['ckpt/data.pkl', new Uint8Array([0x4e, 0x2e])]]),
      'duplicate entry name "ckpt/data.pkl"',
    ],
    ['legacy pickle format', () => new Uint8Array([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]), 'legacy torch.save format before PyTorch 1.6'],
    ['garbage', () => new TextEncoder().encode('hello, this is not a checkpoint'), 'not a PyTorch zip checkpoint'],
    ['zip signature then garbage', () => new Uint8Array([0x50, 0x4b, 3, 4, ...new Array(40).fill(7)]), 'zip: no end-of-central-directory record'],
    ['empty', () => new Uint8Array(0), 'not a PyTorch zip checkpoint'],
  ];

  for (const [label, make, fragment] of hostile) {
    it(`refuses ${label}`, () => expectCheckpointError(() => parseTorchCheckpoint(make()), fragment));
  }

  it('refuses many views of one storage that would take more than 8× the file', () => {
    const storage = f32Bytes(new Array(65536).fill(1));
    const entries: [string, (p: Pickle) => unknown][] = Array.from({ length: 40 }, (_, i) => [
      `w${i}`,
      (p: Pickle) => p.tensor({ key: '0', numel: 65536, size: [65536] }),
    ]);
    const file = makeCheckpoint(new Pickle().proto().stateDict(entries).stop().bytes(), { '0': storage });
    expectCheckpointError(() => parseTorchCheckpoint(file), 'more than 8× the');
  });

  it('refuses every truncation of a real checkpoint', () => {
    const full = load('mae_tiny.pth');
    for (const length of [0, 4, 22, 100, 6000, 300000, full.length - 23, full.length - 1]) {
      expect(() => parseTorchCheckpoint(full.slice(0, length)), `length ${length}`).toThrow(CheckpointError);
    }
  });

  it('detects corrupted data through the CRC-32', () => {
    const file = load('mae_tiny.pth');
    file[20000] ^= 0x40; // inside the float data of a storage
    expectCheckpointError(() => parseTorchCheckpoint(file), 'is corrupt (CRC-32');
  });
});

describe('unpickle limits', () => {
  const nones = (n: number) => new Pickle().proto().raw(...new Array(n).fill(0x4e)).stop().bytes();
  const options = { resolveGlobal: resolveTorchGlobal, persistentLoad: () => null };

  it('bounds the stack, the memo, MARK nesting and the object count', () => {
    expectCheckpointError(() => unpickle(nones(11), { ...options, maxStack: 10 }), 'stack holds more than 10 values');
    expectCheckpointError(() => unpickle(nones(11), { ...options, maxObjects: 5 }), 'more than 5 objects');
    const memo = new Pickle().proto().op('N');
    for (let i = 0; i < 6; i++) memo.op('r').u32(i * 1000003);
    expectCheckpointError(() => unpickle(memo.stop().bytes(), { ...options, maxMemo: 5 }), 'memo holds more than 5 entries');
    expectCheckpointError(() => unpickle(new Pickle().proto().raw(...new Array(1001).fill(0x28)).bytes(), options), 'more than 1000 nested MARKs');
  });

  it('handles a list of 300,000 items in one APPENDS', () => {
    const p = new Pickle().proto().op(']').mark().many(new Uint8Array(300000).fill(0x4e)).op('e').stop();
    const list = unpickle(p.bytes(), options) as PyList;
    expect(list).toBeInstanceOf(PyList);
    expect(list.items.length).toBe(300000);
  });

  it('decodes the scalar opcodes', () => {
    const p = new Pickle()
      .proto()
      .mark()
      .int(-5)
      .raw(0x4b, 200) // BININT1
      .raw(0x4d, 0x34, 0x12) // BININT2
      .raw(0x8a, 2, 0xff, 0x7f) // LONG1 32767
      .raw(0x8a, 1, 0xff) // LONG1 -1
      .raw(0x8a, 0) // LONG1 0
      .raw(0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18) // BINFLOAT pi
      .op(0x88)
      .op(0x89)
      .op('N')
      .raw(0x8c, 2, 0xc3, 0xa9) // SHORT_BINUNICODE "é"
      .op('t')
      .stop();
    expect(unpickle(p.bytes(), options)).toEqual([-5, 200, 0x1234, 32767, -1, 0, Math.PI, true, false, null, 'é']);
    expectCheckpointError(() => unpickle(new Pickle().proto().raw(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 1).stop().bytes(), options), 'LONG1 of 8 bytes');
  });
});
