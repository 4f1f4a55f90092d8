export { labWorkflow } from './lab';
export { poolWorkflow } from './pool';
export { maintenanceWorkflow } from './maintenance';
