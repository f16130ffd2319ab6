// The Lorenz-96 model as an external latentda model, in JavaScript: a
// worked example of the protocol in docs/external-models.md with the
// apache-arrow package (pinned in package.json; `npm ci` here installs it).
//
// latentda writes requests on stdin and reads the replies on stdout; every
// message is the 8-byte little-endian length of an Arrow IPC stream, then
// the stream, whose schema metadata says what the message is (protocol,
// kind, ...) and which holds at most one record batch of states: a column
// "x" of type fixed_size_list<float64>[n], one row per state. Logs go to
// stderr. The program exits when stdin ends.
//
// The model is Lorenz (1996) on a ring of n sites,
//   dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F,
// stepped by classical RK4 with the handshake's dt.
//
// Usage: node l96.mjs [F]   (the forcing, default 8)
import {
  Field, FixedSizeList, Float64, RecordBatch, RecordBatchStreamWriter, Schema, Struct,
  makeData, tableFromIPC,
} from 'apache-arrow';

const F = process.argv.length > 2 ? Number(process.argv[2]) : 8;
let n = 0;   // state size, from the handshake
let dt = 0;  // time step, from the handshake
let k, tmp, acc;

function deriv(dst, x) {
  for (let i = 0; i < n; i++) {
    dst[i] = (x[(i + 1) % n] - x[(i + n - 2) % n]) * x[(i + n - 1) % n] - x[i] + F;
  }
}

// step advances x (a Float64Array of n) by one RK4 step, in place.
function step(x) {
  const h = dt, hh = 0.5 * dt, h6 = dt / 6;
  deriv(k, x);
  for (let i = 0; i < n; i++) { acc[i] = k[i]; tmp[i] = x[i] + hh * k[i]; }
  deriv(k, tmp);
  for (let i = 0; i < n; i++) { acc[i] += 2 * k[i]; tmp[i] = x[i] + hh * k[i]; }
  deriv(k, tmp);
  for (let i = 0; i < n; i++) { acc[i] += 2 * k[i]; tmp[i] = x[i] + h * k[i]; }
  deriv(k, tmp);
  for (let i = 0; i < n; i++) x[i] += h6 * (acc[i] + k[i]);
}

// message encodes one protocol message: meta as schema metadata and, if
// values is given, one batch of values.length / n states.
function message(meta, values) {
  const md = new Map(Object.entries({ ...meta, protocol: '2' }));
  const type = new FixedSizeList(n, new Field('item', new Float64(), false));
  const fields = values ? [new Field('x', type, false)] : [];
  const schema = new Schema(fields, md);
  const writer = new RecordBatchStreamWriter();
  writer.reset(undefined, schema);
  if (values) {
    const rows = values.length / n;
    const child = makeData({ type: new Float64(), length: values.length, nullCount: 0, data: values });
    const x = makeData({ type, length: rows, nullCount: 0, child });
    const data = makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [x] });
    writer.write(new RecordBatch(schema, data));
  }
  writer.finish();
  const stream = writer.toUint8Array(true);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(stream.length));
  return Buffer.concat([prefix, stream]);
}

// messages yields the Arrow IPC stream of every message read from input.
async function* messages(input) {
  let chunks = [], have = 0, want = 8, size = -1;
  for await (const chunk of input) {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= want) {
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (size < 0) {
        size = Number(buf.readBigUInt64LE(0));
        want = 8 + size;
        chunks = [buf];
        continue;
      }
      yield buf.subarray(8, want);
      chunks = [buf.subarray(want)];
      have = chunks[0].length;
      want = 8;
      size = -1;
    }
  }
}

// states returns a copy of the states in a batch, row after row.
function states(batch) {
  const x = batch.data.children[0];
  const child = x.children[0];
  const start = child.offset + x.offset * n;
  return Float64Array.from(child.values.subarray(start, start + batch.numRows * n));
}

// answer returns the reply to one request.
function answer(meta, batches) {
  switch (meta.get('kind')) {
    case 'hello': {
      n = Number(meta.get('state_size'));
      dt = Number(meta.get('dt'));
      if (!(n >= 4) || !(dt > 0)) throw new Error(`need state_size >= 4 and dt > 0, got ${n}, ${dt}`);
      k = new Float64Array(n); tmp = new Float64Array(n); acc = new Float64Array(n);
      // The reference state: F everywhere, x_0 += 0.01, spun up 50 time units.
      const x0 = new Float64Array(n).fill(F);
      x0[0] += 0.01;
      for (let s = 0; s < Math.trunc(50 / dt); s++) step(x0);
      console.error(`l96.mjs: n = ${n}, dt = ${dt}, F = ${F}`);
      return message({ kind: 'hello', state_size: String(n), dt: meta.get('dt') }, x0);
    }
    case 'advance': {
      const steps = Number(meta.get('steps'));
      if (batches.length !== 1) throw new Error(`advance with ${batches.length} batches`);
      const X = states(batches[0]);
      for (let r = 0; r < X.length / n; r++) {
        const x = X.subarray(r * n, (r + 1) * n);
        for (let s = 0; s < steps; s++) step(x);
      }
      return message({ kind: 'state' }, X);
    }
  }
  throw new Error(`unknown request kind ${meta.get('kind')}`);
}

for await (const stream of messages(process.stdin)) {
  const table = tableFromIPC(stream);
  let reply;
  try {
    reply = answer(table.schema.metadata, table.batches);
  } catch (err) {
    reply = message({ kind: 'error', message: String(err.message ?? err) });
  }
  if (!process.stdout.write(reply)) {
    await new Promise((resolve) => process.stdout.once('drain', resolve));
  }
}
