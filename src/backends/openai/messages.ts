/**
 * @module backends/openai/messages
 * The conversation in chat-completions shape: a system message, user messages, assistant
 * messages with text and function tool_calls, then one `tool` message per result. Thinking is
 * not sent back: compatible servers differ on whether they accept it.
 */
import type OpenAI from 'openai';
import type { ContextItem } from '../../steps/types.js';
import { toNeutralMessages } from '../context.js';

type Message = OpenAI.Chat.ChatCompletionMessageParam;

export function toOpenAIMessages(system: string, context: ContextItem[]): Message[] {
  const out: Message[] = system ? [{ role: 'system', content: system }] : [];
  for (const message of toNeutralMessages(context)) {
    if (message.role === 'user') {
      out.push({ role: 'user', content: message.parts.join('\n\n') });
    } else if (message.role === 'tool') {
      for (const r of message.results) {
        // The wire has no error flag for tool results: the text has to say it.
        const content = r.is_error && !/^error\b/i.test(r.content) ? `Error: ${r.content}` : r.content;
        out.push({ role: 'tool', tool_call_id: r.call_id, content });
      }
    } else {
      const text = message.blocks.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('\n\n');
      const calls = message.blocks.flatMap((b) =>
        b.type === 'tool_call'
          ? [
              {
                id: b.call.id,
                type: 'function' as const,
                function: { name: b.call.name, arguments: JSON.stringify(b.call.input) },
              },
            ]
          : [],
      );
      if (text === '' && calls.length === 0) continue;
      out.push({
        role: 'assistant',
        content: text === '' ? null : text,
        ...(calls.length ? { tool_calls: calls } : {}),
      });
    }
  }
  return out;
}
