#!/usr/bin/env python3
"""Makes examples/fixtures/: real exporter outputs and datasets for EMETH's format and model tests.

Everything comes from scikit-learn's bundled datasets (digits, iris: no download), seeded random
data and the real exporters (skl2onnx, torch.onnx.export, tf2onnx, onnx.helper), with fixed seeds so a
rerun with the versions in VERSIONS.txt gives the same bytes. Run it from a virtual environment
outside the repository:

    python3 -m venv ~/.cache/emeth-fixtures/venv
    ~/.cache/emeth-fixtures/venv/bin/pip install numpy scikit-learn skl2onnx onnx onnxruntime pyarrow torch onnxscript
    ~/.cache/emeth-fixtures/venv/bin/pip install tensorflow-cpu tf2onnx   # optional
    ~/.cache/emeth-fixtures/venv/bin/python scripts/make-fixtures.py

PyTorch and TensorFlow are optional: without them the torch-* / tf-* models are skipped and the
manifest says so (`skipped`).
The TypeScript tests (test/unit/fixtures.test.ts) read manifest.json, which this script writes.
"""
from __future__ import annotations

import json
import os
import platform
import random
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
from onnx import TensorProto, helper
from sklearn.datasets import load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.tree import DecisionTreeRegressor
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

# tf2onnx names deduplicated constants in set order, which changes with Python's hash seed: run with
# a fixed one (the script restarts itself once) so reruns give the same bytes.
if __name__ == '__main__' and os.environ.get('PYTHONHASHSEED') != '0':
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, 'PYTHONHASHSEED': '0'})

SEED = 20261201
OUT = Path(__file__).resolve().parent.parent / 'examples' / 'fixtures'
# Opsets onnxruntime 1.2x/1.3x all run; skl2onnx would otherwise pick the newest onnx knows.
SKL_OPSET = {'': 17, 'ai.onnx.ml': 3}
TORCH_OPSET = 18
# Rows of digits kept: enough for every class, small enough for committed files (< 200 KB each).
DIGITS_ROWS = 256

random.seed(SEED)
np.random.seed(SEED)

manifest: dict = {'seed': SEED, 'datasets': {}, 'models': [], 'skipped': []}


def rel(p: Path) -> str:
    return p.relative_to(OUT).as_posix()


def dataset(path: Path, fmt: str, holds: dict, note: str) -> None:
    manifest['datasets'][rel(path)] = {'format': fmt, 'holds': holds, 'note': note}


# ---------------------------------------------------------------- data
digits = load_digits()
X_digits = digits.data[:DIGITS_ROWS].astype(np.float32)  # [256, 64], values 0..16
y_digits = digits.target[:DIGITS_ROWS].astype(np.int64)  # [256]
iris = load_iris()
X_iris = iris.data.astype(np.float64)  # [150, 4], one-decimal measurements
y_iris = iris.target.astype(np.int64)
pixel_names = [f'pixel_{i}' for i in range(64)]
iris_names = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width']

OUT.mkdir(parents=True, exist_ok=True)
(OUT / 'data').mkdir(exist_ok=True)
(OUT / 'models').mkdir(exist_ok=True)
(OUT / 'expected').mkdir(exist_ok=True)


def save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, arr, allow_pickle=False)


save_npy(OUT / 'data/digits-X.npy', X_digits)
dataset(OUT / 'data/digits-X.npy', 'npy', {'X': 'digits X float32 [256,64]'}, 'np.save, format 1.0, little-endian')
save_npy(OUT / 'data/digits-y.npy', y_digits)
dataset(OUT / 'data/digits-y.npy', 'npy', {'y': 'digits y int64 [256]'}, 'np.save')
np.savez(OUT / 'data/digits.npz', X=X_digits, y=y_digits)
dataset(OUT / 'data/digits.npz', 'npz', {'X': 'float32 [256,64]', 'y': 'int64 [256]'}, 'np.savez: stored members, zip64 headers')
np.savez_compressed(OUT / 'data/digits-compressed.npz', X=X_digits, y=y_digits)
dataset(OUT / 'data/digits-compressed.npz', 'npz', {'X': 'float32 [256,64]', 'y': 'int64 [256]'}, 'np.savez_compressed: deflated members')

# Images for the CNN: digits as [N, 1, 8, 8].
images = X_digits.reshape(-1, 1, 8, 8)
save_npy(OUT / 'data/digits-images.npy', images)
dataset(OUT / 'data/digits-images.npy', 'npy', {'X': 'float32 [256,1,8,8]'}, 'digits reshaped to images')

# Big-endian float64 and a 3-D int32 array exercise the reader's byte swapping and ranks.
save_npy(OUT / 'data/iris-X-be.npy', X_iris.astype('>f8'))
dataset(OUT / 'data/iris-X-be.npy', 'npy', {'X': 'iris X float64 [150,4], big-endian'}, "np.save of astype('>f8')")
save_npy(OUT / 'data/small-int32-3d.npy', np.arange(24, dtype=np.int32).reshape(2, 3, 4))
dataset(OUT / 'data/small-int32-3d.npy', 'npy', {'X': 'int32 [2,3,4] = arange(24)'}, 'rank 3')
save_npy(OUT / 'data/small-bool.npy', np.array([True, False, True, True]))
dataset(OUT / 'data/small-bool.npy', 'npy', {'X': 'bool [4]'}, '|b1')
save_npy(OUT / 'data/small-float16.npy', np.array([[0.5, -2.0, 65504.0], [1e-4, 0.0, -0.0]], dtype=np.float16))
dataset(OUT / 'data/small-float16.npy', 'npy', {'X': 'float16 [2,3]'}, '<f2')
save_npy(OUT / 'data/small-scalar.npy', np.array(3.25, dtype=np.float64))
dataset(OUT / 'data/small-scalar.npy', 'npy', {'X': 'float64 [] (0-d)'}, 'shape ()')
save_npy(OUT / 'data/small-fortran.npy', np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
dataset(OUT / 'data/small-fortran.npy', 'npy', {'X': 'float32 [2,3], Fortran order'}, 'to be refused')
# Format 2.0: numpy picks it only for huge headers; write one explicitly.
with open(OUT / 'data/small-v2.npy', 'wb') as f:
    arr = np.arange(6, dtype=np.int64).reshape(3, 2)
    np.lib.format.write_array(f, arr, version=(2, 0))
dataset(OUT / 'data/small-v2.npy', 'npy', {'X': 'int64 [3,2] = arange(6), format 2.0'}, 'write_array(version=(2,0))')
with open(OUT / 'data/small-v3.npy', 'wb') as f:
    np.lib.format.write_array(f, np.array([1, -2, 3], dtype=np.int8), version=(3, 0))
dataset(OUT / 'data/small-v3.npy', 'npy', {'X': 'int8 [3] = [1,-2,3], format 3.0'}, 'write_array(version=(3,0))')

# CSV: a header row, 64 float columns written as Python floats ("5.0") and an int label column.
with open(OUT / 'data/digits.csv', 'w', newline='') as f:
    f.write(','.join(pixel_names + ['target']) + '\n')
    for row, label in zip(X_digits.tolist(), y_digits.tolist()):
        f.write(','.join(repr(v) for v in row) + f',{label}\n')
dataset(OUT / 'data/digits.csv', 'csv', {'pixel_0..pixel_63': 'float64', 'target': 'int64'}, 'comma, header')
# Iris with ';' delimiters, quoted header names and CRLF line ends, as spreadsheet exports do.
with open(OUT / 'data/iris-semicolon.csv', 'w', newline='') as f:
    f.write(';'.join(f'"{n}"' for n in iris_names + ['species']) + '\r\n')
    for row, label in zip(X_iris.tolist(), y_iris.tolist()):
        f.write(';'.join(repr(v) for v in row) + f';{label}\r\n')
dataset(OUT / 'data/iris-semicolon.csv', 'csv', {n: 'float64' for n in iris_names} | {'species': 'int64'}, "';', quoted header, CRLF")

# Parquet (pyarrow): wide numeric columns with snappy; an embedding column (fixed-size list) with zstd;
# iris uncompressed.
wide = pa.table({**{n: pa.array(X_digits[:, i]) for i, n in enumerate(pixel_names)}, 'target': pa.array(y_digits)})
pq.write_table(wide, OUT / 'data/digits.parquet', compression='snappy')
dataset(OUT / 'data/digits.parquet', 'parquet', {'pixel_0..pixel_63': 'float32', 'target': 'int64'}, 'pyarrow, snappy')
emb = pa.FixedSizeListArray.from_arrays(pa.array(X_digits.reshape(-1)), 64)
pq.write_table(pa.table({'X': emb, 'y': pa.array(y_digits)}), OUT / 'data/digits-embedding.parquet', compression='zstd')
dataset(OUT / 'data/digits-embedding.parquet', 'parquet', {'X': 'fixed_size_list<float32>[64]', 'y': 'int64'}, 'pyarrow, zstd')
# Several row groups (64 rows each), as large files have: the reader must join them in order.
pq.write_table(pa.table({'X': emb, 'y': pa.array(y_digits)}), OUT / 'data/digits-rowgroups.parquet', compression='zstd',
               row_group_size=64)
dataset(OUT / 'data/digits-rowgroups.parquet', 'parquet', {'X': 'fixed_size_list<float32>[64]', 'y': 'int64'}, 'pyarrow, zstd, 4 row groups of 64')
iris_table = pa.table({**{n: pa.array(X_iris[:, i]) for i, n in enumerate(iris_names)},
                       'species': pa.array(y_iris.astype(np.int32))})
pq.write_table(iris_table, OUT / 'data/iris.parquet', compression='none')
dataset(OUT / 'data/iris.parquet', 'parquet', {n: 'float64' for n in iris_names} | {'species': 'int32'}, 'pyarrow, uncompressed')
mixed = pa.table({
    'f16': pa.array(np.array([0.5, -1.5, 2.0], dtype=np.float16)),
    'i8': pa.array(np.array([-1, 0, 7], dtype=np.int8)),
    'u8': pa.array(np.array([0, 200, 255], dtype=np.uint8)),
    'flag': pa.array([True, False, True]),
    'name': pa.array(['a', 'b', 'c']),
})
pq.write_table(mixed, OUT / 'data/mixed-types.parquet', compression='snappy')
dataset(OUT / 'data/mixed-types.parquet', 'parquet', {'f16': 'float16', 'i8': 'int8', 'u8': 'uint8', 'flag': 'bool', 'name': 'string (refused)'}, 'pyarrow, snappy')
nulls = pa.table({'a': pa.array([1.0, None, 3.0], type=pa.float64())})
pq.write_table(nulls, OUT / 'data/with-null.parquet', compression='snappy')
dataset(OUT / 'data/with-null.parquet', 'parquet', {'a': 'float64 with a null in row 2 (refused)'}, 'pyarrow')


# ---------------------------------------------------------------- models
def run_local(path: Path, feeds: dict, from_path: bool = False) -> dict:
    # From bytes, so error messages carry no local path; a model with external data needs its path
    # (onnxruntime finds the data file next to it).
    sess = ort.InferenceSession(str(path) if from_path else path.read_bytes(), providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


ELEM_DTYPE = {TensorProto.FLOAT: 'float32', TensorProto.DOUBLE: 'float64', TensorProto.FLOAT16: 'float16',
              TensorProto.INT32: 'int32', TensorProto.INT64: 'int64', TensorProto.BOOL: 'bool',
              TensorProto.UINT8: 'uint8', TensorProto.INT8: 'int8'}


def add_model(name: str, model: onnx.ModelProto, exporter: str, kind: str, inputs: dict, feeds: dict | None,
              status: str = 'run', refusal: str | None = None, external_data: bool = False,
              extra: dict | None = None) -> None:
    """inputs: onnx input name -> {dataset, array, shape?}; feeds: the arrays fed to the local run.
    external_data: every initializer goes to models/<name>.onnx.data (onnx's external data)."""
    path = OUT / 'models' / f'{name}.onnx'
    # skl2onnx lists opset imports in set order, which changes with Python's hash seed: sort them.
    imports = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in imports)
    # Input element types, read before external data empties the initializers.
    dtypes = {i.name: ELEM_DTYPE.get(i.type.tensor_type.elem_type, str(i.type.tensor_type.elem_type))
              for i in model.graph.input if i.type.HasField('tensor_type')}
    entry = {'name': name, 'file': rel(path), 'exporter': exporter, 'kind': kind, 'inputs': inputs,
             'outputs': [o.name for o in model.graph.output], 'status': status}
    if external_data:
        data_path = path.with_name(path.name + '.data')
        data_path.unlink(missing_ok=True)  # onnx appends to an existing data file
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_path.name, size_threshold=0)
        entry['externalData'] = rel(data_path)
    else:
        onnx.save_model(model, path)
    if any(d != 'float32' for d in dtypes.values()):
        entry['dtypes'] = dtypes
    if refusal:
        entry['refusal'] = refusal
    if extra:
        entry.update(extra)
    if feeds is not None:
        try:
            outputs = run_local(path, feeds, from_path=external_data)
            # ZipMap's sequence<map> output is no tensor: keep the tensors, name the rest.
            expected = {k: v for k, v in outputs.items() if isinstance(v, np.ndarray) and v.dtype != object}
            if len(expected) < len(outputs):
                entry['nonTensorOutputs'] = sorted(set(outputs) - set(expected))
            exp_path = OUT / 'expected' / f'{name}.npz'
            np.savez(exp_path, **expected)
            entry['expected'] = rel(exp_path)
            entry['expectedShapes'] = {k: [list(v.shape), str(v.dtype)] for k, v in expected.items()}
        except Exception as err:  # e.g. ZipMap's sequence<map> output cannot go in an .npz
            entry['localRunError'] = str(err).splitlines()[0][:300]
    manifest['models'].append(entry)


digits_input = {'X': {'dataset': 'data/digits-X.npy', 'array': 'X'}}
X_type = [('X', FloatTensorType([None, 64]))]

clf = LogisticRegression(max_iter=2000, random_state=SEED).fit(X_digits, y_digits)
add_model('skl-logreg', to_onnx(clf, initial_types=X_type, target_opset=SKL_OPSET, options={id(clf): {'zipmap': False}}),
          'skl2onnx', 'LogisticRegression (LinearClassifier), zipmap=False', digits_input, {'X': X_digits})
add_model('skl-logreg-zipmap', to_onnx(clf, initial_types=X_type, target_opset=SKL_OPSET),
          'skl2onnx', 'LogisticRegression with ZipMap', digits_input, {'X': X_digits}, status='refuse', refusal='ZipMap')

rf = RandomForestClassifier(n_estimators=8, max_depth=6, random_state=SEED).fit(X_digits, y_digits)
add_model('skl-random-forest', to_onnx(rf, initial_types=X_type, target_opset=SKL_OPSET, options={id(rf): {'zipmap': False}}),
          'skl2onnx', 'RandomForestClassifier (TreeEnsembleClassifier), zipmap=False', digits_input, {'X': X_digits})

tree = DecisionTreeRegressor(max_depth=6, random_state=SEED).fit(X_digits, y_digits.astype(np.float64))
add_model('skl-tree-regressor', to_onnx(tree, initial_types=X_type, target_opset=SKL_OPSET),
          'skl2onnx', 'DecisionTreeRegressor (TreeEnsembleRegressor)', digits_input, {'X': X_digits})

ridge = Ridge(alpha=1.0).fit(X_digits, y_digits.astype(np.float64))
add_model('skl-ridge', to_onnx(ridge, initial_types=X_type, target_opset=SKL_OPSET),
          'skl2onnx', 'Ridge (LinearRegressor)', digits_input, {'X': X_digits})

pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=SEED)).fit(X_digits, y_digits)
add_model('skl-scaler-logreg', to_onnx(pipe, initial_types=X_type, target_opset=SKL_OPSET, options={id(pipe.steps[-1][1]): {'zipmap': False}}),
          'skl2onnx', 'Pipeline StandardScaler + LogisticRegression (Scaler + LinearClassifier)', digits_input, {'X': X_digits})

norm = Normalizer(norm='l2').fit(X_digits)
add_model('skl-normalizer', to_onnx(norm, initial_types=X_type, target_opset=SKL_OPSET),
          'skl2onnx', 'Normalizer (l2)', digits_input, {'X': X_digits})

iris_lr = LogisticRegression(max_iter=2000, random_state=SEED).fit(X_iris.astype(np.float32), y_iris)
add_model('skl-iris-logreg', to_onnx(iris_lr, initial_types=[('X', FloatTensorType([None, 4]))], target_opset=SKL_OPSET,
                                     options={id(iris_lr): {'zipmap': False}}),
          'skl2onnx', 'LogisticRegression on iris, zipmap=False',
          {'X': {'dataset': 'data/iris-semicolon.csv', 'columns': iris_names}}, {'X': X_iris.astype(np.float32)})


# Control flow: a Loop that adds X to itself `trip` times (trip is a constant 3).
def loop_model() -> onnx.ModelProto:
    body = helper.make_graph(
        [helper.make_node('Identity', ['cond_in'], ['cond_out']),
         helper.make_node('Add', ['acc_in', 'x_outer'], ['acc_out'])],
        'body',
        [helper.make_tensor_value_info('i', TensorProto.INT64, []),
         helper.make_tensor_value_info('cond_in', TensorProto.BOOL, []),
         helper.make_tensor_value_info('acc_in', TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info('cond_out', TensorProto.BOOL, []),
         helper.make_tensor_value_info('acc_out', TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node('Constant', [], ['trip'], value=helper.make_tensor('t', TensorProto.INT64, [], [3])),
        helper.make_node('Constant', [], ['cond'], value=helper.make_tensor('c', TensorProto.BOOL, [], [True])),
        helper.make_node('Identity', ['X'], ['x_outer']),
        helper.make_node('Mul', ['X', 'zero'], ['acc0']),
        helper.make_node('Loop', ['trip', 'cond', 'acc0'], ['Y'], body=body),
    ]
    graph = helper.make_graph(
        nodes, 'loop', [helper.make_tensor_value_info('X', TensorProto.FLOAT, ['N', 64])],
        [helper.make_tensor_value_info('Y', TensorProto.FLOAT, ['N', 64])],
        initializer=[helper.make_tensor('zero', TensorProto.FLOAT, [], [0.0])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='emeth-make-fixtures')
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


add_model('onnx-loop', loop_model(), 'onnx.helper', 'Loop (control flow): Y = 3·X', digits_input, {'X': X_digits},
          status='refuse', refusal='Loop')


def custom_op_model() -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node('FancyScale', ['X'], ['Y'], domain='com.example.custom')], 'custom',
        [helper.make_tensor_value_info('X', TensorProto.FLOAT, ['N', 64])],
        [helper.make_tensor_value_info('Y', TensorProto.FLOAT, ['N', 64])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17), helper.make_opsetid('com.example.custom', 1)],
                          producer_name='emeth-make-fixtures')
    m.ir_version = 8
    return m


add_model('onnx-custom-op', custom_op_model(), 'onnx.helper', 'op FancyScale in domain com.example.custom',
          digits_input, {'X': X_digits}, status='refuse', refusal='custom domain')


# ---------------------------------------------------------------- every dtype: several inputs and outputs
# Fixed, seeded data (own generators, so the files above do not move when this part changes).
MULTI_ROWS = 48
rng = np.random.default_rng(SEED + 1)
multi = {
    'a': np.round(rng.normal(0.0, 10.0, (MULTI_ROWS, 3)), 6).astype(np.float64),
    'b': rng.integers(-50, 51, (MULTI_ROWS, 3)).astype(np.int32),
    'mask': rng.random((MULTI_ROWS, 3)) < 0.4,
    'h': rng.normal(0.0, 4.0, (MULTI_ROWS, 2)).astype(np.float16),
    'ids': rng.integers(-(2 ** 40), 2 ** 40, MULTI_ROWS).astype(np.int64),
}
# int64 values no float64 holds exactly (2^53 + 1, 2^62 + 1) and an all-false mask row.
multi['ids'][:3] = [2 ** 53 + 1, 2 ** 62 + 1, -(2 ** 62) - 3]
multi['mask'][0] = False
np.savez(OUT / 'data/multi.npz', **multi)
dataset(OUT / 'data/multi.npz', 'npz',
        {'a': 'float64 [48,3]', 'b': 'int32 [48,3]', 'mask': 'bool [48,3]', 'h': 'float16 [48,2]', 'ids': 'int64 [48]'},
        'np.savez: one array per input of onnx-multi-dtype, named as the inputs')
# Parquet: 2-D arrays as fixed_size_list columns (one row holds k values), so every input fits with its dtype.
multi_table = pa.table({
    'a': pa.FixedSizeListArray.from_arrays(pa.array(multi['a'].reshape(-1)), 3),
    'b': pa.FixedSizeListArray.from_arrays(pa.array(multi['b'].reshape(-1)), 3),
    'mask': pa.FixedSizeListArray.from_arrays(pa.array(multi['mask'].reshape(-1)), 3),
    'h': pa.FixedSizeListArray.from_arrays(pa.array(multi['h'].reshape(-1)), 2),
    'ids': pa.array(multi['ids']),
})
pq.write_table(multi_table, OUT / 'data/multi.parquet', compression='snappy')
dataset(OUT / 'data/multi.parquet', 'parquet',
        {'a': 'fixed_size_list<float64>[3]', 'b': 'fixed_size_list<int32>[3]', 'mask': 'fixed_size_list<bool>[3]',
         'h': 'fixed_size_list<float16>[2]', 'ids': 'int64'},
        'pyarrow, snappy: the same arrays as multi.npz, each dtype kept')
# CSV keeps only int64 and float64: one column per item (a_0..a_2 as EMETH's writer names them),
# b and mask (0/1) read back as int64, h as float64 (each float16 value written exactly); cast on binding.
multi_cols = ([f'a_{j}' for j in range(3)] + [f'b_{j}' for j in range(3)] + [f'mask_{j}' for j in range(3)]
              + [f'h_{j}' for j in range(2)] + ['ids'])
with open(OUT / 'data/multi.csv', 'w', newline='') as f:
    f.write(','.join(multi_cols) + '\n')
    for r in range(MULTI_ROWS):
        cells = ([repr(float(v)) for v in multi['a'][r]] + [str(int(v)) for v in multi['b'][r]]
                 + [str(int(v)) for v in multi['mask'][r]] + [repr(float(v)) for v in multi['h'][r]]
                 + [str(int(multi['ids'][r]))])
        f.write(','.join(cells) + '\n')
dataset(OUT / 'data/multi.csv', 'csv',
        {'a_0..a_2': 'float64', 'b_0..b_2': 'int64 (int32 in the model)', 'mask_0..mask_2': 'int64 0/1 (bool in the model)',
         'h_0..h_1': 'float64 (float16 in the model; every value exact)', 'ids': 'int64'},
        'comma, header: CSV has no int32, bool nor float16 column, so those read back wider and are cast to the input type')

MULTI_W = np.array([[0.5, -1.0], [0.25, 2.0], [-0.125, 1.5]], dtype=np.float32)


def multi_dtype_model() -> onnx.ModelProto:
    T = TensorProto
    nodes = [
        helper.make_node('Cast', ['b'], ['b_f64'], to=T.DOUBLE),
        helper.make_node('Where', ['mask', 'a', 'b_f64'], ['picked']),
        helper.make_node('Cast', ['b'], ['b_i64'], to=T.INT64),
        helper.make_node('ReduceSum', ['b_i64', 'axis1'], ['total'], keepdims=0),
        helper.make_node('Abs', ['b'], ['bAbs']),
        helper.make_node('Mul', ['h', 'two_f16'], ['h2']),
        helper.make_node('Cast', ['mask'], ['mask_i32'], to=T.INT32),
        helper.make_node('ReduceMax', ['mask_i32'], ['mask_max'], axes=[1], keepdims=0),
        helper.make_node('Greater', ['mask_max', 'zero_i32'], ['any']),
        helper.make_node('Add', ['ids', 'one_i64'], ['idsPlus']),
        helper.make_node('Cast', ['a'], ['a_f32'], to=T.FLOAT),
        helper.make_node('MatMul', ['a_f32', 'W'], ['f32']),
    ]
    inits = [
        helper.make_tensor('axis1', T.INT64, [1], [1]),
        helper.make_tensor('two_f16', T.FLOAT16, [], np.array([2.0], dtype=np.float16).view(np.uint16).tolist()),
        helper.make_tensor('zero_i32', T.INT32, [], [0]),
        helper.make_tensor('one_i64', T.INT64, [], [1]),
        onnx.numpy_helper.from_array(MULTI_W, 'W'),
    ]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes, 'multi_dtype',
        [vi('a', T.DOUBLE, ['N', 3]), vi('b', T.INT32, ['N', 3]), vi('mask', T.BOOL, ['N', 3]),
         vi('h', T.FLOAT16, ['N', 2]), vi('ids', T.INT64, ['N'])],
        [vi('picked', T.DOUBLE, ['N', 3]), vi('total', T.INT64, ['N']), vi('bAbs', T.INT32, ['N', 3]),
         vi('h2', T.FLOAT16, ['N', 2]), vi('any', T.BOOL, ['N']), vi('idsPlus', T.INT64, ['N']),
         vi('f32', T.FLOAT, ['N', 2])],
        initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='emeth-make-fixtures')
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    return m


add_model('onnx-multi-dtype', multi_dtype_model(), 'onnx.helper',
          'five inputs (float64, int32, bool, float16, int64) and seven outputs (float64, int64, int32, float16, bool, '
          'int64, float32): Where, Cast, ReduceSum, Abs, Mul, ReduceMax, Greater, Add, MatMul',
          {n: {'dataset': 'data/multi.npz', 'array': n} for n in multi}, dict(multi))


# ---------------------------------------------------------------- refused: external data, If, Scan
def external_data_model() -> onnx.ModelProto:
    # Y = X·W + c with W [64,10], c [10]; both initializers are stored in the .onnx.data file.
    w_rng = np.random.default_rng(SEED + 2)
    W = (w_rng.normal(0.0, 0.1, (64, 10))).astype(np.float32)
    c = (w_rng.normal(0.0, 0.1, (10,))).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['X', 'W'], ['XW']), helper.make_node('Add', ['XW', 'c'], ['Y'])], 'external',
        [helper.make_tensor_value_info('X', TensorProto.FLOAT, ['N', 64])],
        [helper.make_tensor_value_info('Y', TensorProto.FLOAT, ['N', 10])],
        initializer=[onnx.numpy_helper.from_array(W, 'W'), onnx.numpy_helper.from_array(c, 'c')])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='emeth-make-fixtures')
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


add_model('onnx-external-data', external_data_model(), 'onnx.helper + onnx.save(save_as_external_data=True, size_threshold=0)',
          'Y = X·W + c, W and c in models/onnx-external-data.onnx.data (external data)', digits_input, {'X': X_digits},
          status='refuse', refusal='external data', external_data=True)


def if_model() -> onnx.ModelProto:
    # Y = 2·X when sum(X) > 0, else −X: the branch depends on the whole batch.
    vi = helper.make_tensor_value_info
    then_g = helper.make_graph([helper.make_node('Mul', ['X', 'two'], ['y_then'])], 'then', [],
                               [vi('y_then', TensorProto.FLOAT, ['N', 64])])
    else_g = helper.make_graph([helper.make_node('Neg', ['X'], ['y_else'])], 'else', [],
                               [vi('y_else', TensorProto.FLOAT, ['N', 64])])
    nodes = [
        helper.make_node('ReduceSum', ['X'], ['total'], keepdims=0),
        helper.make_node('Greater', ['total', 'zero'], ['positive']),
        helper.make_node('If', ['positive'], ['Y'], then_branch=then_g, else_branch=else_g),
    ]
    graph = helper.make_graph(
        nodes, 'if', [vi('X', TensorProto.FLOAT, ['N', 64])], [vi('Y', TensorProto.FLOAT, ['N', 64])],
        initializer=[helper.make_tensor('zero', TensorProto.FLOAT, [], [0.0]),
                     helper.make_tensor('two', TensorProto.FLOAT, [], [2.0])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='emeth-make-fixtures')
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


add_model('onnx-if', if_model(), 'onnx.helper', 'If (control flow): Y = 2·X when sum(X) > 0, else −X',
          digits_input, {'X': X_digits}, status='refuse', refusal='If')


def scan_model() -> onnx.ModelProto:
    # Running sum along each row: Scan over X's columns (axis 1), the state one value per row.
    vi = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node('Add', ['s_in', 'x_col'], ['s_out']), helper.make_node('Identity', ['s_out'], ['y_col'])],
        'body', [vi('s_in', TensorProto.FLOAT, ['N']), vi('x_col', TensorProto.FLOAT, ['N'])],
        [vi('s_out', TensorProto.FLOAT, ['N']), vi('y_col', TensorProto.FLOAT, ['N'])])
    nodes = [
        helper.make_node('Mul', ['X', 'zero'], ['X0']),
        helper.make_node('ReduceSum', ['X0', 'axis1'], ['s0'], keepdims=0),
        helper.make_node('Scan', ['s0', 'X'], ['total', 'Y'], body=body, num_scan_inputs=1,
                         scan_input_axes=[1], scan_output_axes=[1]),
    ]
    graph = helper.make_graph(
        nodes, 'scan', [vi('X', TensorProto.FLOAT, ['N', 64])],
        [vi('total', TensorProto.FLOAT, ['N']), vi('Y', TensorProto.FLOAT, ['N', 64])],
        initializer=[helper.make_tensor('zero', TensorProto.FLOAT, [], [0.0]),
                     helper.make_tensor('axis1', TensorProto.INT64, [1], [1])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='emeth-make-fixtures')
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


add_model('onnx-scan', scan_model(), 'onnx.helper', 'Scan (control flow) over the columns: Y = cumsum(X, axis 1), total = sum',
          digits_input, {'X': X_digits}, status='refuse', refusal='Scan')


# ---------------------------------------------------------------- datasets to refuse, and EMTX
save_npy(OUT / 'data/digits-63cols.npy', X_digits[:32, :63])
manifest['datasets']['data/digits-63cols.npy'] = {
    'format': 'npy', 'holds': {'X': 'float32 [32,63]'}, 'note': 'the first 32 digits without their last pixel',
    'refusal': {'stage': 'bind', 'reason': 'input width: 63 columns where the [N,64] digits models take 64'}}
with open(OUT / 'data/broken.csv', 'w', newline='') as f:
    f.write('x0,x1,x2\n1.0,2.0,3.0\n4.0,abc,6.0\n7.0,8.0\n10.0,11.0,12.0\n')
manifest['datasets']['data/broken.csv'] = {
    'format': 'csv', 'holds': {'x0..x2': 'float64, but row 2 field x1 is "abc" and row 3 has 2 fields'},
    'note': 'a header row, one good row, then a non-numeric cell and a ragged row',
    'refusal': {'stage': 'read', 'reason': "a ragged row (data row 3: 2 fields, the header has 3) and a non-numeric field ('abc', data row 2, column x1)"}}

# EMTX (lib/matrix.ts): "EMTX", u16 LE version 1, u16 LE dtype 1 (float32), u32 LE rows, u32 LE cols,
# then rows × cols float32 LE, row-major.
with open(OUT / 'data/digits-X.emtx', 'wb') as f:
    f.write(b'EMTX' + np.array([1, 1], dtype='<u2').tobytes() + np.array(X_digits.shape, dtype='<u4').tobytes())
    f.write(np.ascontiguousarray(X_digits, dtype='<f4').tobytes())
dataset(OUT / 'data/digits-X.emtx', 'emtx', {'X': 'float32 [256,64]'}, 'EMTX 1, float32, 16-byte header (lib/matrix.ts layout)')


# ---------------------------------------------------------------- PyTorch
def torch_models() -> None:
    try:
        import torch
        from torch import nn
    except Exception as err:  # not installed: the manifest says which models are missing
        manifest['skipped'].append(f'PyTorch models: torch did not import ({err})')
        return
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    def train(model: nn.Module, x: np.ndarray, epochs: int) -> nn.Module:
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y_digits)
        for _ in range(epochs):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt), yt)
            loss.backward()
            opt.step()
        return model.eval()

    def export(model: nn.Module, example: torch.Tensor, name: str) -> onnx.ModelProto:
        path = OUT / 'models' / f'{name}.onnx'
        # The TorchScript exporter writes one self-contained file with a symbolic batch axis.
        torch.onnx.export(model, (example,), str(path), input_names=['X'], output_names=['logits'],
                          dynamic_axes={'X': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=TORCH_OPSET, dynamo=False)
        return onnx.load(path)

    class Scale(nn.Module):
        # Digits pixels run 0..16; scaling inside the model keeps the dataset files raw.
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (1.0 / 16.0)

    mlp = train(nn.Sequential(Scale(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), X_digits, 200)
    add_model('torch-mlp', export(mlp, torch.zeros(2, 64), 'torch-mlp'), f'torch.onnx.export (torch {torch.__version__})',
              'MLP x/16-Linear-ReLU-Linear on [N,64] (trained on digits)', digits_input, {'X': X_digits})

    cnn = train(nn.Sequential(Scale(), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(8 * 4 * 4, 10)), images, 150)
    add_model('torch-cnn', export(cnn, torch.zeros(2, 1, 8, 8), 'torch-cnn'), f'torch.onnx.export (torch {torch.__version__})',
              'CNN Conv-ReLU-MaxPool-Linear on [N,1,8,8] digits', {'X': {'dataset': 'data/digits-images.npy', 'array': 'X'}},
              {'X': images})

    # The benchmark's shape, [N,1,28,28]: digits scaled up 3× and padded to 28×28; weights untrained.
    imgs28 = np.pad(np.kron(images[:16], np.ones((1, 1, 3, 3), dtype=np.float32)), ((0, 0), (0, 0), (2, 2), (2, 2)))
    save_npy(OUT / 'data/digits-images-28.npy', imgs28)
    dataset(OUT / 'data/digits-images-28.npy', 'npy', {'X': 'float32 [16,1,28,28]'}, 'first 16 digits, 3× up, padded')
    cnn28 = nn.Sequential(Scale(), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10)).eval()
    add_model('torch-cnn28', export(cnn28, torch.zeros(2, 1, 28, 28), 'torch-cnn28'),
              f'torch.onnx.export (torch {torch.__version__})', 'CNN on [N,1,28,28] (random weights, for the benchmark shape)',
              {'X': {'dataset': 'data/digits-images-28.npy', 'array': 'X'}}, {'X': imgs28})


torch_models()


def torch_seq_model() -> None:
    # A sequence model: Linear(8→4) on every step of [N, T=5, F=8], then the mean over T: [N, 4].
    try:
        import torch
        from torch import nn
    except Exception as err:
        manifest['skipped'].append(f'torch-seq: torch did not import ({err})')
        return
    torch.manual_seed(SEED + 3)
    seq = np.random.default_rng(SEED + 3).normal(0.0, 1.0, (64, 5, 8)).astype(np.float32)
    save_npy(OUT / 'data/seq.npy', seq)
    dataset(OUT / 'data/seq.npy', 'npy', {'X': 'float32 [64,5,8]'}, 'normal(0, 1), seeded: 64 sequences of 5 steps × 8 features')

    class SeqMean(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.proj(x).mean(dim=1)

    model = SeqMean().eval()
    path = OUT / 'models' / 'torch-seq.onnx'
    torch.onnx.export(model, (torch.zeros(2, 5, 8),), str(path), input_names=['X'], output_names=['Y'],
                      dynamic_axes={'X': {0: 'N'}, 'Y': {0: 'N'}}, opset_version=TORCH_OPSET, dynamo=False)
    add_model('torch-seq', onnx.load(path), f'torch.onnx.export (torch {torch.__version__})',
              'Linear(8→4) on every step of [N,5,8], mean over the 5 steps (random weights)',
              {'X': {'dataset': 'data/seq.npy', 'array': 'X'}}, {'X': seq})


torch_seq_model()


# ---------------------------------------------------------------- TensorFlow (optional)
def tf_models() -> None:
    try:
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
        os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
        import tensorflow as tf
        import tf2onnx
    except Exception as err:  # not installed: the manifest says which models are missing
        manifest['skipped'].append(f'TensorFlow models: tensorflow/tf2onnx did not import ({err})')
        return
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    exporter = f'tf2onnx {tf2onnx.__version__} (tensorflow {tf.__version__})'

    def convert(model, shape: tuple, name: str) -> onnx.ModelProto:
        # tf2onnx's from_keras does not know Keras 3 models (a KeyError on the output name): convert a
        # tf.function calling the model instead, and name the input X as the other models do.
        spec = (tf.TensorSpec(shape, tf.float32, name='X'),)
        fn = tf.function(lambda X: {'probabilities': model(X, training=False)}, input_signature=spec)
        proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
        old = proto.graph.input[0].name
        proto.graph.input[0].name = 'X'
        for node in proto.graph.node:
            for i, n in enumerate(node.input):
                if n == old:
                    node.input[i] = 'X'
        # The batch axis is 'unk__<k>' (another k on the output): call it N, as the other models do.
        for v in [*proto.graph.input, *proto.graph.output]:
            first = v.type.tensor_type.shape.dim[0]
            if first.dim_param.startswith('unk__'):
                first.dim_param = 'N'
        # tf2onnx also imports ai.onnx.ml though no node uses it.
        used = {n.domain for n in proto.graph.node}
        keep = [o for o in proto.opset_import if o.domain in used or o.domain == '']
        del proto.opset_import[:]
        proto.opset_import.extend(keep)
        # Its optimizer keeps one of several equal constants, not always the same one (the graph does
        # not change, only the names): name the constants by first use and store them in that order.
        order: list[str] = []
        for node in proto.graph.node:
            order.extend(n for n in node.input if n not in order)
        inits = {t.name: t for t in proto.graph.initializer}
        renames = {n: f'const_{k}' for k, n in enumerate(n for n in order if n in inits and n.startswith('const_'))}
        for node in proto.graph.node:
            for i, n in enumerate(node.input):
                node.input[i] = renames.get(n, n)
        ordered = sorted(inits.values(), key=lambda t: order.index(t.name) if t.name in order else len(order))
        for t in ordered:
            t.name = renames.get(t.name, t.name)
        del proto.graph.initializer[:]
        proto.graph.initializer.extend(ordered)
        proto.producer_name, proto.producer_version = 'tf2onnx', tf2onnx.__version__
        onnx.checker.check_model(proto)
        return proto

    def train(model, x: np.ndarray, epochs: int):
        model.compile(optimizer=tf.keras.optimizers.Adam(0.01), loss='sparse_categorical_crossentropy')
        model.fit(x, y_digits, epochs=epochs, batch_size=len(x), shuffle=False, verbose=0)
        return model

    L = tf.keras.layers
    mlp = train(tf.keras.Sequential([tf.keras.Input((64,)), L.Rescaling(1.0 / 16.0), L.Dense(32, activation='relu'),
                                     L.Dense(10, activation='softmax')]), X_digits, 100)
    add_model('tf-mlp', convert(mlp, (None, 64), 'tf-mlp'), exporter,
              'Keras MLP x/16-Dense(32, relu)-Dense(10, softmax) on [N,64] (trained on digits)', digits_input, {'X': X_digits})

    nhwc = X_digits.reshape(-1, 8, 8, 1)
    save_npy(OUT / 'data/digits-images-nhwc.npy', nhwc)
    dataset(OUT / 'data/digits-images-nhwc.npy', 'npy', {'X': 'float32 [256,8,8,1]'}, 'digits as NHWC images (Keras layout)')
    cnn = train(tf.keras.Sequential([tf.keras.Input((8, 8, 1)), L.Rescaling(1.0 / 16.0),
                                     L.Conv2D(8, 3, padding='same', activation='relu'), L.MaxPooling2D(2), L.Flatten(),
                                     L.Dense(10, activation='softmax')]), nhwc, 60)
    add_model('tf-cnn', convert(cnn, (None, 8, 8, 1), 'tf-cnn'), exporter,
              'Keras Conv2D(8, 3×3, relu)-MaxPool-Dense(10, softmax) on NHWC [N,8,8,1] (trained on digits)',
              {'X': {'dataset': 'data/digits-images-nhwc.npy', 'array': 'X'}}, {'X': nhwc})


tf_models()

# ---------------------------------------------------------------- versions and manifest
packages = ['numpy', 'scikit-learn', 'skl2onnx', 'onnx', 'onnxruntime', 'pyarrow', 'torch', 'onnxscript', 'protobuf',
            'tensorflow-cpu', 'keras', 'tf2onnx', 'ml_dtypes']
with open(OUT / 'VERSIONS.txt', 'w') as f:
    f.write(f'python {platform.python_version()}\n')
    for p in packages:
        try:
            f.write(f'{p} {metadata.version(p)}\n')
        except metadata.PackageNotFoundError:
            f.write(f'{p} (not installed)\n')
with open(OUT / 'manifest.json', 'w') as f:
    json.dump(manifest, f, indent=2, sort_keys=False)
    f.write('\n')

total = sum(p.stat().st_size for p in OUT.rglob('*') if p.is_file())
big = [(rel(p), p.stat().st_size) for p in OUT.rglob('*') if p.is_file() and p.stat().st_size > 200_000]
print(f'wrote {len(manifest["models"])} models, {len(manifest["datasets"])} datasets, {total} bytes in all', file=sys.stderr)
if big:
    print(f'files over 200 KB: {big}', file=sys.stderr)
    sys.exit(1)
