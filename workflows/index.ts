export { labWorkflow } from './lab';
