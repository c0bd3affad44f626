// onnxruntime-node checks typed arrays against the host realm's constructors, and jest gives each
// test file its own realm; hand the host's constructors to the test realm so tensors are accepted.
const NodeEnvironment = require('jest-environment-node').TestEnvironment;

const HOST_TYPES = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'Uint8Array',
  'Int8Array',
  'Uint16Array',
  'Int16Array',
  'Uint32Array',
  'Int32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'Uint8ClampedArray',
  'DataView',
];

class EmethEnvironment extends NodeEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of HOST_TYPES) this.global[name] = globalThis[name];
  }
}

module.exports = EmethEnvironment;
