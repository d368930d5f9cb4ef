/** Every `tfjs-mae` command, in the order `tfjs-mae --help` lists them. */
import type { Command } from '../command';
import { convert } from './convert';
import { embedCommand } from './embed';
import { inspect } from './inspect';
import { pretrainCommand } from './pretrain';
import { reconstructCommand } from './reconstruct';

export const COMMANDS: readonly Command[] = [inspect, convert, pretrainCommand, reconstructCommand, embedCommand] as unknown as readonly Command[];
