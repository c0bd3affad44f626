// Over 300 lines because it is the CKKS wrapper: node-seal objects' lifetimes (every one freed on every path) are easiest to check in one place.
/**
 * The CKKS implementation of lib/ckks.ts on SEAL (node-seal 6.0.3, WebAssembly).
 *
 * Memory: every SEAL object lives in the wasm heap, which JS's garbage collector cannot see and
 * which never shrinks. So each call creates its SEAL objects in a Scope and deletes them before it
 * returns, whatever happens; only the context, encoder and evaluator live as long as the instance.
 * One node-seal module (one wasm heap) is shared by every instance in the process.
 *
 * SEAL must never throw: node-seal 6 does not unwind a failed call, so each SEAL exception leaks
 * its temporaries (~8 MiB measured) and ~77 of them hang the module (see ckks-seal-check.ts). Every
 * input is therefore checked in JS first — our envelope (ckks-format.ts: magic, key id, sha-256),
 * then SEAL's own format, coefficient by coefficient — and every operation's preconditions (levels,
 * scales, magnitudes, no exact cancellation) are checked before the call.
 *
 * SEAL objects are serialized without compression: zstd saves ~16% of a ciphertext but costs ~8 ms
 * per ciphertext (2 s per million values) on save, and only the uncompressed form can be checked
 * before SEAL loads it.
 */
import SEAL from 'node-seal';
import type { SEALLibrary } from 'node-seal/implementation/seal';
import { EmethError } from '../../lib/errors';
import {
  CKKS_PARAMS,
  type Ckks,
  type CkksKeyPair,
  type CkksParams,
  type WeightedCiphertext,
} from '../../lib/ckks';
import {
  encodeBundle,
  encodeSecretKey,
  keyIdOf,
  parseBundle,
  parseSecretKey,
  type ParsedBundle,
} from './ckks-format';
import {
  checkCiphertextBytes,
  checkPublicKeyBytes,
  checkSecretKeyBytes,
  type CiphertextInfo,
  type SealLevel,
  type SealShape,
} from './ckks-seal-check';

type PlainText = ReturnType<SEALLibrary['PlainText']>;
type Context = ReturnType<SEALLibrary['Context']>;
type ContextData = Context['keyContextData'];

/** Integer weights up to this size are applied at scale 1 (exact, no level used); larger or
 * fractional ones at the full scale followed by a rescale. */
const MAX_EXACT_INTEGER_WEIGHT = 2 ** 31;
/** Bound on |weight| at the full scale: weight × scale stays far below every level's modulus. */
const MAX_WEIGHT = 2 ** 40;
/** Bound on |value|: value × scale × slots stays far below the 140-bit modulus of a fresh ciphertext. */
const MAX_ABS_VALUE = 2 ** 60;

export class CkksError extends EmethError {}

let sealLoading: Promise<SEALLibrary> | undefined;

/** The process's node-seal module (its wasm instance is created once: ~75 ms). */
export function loadSeal(): Promise<SEALLibrary> {
  sealLoading ??= (SEAL as unknown as () => Promise<SEALLibrary>)();
  return sealLoading;
}

export async function createCkks(params: CkksParams = CKKS_PARAMS): Promise<Ckks> {
  const seal = await loadSeal();
  const scale = 2 ** params.scaleBits;
  const { slots } = params;
  if (slots !== params.polyModulusDegree / 2) {
    throw new CkksError(
      'CKKS_PARAMS',
      `CKKS has N/2 = ${params.polyModulusDegree / 2} slots, params say ${slots}`,
    );
  }

  // Long-lived objects: freed by close().
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  const moduli = seal.CoeffModulus.Create(params.polyModulusDegree, Int32Array.from(params.coeffModulusBits));
  parms.setPolyModulusDegree(params.polyModulusDegree);
  parms.setCoeffModulus(moduli);
  moduli.delete();
  const context: Context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  if (!context.parametersSet()) {
    context.delete();
    parms.delete();
    throw new CkksError('CKKS_PARAMS', `SEAL rejects ${describe(params)} at 128-bit security`);
  }
  const shape = sealShapeOf(context, params);
  const encoder = seal.CKKSEncoder(context);
  const evaluator = seal.Evaluator(context);
  let closed = false;

  function open(): void {
    if (closed) {
      throw new CkksError('CKKS_CLOSED', 'this Ckks instance was closed; create another with createCkks()');
    }
  }

  /** Loads bytes that a check* function has passed (so SEAL's own check passes too). */
  function load(into: { loadArray(c: Context, b: Uint8Array): void }, bytes: Uint8Array, what: string): void {
    sealCall(`loading ${what}`, () => into.loadArray(context, bytes));
  }

  function generateKeys(): CkksKeyPair {
    open();
    const scope = new Scope();
    try {
      const keygen = scope.add(seal.KeyGenerator(context));
      const publicKey = scope.add(keygen.createPublicKey()).saveArray(seal.ComprModeType.none);
      const secret = scope.add(keygen.secretKey()).saveArray(seal.ComprModeType.none);
      return { publicKey, secretKey: encodeSecretKey(keyIdOf(publicKey), secret) };
    } finally {
      scope.free();
    }
  }

  function encrypt(publicKey: Uint8Array, values: Float64Array): Uint8Array {
    open();
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!(Math.abs(v) <= MAX_ABS_VALUE)) {
        throw new CkksError(
          'CKKS_VALUE',
          `value ${i} is ${v}; CKKS encrypts finite numbers of magnitude ≤ 2^60 only`,
        );
      }
    }
    checkPublicKeyBytes(
      publicKey,
      shape,
      `public key (${publicKey.byteLength} bytes; pass the publicKey Ckks.generateKeys returned, unaltered)`,
    );
    const scope = new Scope();
    try {
      const pk = scope.add(seal.PublicKey());
      load(pk, publicKey, 'the public key');
      const encryptor = scope.add(seal.Encryptor(context, pk));
      const plain = scope.add(seal.PlainText());
      const cipher = scope.add(seal.CipherText());
      const parts: Uint8Array[] = [];
      for (let start = 0; start < values.length; start += slots) {
        // The encoder pads a short (last) chunk with zeros.
        const chunk = values.slice(start, Math.min(start + slots, values.length));
        encoder.encode(chunk, scale, plain);
        encryptor.encrypt(plain, cipher);
        parts.push(cipher.saveArray(seal.ComprModeType.none));
      }
      return encodeBundle(keyIdOf(publicKey), values.length, parts);
    } finally {
      scope.free();
    }
  }

  function weightedSum(parts: readonly WeightedCiphertext[]): Uint8Array {
    open();
    if (parts.length === 0) throw new CkksError('CKKS_EMPTY', 'weightedSum needs at least one ciphertext');
    const bundles = parts.map((p, i) => parseBundle(p.ciphertext, slots, `part ${i} of weightedSum`));
    checkCompatible(bundles);
    parts.forEach((p, i) => {
      if (!(Math.abs(p.weight) <= MAX_WEIGHT)) {
        throw new CkksError(
          'CKKS_WEIGHT',
          `part ${i} has weight ${p.weight}; weights must be finite numbers of magnitude ≤ 2^40`,
        );
      }
    });
    const groups = groupByWeight(parts, bundles);
    if (groups.length === 0) {
      throw new CkksError(
        'CKKS_WEIGHT',
        'every weight is 0: the weighted sum is empty; give at least one part a non-zero weight',
      );
    }
    // Integer weights multiply at scale 1: exact, and the result keeps its level and scale, so sums
    // of sums stay possible. Any fractional weight needs the full scale and a rescale for all
    // groups, so that every term ends at the same level and scale and the terms add.
    const exact = groups.every(
      (g) => Number.isInteger(g.weight) && Math.abs(g.weight) <= MAX_EXACT_INTEGER_WEIGHT,
    );
    // Every ciphertext that will be used is checked, and its level and scale read, before SEAL
    // sees any of them.
    const used = groups.flatMap((g) => g.members);
    const infos = new Map<number, CiphertextInfo[]>(
      used.map((i) => [
        i,
        bundles[i]!.ciphertexts.map((c, k) => checkCiphertextBytes(c, shape, `ciphertext ${k} of part ${i}`)),
      ]),
    );
    const first = bundles[used[0]!]!;
    for (let k = 0; k < first.count; k++) checkAlignment(infos, k, exact, params.scaleBits, shape);

    const scope = new Scope();
    try {
      const acc = scope.add(seal.CipherText());
      const tmp = scope.add(seal.CipherText());
      const total = scope.add(seal.CipherText());
      const weights = new Map<number, PlainText>();
      const out: Uint8Array[] = [];
      for (let k = 0; k < first.count; k++) {
        if (k === 0) {
          // Weight plaintexts must sit at the inputs' level: read it off the first ciphertext.
          load(tmp, first.ciphertexts[0]!, 'ciphertext 0');
          const parmsId = scope.add(tmp.parmsId);
          for (const g of groups) {
            if (exact && g.weight === 1) continue;
            const pt = scope.add(seal.PlainText());
            encoder.encode(new Float64Array(slots).fill(g.weight), exact ? 1 : scale, pt);
            evaluator.plainModSwitchTo(pt, parmsId, pt);
            weights.set(g.weight, pt);
          }
        }
        groups.forEach((g, gi) => {
          const [head, ...rest] = g.members;
          load(acc, bundles[head!]!.ciphertexts[k]!, `ciphertext ${k} of part ${head}`);
          for (const m of rest) {
            load(tmp, bundles[m]!.ciphertexts[k]!, `ciphertext ${k} of part ${m}`);
            sealCall(`adding ciphertext ${k} of part ${m}`, () => evaluator.add(acc, tmp, acc));
          }
          const pt = weights.get(g.weight);
          if (pt) {
            sealCall(`weighting ciphertext ${k}`, () => evaluator.multiplyPlain(acc, pt, acc));
            if (!exact) sealCall(`rescaling ciphertext ${k}`, () => evaluator.rescaleToNext(acc, acc));
          }
          if (gi === 0) total.copy(acc);
          else sealCall(`adding the groups of ciphertext ${k}`, () => evaluator.add(total, acc, total));
        });
        out.push(total.saveArray(seal.ComprModeType.none));
      }
      return encodeBundle(first.keyId, first.length, out);
    } finally {
      scope.free();
    }
  }

  function decrypt(secretKey: Uint8Array, ciphertext: Uint8Array, length: number): Float64Array {
    open();
    const sk = parseSecretKey(secretKey);
    const bundle = parseBundle(ciphertext, slots);
    if (bundle.keyId !== sk.keyId) {
      throw new CkksError(
        'CKKS_WRONG_KEY',
        `ciphertext was encrypted for key ${bundle.keyId}, not ${sk.keyId}`,
      );
    }
    if (!Number.isInteger(length) || length < 0 || length > bundle.length) {
      throw new CkksError(
        'CKKS_LENGTH',
        `cannot decrypt ${length} values: the ciphertext holds ${bundle.length} (ask for an integer in 0..${bundle.length})`,
      );
    }
    checkSecretKeyBytes(sk.sealBytes, shape, 'secret key');
    const needed = Math.ceil(length / slots);
    for (let k = 0; k < needed; k++) checkCiphertextBytes(bundle.ciphertexts[k]!, shape, `ciphertext ${k}`);
    const scope = new Scope();
    try {
      const key = scope.add(seal.SecretKey());
      load(key, sk.sealBytes, 'the secret key');
      const decryptor = scope.add(seal.Decryptor(context, key));
      const cipher = scope.add(seal.CipherText());
      const plain = scope.add(seal.PlainText());
      const out = new Float64Array(length);
      for (let k = 0; k < needed; k++) {
        load(cipher, bundle.ciphertexts[k]!, `ciphertext ${k}`);
        decryptor.decrypt(cipher, plain);
        const values = encoder.decode(plain) as Float64Array;
        out.set(values.subarray(0, Math.min(slots, length - k * slots)), k * slots);
      }
      return out;
    } finally {
      scope.free();
    }
  }

  return {
    params,
    generateKeys,
    encrypt,
    weightedSum,
    decrypt,
    close() {
      if (closed) return;
      closed = true;
      evaluator.delete();
      encoder.delete();
      context.delete();
      parms.delete();
    },
  };
}

// ---------------------------------------------------------------------------------------------

const levelHint = 'weightedSum takes fresh encryptions, or outputs of the same number of weightedSum rounds';

interface WeightGroup {
  weight: number;
  members: number[];
}

/**
 * Parts with equal weights are added first and multiplied once: multiplying costs ~10× an add, and
 * FedAvg weights (shard sizes from an even split) take at most two distinct values.
 * The same ciphertext given twice is taken once with the summed weight: x − x would be exactly the
 * zero ("transparent") ciphertext, which SEAL refuses. Weight-0 parts contribute nothing and are
 * left out (SEAL refuses to multiply by zero, too).
 */
function groupByWeight(
  parts: readonly WeightedCiphertext[],
  bundles: readonly ParsedBundle[],
): WeightGroup[] {
  const byDigest = new Map<string, { index: number; weight: number }>();
  parts.forEach((p, i) => {
    const digest = bundles[i]!.digest;
    const seen = byDigest.get(digest);
    if (seen) seen.weight += p.weight;
    else byDigest.set(digest, { index: i, weight: p.weight });
  });
  const groups = new Map<number, number[]>();
  for (const { index, weight } of byDigest.values()) {
    if (weight === 0) continue;
    const members = groups.get(weight) ?? [];
    members.push(index);
    groups.set(weight, members);
  }
  return [...groups].map(([weight, members]) => ({ weight, members }));
}

function checkCompatible(bundles: readonly ParsedBundle[]): void {
  const first = bundles[0]!;
  bundles.forEach((b, i) => {
    if (b.keyId !== first.keyId) {
      throw new CkksError(
        'CKKS_WRONG_KEY',
        `part ${i} was encrypted for key ${b.keyId}, part 0 for key ${first.keyId}; every part of a sum ` +
          `must use the requester's one public key`,
      );
    }
    if (b.length !== first.length) {
      throw new CkksError(
        'CKKS_LENGTH',
        `part ${i} encrypts ${b.length} values, part 0 encrypts ${first.length}; weightedSum adds vectors of one length`,
      );
    }
  });
}

/**
 * The preconditions SEAL would otherwise throw on: ciphertext k of every part at one level and one
 * scale (so they add), and room for the weight's scale and a rescale on the fractional path.
 */
function checkAlignment(
  infos: ReadonlyMap<number, CiphertextInfo[]>,
  k: number,
  exact: boolean,
  scaleBits: number,
  shape: SealShape,
): void {
  const [[headIndex, headInfos]] = [...infos.entries()] as [[number, CiphertextInfo[]]];
  const head = headInfos[k]!;
  for (const [i, info] of infos) {
    const c = info[k]!;
    if (c.primes !== head.primes || c.scale !== head.scale) {
      throw new CkksError(
        'CKKS_LEVEL',
        `ciphertext ${k} of part ${i} has ${c.primes} primes and scale 2^${Math.log2(c.scale).toFixed(3)}, ` +
          `part ${headIndex} has ${head.primes} and 2^${Math.log2(head.scale).toFixed(3)}: they are at different ` +
          `levels or scales; ${levelHint}`,
      );
    }
  }
  if (!exact) {
    const level = shape.dataLevels[head.primes - 1]!;
    if (head.primes < 2 || Math.log2(head.scale) + scaleBits + 2 >= level.bits) {
      throw new CkksError(
        'CKKS_LEVEL',
        `ciphertext ${k} has ${head.primes} prime(s) left: no room for a fractional weight and a rescale; ` +
          `use integer weights (they use no level) or aggregate fresh encryptions`,
      );
    }
  }
}

/** Every level's parms_id and primes, read once from the context (the parameters fix them). */
export function sealShapeOf(context: Context, params: CkksParams): SealShape {
  const levels: SealLevel[] = [];
  let data: ContextData = context.keyContextData;
  for (;;) {
    const parmsId = data.parmsId;
    const moduli = Array.from(data.parms.coeffModulus as unknown as ArrayLike<bigint>, (q) => BigInt(q));
    levels.push({
      parmsId: new Uint8Array(BigUint64Array.from(parmsId.values).buffer),
      moduli,
      bits: moduli.reduce((a, q) => a + q.toString(2).length, 0),
    });
    parmsId.delete();
    if (data.chainIndex === 0) break;
    data = data.nextContextData;
  }
  const [keyLevel, ...dataLevels] = levels;
  if (!keyLevel || dataLevels.length !== params.coeffModulusBits.length - 1) {
    throw new CkksError(
      'CKKS_PARAMS',
      `unexpected modulus chain for ${describe(params)}: ${levels.length} levels`,
    );
  }
  // Walked from the top down; indexed by prime count.
  return { polyModulusDegree: params.polyModulusDegree, keyLevel, dataLevels: dataLevels.reverse() };
}

/** Collects SEAL objects so that one finally frees them all, newest first. */
class Scope {
  private readonly objects: { delete(): void }[] = [];

  add<T extends { delete(): void }>(object: T): T {
    this.objects.push(object);
    return object;
  }

  free(): void {
    while (this.objects.length > 0) {
      try {
        this.objects.pop()!.delete();
      } catch {
        // Already deleted (e.g. consumed by SEAL): nothing left to free.
      }
    }
  }
}

/** The last line of defence: inputs are checked before SEAL sees them, so reaching this is a bug. */
function sealCall<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new CkksError(
      'CKKS_SEAL',
      `SEAL failed ${what} although its inputs passed EMETH's checks (a bug in activities/crypto; ` +
        `the SEAL module may now be unusable, restart the process): ${messageOf(err)}`,
      { cause: err },
    );
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function describe(p: CkksParams): string {
  return `N=${p.polyModulusDegree}, moduli [${p.coeffModulusBits.join(', ')}], scale 2^${p.scaleBits}`;
}
