#!/usr/bin/env python3
"""Makes examples/fixtures/: real exporter outputs and datasets for EMETH's format and model tests.

Everything comes from scikit-learn's bundled datasets (digits, iris: no download) and the real
exporters (skl2onnx, torch.onnx.export), with fixed seeds so a rerun with the versions in
VERSIONS.txt gives the same numbers. Run it from a virtual environment outside the repository:

    python3 -m venv ~/.cache/emeth-fixtures/venv
    ~/.cache/emeth-fixtures/venv/bin/pip install numpy scikit-learn skl2onnx onnx onnxruntime pyarrow torch onnxscript
    ~/.cache/emeth-fixtures/venv/bin/python scripts/make-fixtures.py

PyTorch is optional: without it the torch models are skipped and the manifest says so.
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
def run_local(path: Path, feeds: dict) -> dict:
    # From bytes, so error messages carry no local path.
    sess = ort.InferenceSession(path.read_bytes(), providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def add_model(name: str, model: onnx.ModelProto, exporter: str, kind: str, inputs: dict, feeds: dict | None,
              status: str = 'run', refusal: str | None = None) -> None:
    """inputs: onnx input name -> {dataset, array, shape?}; feeds: the arrays fed to the local run."""
    path = OUT / 'models' / f'{name}.onnx'
    # skl2onnx lists opset imports in set order, which changes with Python's hash seed: sort them.
    imports = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(d, v) for d, v in imports)
    onnx.save_model(model, path)
    entry = {'name': name, 'file': rel(path), 'exporter': exporter, 'kind': kind, 'inputs': inputs,
             'outputs': [o.name for o in model.graph.output], 'status': status}
    if refusal:
        entry['refusal'] = refusal
    if feeds is not None:
        try:
            outputs = run_local(path, feeds)
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

# ---------------------------------------------------------------- versions and manifest
packages = ['numpy', 'scikit-learn', 'skl2onnx', 'onnx', 'onnxruntime', 'pyarrow', 'torch', 'onnxscript', 'protobuf']
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
