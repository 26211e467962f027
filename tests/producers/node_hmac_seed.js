#!/usr/bin/env node
// The seed's Express AuditLogger as a team adapts it: a keyed HMAC-SHA256 instead of a
// plain SHA-256 (an insider without the key cannot recompute the chain), digests stored
// as base64. Same text as the seed: JSON.stringify of eight fields in insertion order.
//
// stdin:  JSON lines, one event per line; the key comes from $AUDIT_CHAIN_KEY.
// stdout: JSON lines with the timestamp as toISOString(), prev_hash and hash added.
'use strict';

const crypto = require('crypto');

class AuditLogger {
  constructor(key) {
    this.key = key;
    this.lastHash = 'GENESIS';
  }

  computeHash(entry) {
    const data = JSON.stringify({
      id: entry.id,
      timestamp: entry.timestamp,
      actor_id: entry.actor_id,
      action: entry.action,
      resource_type: entry.resource_type,
      resource_id: entry.resource_id,
      result: entry.result,
      prev_hash: entry.prev_hash,
    });
    return crypto.createHmac('sha256', this.key).update(data).digest('base64');
  }

  append(event) {
    const entry = Object.assign({}, event);
    entry.timestamp = new Date(event.timestamp).toISOString();
    entry.prev_hash = this.lastHash;
    entry.hash = this.computeHash(entry);
    this.lastHash = entry.hash;
    return entry;
  }
}

const key = process.env.AUDIT_CHAIN_KEY;
if (!key) {
  process.stderr.write('AUDIT_CHAIN_KEY is not set\n');
  process.exit(2);
}
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const logger = new AuditLogger(key);
  const out = [];
  for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    out.push(JSON.stringify(logger.append(JSON.parse(line))));
  }
  process.stdout.write(out.length ? out.join('\n') + '\n' : '');
});
