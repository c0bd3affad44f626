/** Tensors and the dataset formats requesters bring: .npy, .npz, CSV, Parquet and EMTX. */
export * from './tensor';
export * from './npy';
export * from './npz';
export * from './csv';
export * from './parquet';
export * from './emtx';
export * from './dataset';
