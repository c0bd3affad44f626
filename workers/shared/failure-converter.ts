// Loaded by path (DataConverter.failureConverterPath), in workers' workflow bundles too: keep it free
// of Node built-ins. Failure messages and stack traces often quote the data that failed; with
// encodeCommonAttributes they travel as an encoded payload, which the codec then encrypts.
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
