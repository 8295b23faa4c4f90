/**
 * @module config/shortcuts
 * The keyboard shortcuts of live_coding_agent.controls, checked together: each one readable,
 * no key press bound to two actions, none on a key the page or the browser already uses. A
 * conflict names both actions, the key and the config path.
 */
import { type ConfigProblem, formatPath } from './errors.js';
import type { RawConfig } from './schema.js';
import { BUILT_IN_KEYS, parseShortcut, type Shortcut, shortcutsCollide } from './shortcut-keys.js';

interface Bound {
  keys: readonly PropertyKey[];
  text: string;
  shortcut: Shortcut;
}

const CONTROLS = ['live_coding_agent', 'controls'] as const;

/** Every configurable shortcut with its config path, control shortcuts first. */
function configured(raw: RawConfig): { keys: readonly PropertyKey[]; text: string }[] {
  const c = raw.live_coding_agent.controls;
  return [
    { keys: [...CONTROLS, 'pause_keyboard_shortcut'], text: c.pause_keyboard_shortcut },
    { keys: [...CONTROLS, 'instruction_keyboard_shortcut'], text: c.instruction_keyboard_shortcut },
    ...Object.entries(c.label_keyboard_shortcuts).map(([name, text]) => ({
      keys: [...CONTROLS, 'label_keyboard_shortcuts', name],
      text,
    })),
  ];
}

/** Whether the file itself sets the key at `keys` (not a default). */
function setInFile(data: unknown, keys: readonly PropertyKey[]): boolean {
  let node = data;
  for (const k of keys) {
    if (typeof node !== 'object' || node === null || !(k in node)) return false;
    node = (node as Record<PropertyKey, unknown>)[k];
  }
  return true;
}

/** `data` is the file as read: a conflict is reported at the key the file sets, not at a default. */
export function shortcutProblems(raw: RawConfig, data: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const problem = (keys: readonly PropertyKey[], text: string) =>
    problems.push({ text: `${formatPath(keys)}: ${text}`, path: formatPath(keys), keys });
  const bound: Bound[] = [];
  for (const { keys, text } of configured(raw)) {
    const shortcut = parseShortcut(text);
    if ('error' in shortcut) {
      problem(keys, shortcut.error);
      continue;
    }
    const taken = bound.find((b) => shortcutsCollide(b.shortcut, shortcut));
    const builtIn = BUILT_IN_KEYS.find((b) => shortcutsCollide(parseShortcut(b.shortcut) as Shortcut, shortcut));
    if (taken) {
      const [at, other] =
        setInFile(data, keys) || !setInFile(data, taken.keys) ? [{ keys, text }, taken] : [taken, { keys, text }];
      problem(
        at.keys,
        `"${at.text}" is also the key of ${formatPath(other.keys)} ("${other.text}"): one key press would do both; give one of them another key`,
      );
    } else if (builtIn) {
      problem(
        keys,
        `"${text}" collides with the built-in ${builtIn.shortcut} key (${builtIn.use}); choose another key`,
      );
    } else bound.push({ keys, text, shortcut });
  }
  return problems;
}
