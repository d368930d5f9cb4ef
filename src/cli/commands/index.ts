/** Every `tfjs-mae` command, in the order `tfjs-mae --help` lists them. */
import type { Command } from '../command';
import { convert } from './convert';
import { embedCommand } from './embed';
import { finetuneCommand } from './finetune';
import { linprobeCommand } from './linprobe';
import { inspect } from './inspect';
import { pretrainCommand } from './pretrain';
import { reconstructCommand } from './reconstruct';

export const COMMANDS: readonly Command[] = [inspect, convert, pretrainCommand, reconstructCommand, embedCommand, finetuneCommand, linprobeCommand] as unknown as readonly Command[];
