/**
 * @module config/shortcut-keys
 * A keyboard shortcut as the config names it ("Space", "i", "Shift+P", "Ctrl+Enter"): how it
 * is read, when a key press matches it, and when two of them would fire on the same press. The
 * config check (config/shortcuts.ts) and the browser (web/actions/controls.ts) share it, so a
 * config that passes the check cannot bind one press to two actions. No imports: the web
 * bundle takes it as is.
 */

export interface Shortcut {
  /** The key, lower case: a character ("j", "?"), "space", or a key name ("enter", "f2"). */
  key: string;
  ctrl: boolean;
  alt: boolean;
  meta: boolean;
  /** Required Shift. Without it the shortcut fires with or without Shift (so "?" works as typed). */
  shift: boolean;
}

const MODIFIERS: Record<string, 'ctrl' | 'alt' | 'meta' | 'shift'> = {
  ctrl: 'ctrl',
  control: 'ctrl',
  alt: 'alt',
  meta: 'meta',
  cmd: 'meta',
  shift: 'shift',
};

/** The shortcut, or why it cannot be one. */
export function parseShortcut(text: string): Shortcut | { error: string } {
  const parts = text.split('+').map((p) => p.trim());
  const key = parts.pop() ?? '';
  if (!key) return { error: `"${text}" names no key (e.g. "j", "Space", "Shift+P")` };
  const out: Shortcut = {
    key: key === ' ' ? 'space' : key.toLowerCase(),
    ctrl: false,
    alt: false,
    meta: false,
    shift: false,
  };
  for (const part of parts) {
    const mod = MODIFIERS[part.toLowerCase()];
    if (!mod) return { error: `"${part}" in "${text}" is not a modifier; expected Ctrl, Alt, Shift or Meta` };
    out[mod] = true;
  }
  return out;
}

/** Whether a key press matches the shortcut. */
export function pressMatches(
  e: Pick<KeyboardEvent, 'key' | 'code' | 'ctrlKey' | 'altKey' | 'metaKey' | 'shiftKey'>,
  s: Shortcut,
): boolean {
  if (e.ctrlKey !== s.ctrl || e.altKey !== s.alt || e.metaKey !== s.meta) return false;
  if (s.shift && !e.shiftKey) return false;
  if (s.key === 'space') return e.code === 'Space' || e.key === ' ';
  if (s.key.length === 1) return e.key.toLowerCase() === s.key;
  return e.key.toLowerCase() === s.key || e.code.toLowerCase() === s.key;
}

/** Whether one key press can match both (a shortcut without Shift also fires with it). */
export function shortcutsCollide(a: Shortcut, b: Shortcut): boolean {
  return (
    a.key === b.key &&
    a.ctrl === b.ctrl &&
    a.alt === b.alt &&
    a.meta === b.meta &&
    (a.shift === b.shift || !a.shift || !b.shift)
  );
}

/**
 * Keys the page or the browser already uses, which a shortcut would break or never receive.
 * Space is not here: it is the pause key by default, and shortcuts never fire while typing.
 */
export const BUILT_IN_KEYS: { shortcut: string; use: string }[] = [
  { shortcut: 'Escape', use: 'closes a dialog or the shortcut overlay' },
  { shortcut: 'Enter', use: 'presses the focused button or link' },
  { shortcut: 'Tab', use: 'moves the keyboard focus' },
  { shortcut: 'Ctrl+W', use: 'the browser closes the tab' },
  { shortcut: 'Ctrl+T', use: 'the browser opens a tab' },
  { shortcut: 'Ctrl+N', use: 'the browser opens a window' },
  { shortcut: 'Ctrl+R', use: 'the browser reloads the page' },
  { shortcut: 'F5', use: 'the browser reloads the page' },
];
