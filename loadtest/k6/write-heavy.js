// write-heavy: 10% GET /users/{id}, 90% PATCH /users/{id} at a constant
// arrival rate, the write side of the tuning log. RATE, DURATION, VUS,
// MAX_VUS.
import { baseOptions, MIXES, mixRoutes, pick, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.writeHeavy;

export const options = baseOptions(
  {
    write_heavy: {
      executor: 'constant-arrival-rate',
      rate: intEnv('RATE', 200),
      timeUnit: '1s',
      duration: strEnv('DURATION', '5m'),
      preAllocatedVUs: intEnv('VUS', 50),
      maxVUs: intEnv('MAX_VUS', 500),
      gracefulStop: strEnv('GRACEFUL_STOP', '10s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
}
