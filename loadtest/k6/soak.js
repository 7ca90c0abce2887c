// soak: a moderate constant arrival rate for hours to surface leaks, pool
// drift and cache churn. RATE (iterations/s), DURATION, VUS (preallocated),
// MAX_VUS.
import { baseOptions, MIXES, mixRoutes, pick, intEnv, strEnv } from './lib/config.js';

const mix = MIXES.browse;

export const options = baseOptions(
  {
    soak: {
      executor: 'constant-arrival-rate',
      rate: intEnv('RATE', 50),
      timeUnit: '1s',
      duration: strEnv('DURATION', '2h'),
      preAllocatedVUs: intEnv('VUS', 20),
      maxVUs: intEnv('MAX_VUS', 200),
      gracefulStop: strEnv('GRACEFUL_STOP', '10s'),
    },
  },
  mixRoutes(mix),
);

export default function () {
  pick(mix);
}
