// Time-ordered job ids (UUIDv7, RFC 9562, with the 12-bit counter of its method 1). pg-boss orders a
// group's jobs by creation time and then by id; jobs created in one statement share a creation
// time, so only ids that grow with creation order keep those jobs in order.
import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

export function newJobId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = randomBytes(2).readUInt16BE(0) & 0x07ff; // start low so the counter rarely runs out
  } else {
    counter++;
    if (counter > 0x0fff) {
      // More than 2,048 ids in one millisecond: borrow the next millisecond rather than repeat.
      lastMs++;
      counter = 0;
    }
  }
  const bytes = randomBytes(16);
  bytes.writeUIntBE(lastMs, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
