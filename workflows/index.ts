export { labWorkflow } from './lab';
export { poolWorkflow } from './pool';
