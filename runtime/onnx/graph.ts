// A small, typed ONNX graph builder. Graph builders for FLUX (transformer, T5, CLIP, autoencoder)
// describe their computation with `g.op(...)`; weights stay in the user's .safetensors files and
// are referenced as external data (file + byte offset), so a 12B checkpoint is never copied.
import path from 'node:path';
import { AttributeType, DataType, type DataTypeId, encodeModel } from './onnx-proto.js';

export type ElementType =
  | 'float32' | 'float16' | 'bfloat16' | 'float8e4m3fn' | 'float8e5m2'
  | 'int64' | 'int32' | 'int8' | 'uint8' | 'uint16' | 'bool' | 'float64';

export const ELEMENT_TYPE_ID: Record<ElementType, DataTypeId> = {
  float32: DataType.FLOAT, float16: DataType.FLOAT16, bfloat16: DataType.BFLOAT16,
  float8e4m3fn: DataType.FLOAT8E4M3FN, float8e5m2: DataType.FLOAT8E5M2,
  int64: DataType.INT64, int32: DataType.INT32, int8: DataType.INT8, uint8: DataType.UINT8, uint16: DataType.UINT16,
  bool: DataType.BOOL, float64: DataType.DOUBLE,
};

export const ELEMENT_BYTES: Record<ElementType, number> = {
  float32: 4, float16: 2, bfloat16: 2, float8e4m3fn: 1, float8e5m2: 1,
  int64: 8, int32: 4, int8: 1, uint8: 1, uint16: 2, bool: 1, float64: 8,
};

/** A dimension is a fixed size or a symbolic name (e.g. 'batch', 'tokens'). */
export type Dim = number | string;

/** Attribute values. Plain numbers must be integers (ONNX INT); wrap floats with `float()`. */
export type AttrValue = number | number[] | string | FloatAttr | FloatsAttr | TensorAttr;
interface FloatAttr { kind: 'float'; value: number }
interface FloatsAttr { kind: 'floats'; value: number[] }
interface TensorAttr { kind: 'tensor'; value: ConstantTensor }
export const float = (value: number): FloatAttr => ({ kind: 'float', value });
export const floats = (value: number[]): FloatsAttr => ({ kind: 'floats', value });
export const tensorAttr = (value: ConstantTensor): TensorAttr => ({ kind: 'tensor', value });

export interface ConstantTensor {
  type: ElementType;
  dims: number[];
  /** Values; int64 accepts number[] or BigInt64Array. */
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | number[] | Float64Array;
}

/** An initializer whose bytes live in a file on disk (a .safetensors tensor, usually). */
export interface ExternalTensor {
  type: ElementType;
  dims: number[];
  /** Absolute path of the file holding the bytes. */
  file: string;
  /** Byte offset of the first element in `file`. */
  offset: number;
  /** Byte length; must equal product(dims) * element size. */
  length: number;
}

export interface OpOptions {
  /** Number of outputs (default 1). With more than one, `op` returns an array. */
  outputs?: number;
  domain?: string;
  /** Names for the outputs (defaults are generated). */
  names?: string[];
}

let uniqueCounter = 0;

export class GraphBuilder {
  private nodes: object[] = [];
  private inputs: object[] = [];
  private outputs: object[] = [];
  private constants: object[] = [];
  private externals: { name: string; tensor: ExternalTensor }[] = [];
  private names = new Set<string>();
  private counter = 0;
  private usesMicrosoftDomain = false;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`; while (this.names.has(n));
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`internal error: graph '${this.name}' defines '${name}' twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, type: ElementType, dims: Dim[]): string {
    this.inputs.push(valueInfo(this.claim(name), type, dims));
    return name;
  }

  /** Marks an existing value as a graph output (renamed through Identity when names differ). */
  output(value: string, name: string, type: ElementType, dims: Dim[]): string {
    if (value !== name) this.op('Identity', [value], {}, { names: [name] });
    this.outputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** An inline constant initializer (small tensors only: shapes, scalars, lookup tables). */
  constant(tensor: ConstantTensor, prefix = 'const'): string {
    const name = this.fresh(prefix);
    this.constants.push(tensorProto(name, tensor));
    return name;
  }

  /** Shorthand constants. */
  scalar(value: number, type: ElementType = 'float32'): string {
    return this.constant({ type, dims: [], data: type === 'int64' ? [value] : [value] }, 'scalar');
  }
  ints(values: number[]): string {
    return this.constant({ type: 'int64', dims: [values.length], data: values }, 'ints');
  }
  floats(values: number[], dims: number[] = [values.length]): string {
    return this.constant({ type: 'float32', dims, data: Float32Array.from(values) }, 'floats');
  }

  /** An initializer pointing into a file on disk (no bytes are copied into the model). */
  external(name: string, tensor: ExternalTensor): string {
    const expected = tensor.dims.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[tensor.type];
    if (expected !== tensor.length) {
      throw new Error(`internal error: external tensor '${name}' is ${tensor.length} bytes, its shape needs ${expected}`);
    }
    this.externals.push({ name: this.claim(name), tensor });
    return name;
  }

  op(type: string, inputs: string[], attrs?: Record<string, AttrValue>, opts?: OpOptions & { outputs?: 1 }): string;
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> | undefined, opts: OpOptions): string | string[];
  op(type: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: OpOptions = {}): string | string[] {
    const count = opts.outputs ?? 1;
    const outs = opts.names ? opts.names.map((n) => this.claim(n)) : Array.from({ length: count }, () => this.fresh(type));
    const node: Record<string, unknown> = {
      input: inputs,
      output: outs,
      name: `${type}_${uniqueCounter++}`,
      op_type: type,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    };
    if (opts.domain) {
      node.domain = opts.domain;
      if (opts.domain === 'com.microsoft') this.usesMicrosoftDomain = true;
    }
    this.nodes.push(node);
    return count === 1 && !opts.names ? outs[0]! : (count === 1 ? outs[0]! : outs);
  }

  /** Like `op` but always returns all outputs. */
  ops(type: string, inputs: string[], attrs: Record<string, AttrValue>, count: number, domain?: string): string[] {
    return this.op(type, inputs, attrs, { outputs: count, ...(domain ? { domain } : {}) }) as string[];
  }

  /** Files referenced as external data. */
  get externalFiles(): string[] {
    return [...new Set(this.externals.map((e) => e.tensor.file))];
  }

  /**
   * Serializes the model. External data locations are written relative to `baseDir`, which must
   * contain every referenced file: onnxruntime refuses locations that leave the model's folder.
   * Load the bytes with `session.model_external_initializers_file_folder_path = baseDir`.
   */
  toBytes(opts: { baseDir?: string; opset?: number; metadata?: Record<string, string> } = {}): Uint8Array {
    const baseDir = opts.baseDir ?? commonDir(this.externalFiles);
    const initializer = [
      ...this.constants,
      ...this.externals.map(({ name, tensor }) => {
        const rel = path.relative(baseDir, tensor.file);
        if (rel.startsWith('..') || path.isAbsolute(rel)) {
          throw new Error(`internal error: weight file ${tensor.file} is outside ${baseDir}`);
        }
        return {
          name,
          dims: tensor.dims,
          data_type: ELEMENT_TYPE_ID[tensor.type],
          data_location: 1,
          external_data: [
            { key: 'location', value: rel.split(path.sep).join('/') },
            { key: 'offset', value: String(tensor.offset) },
            { key: 'length', value: String(tensor.length) },
          ],
        };
      }),
    ];
    const opset_import: object[] = [{ domain: '', version: opts.opset ?? 21 }];
    if (this.usesMicrosoftDomain) opset_import.push({ domain: 'com.microsoft', version: 1 });
    return encodeModel({
      ir_version: 10,
      producer_name: 'schnell-studio',
      producer_version: '1',
      opset_import,
      metadata_props: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer },
    });
  }
}

/** The deepest folder containing every file (the files' own folder when there is one). */
export function commonDir(files: string[]): string {
  if (files.length === 0) return process.cwd();
  let dir = path.dirname(path.resolve(files[0]!));
  for (const f of files.slice(1)) {
    const abs = path.resolve(f);
    while (path.relative(dir, abs).startsWith('..')) dir = path.dirname(dir);
  }
  return dir;
}

function valueInfo(name: string, type: ElementType, dims: Dim[]): object {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: ELEMENT_TYPE_ID[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): object {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`internal error: attribute '${name}' = ${v} must be wrapped with float()`);
    return { name, type: AttributeType.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) {
    if (v.some((x) => !Number.isInteger(x))) throw new Error(`internal error: attribute '${name}' needs floats()`);
    return { name, type: AttributeType.INTS, ints: v };
  }
  if (v.kind === 'float') return { name, type: AttributeType.FLOAT, f: v.value };
  if (v.kind === 'floats') return { name, type: AttributeType.FLOATS, floats: v.value };
  return { name, type: AttributeType.TENSOR, t: tensorProto(name, v.value) };
}

function tensorProto(name: string, t: ConstantTensor): object {
  return { name, dims: t.dims, data_type: ELEMENT_TYPE_ID[t.type], raw_data: rawBytes(t) };
}

function rawBytes(t: ConstantTensor): Uint8Array {
  const d = t.data;
  let out: ArrayBufferView;
  switch (t.type) {
    case 'float32': out = d instanceof Float32Array ? d : Float32Array.from(d as number[]); break;
    case 'float64': out = d instanceof Float64Array ? d : Float64Array.from(d as number[]); break;
    case 'int64': out = d instanceof BigInt64Array ? d : BigInt64Array.from(Array.from(d as number[], (x) => BigInt(x))); break;
    case 'int32': out = d instanceof Int32Array ? d : Int32Array.from(d as number[]); break;
    case 'uint8': case 'bool': case 'float8e4m3fn': case 'float8e5m2':
      out = d instanceof Uint8Array ? d : Uint8Array.from(d as number[]); break;
    case 'int8': out = d instanceof Int8Array ? d : Int8Array.from(d as number[]); break;
    case 'float16': case 'bfloat16': case 'uint16':
      out = d instanceof Uint16Array ? d : Uint16Array.from(d as number[]); break;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
