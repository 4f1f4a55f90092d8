export { labWorkflow } from './lab';
export { poolWorkflow } from './pool';
export { maintenanceWorkflow } from './maintenance';
export { webhookDeliveryWorkflow } from './webhook-delivery';
