import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { DataError } from '../../src/errors';
import { DEBIAN_FASHION_MNIST_DIR, FMNIST_MEAN, FMNIST_STD, SUBSET_DIR, loadFashionMnist } from './fashionMnist';

const saved = process.env.FASHION_MNIST_DIR;
afterEach(() => {
  if (saved === undefined) delete process.env.FASHION_MNIST_DIR;
  else process.env.FASHION_MNIST_DIR = saved;
});

describe('loadFashionMnist', () => {
  it('loads the embedded subset: 2,000 train and 1,000 test images', async () => {
    const d = await loadFashionMnist({ subset: true });
    expect(d.source).toEqual({ kind: 'subset', dir: SUBSET_DIR, via: 'subset' });
    expect([d.train.n, d.train.images.length, d.train.labels.length]).toEqual([2000, 2000 * 784, 2000]);
    expect([d.test.n, d.test.images.length, d.test.labels.length]).toEqual([1000, 1000 * 784, 1000]);
    expect(d.train.shape).toEqual([2000, 28, 28, 1]);
    expect(Array.from(d.test.labels.subarray(0, 10))).toEqual([9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  });

  it('takes FASHION_MNIST_DIR and refuses an explicit directory without the files', async () => {
    process.env.FASHION_MNIST_DIR = SUBSET_DIR;
    const d = await loadFashionMnist();
    expect(d.source).toEqual({ kind: 'full', dir: SUBSET_DIR, via: 'env' });
    expect(d.train.n).toBe(2000);
    await expect(loadFashionMnist({ dir: '/nonexistent-fmnist' })).rejects.toThrow(DataError);
    await expect(loadFashionMnist({ dir: '/nonexistent-fmnist' })).rejects.toThrow(
      /dir: expected train-images-idx3-ubyte.gz or train-images-idx3-ubyte in \/nonexistent-fmnist, got neither/,
    );
  });

  it.runIf(existsSync(`${DEBIAN_FASHION_MNIST_DIR}/train-images-idx3-ubyte.gz`))(
    'finds the full Debian data set and its pixel mean/std match FMNIST_MEAN/STD',
    async () => {
      delete process.env.FASHION_MNIST_DIR;
      const d = await loadFashionMnist();
      expect(d.source).toEqual({ kind: 'full', dir: DEBIAN_FASHION_MNIST_DIR, via: 'debian' });
      expect([d.train.n, d.test.n]).toEqual([60000, 10000]);
      let s = 0;
      let s2 = 0;
      for (const v of d.train.images) {
        s += v;
        s2 += v * v;
      }
      const n = d.train.images.length;
      const mean = s / n / 255;
      const std = Math.sqrt(s2 / n / 255 / 255 - mean * mean);
      expect(Math.abs(mean - FMNIST_MEAN)).toBeLessThan(1e-12);
      expect(Math.abs(std - FMNIST_STD)).toBeLessThan(1e-9);
    },
  );
});
