/** setupBackend: the backend asked for, or one line naming the package to install. */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { setupBackend } from '../../src/cli/backend';

const missing = (pkg: string) => Object.assign(new Error(`Cannot find package '${pkg}' imported from /x/cli.cjs`), { code: 'ERR_MODULE_NOT_FOUND' });

describe('setupBackend', () => {
  it('cpu', async () => {
    expect(await setupBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('wasm', async () => {
    expect(await setupBackend('wasm')).toBe('wasm');
    await setupBackend('cpu');
  });

  it('--backend tensorflow without tfjs-node: one line naming the package', async () => {
    const importer = async (pkg: string) => {
      throw missing(pkg);
    };
    await expect(setupBackend('tensorflow', importer)).rejects.toThrow(
      /^--backend tensorflow needs @tensorflow\/tfjs-node, which is not installed: npm install @tensorflow\/tfjs-node$/,
    );
  });

  it('auto falls back from wasm to cpu; with neither, names both', async () => {
    const noWasm = async (pkg: string) => {
      if (pkg.endsWith('wasm')) throw missing(pkg);
    };
    expect(await setupBackend('auto', noWasm)).toBe('cpu');
    const none = async (pkg: string) => {
      throw missing(pkg);
    };
    await expect(setupBackend('auto', none)).rejects.toThrow(/^no tfjs backend is installed: npm install @tensorflow\/tfjs-backend-wasm \(or @tensorflow\/tfjs-backend-cpu\)$/);
  });

  it('a package that is installed but broken says so', async () => {
    const broken = async () => {
      throw new Error('The module was compiled against a different Node.js version\nlong stack');
    };
    await expect(setupBackend('tensorflow', broken)).rejects.toThrow(/^@tensorflow\/tfjs-node is installed but failed to load: The module was compiled against a different Node.js version$/);
  });
});
