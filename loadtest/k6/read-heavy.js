// read-heavy: 90% GET /users/{id}, 10% PATCH /users/{id} at a constant
// arrival rate, the read side of the tuning log. RATE, DURATION, VUS,
// MAX_VUS.
import { baseOptions, MIXES, mixRoutes, pick, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.readHeavy;

export const options = baseOptions(
  {
    read_heavy: {
      executor: 'constant-arrival-rate',
      rate: intEnv('RATE', 500),
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
