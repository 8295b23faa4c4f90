/**
 * @module backends/scripted
 * An offline, deterministic agent that plays a script of model turns (thinking, text, tool
 * calls). Not a model: it lets the tests and the bundled demo run with no API key. Which turn
 * comes next is derived from the context alone (turns on the path since the last matching
 * instruction), so rollback and branches replay exactly as a real backend's would be asked.
 */
import { type Clock, systemClock } from '../../clock.js';
import type { ContextItem } from '../../steps/types.js';
import { PartWriter } from '../parts.js';
import type { AgentBackend, ModelEvent, TurnRequest } from '../types.js';
import { loadScript, type Script, type ScriptTurn } from './script.js';

export interface ScriptedOptions {
  script: string;
  turn_delay_ms: number;
}

/** `clock` paces the turns (turn_delay_ms before each answer); tests pass one they can hold. */
export function createScriptedBackend(opts: ScriptedOptions, clock: Clock = systemClock): AgentBackend {
  const script = loadScript(opts.script);
  return {
    name: 'scripted',
    async check() {},
    turn: (req) => playTurn(script, req, opts.turn_delay_ms, clock),
  };
}

/** The next turn for this context: none when the script (or the chosen continuation) is over. */
export function nextTurn(script: Script, context: ContextItem[]): ScriptTurn | undefined {
  let turns = script.turns;
  const seen = new Set<string>();
  for (const item of context) {
    if (item.kind === 'instruction') {
      const alt = script.on_instruction.find((b) => new RegExp(b.when, 'i').test(item.text));
      if (alt) {
        turns = alt.turns;
        seen.clear();
      }
    } else if (item.kind === 'step' && item.step.author === 'agent' && item.step.turn_id) {
      seen.add(item.step.turn_id);
    }
  }
  return turns[seen.size];
}

async function* playTurn(script: Script, req: TurnRequest, delayMs: number, clock: Clock): AsyncGenerator<ModelEvent> {
  const turn = nextTurn(script, req.context);
  const w = new PartWriter();
  const contextChars = JSON.stringify(req.context).length;
  if (delayMs > 0) await clock.sleep(delayMs, req.signal);
  if (!turn) {
    yield* textBlock(w, 'text', 'I have nothing more to do.');
    yield { type: 'usage', usage: { input_tokens: Math.ceil(contextChars / 4), output_tokens: 7 } };
    yield { type: 'finish', reason: 'end_turn' };
    return;
  }
  let outChars = 0;
  if (turn.thinking) {
    outChars += turn.thinking.length;
    yield* textBlock(w, 'thinking', turn.thinking);
  }
  if (turn.text) {
    outChars += turn.text.length;
    yield* textBlock(w, 'text', turn.text);
  }
  const allowed = new Set(req.tools.map((t) => t.name));
  let n = 0;
  for (const entry of turn.tool_calls) {
    const [name, input] = Object.entries(entry)[0] as [string, Record<string, unknown>];
    if (!allowed.has(name)) continue; // a real model is only offered the configured tools
    const id = `toolu_scripted_${req.context.length}_${n++}`;
    const json = JSON.stringify(input);
    outChars += json.length;
    yield* w.toolStart(id, name);
    // A malformed call is the same JSON cut short, so the real parser says what is wrong.
    const sent = turn.malformed ? json.slice(0, -1) : json;
    for (const piece of chunks(sent, 24)) yield* w.toolDelta(id, piece);
    yield* w.toolEnd(id);
  }
  yield { type: 'usage', usage: { input_tokens: Math.ceil(contextChars / 4), output_tokens: Math.ceil(outChars / 4) } };
  yield { type: 'finish', reason: n > 0 ? 'tool_calls' : 'end_turn' };
}

function* textBlock(w: PartWriter, kind: 'thinking' | 'text', text: string): Generator<ModelEvent> {
  for (const piece of chunks(text, 16)) yield* w.write(kind, piece);
  yield* w.closeCurrent();
}

function* chunks(s: string, size: number): Generator<string> {
  for (let i = 0; i < s.length; i += size) yield s.slice(i, i + size);
}
