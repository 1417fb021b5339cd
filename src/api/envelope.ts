import type { TencentErrorCode } from './error-codes.js';

// Tencent Cloud API 3.0 response envelope (docs/contract/protocol.md#envelope). Both shapes travel with HTTP 200:
// the SDKs read `Response.Error` only from a 200 answer and turn any other status into a
// code-less transport error.

export type SuccessEnvelope<T extends object> = {
  Response: Omit<T, 'RequestId'> & { RequestId: string };
};

export interface ErrorEnvelope {
  Response: { Error: { Code: TencentErrorCode; Message: string }; RequestId: string };
}

// RequestId is written last so a stray field of the same name can never replace it.
export function successEnvelope<T extends object>(fields: T, requestId: string): SuccessEnvelope<T> {
  return { Response: { ...fields, RequestId: requestId } };
}

export function errorEnvelope(code: TencentErrorCode, message: string, requestId: string): ErrorEnvelope {
  return { Response: { Error: { Code: code, Message: message }, RequestId: requestId } };
}
