/**
 * @module store/errors
 * The error every Store implementation throws for a write it refuses or a database it cannot use.
 */
import { PotatoError } from '../errors.js';

/** Thrown for a write the store refuses (`not_found`: a missing row to update); the message says which. */
export class StoreError extends PotatoError<'store_failed' | 'not_found'> {
  override name = 'StoreError';
  constructor(message: string, code: 'store_failed' | 'not_found' = 'store_failed', options?: ErrorOptions) {
    super(message, code, options);
  }
}
