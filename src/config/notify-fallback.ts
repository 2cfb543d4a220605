/**
 * The alert channels of a settings file that does not load. A typo in
 * settings.json is the most common way a nightly job stops; the job's own
 * channels must still say so. Reads the file as loadSettings does, parses
 * the JSON, and keeps every `notify` entry that is valid on its own. A file
 * that is not JSON (or has no valid channel) gives none. Never throws.
 */
import { readSettingsText, parseJson } from './load-settings.js';
import { NotifyChannelSchema, type NotifyChannel } from './notify-schema.js';

export async function notifyChannelsOfBrokenSettings(file: string): Promise<NotifyChannel[]> {
  try {
    const data = parseJson(await readSettingsText(file), file) as { notify?: unknown } | null;
    if (!data || typeof data !== 'object' || !Array.isArray(data.notify)) return [];
    const channels: NotifyChannel[] = [];
    for (const entry of data.notify.slice(0, 20)) {
      const parsed = NotifyChannelSchema.safeParse(entry);
      if (parsed.success) channels.push(parsed.data);
    }
    return channels;
  } catch {
    return [];
  }
}
