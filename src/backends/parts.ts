/**
 * @module backends/parts
 * The one place that opens and closes stream blocks. `PartWriter` is used by every backend to
 * turn a provider's stream into ModelEvents (blocks by provider index, or one block at a time
 * for providers that only send deltas; tool input parsed once at its end). `TurnAssembler` is
 * the other side: it folds the events of one turn back into blocks by id, groups a turn's
 * consecutive text blocks into one message, and lets a failed attempt be set aside.
 */
import type { Citation, TokenUsage, ToolCall } from '../steps/types.js';
import { parseToolInput } from './context.js';
import type { FinishReason, ModelEvent } from './types.js';

type Kind = 'thinking' | 'text';

interface OpenBlock {
  kind: Kind;
  id: string;
  signature: string;
}

/** Opens and closes blocks for a backend; each method returns the parts to yield, in order. */
export class PartWriter {
  private readonly open = new Map<string, OpenBlock>();
  /** The block `write()` appends to (providers without block boundaries). */
  private current: { id: string; kind: Kind | 'refusal' } | null = null;
  private readonly tools = new Map<string, { name: string; json: string }>();
  private n = 0;

  /** Starts a block with the provider's own id (e.g. Anthropic's content block index). */
  start(kind: Kind, id: string, opts: { refusal?: boolean } = {}): ModelEvent[] {
    this.open.set(id, { kind, id, signature: '' });
    if (kind === 'thinking') return [{ type: 'thinking-start', id }];
    return [opts.refusal ? { type: 'text-start', id, refusal: true } : { type: 'text-start', id }];
  }

  delta(id: string, text: string): ModelEvent[] {
    const block = this.open.get(id);
    if (!block || text === '') return [];
    return [block.kind === 'thinking' ? { type: 'thinking-delta', id, text } : { type: 'text-delta', id, text }];
  }

  signature(id: string, part: string): void {
    const block = this.open.get(id);
    if (block) block.signature += part;
  }

  citation(id: string, citation: Citation): ModelEvent[] {
    return this.open.get(id)?.kind === 'text' ? [{ type: 'text-citation', id, citation }] : [];
  }

  /** A citation of the block `write()` appends to (providers that annotate the text so far). */
  citeCurrent(citation: Citation): ModelEvent[] {
    return this.current ? this.citation(this.current.id, citation) : [];
  }

  end(id: string, opts: { redacted?: string } = {}): ModelEvent[] {
    const block = this.open.get(id);
    if (!block) return [];
    this.open.delete(id);
    if (block.kind === 'text') return [{ type: 'text-end', id }];
    return [
      {
        type: 'thinking-end',
        id,
        ...(block.signature ? { signature: block.signature } : {}),
        ...(opts.redacted !== undefined ? { redacted: opts.redacted } : {}),
      },
    ];
  }

  /** A whole redacted_thinking block: no text, only the provider's encrypted data. */
  redacted(id: string, data: string): ModelEvent[] {
    return [...this.start('thinking', id), ...this.end(id, { redacted: data })];
  }

  /**
   * Appends text of a kind to the open block, closing the other kind's block and opening a new
   * one first when the kind changes (OpenAI and Ollama send deltas without block boundaries).
   */
  write(kind: Kind | 'refusal', text: string): ModelEvent[] {
    if (text === '') return [];
    const out: ModelEvent[] = [];
    if (this.current?.kind !== kind) {
      out.push(...this.closeCurrent());
      const id = `${kind}-${this.n++}`;
      this.current = { id, kind };
      out.push(...this.start(kind === 'thinking' ? 'thinking' : 'text', id, { refusal: kind === 'refusal' }));
    }
    out.push(...this.delta(this.current!.id, text));
    return out;
  }

  /** Ends the block `write()` appended to, if any. */
  closeCurrent(): ModelEvent[] {
    if (!this.current) return [];
    const { id } = this.current;
    this.current = null;
    return this.end(id);
  }

  toolStart(id: string, name: string): ModelEvent[] {
    this.tools.set(id, { name, json: '' });
    return [{ type: 'tool-input-start', id, name }];
  }

  toolDelta(id: string, delta: string): ModelEvent[] {
    const tool = this.tools.get(id);
    if (!tool || delta === '') return [];
    tool.json += delta;
    return [{ type: 'tool-input-delta', id, delta }];
  }

  /** Ends a tool input and emits the call, parsed; a call that cannot be used says why. */
  toolEnd(id: string, fallbackError?: string): ModelEvent[] {
    const tool = this.tools.get(id);
    if (!tool) return [];
    this.tools.delete(id);
    const end: ModelEvent = { type: 'tool-input-end', id };
    if (!tool.name) {
      const error = fallbackError ?? 'the model sent a tool call without a function name';
      return [end, { type: 'tool-call', id, name: '', input: {}, error }];
    }
    const parsed = parseToolInput(tool.json);
    return [
      end,
      { type: 'tool-call', id, name: tool.name, input: parsed.input, ...(parsed.error ? { error: parsed.error } : {}) },
    ];
  }

  /** A tool call that arrives whole (Ollama): start, its arguments as one delta, end. */
  toolCall(id: string, name: string, argumentsText: string): ModelEvent[] {
    return [...this.toolStart(id, name), ...this.toolDelta(id, argumentsText), ...this.toolEnd(id)];
  }

  /** Ends every open block, in the order they opened. */
  closeAll(): ModelEvent[] {
    const out = this.closeCurrent();
    for (const id of [...this.open.keys()]) out.push(...this.end(id));
    return out;
  }
}

/** One block of a turn as it streamed. */
export interface AssembledBlock {
  id: string;
  kind: Kind;
  content: string;
  signature?: string;
  redacted?: string;
  refusal: boolean;
  citations: Citation[];
  startedAt: number;
  /** Partial key shared by the consecutive text blocks that become one message step. */
  key: string;
}

/** What becomes one step: a thinking block, or a run of consecutive text blocks. */
export type AssembledGroup = Omit<AssembledBlock, 'id' | 'kind'> & { kind: 'thinking' | 'message' };

/** What a part means for the live view: text to append to the partial with this key. */
export interface PartialText {
  key: string;
  kind: 'thinking' | 'message';
  text: string;
}

/** Folds one turn's parts back into blocks by id (the controller's side of PartWriter). */
export class TurnAssembler {
  blocks: AssembledBlock[] = [];
  calls: ToolCall[] = [];
  bad: { call: ToolCall; error: string }[] = [];
  usage: TokenUsage | null = null;
  finish: FinishReason | null = null;
  private readonly byId = new Map<string, AssembledBlock>();
  private last: 'text' | 'thinking' | 'tool' | null = null;
  private keys = 0;

  /** @param prefix makes partial keys unique across turns and attempts. */
  constructor(private prefix: string) {}

  /** Takes one part; returns the text the live view should append, if any. */
  push(ev: ModelEvent, now = Date.now()): PartialText | null {
    switch (ev.type) {
      case 'thinking-start':
      case 'text-start': {
        const kind: Kind = ev.type === 'thinking-start' ? 'thinking' : 'text';
        const joins = kind === 'text' && this.last === 'text';
        const prev = this.blocks[this.blocks.length - 1];
        const block: AssembledBlock = {
          id: ev.id,
          kind,
          content: '',
          refusal: ev.type === 'text-start' && ev.refusal === true,
          citations: [],
          startedAt: now,
          key: joins && prev ? prev.key : `${this.prefix}:${this.keys++}`,
        };
        this.blocks.push(block);
        this.byId.set(ev.id, block);
        this.last = kind;
        return null;
      }
      case 'thinking-delta':
      case 'text-delta': {
        const block = this.byId.get(ev.id);
        if (!block) return null;
        block.content += ev.text;
        return { key: block.key, kind: block.kind === 'thinking' ? 'thinking' : 'message', text: ev.text };
      }
      case 'text-citation':
        this.byId.get(ev.id)?.citations.push(ev.citation);
        return null;
      case 'thinking-end': {
        const block = this.byId.get(ev.id);
        if (block && ev.signature) block.signature = ev.signature;
        if (block && ev.redacted !== undefined) block.redacted = ev.redacted;
        return null;
      }
      case 'text-end':
      case 'tool-input-end':
        return null;
      case 'tool-input-start':
        this.last = 'tool';
        return null;
      case 'tool-input-delta':
        return null;
      case 'tool-call':
        if (ev.error) this.bad.push({ call: { id: ev.id, name: ev.name, input: ev.input }, error: ev.error });
        else this.calls.push({ id: ev.id, name: ev.name, input: ev.input });
        return null;
      case 'usage':
        this.usage = ev.usage;
        return null;
      case 'finish':
        this.finish = ev.reason;
        return null;
      case 'status':
      case 'error':
        return null;
    }
  }

  /**
   * The steps this turn makes: each thinking block that has text, a signature or redacted data,
   * and each run of consecutive text blocks joined as one message (a run of only whitespace is
   * dropped, unless it is a refusal: that is an outcome even without words).
   */
  groups(): AssembledGroup[] {
    const out: AssembledGroup[] = [];
    for (const { id: _id, kind, ...b } of this.blocks) {
      if (kind === 'thinking') {
        if (b.content !== '' || b.signature || b.redacted !== undefined)
          out.push({ ...b, kind: 'thinking', citations: [] });
        continue;
      }
      const prev = out[out.length - 1];
      if (prev?.kind !== 'message' || prev.key !== b.key) {
        out.push({ ...b, kind: 'message', citations: [...b.citations] });
        continue;
      }
      // Whitespace between blocks is kept inside a message, not at its start.
      prev.content = prev.content.trim() === '' ? b.content : prev.content + b.content;
      prev.citations.push(...b.citations);
      prev.refusal ||= b.refusal;
    }
    return out.filter((g) => g.kind === 'thinking' || g.content.trim() !== '' || g.refusal);
  }

  /** A new attempt of the same turn: what streamed so far is handed back and forgotten. */
  restart(prefix: string): AssembledGroup[] {
    const failed = this.groups();
    this.blocks = [];
    this.calls = [];
    this.bad = [];
    this.usage = null;
    this.finish = null;
    this.byId.clear();
    this.last = null;
    this.keys = 0;
    this.prefix = prefix;
    return failed;
  }
}
