// Reads Arrow IPC files with the JavaScript Arrow implementation
// (apache-arrow, pinned in package.json) and prints, as one JSON array on
// stdout, what it found in each file: the schema (field names, types,
// nullability), the schema metadata and every column's values.
//
// Float64 values are printed as their IEEE-754 bits (16 hex digits), read
// from the column's buffer, so that NaN payloads, -0 and infinities can be
// compared exactly; int32 values as numbers, bools as booleans, utf8 as
// strings, and list and fixed-size-list cells as arrays of their elements.
//
// For each record batch it also prints the checksum stored in the batch's
// metadata (latentda.checksum) and the one it computes itself, following
// docs/state-format.md ("Checksums"), independently of the Go code.
//
// Usage: node check.mjs FILE...   (run by store/interop_test.go)
import { readFileSync } from 'node:fs';
import { Precision, tableFromIPC, Type } from 'apache-arrow';

function floatBits(values, i) {
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  return view.getBigUint64(8 * i, true).toString(16).padStart(16, '0');
}

// cells returns the values of rows [begin, end) of one Data chunk.
function cells(data, begin, end) {
  const out = [];
  switch (data.typeId) {
    case Type.Float:
      if (data.type.precision !== Precision.DOUBLE) throw new Error(`unexpected float precision ${data.type.precision}`);
      for (let i = begin; i < end; i++) out.push(floatBits(data.values, i));
      return out;
    case Type.Int:
      if (data.type.bitWidth !== 32 || !data.type.isSigned) throw new Error(`unexpected int type ${data.type}`);
      for (let i = begin; i < end; i++) out.push(data.values[i]);
      return out;
    case Type.FixedSizeList: {
      const size = data.type.listSize;
      for (let i = begin; i < end; i++) out.push(cells(data.children[0], i * size, (i + 1) * size));
      return out;
    }
    case Type.List:
      for (let i = begin; i < end; i++) {
        out.push(cells(data.children[0], Number(data.valueOffsets[i]), Number(data.valueOffsets[i + 1])));
      }
      return out;
    default:
      for (let i = begin; i < end; i++) out.push(scalar(data, i));
      return out;
  }
}

// scalar returns row i of a bool or utf8 chunk.
function scalar(data, i) {
  switch (data.typeId) {
    case Type.Bool: {
      const bit = data.offset + i;
      return ((data.values[bit >> 3] >> (bit & 7)) & 1) === 1;
    }
    case Type.Utf8: {
      const start = data.valueOffsets[i];
      const end = data.valueOffsets[i + 1];
      return new TextDecoder('utf-8', { fatal: true }).decode(data.values.subarray(start, end));
    }
    default:
      throw new Error(`unexpected column type ${data.type}`);
  }
}

function nulls(data) {
  let n = data.nullCount;
  for (const child of data.children ?? []) n += nulls(child);
  return n;
}

// CRC-32C: the reflected Castagnoli polynomial 0x82F63B78, a byte at a
// time through a table; crc32c(crc, bytes) continues crc over bytes.
const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
function crc32c(crc, bytes) {
  crc = ~crc >>> 0;
  for (const b of bytes) crc = (crcTable[(crc ^ b) & 0xff] ^ (crc >>> 8)) >>> 0;
  return ~crc >>> 0;
}

function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

// checksum continues crc over rows [begin, end) of one Data chunk, each
// value encoded as docs/state-format.md defines.
function checksum(crc, data, begin, end) {
  switch (data.typeId) {
    case Type.Float:
    case Type.Int: {
      const v = data.values;
      const w = v.BYTES_PER_ELEMENT;
      return crc32c(crc, new Uint8Array(v.buffer, v.byteOffset + w * begin, w * (end - begin)));
    }
    case Type.Bool: {
      const bytes = [];
      for (let i = begin; i < end; i++) bytes.push(scalar(data, i) ? 1 : 0);
      return crc32c(crc, bytes);
    }
    case Type.Utf8:
      for (let i = begin; i < end; i++) {
        const bytes = data.values.subarray(data.valueOffsets[i], data.valueOffsets[i + 1]);
        crc = crc32c(crc32c(crc, u32(bytes.length)), bytes);
      }
      return crc;
    case Type.FixedSizeList: {
      const size = data.type.listSize;
      return checksum(crc, data.children[0], begin * size, end * size);
    }
    case Type.List:
      for (let i = begin; i < end; i++) {
        const from = Number(data.valueOffsets[i]);
        const to = Number(data.valueOffsets[i + 1]);
        crc = checksum(crc32c(crc, u32(to - from)), data.children[0], from, to);
      }
      return crc;
    default:
      throw new Error(`unexpected column type ${data.type}`);
  }
}

function checksums(table) {
  return table.batches.map((batch) => {
    let crc = 0;
    for (const data of batch.data.children) crc = checksum(crc, data, 0, data.length);
    return { stored: batch.metadata.get('latentda.checksum') ?? '', computed: 'crc32c:' + crc.toString(16).padStart(8, '0') };
  });
}

const result = [];
for (const path of process.argv.slice(2)) {
  const table = tableFromIPC(readFileSync(path));
  const columns = {};
  let nullCount = 0;
  for (const field of table.schema.fields) {
    const vector = table.getChild(field.name);
    const values = [];
    for (const data of vector.data) {
      nullCount += nulls(data);
      values.push(...cells(data, 0, data.length));
    }
    columns[field.name] = values;
  }
  result.push({
    path,
    rows: table.numRows,
    batches: table.batches.length,
    nulls: nullCount,
    fields: table.schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable })),
    metadata: Object.fromEntries(table.schema.metadata),
    checksums: checksums(table),
    columns,
  });
}
process.stdout.write(JSON.stringify(result) + '\n');
