export { serve, splitAddress, type RunningServer } from './serve.ts';
export { openRegistry } from './open-registry.ts';
