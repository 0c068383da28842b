// Label values from names that may not fit one: object names may have 253
// characters, a label value at most 63 (and only [-A-Za-z0-9_.], starting and
// ending alphanumeric). A label is for selecting; whoever needs the exact name
// back must keep it elsewhere (an ownerReference, an annotation).
import { createHash } from 'node:crypto';

export const labelValueMaxLength = 63;
const hashLength = 16;
const labelValuePattern = /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function isLabelValue(text: string): boolean {
  return labelValuePattern.test(text);
}

/**
 * text itself when it is a valid label value; else its first 46 characters
 * (others than [-A-Za-z0-9_.] made "-", trimmed to start and end
 * alphanumeric), "-", and 16 hex digits of the sha256 of the whole text, so
 * two long names that share a head still differ.
 */
export function labelValue(text: string): string {
  if (isLabelValue(text)) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, hashLength);
  const head = text
    .slice(0, labelValueMaxLength - 1 - hashLength)
    .replace(/[^-A-Za-z0-9_.]/g, '-')
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return head === '' ? hash : `${head}-${hash}`;
}
