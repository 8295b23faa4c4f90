/**
 * @module backends/openai/messages
 * The conversation in chat-completions shape: a system message, user messages, assistant
 * messages with text and function tool_calls, then one `tool` message per result. Thinking goes
 * back only in the field `openai.send_reasoning_as` names: compatible servers differ on whether
 * they accept it (DeepSeek's thinking mode requires it after tool calls, OpenAI has no such field).
 */
import type OpenAI from 'openai';
import type { ContextItem } from '../../steps/types.js';
import { toNeutralMessages } from '../context.js';

type Message = OpenAI.Chat.ChatCompletionMessageParam;

export type ReasoningField = 'none' | 'reasoning_content' | 'reasoning';

export function toOpenAIMessages(
  system: string,
  context: ContextItem[],
  reasoningField: ReasoningField = 'none',
): Message[] {
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
      const reasoning = message.blocks.flatMap((b) => (b.type === 'thinking' ? [b.content] : [])).join('');
      // Not a field of OpenAI's own type: the servers that want it read it from the assistant message.
      const extra = reasoningField !== 'none' && reasoning !== '' ? { [reasoningField]: reasoning } : {};
      out.push({
        role: 'assistant',
        content: text === '' ? null : text,
        ...extra,
        ...(calls.length ? { tool_calls: calls } : {}),
      } as Message);
    }
  }
  return out;
}
