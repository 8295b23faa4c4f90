/**
 * @module backends/ollama/messages
 * The conversation in Ollama's /api/chat shape: assistant messages carry thinking, text and
 * tool_calls with arguments as objects; each result is a `tool` message naming its tool.
 */
import type { Message } from 'ollama';
import type { ContextItem } from '../../steps/types.js';
import { toNeutralMessages } from '../context.js';

export function toOllamaMessages(system: string, context: ContextItem[]): Message[] {
  const out: Message[] = system ? [{ role: 'system', content: system }] : [];
  for (const message of toNeutralMessages(context)) {
    if (message.role === 'user') {
      out.push({ role: 'user', content: message.parts.join('\n\n') });
    } else if (message.role === 'tool') {
      for (const r of message.results) {
        const content = r.is_error && !/^error\b/i.test(r.content) ? `Error: ${r.content}` : r.content;
        out.push({ role: 'tool', content, tool_name: r.name });
      }
    } else {
      const text = message.blocks.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('\n\n');
      const thinking = message.blocks.flatMap((b) => (b.type === 'thinking' ? [b.content] : [])).join('\n\n');
      const calls = message.blocks.flatMap((b) =>
        b.type === 'tool_call' ? [{ function: { name: b.call.name, arguments: b.call.input } }] : [],
      );
      if (text === '' && thinking === '' && calls.length === 0) continue;
      out.push({
        role: 'assistant',
        content: text,
        ...(thinking ? { thinking } : {}),
        ...(calls.length ? { tool_calls: calls } : {}),
      });
    }
  }
  return out;
}
