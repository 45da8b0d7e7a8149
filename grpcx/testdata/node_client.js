// Calls the four methods of catalog.proto's Catalog with @grpc/grpc-js and
// prints one line per result. Usage: node node_client.js PROTO TARGET
'use strict';
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [protoPath, target] = process.argv.slice(2);
const def = loader.loadSync(protoPath, { longs: Number, defaults: true });
const Catalog = grpc.loadPackageDefinition(def).wirespeed.catalog.v1.Catalog;
const client = new Catalog(target, grpc.credentials.createInsecure());
const deadline = () => new Date(Date.now() + 10000);

function fail(what, err) {
  console.log('error ' + what + ' ' + err.code + ' ' + err.details);
  process.exit(1);
}

function get(id) {
  return new Promise((resolve) => client.Get({ id }, { deadline: deadline() }, (err, item) => resolve({ err, item })));
}

async function main() {
  let r = await get('item-00003');
  if (r.err) fail('get', r.err);
  console.log('get ' + r.item.id + ' ' + r.item.name + ' ' + r.item.priceCents);

  r = await get('no-such-item');
  console.log('notfound ' + (r.err ? r.err.code : 'none'));

  const listed = await new Promise((resolve) => {
    const ids = [];
    const call = client.List({ prefix: 'item-000', limit: 5 }, { deadline: deadline() });
    call.on('data', (it) => ids.push(it.id));
    call.on('error', (err) => fail('list', err));
    call.on('end', () => resolve(ids));
  });
  console.log('list ' + listed.join(','));

  const sum = await new Promise((resolve) => {
    const call = client.Upload({ deadline: deadline() }, (err, s) => (err ? fail('upload', err) : resolve(s)));
    for (let i = 0; i < 3; i++) call.write({ id: 'node-' + i, payload: Buffer.alloc(10) });
    call.end();
  });
  console.log('upload ' + sum.items + ' ' + sum.payloadBytes);

  const echoes = await new Promise((resolve) => {
    const got = [];
    const call = client.Chat({ deadline: deadline() });
    call.on('data', (m) => got.push(m.seq + ':' + m.text));
    call.on('error', (err) => fail('chat', err));
    call.on('end', () => resolve(got));
    for (let i = 1; i <= 3; i++) call.write({ seq: i, text: 'hi ' + i });
    call.end();
  });
  console.log('chat ' + echoes.join('|'));
  client.close();
}

main().catch((err) => fail('main', err));
