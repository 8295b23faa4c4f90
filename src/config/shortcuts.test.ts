/**
 * @module config/shortcuts.test
 * The keyboard shortcuts are checked at load: a key bound to two actions, or to a key the page
 * or the browser uses, is refused naming both actions, the key and the config path.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { loadConfig } from './load.js';
import { parseShortcut, pressMatches, shortcutsCollide } from './shortcut-keys.js';

/** A config with these `controls:` lines (indented under live_coding_agent.controls). */
function withControls(controls: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'potato-shortcuts-'));
  mkdirSync(path.join(dir, 'workspace'));
  const file = path.join(dir, 'config.yaml');
  writeFileSync(
    file,
    `live_coding_agent:\n  backend: ollama\n  controls:\n${controls
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\nannotators:\n  - username: alice\n    password: pw\n`,
  );
  return file;
}

function problemsOf(file: string): { line?: number; path?: string; text: string }[] {
  try {
    loadConfig(file);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => ({ line: p.line, path: p.path, text: p.text }));
  }
  throw new Error('the config loaded without error');
}

describe('keyboard shortcuts at config validation', () => {
  it('accepts the defaults and distinct keys of every form', () => {
    expect(loadConfig(withControls('pause_enabled: true')).live_coding_agent.controls.label_keyboard_shortcuts).toEqual(
      {
        next_step: 'j',
        previous_step: 'k',
        correct: '1',
        incorrect: '2',
        unsure: '3',
        first_error: 'f',
        help: '?',
      },
    );
    const cfg = loadConfig(
      withControls(
        'pause_keyboard_shortcut: Ctrl+Enter\ninstruction_keyboard_shortcut: Shift+I\nlabel_keyboard_shortcuts:\n  next_step: ArrowDown\n  previous_step: ArrowUp',
      ),
    );
    expect(cfg.live_coding_agent.controls.pause_keyboard_shortcut).toBe('Ctrl+Enter');
  });

  it('refuses two actions on one key, naming both, the key and the path of the one the file sets', () => {
    expect(problemsOf(withControls('label_keyboard_shortcuts:\n  correct: j'))).toEqual([
      {
        line: 5,
        path: 'live_coding_agent.controls.label_keyboard_shortcuts.correct',
        text: 'live_coding_agent.controls.label_keyboard_shortcuts.correct: "j" is also the key of live_coding_agent.controls.label_keyboard_shortcuts.next_step ("j"): one key press would do both; give one of them another key',
      },
    ]);
    // Set on the earlier key (pause) against a later default (first_error): still reported where the file says it.
    expect(problemsOf(withControls('pause_keyboard_shortcut: F'))).toEqual([
      {
        line: 4,
        path: 'live_coding_agent.controls.pause_keyboard_shortcut',
        text: 'live_coding_agent.controls.pause_keyboard_shortcut: "F" is also the key of live_coding_agent.controls.label_keyboard_shortcuts.first_error ("f"): one key press would do both; give one of them another key',
      },
    ]);
  });

  it('counts a key without Shift as taking its Shift press too, and every conflict at once', () => {
    const problems = problemsOf(
      withControls('instruction_keyboard_shortcut: Shift+K\nlabel_keyboard_shortcuts:\n  unsure: "2"\n  help: Escape'),
    );
    expect(problems.map((p) => p.text)).toEqual([
      'live_coding_agent.controls.instruction_keyboard_shortcut: "Shift+K" is also the key of live_coding_agent.controls.label_keyboard_shortcuts.previous_step ("k"): one key press would do both; give one of them another key',
      'live_coding_agent.controls.label_keyboard_shortcuts.unsure: "2" is also the key of live_coding_agent.controls.label_keyboard_shortcuts.incorrect ("2"): one key press would do both; give one of them another key',
      'live_coding_agent.controls.label_keyboard_shortcuts.help: "Escape" collides with the built-in Escape key (closes a dialog or the shortcut overlay); choose another key',
    ]);
  });

  it('refuses browser keys and unreadable shortcuts', () => {
    expect(
      problemsOf(withControls('pause_keyboard_shortcut: ctrl+w\ninstruction_keyboard_shortcut: Super+I')).map(
        (p) => p.text,
      ),
    ).toEqual([
      'live_coding_agent.controls.pause_keyboard_shortcut: "ctrl+w" collides with the built-in Ctrl+W key (the browser closes the tab); choose another key',
      'live_coding_agent.controls.instruction_keyboard_shortcut: "Super" in "Super+I" is not a modifier; expected Ctrl, Alt, Shift or Meta',
    ]);
    expect(problemsOf(withControls('pause_keyboard_shortcut: "Ctrl+"'))[0]!.text).toBe(
      'live_coding_agent.controls.pause_keyboard_shortcut: "Ctrl+" names no key (e.g. "j", "Space", "Shift+P")',
    );
  });

  it('matches a key press as the browser reads it, by the same rules', () => {
    const press = (key: string, more: Partial<KeyboardEvent> = {}) => ({
      key,
      code: '',
      ctrlKey: false,
      altKey: false,
      metaKey: false,
      shiftKey: false,
      ...more,
    });
    const j = parseShortcut('j');
    const shiftJ = parseShortcut('Shift+J');
    if ('error' in j || 'error' in shiftJ) throw new Error('unreadable');
    expect(pressMatches(press('J', { shiftKey: true }), j)).toBe(true);
    expect(pressMatches(press('j'), shiftJ)).toBe(false);
    expect(shortcutsCollide(j, shiftJ)).toBe(true);
    const space = parseShortcut('Space');
    if ('error' in space) throw new Error('unreadable');
    expect(pressMatches(press(' ', { code: 'Space' }), space)).toBe(true);
    expect(pressMatches(press(' ', { code: 'Space', ctrlKey: true }), space)).toBe(false);
  });
});
