export { RegistryValueCodec, type RegistryValueCodecOptions } from './registry-codec.ts';
export { SchemaRegistryAdmin, type AppliedSubject, type SubjectCheck, type SubjectSchema, type SubjectState } from './registry-admin.ts';
export { createRegistryClient, type RegistryClient, type RegistryClientOptions } from './registry-client.ts';
export { frame, unframe, isFramed, MAGIC_BYTE } from './wire-format.ts';
