/** docs/cli.md is the generated reference of the current declarations (run `npm run docs:cli` after changing a flag). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_REFERENCE_INTRO, cliReference } from '../../src/cli/reference';
import { COMMANDS } from '../../src/cli/commands';

describe('docs/cli.md', () => {
  it('is current', () => {
    const committed = fs.readFileSync(path.join(__dirname, '../../docs/cli.md'), 'utf8');
    expect(committed).toBe(cliReference(CLI_REFERENCE_INTRO));
  });

  it('documents every command and flag', () => {
    const text = cliReference('');
    for (const c of COMMANDS) {
      expect(text).toContain(`## \`tfjs-mae ${c.name}\``);
      for (const key of Object.keys(c.flags)) expect(text).toContain(`\`--${key.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`)}\``);
    }
  });
});
