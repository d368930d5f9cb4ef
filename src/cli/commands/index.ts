/** Every `tfjs-mae` command, in the order `tfjs-mae --help` lists them. */
import type { Command } from '../command';
import { convert } from './convert';
import { inspect } from './inspect';

export const COMMANDS: readonly Command[] = [inspect, convert] as unknown as readonly Command[];
