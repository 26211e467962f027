#!/usr/bin/env node
// The seed's Express AuditLogger hashing (profile "node-seed"), run for real under Node.
//
// stdin:  JSON lines, one event per line (no prev_hash / hash); the timestamp is any
//         text `new Date()` parses (ISO 8601 with an offset).
// stdout: JSON lines, one entry per event in the same order, with the timestamp
//         normalised by `new Date(ts).toISOString()`, and prev_hash and hash added.
// Exactly what the seed hashes: JSON.stringify of eight fields in insertion order,
// sha256, lowercase hex; the first entry links to "GENESIS".
'use strict';

const crypto = require('crypto');

class AuditLogger {
  constructor() {
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
    return crypto.createHash('sha256').update(data).digest('hex');
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

function main() {
  const chunks = [];
  process.stdin.on('data', (c) => chunks.push(c));
  process.stdin.on('end', () => {
    const logger = new AuditLogger();
    const out = [];
    for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      out.push(JSON.stringify(logger.append(JSON.parse(line))));
    }
    process.stdout.write(out.length ? out.join('\n') + '\n' : '');
  });
}

if (require.main === module) {
  main();
}

module.exports = { AuditLogger };
