import { defineConnector } from '../contract/connector.ts';
import { simulatorConfigSchema, type SimulatorConfig } from './config.ts';
import { SimulatedFleet } from './fleet.ts';

export const simulatorConnector = defineConnector({
  id: 'simulator',
  title: 'Fleet simulator (in-process, seeded)',
  configSchema: simulatorConfigSchema,
  capabilities: { deployer: true },
  create(config: SimulatorConfig) {
    const fleet = new SimulatedFleet(config);
    return {
      deployer: fleet,
      testConnection: async () => ({
        ok: true,
        message: `simulated fleet, seed ${config.seed}, failure rate ${config.failureRate}, latency ${config.minLatencyMs}–${config.maxLatencyMs} ms`,
      }),
    };
  },
});
