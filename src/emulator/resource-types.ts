import { randomBytes, randomUUID } from 'node:crypto';
import { generateSshKeyPair } from './ssh/keys';

type PropertyKind = 'string' | 'integer' | 'number' | 'boolean' | 'any';

/**
 * Emulator-only: a real SSH endpoint on 127.0.0.1 (the emulator's gateway, src/emulator/ssh/)
 * that accepts exactly this stack's `public_key` or `password` and opens a shell in the stack's
 * own home folder. What a lab's server is to a learner, for tests and local runs; a real Heat
 * has no such type.
 */
export const SHELL_TYPE = 'OS::Emulator::Shell';

/** Property schemas of the Heat-native types the emulator checks as strictly as Heat does. */
const SCHEMAS: Record<string, Record<string, PropertyKind>> = {
  'OS::Heat::RandomString': {
    length: 'integer',
    sequence: 'string',
    character_classes: 'any',
    character_sequences: 'any',
    salt: 'string',
  },
  'OS::Heat::TestResource': {
    value: 'any',
    update_replace: 'boolean',
    fail: 'boolean',
    client_name: 'string',
    entity_name: 'string',
    wait_secs: 'number',
    action_wait_secs: 'any',
    attr_wait_secs: 'number',
    update_replace_value: 'any',
    constraint_prop_secs: 'number',
  },
  'OS::Heat::Value': { value: 'any', type: 'string' },
  [SHELL_TYPE]: { public_key: 'string', password: 'string' },
};

/** Of these properties, a resource of the type needs at least one. */
const ONE_OF: Record<string, string[]> = { [SHELL_TYPE]: ['public_key', 'password'] };

const ATTRIBUTES: Record<string, string[]> = {
  'OS::Heat::RandomString': ['value', 'show'],
  'OS::Heat::TestResource': ['output', 'show'],
  'OS::Heat::Value': ['value', 'show'],
  [SHELL_TYPE]: ['host', 'port', 'show'],
};

/** Services whose resource types the emulator simulates (a real cloud has them). */
const SIMULATED_NAMESPACES =
  /^OS::(Heat|Nova|Neutron|Cinder|Glance|Swift|Octavia|Designate|Keystone|Barbican|Zaqar|Aodh|Sahara|Trove|Manila|Mistral|Senlin|Zun|Magnum)::[A-Za-z0-9]+$/;

export function typeKnown(type: string, files: Record<string, string>): boolean {
  return SIMULATED_NAMESPACES.test(type) || type === SHELL_TYPE || type in files;
}

export function propertySchema(type: string): Record<string, PropertyKind> | undefined {
  return SCHEMAS[type];
}

/** The properties of which `type` needs one and `properties` has none, or undefined. */
export function missingOneOf(
  type: string,
  properties: Record<string, unknown>,
): string[] | undefined {
  const names = ONE_OF[type];
  return names && !names.some((name) => name in properties) ? names : undefined;
}

/** Simulated and nested types accept any attribute name; Heat's own types only their schema. */
export function attributeKnown(type: string, attribute: string): boolean {
  const known = ATTRIBUTES[type];
  return known ? known.includes(attribute) : true;
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

export function randomString(length: number, alphabet = ALNUM): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[(bytes[i] ?? 0) % alphabet.length];
  return out;
}

export interface SimulationContext {
  stackName: string;
  resourceName: string;
  /** Sequence number of this resource in its stack, for distinct fake addresses. */
  index: number;
  /** The emulator's SSH gateway port, for OS::Emulator::Shell. */
  sshPort?: number;
}

export interface SimulatedResource {
  physicalId: string;
  attributes: Record<string, unknown>;
}

const heatNativeId = (ctx: SimulationContext): string =>
  `${ctx.stackName}-${ctx.resourceName}-${randomString(12, LOWER_ALNUM)}`;

/** 203.0.113.0/24 and 10.0.0.0/8: documentation and private ranges, never a real host. */
const fakeFloatingIp = (ctx: SimulationContext): string => `203.0.113.${(ctx.index % 250) + 2}`;
const fakeFixedIp = (ctx: SimulationContext): string => `10.0.0.${(ctx.index % 250) + 4}`;

/** What a resource of `type` looks like once created, from its evaluated properties. */
export function simulate(
  type: string,
  properties: Record<string, unknown>,
  ctx: SimulationContext,
): SimulatedResource {
  const name =
    typeof properties.name === 'string'
      ? properties.name
      : `${ctx.stackName}-${ctx.resourceName}-${randomString(12, LOWER_ALNUM)}`;
  switch (type) {
    case 'OS::Heat::RandomString': {
      const length = Number(properties.length ?? 32);
      return { physicalId: heatNativeId(ctx), attributes: { value: randomString(length) } };
    }
    case 'OS::Heat::TestResource':
      return { physicalId: heatNativeId(ctx), attributes: { output: properties.value ?? '' } };
    case 'OS::Heat::Value':
      return { physicalId: heatNativeId(ctx), attributes: { value: properties.value ?? null } };
    case 'OS::Heat::None':
      return { physicalId: randomUUID(), attributes: {} };
    case 'OS::Nova::KeyPair': {
      // OpenSSH formats: ssh2's client (the emulator's own tests) reads no PKCS8 ed25519 key.
      const { privateKey, publicKey } = generateSshKeyPair('Generated-by-Nova');
      const attributes: Record<string, unknown> = { public_key: publicKey };
      if (properties.save_private_key === true || properties.save_private_key === 'true')
        attributes.private_key = privateKey;
      return { physicalId: name, attributes };
    }
    case SHELL_TYPE:
      return {
        physicalId: heatNativeId(ctx),
        attributes: { host: '127.0.0.1', port: ctx.sshPort ?? null },
      };
    case 'OS::Nova::Server': {
      const ip = fakeFixedIp(ctx);
      const network = 'private';
      return {
        physicalId: randomUUID(),
        attributes: {
          name,
          first_address: ip,
          accessIPv4: '',
          accessIPv6: '',
          networks: { [network]: [ip] },
          addresses: {
            [network]: [{ addr: ip, version: 4, 'OS-EXT-IPS:type': 'fixed' }],
          },
          console_urls: {},
        },
      };
    }
    case 'OS::Neutron::Port': {
      const ip = fakeFixedIp(ctx);
      return {
        physicalId: randomUUID(),
        attributes: {
          name,
          fixed_ips: [{ ip_address: ip, subnet_id: randomUUID() }],
          mac_address: `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':') ?? '00:00:00'}`,
          network_id: typeof properties.network === 'string' ? properties.network : randomUUID(),
        },
      };
    }
    case 'OS::Neutron::FloatingIP':
      return {
        physicalId: randomUUID(),
        attributes: {
          floating_ip_address: fakeFloatingIp(ctx),
          fixed_ip_address: fakeFixedIp(ctx),
          port_id: typeof properties.port_id === 'string' ? properties.port_id : null,
        },
      };
    case 'OS::Neutron::Subnet':
      return {
        physicalId: randomUUID(),
        attributes: { name, cidr: properties.cidr ?? '10.0.0.0/24' },
      };
    default:
      return { physicalId: randomUUID(), attributes: { name } };
  }
}

export type ResourceAction = 'CREATE' | 'DELETE' | 'SUSPEND' | 'RESUME';

/** OS::Heat::TestResource's own waits (seconds), per action; undefined when it has none. */
export function testResourceWaitSecs(
  properties: Record<string, unknown>,
  action: ResourceAction,
): number | undefined {
  const perAction = properties.action_wait_secs;
  if (perAction && typeof perAction === 'object' && !Array.isArray(perAction)) {
    const value = (perAction as Record<string, unknown>)[action.toLowerCase()];
    if (value !== undefined) return Number(value) || 0;
  }
  if (properties.wait_secs !== undefined) return Number(properties.wait_secs) || 0;
  return undefined;
}
