#!/usr/bin/env node
// Runs one TF.js graph model (a YOLO Studio `*_web_model/` folder) for the Python TfJsBackend.
//
//   node runner.js MODEL_DIR [cpu|wasm]
//
// Protocol (stdout carries nothing else; TF.js's own notices go to stderr):
//   ready:    one JSON line {"ready": true, "backend": ..., "input": {...}, "outputs": [...]}
//             or {"error": "..."} when the model cannot be loaded (then the runner exits).
//   request:  one JSON line {"shape": [N, H, W, C]} on stdin, then N*H*W*C float32 values
//             (little-endian bytes).
//   response: one JSON line {"outputs": [{"name": ..., "shape": [...]}, ...]} on stdout, then
//             each output's float32 values in that order; or {"error": "..."} alone.
// The model is read from its files into memory (tf.io.fromMemory): no fetch, no network.
'use strict';

const fs = require('fs');
const path = require('path');

// stdout is the protocol channel: anything TF.js logs goes to stderr instead.
console.log = (...args) => process.stderr.write(args.join(' ') + '\n');
console.warn = console.log;
console.info = console.log;

const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

function send(header, buffers = []) {
  process.stdout.write(JSON.stringify(header) + '\n');
  for (const buffer of buffers) process.stdout.write(buffer);
}

function readModel(folder) {
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
  const specs = [];
  const parts = [];
  for (const group of manifest.weightsManifest) {
    specs.push(...group.weights);
    for (const file of group.paths) parts.push(fs.readFileSync(path.join(folder, file)));
  }
  const weights = Buffer.concat(parts);
  const artifacts = {
    modelTopology: manifest.modelTopology,
    format: manifest.format,
    generatedBy: manifest.generatedBy,
    convertedBy: manifest.convertedBy,
    signature: manifest.signature,
    userDefinedMetadata: manifest.userDefinedMetadata,
    weightSpecs: specs,
    weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.length),
  };
  return { manifest, artifacts };
}

async function chooseBackend(wanted) {
  if (wanted === 'wasm') {
    try {
      require('@tensorflow/tfjs-backend-wasm');
      if (await tf.setBackend('wasm')) return 'wasm';
    } catch (error) {
      process.stderr.write(`wasm backend unavailable (${error.message}); using cpu\n`);
    }
  }
  await tf.setBackend('cpu');
  return 'cpu';
}

// The signature's outputs in name order (output0, output1 ...), as graph node names.
function outputNodes(manifest) {
  const outputs = (manifest.signature && manifest.signature.outputs) || {};
  const names = Object.keys(outputs).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.map((name) => ({ name, node: outputs[name].name.replace(/:0$/, '') }));
}

function inputSpec(manifest) {
  const inputs = (manifest.signature && manifest.signature.inputs) || {};
  const [name] = Object.keys(inputs);
  if (!name) return null;
  const dims = (inputs[name].tensorShape.dim || []).map((d) => Number(d.size));
  return { name, node: inputs[name].name.replace(/:0$/, ''), shape: dims };
}

class RequestReader {
  constructor(onRequest) {
    this.chunks = [];
    this.size = 0;
    this.header = null;
    this.onRequest = onRequest;
    this.busy = Promise.resolve();
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.drain();
  }

  take(count) {
    const all = Buffer.concat(this.chunks, this.size);
    const head = all.subarray(0, count);
    const rest = all.subarray(count);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return head;
  }

  drain() {
    for (;;) {
      if (this.header === null) {
        const all = Buffer.concat(this.chunks, this.size);
        const end = all.indexOf(10); // '\n'
        if (end < 0) return;
        this.chunks = [all];
        this.header = JSON.parse(this.take(end + 1).toString('utf8'));
      }
      const bytes = 4 * this.header.shape.reduce((a, b) => a * b, 1);
      if (this.size < bytes) return;
      const body = Buffer.from(this.take(bytes)); // own copy, 4-byte aligned
      const header = this.header;
      this.header = null;
      this.busy = this.busy.then(() => this.onRequest(header, body));
    }
  }
}

async function main() {
  const [folder, wanted = 'wasm'] = process.argv.slice(2);
  let model;
  let manifest;
  let backend;
  try {
    backend = await chooseBackend(wanted);
    const read = readModel(folder);
    manifest = read.manifest;
    model = await converter.loadGraphModel(tf.io.fromMemory(read.artifacts));
  } catch (error) {
    send({ error: `cannot load ${folder}: ${error.message}` });
    process.exit(1);
  }
  const input = inputSpec(manifest);
  const outputs = outputNodes(manifest);
  const run = (header, body) => {
    try {
      const values = new Float32Array(body.buffer, body.byteOffset, body.length / 4);
      const results = tf.tidy(() => {
        const images = tf.tensor(values, header.shape, 'float32');
        const feed = input ? { [input.node]: images } : images;
        const got = model.execute(feed, outputs.map((o) => o.node));
        return Array.isArray(got) ? got : [got];
      });
      const described = results.map((t, i) => ({ name: outputs[i].name, shape: t.shape }));
      const buffers = results.map((t) => {
        const data = t.dataSync();
        return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      });
      tf.dispose(results);
      send({ outputs: described }, buffers);
    } catch (error) {
      send({ error: error.message });
    }
  };
  const reader = new RequestReader(run);
  process.stdin.on('data', (chunk) => reader.push(chunk));
  process.stdin.on('end', () => reader.busy.then(() => process.exit(0)));
  send({ ready: true, backend, input, outputs: outputs.map((o) => o.name) });
}

main();
