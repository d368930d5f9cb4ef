/** Masking strategies by name, so a model's choice survives `getConfig` / `fromConfig`. */
import { MAEConfigError, describe } from '../errors';
import { RandomMasking } from './RandomMasking';
import { BlockMasking, type BlockMaskingArgs } from './BlockMasking';
import { GridMasking } from './GridMasking';
import type { MaskingConfig, MaskingStrategy } from './strategy';

/**
 * How a model is told which masking to use: a registered type name
 * (`'random'`, `'block'`, `'grid'`), a config `{ type, ...args }`, or a
 * strategy object (serialisable when it has `toConfig` and its type is registered).
 */
export type MaskingSpec = 'random' | 'block' | 'grid' | (string & {}) | MaskingConfig | MaskingStrategy;

/** Builds a masking strategy from its `{ type, ...args }` config (see {@link registerMaskingStrategy}). */
export type MaskingFactory = (args: Record<string, unknown>) => MaskingStrategy;

const factories = new Map<string, MaskingFactory>([
  ['random', (args) => new RandomMasking(args as { maskRatio?: number })],
  ['block', (args) => new BlockMasking(args as BlockMaskingArgs)],
  ['grid', () => new GridMasking()],
]);

/**
 * Registers a strategy type for {@link createMasking} (and so for model
 * configs). `factory` receives the config without its `type`. Re-registering
 * a type replaces it.
 */
export function registerMaskingStrategy(type: string, factory: MaskingFactory): void {
  if (typeof type !== 'string' || type.length === 0) {
    throw new MAEConfigError(`registerMaskingStrategy: type must be a non-empty string, got ${describe(type)}`);
  }
  if (typeof factory !== 'function') {
    throw new MAEConfigError(`registerMaskingStrategy: factory must be a function, got ${describe(factory)}`);
  }
  factories.set(type, factory);
}

function isStrategy(spec: unknown): spec is MaskingStrategy {
  const s = spec as Partial<MaskingStrategy> | null;
  return typeof s === 'object' && s !== null && typeof s.sample === 'function' && typeof s.lenKeep === 'function';
}

/** A strategy from a {@link MaskingSpec}. Defaults to `'random'`. */
export function createMasking(spec: MaskingSpec = 'random'): MaskingStrategy {
  if (isStrategy(spec)) return spec;
  const config = typeof spec === 'string' ? { type: spec } : spec;
  if (typeof config !== 'object' || config === null || typeof config.type !== 'string') {
    throw new MAEConfigError(`masking must be 'random', 'block', 'grid', { type, ...args } or a MaskingStrategy, got ${describe(spec)}`);
  }
  const { type, ...args } = config;
  const factory = factories.get(type);
  if (!factory) {
    throw new MAEConfigError(`masking type must be one of ${[...factories.keys()].map((t) => `'${t}'`).join(', ')} (or registered with registerMaskingStrategy), got ${describe(type)}`);
  }
  return factory(args);
}

/** The config of a strategy, for a model's `getConfig`. */
export function maskingConfigOf(strategy: MaskingStrategy): MaskingConfig {
  if (typeof strategy.toConfig !== 'function') {
    throw new MAEConfigError(
      `masking strategy ${strategy.constructor?.name ?? 'object'} has no toConfig(), so the model cannot be serialised; implement toConfig and registerMaskingStrategy its type`,
    );
  }
  return strategy.toConfig();
}
