import { parse as parseYaml } from 'yaml';
import { badRequest, heatError, isRecord } from './http-util';
import { attributeKnown, missingOneOf, propertySchema, typeKnown } from './resource-types';

export const TEMPLATE_VERSIONS = [
  '2013-05-23',
  '2014-10-16',
  '2015-04-30',
  '2015-10-15',
  '2016-04-08',
  '2016-10-14',
  '2017-02-24',
  '2017-09-01',
  '2018-03-02',
  '2018-08-31',
  '2021-04-16',
  'newton',
  'ocata',
  'pike',
  'queens',
  'rocky',
  'wallaby',
];

const SECTIONS = new Set([
  'heat_template_version',
  'description',
  'parameter_groups',
  'parameters',
  'resources',
  'outputs',
  'conditions',
]);

export interface ParameterDef {
  type: string;
  default?: unknown;
  description?: string;
  label?: string;
  hidden?: boolean;
}

export interface ResourceDef {
  name: string;
  type: string;
  properties: Record<string, unknown>;
  dependsOn: string[];
}

export interface OutputDef {
  key: string;
  description: string;
  value: unknown;
}

export interface ParsedTemplate {
  raw: Record<string, unknown>;
  description: string;
  parameters: Record<string, ParameterDef>;
  /** In creation order (dependencies first, then template order). */
  resources: ResourceDef[];
  outputs: OutputDef[];
}

/** Reads a template given as an object or YAML/JSON text, as heat-api does. */
export function loadTemplate(template: unknown): Record<string, unknown> {
  if (template === undefined || template === null || template === '')
    throw badRequest('No template specified');
  let value: unknown = template;
  if (typeof template === 'string') {
    try {
      value = parseYaml(template) as unknown;
    } catch (error) {
      const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw badRequest(
        `Template not in valid format: Error parsing template [root stack] ${detail}`,
      );
    }
  }
  if (!isRecord(value))
    throw badRequest(
      'Template not in valid format: The template is not a JSON object or YAML mapping.',
    );
  return value;
}

export function parseTemplate(
  raw: Record<string, unknown>,
  files: Record<string, string> = {},
): ParsedTemplate {
  const version = raw.heat_template_version;
  const versionText =
    version instanceof Date ? version.toISOString().slice(0, 10) : String(version);
  if (!TEMPLATE_VERSIONS.includes(versionText)) {
    throw heatError(
      400,
      'InvalidTemplateVersion',
      `The template version is invalid: "heat_template_version: ${versionText}". "heat_template_version" should be one of: ${TEMPLATE_VERSIONS.join(', ')}`,
    );
  }
  for (const section of Object.keys(raw)) {
    if (!SECTIONS.has(section))
      throw heatError(400, 'InvalidTemplateSection', `The template section is invalid: ${section}`);
  }
  const parameters: Record<string, ParameterDef> = {};
  for (const [name, def] of Object.entries(asRecord(raw.parameters))) {
    const p = asRecord(def);
    parameters[name] = {
      type: typeof p.type === 'string' ? p.type : 'string',
      default: p.default,
      description: typeof p.description === 'string' ? p.description : undefined,
      label: typeof p.label === 'string' ? p.label : undefined,
      hidden: p.hidden === true,
    };
  }
  const defs: ResourceDef[] = [];
  for (const [name, def] of Object.entries(asRecord(raw.resources))) {
    const r = asRecord(def);
    const type = typeof r.type === 'string' ? r.type : '';
    if (!typeKnown(type, files))
      throw validationFailed(`The Resource Type (${type}) could not be found.`);
    const properties = asRecord(r.properties);
    validateProperties(name, type, properties);
    const dependsOn = [
      ...(typeof r.depends_on === 'string' ? [r.depends_on] : []),
      ...(Array.isArray(r.depends_on) ? r.depends_on.map(String) : []),
      ...references(properties),
    ];
    defs.push({ name, type, properties, dependsOn: [...new Set(dependsOn)] });
  }
  const names = new Set(defs.map((d) => d.name));
  for (const def of defs) {
    for (const dep of def.dependsOn) {
      if (!names.has(dep))
        throw validationFailed(
          `resources.${def.name}: The specified reference "${dep}" (in ${def.name}) is incorrect.`,
        );
    }
  }
  const outputs: OutputDef[] = [];
  for (const [key, def] of Object.entries(asRecord(raw.outputs))) {
    const o = asRecord(def);
    validateOutputAttributes(key, o.value, defs);
    outputs.push({
      key,
      description: typeof o.description === 'string' ? o.description : 'No description given',
      value: o.value,
    });
  }
  return {
    raw,
    description: typeof raw.description === 'string' ? raw.description : 'No description',
    parameters,
    resources: creationOrder(defs),
    outputs,
  };
}

export function validationFailed(message: string): Error {
  return heatError(400, 'StackValidationFailed', message);
}

function validateProperties(name: string, type: string, properties: Record<string, unknown>): void {
  const schema = propertySchema(type);
  if (!schema) return;
  const oneOf = missingOneOf(type, properties);
  if (oneOf)
    throw validationFailed(
      `Property error: : resources.${name}.properties: : give at least one of ${oneOf.join(', ')}`,
    );
  for (const [key, value] of Object.entries(properties)) {
    const kind = schema[key];
    if (!kind)
      throw validationFailed(
        `Property error: : resources.${name}.properties: : Unknown Property ${key}`,
      );
    if (isFunction(value)) continue;
    const at = `Property error: : resources.${name}.properties.${key}: : `;
    if (kind === 'integer' && !Number.isInteger(Number(value)))
      throw validationFailed(`${at}Value '${String(value)}' is not an integer`);
    if (kind === 'number' && Number.isNaN(Number(value)))
      throw validationFailed(`${at}Value '${String(value)}' is not a number`);
    if (
      kind === 'boolean' &&
      !['true', 'false', 'yes', 'no', '1', '0'].includes(String(value).toLowerCase())
    )
      throw validationFailed(
        `${at}Unrecognized value "${String(value)}", acceptable values are: true, false`,
      );
  }
}

function validateOutputAttributes(key: string, value: unknown, defs: ResourceDef[]): void {
  walk(value, (fn, args) => {
    if (fn !== 'get_attr' || !Array.isArray(args)) return;
    const [resource, attribute] = args as unknown[];
    const def = defs.find((d) => d.name === resource);
    if (!def || (typeof attribute === 'string' && !attributeKnown(def.type, attribute))) {
      throw validationFailed(
        `outputs.${key}.value.get_attr: : The Referenced Attribute (${String(resource)} ${String(attribute)}) is incorrect.`,
      );
    }
  });
}

/** Resources named by get_resource / get_attr inside a value. */
export function references(value: unknown): string[] {
  const found: string[] = [];
  walk(value, (fn, args) => {
    if (fn === 'get_resource' && typeof args === 'string') found.push(args);
    if (fn === 'get_attr' && Array.isArray(args) && typeof args[0] === 'string')
      found.push(args[0]);
  });
  return found;
}

const FUNCTIONS = new Set([
  'get_param',
  'get_attr',
  'get_resource',
  'get_file',
  'str_replace',
  'list_join',
  'str_split',
  'digest',
  'repeat',
  'if',
  'yaql',
  'map_merge',
  'str_replace_strict',
]);

export function isFunction(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && FUNCTIONS.has(keys[0] ?? '');
}

function walk(value: unknown, visit: (fn: string, args: unknown) => void): void {
  if (Array.isArray(value)) {
    value.forEach((v) => walk(v, visit));
  } else if (isRecord(value)) {
    if (isFunction(value)) {
      const [fn, args] = Object.entries(value)[0] as [string, unknown];
      visit(fn, args);
    }
    Object.values(value).forEach((v) => walk(v, visit));
  }
}

/** Dependencies first; among the ready ones, template order (Heat creates those in parallel). */
function creationOrder(defs: ResourceDef[]): ResourceDef[] {
  const ordered: ResourceDef[] = [];
  const done = new Set<string>();
  while (ordered.length < defs.length) {
    const next = defs.find((d) => !done.has(d.name) && d.dependsOn.every((dep) => done.has(dep)));
    if (!next) {
      const left = defs.filter((d) => !done.has(d.name)).map((d) => d.name);
      throw heatError(
        400,
        'CircularDependencyException',
        `Circular Dependency Found: ${left.join(', ')}`,
      );
    }
    ordered.push(next);
    done.add(next.name);
  }
  return ordered;
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
