export { serve, splitAddress, type RunningServer } from './serve.ts';
export { openRegistry, openMetadataStore } from './open-registry.ts';
