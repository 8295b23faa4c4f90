/**
 * @module config/errors.test
 * The pieces of a problem message: paths, found values, did-you-mean.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, describeFound, didYouMean, formatPath, orList } from './errors.js';

describe('problem wording', () => {
  it('writes key paths the way a YAML reader thinks of them', () => {
    expect(formatPath(['annotators', 0, 'username'])).toBe('annotators[0].username');
    expect(formatPath(['live_coding_agent', 'sandbox', 'mount_volumes', 2])).toBe(
      'live_coding_agent.sandbox.mount_volumes[2]',
    );
  });

  it('describes found values with their YAML type', () => {
    expect(describeFound('fast')).toBe('"fast" (a string)');
    expect(describeFound(12)).toBe('12 (a number)');
    expect(describeFound(false)).toBe('false (a boolean)');
    expect(describeFound(null)).toBe('an empty value (null)');
    expect(describeFound([1, 2])).toBe('a list of 2');
    expect(describeFound({ a: 1 })).toBe('a mapping');
  });

  it('joins alternatives with "or"', () => {
    expect(orList(['"a"'])).toBe('"a"');
    expect(orList(['"a"', '"b"'])).toBe('"a" or "b"');
    expect(orList(['"a"', '"b"', '"c"'])).toBe('"a", "b" or "c"');
  });

  it('suggests the closest key for a typo and nothing for an unrelated word', () => {
    const sandboxKeys = ['type', 'image', 'workspace', 'timeout', 'command_timeout', 'allowed_commands'];
    expect(didYouMean('timout', sandboxKeys)).toBe('timeout');
    expect(didYouMean('tiemout', sandboxKeys)).toBe('timeout');
    expect(didYouMean('Image', sandboxKeys)).toBe('image');
    expect(didYouMean('alowed_comands', sandboxKeys)).toBe('allowed_commands');
    expect(didYouMean('colour', sandboxKeys)).toBeUndefined();
  });

  it('renders a file-less single problem as just its sentence', () => {
    expect(new ConfigError([{ text: 'X is not set' }]).message).toBe('X is not set');
    expect(new ConfigError([{ text: 'a: b', path: 'a', line: 3 }], '/c.yaml').message).toBe(
      'config /c.yaml has 1 problem:\n  line 3: a: b',
    );
  });
});
