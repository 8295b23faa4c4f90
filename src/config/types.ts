/**
 * @module config/types
 * The resolved config the rest of the program uses: schema output plus resolved paths,
 * hashed passwords (plain text dropped) and the backend section made concrete.
 */
import type { RawConfig } from './schema.js';

export interface Annotator {
  username: string;
  /** scrypt hash in the form `scrypt$N$r$p$salt$hash` (base64). The plain password is gone. */
  password_hash: string;
  role: 'annotator' | 'lead';
}

export type PotatoConfig = Omit<RawConfig, 'annotators'> & {
  annotators: Annotator[];
  /** Absolute path of the config file, and its folder (relative paths resolve against it). */
  config_path: string;
  config_dir: string;
};
